//! SQL tests as data: every `tests/slt/*.slt` file runs with the
//! `sqllogictest` runner against the fixture lake at peildatum 2024-08-01,
//! through [`Engine::sql_trusted`] (so the derived views and the
//! `{{peildatum}}` / `{{window_start}}` placeholders are available). They
//! pin down the engine semantics the indicator SQL relies on.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use knooppunt_query::{Engine, QueryError};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

use crate::{TestLake, date};

/// One "connection": the engine and the peildatum of the statements.
struct LakeDb {
    engine: Arc<Engine>,
    peildatum: chrono::NaiveDate,
}

#[async_trait]
impl AsyncDB for LakeDb {
    type Error = QueryError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, QueryError> {
        let batches = self.engine.sql_trusted(self.peildatum, sql).await?;
        let Some(first) = batches.first() else {
            return Ok(DBOutput::StatementComplete(0));
        };
        let types = first
            .schema()
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                t if t.is_integer() => DefaultColumnType::Integer,
                t if t.is_floating() || matches!(t, DataType::Decimal128(..)) => {
                    DefaultColumnType::FloatingPoint
                }
                _ => DefaultColumnType::Text,
            })
            .collect();
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for batch in &batches {
            let formatters: Vec<ArrayFormatter<'_>> = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
                .collect();
            for i in 0..batch.num_rows() {
                rows.push(
                    formatters
                        .iter()
                        .map(|f| match f.value(i).to_string() {
                            s if s.is_empty() => "(empty)".to_string(),
                            s => s,
                        })
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "knooppunt"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn sqllogictest_files() {
    let lake = TestLake::base();
    let engine = Arc::new(lake.engine());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let files = crate::slt_runner::run_slt_dir(&dir, move || LakeDb {
        engine: Arc::clone(&engine),
        peildatum: date(2024, 8, 1),
    })
    .await;
    assert!(files > 0, "no .slt files");
}
