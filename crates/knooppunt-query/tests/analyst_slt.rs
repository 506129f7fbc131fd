//! Analyst SQL as data: every `tests/slt/analyst/*.slt` file runs with the
//! `sqllogictest` runner through the privacy gate and rewrite
//! ([`Engine::analyst_prepare`] + [`Engine::analyst_execute`], default
//! bounds: 4 groups, contribution 1) on the hand-made lake of
//! `analyst_lake` (with person F's 60 registrations) at 2024-08-01, scope
//! GM9999. A row is the group keys then the bounded values; a refusal's
//! error message starts with `refused (<rule>)`.
//!
//! The files live in a subdirectory: `tests/it/slt.rs` runs every file
//! directly in `tests/slt/` as trusted SQL.

#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod analyst_lake;
mod slt_runner;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use knooppunt_query::{AnalystError, AnalystOptions, AnalystSession, Engine};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

struct AnalystDb {
    engine: Arc<Engine>,
    session: Arc<AnalystSession>,
}

#[async_trait]
impl AsyncDB for AnalystDb {
    type Error = AnalystError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, AnalystError> {
        let query = self
            .engine
            .analyst_prepare(&self.session, sql, &AnalystOptions::default())
            .await?;
        let answer = self.engine.analyst_execute(&query).await?;
        let n_keys = query.group_keys.len();
        let types = (0..n_keys)
            .map(|_| DefaultColumnType::Text)
            .chain(
                query
                    .value_names()
                    .iter()
                    .map(|_| DefaultColumnType::Integer),
            )
            .collect();
        let rows = answer
            .keys
            .iter()
            .zip(&answer.values)
            .map(|(k, v)| {
                k.iter()
                    .map(|k| k.clone().unwrap_or_else(|| "NULL".to_string()))
                    .chain(v.iter().map(i64::to_string))
                    .collect()
            })
            .collect();
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "knooppunt-analyst"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn analyst_sqllogictest_files() {
    let lake = analyst_lake::Lake::small(true);
    let engine = Arc::new(lake.engine());
    let session = Arc::new(
        engine
            .analyst_session(analyst_lake::peildatum(), &[analyst_lake::GM.to_string()])
            .await
            .unwrap(),
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt/analyst");
    let files = slt_runner::run_slt_dir(&dir, move || AnalystDb {
        engine: Arc::clone(&engine),
        session: Arc::clone(&session),
    })
    .await;
    assert!(files >= 2, "allowed.slt and refused.slt");
}
