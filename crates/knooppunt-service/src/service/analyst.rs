//! [`Service::query`]: analyst SQL end to end — gate and rewrite, the
//! budget debited before execution (or the cached answer), exact bounded
//! aggregates, noise in Rust, and one audit record before the answer
//! leaves (see [`crate::analyst`] for the calibration).

use std::sync::Arc;
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use knooppunt_audit::RecordKind;
use knooppunt_privacy::dp::NoiseRng;
use knooppunt_query::{AnalystError, AnalystSession};
use serde_json::Value;

use super::{Access, Endpoint, Service, internal};
use crate::analyst::{Calibration, POLICY_VERSION, answer_body, noisy_rows};
use crate::budget::{Cost, Delta};
use crate::{BudgetError, CacheKey, Charge, MicroEpsilon, ServiceError};

/// Longest SQL text accepted from any front end, in characters; a longer
/// or blank text is refused before it reaches the audit record.
pub const MAX_SQL_CHARS: usize = 2500;

/// Rule recorded when an answered query fails while executing: one
/// data-independent error, never a value.
const EXECUTION_FAILED: &str = "execution_failed";

/// Holds the turn of one analyst plan; on drop the lock is released and,
/// when nobody else waits for the plan, its entry removed.
struct InFlight<'a> {
    service: &'a Service,
    digest: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let Ok(mut in_flight) = self.service.in_flight.lock() else {
            return;
        };
        self.guard.take();
        // The map's Arc plus none held by a waiter or a guard.
        if in_flight
            .get(&self.digest)
            .is_some_and(|slot| Arc::strong_count(slot) == 1)
        {
            in_flight.remove(&self.digest);
        }
    }
}

/// Most analyst sessions kept (one per peildatum and scope).
const SESSIONS: usize = 16;

impl Service {
    /// The analyst session at `peildatum` over `scope`, built once: building
    /// one reads the lake's areas and registers the scoped views. Queries
    /// on other sessions do not wait for a build.
    async fn analyst_session(
        &self,
        peildatum: NaiveDate,
        scope: Vec<String>,
    ) -> Result<Arc<AnalystSession>, ServiceError> {
        let cell = {
            let mut sessions = self
                .analyst_sessions
                .lock()
                .map_err(|_| ServiceError::Internal)?;
            let key = (peildatum, scope.clone());
            if !sessions.contains_key(&key) && sessions.len() >= SESSIONS {
                sessions.pop_first();
            }
            Arc::clone(sessions.entry(key).or_default())
        };
        cell.get_or_try_init(|| async {
            self.engine
                .analyst_session(peildatum, &scope)
                .await
                .map(Arc::new)
                .map_err(internal)
        })
        .await
        .cloned()
    }

    /// Answers analyst SQL with differential privacy (PRIVACY.md, "Analyst
    /// SQL"), over the HTTP API's client name.
    pub async fn query(
        &self,
        access: &Access,
        sql: &str,
        peildatum: Option<NaiveDate>,
    ) -> Result<Value, ServiceError> {
        self.query_from(access, sql, peildatum, "http").await
    }

    /// [`Service::query`] with the audit record's `client` (`http`, `cli`).
    ///
    /// The flow: the gate and rewrite over the token's scope (a refusal
    /// names its rule) → the cost (ε per query, from the budget
    /// configuration, and the δ the calibration uses) debited durably
    /// before anything runs (refused when either does not fit), or the stored
    /// answer of the identical plan on the same snapshot at no cost →
    /// exact bounded aggregates → noise → the answer stored for later
    /// identical queries → one audit record → the answer. Refusals
    /// (rules, exhausted budget, bad input) and failures after the debit
    /// are recorded too, with the SQL text; nothing else is returned.
    pub async fn query_from(
        &self,
        access: &Access,
        sql: &str,
        peildatum: Option<NaiveDate>,
        client: &str,
    ) -> Result<Value, ServiceError> {
        access.check(Endpoint::Query)?;
        let started = Instant::now();
        let mut draft = self.draft(access, RecordKind::Query, None);
        draft.client = client.to_string();
        draft.policy_version = POLICY_VERSION.to_string();
        draft.snapshots = self.sources.snapshots.clone();
        let chars = sql.chars().count();
        let outcome = if sql.trim().is_empty() || chars > MAX_SQL_CHARS {
            Err(ServiceError::BadRequest("sql"))
        } else {
            draft.sql = Some(sql.to_string());
            self.answer_query(access, sql, peildatum, &mut draft).await
        };
        match outcome {
            Ok(body) => {
                self.record(draft, started).await?;
                Ok(body)
            }
            Err(ServiceError::Internal) => {
                // A failure after the debit: one data-independent rule.
                draft.cells_returned = 0;
                Err(self
                    .record_refusal(draft, EXECUTION_FAILED, ServiceError::Internal, started)
                    .await)
            }
            Err(error) => {
                draft.cells_returned = 0;
                Err(self.refuse_with(draft, error, started).await)
            }
        }
    }

    async fn answer_query(
        &self,
        access: &Access,
        sql: &str,
        peildatum: Option<NaiveDate>,
        draft: &mut knooppunt_audit::RecordDraft,
    ) -> Result<Value, ServiceError> {
        let peildatum = self.peildatum(peildatum).await?;
        let config = &self.ledger.config().query;
        let scope: Vec<String> = access.scope.iter().cloned().collect();
        let session = self.analyst_session(peildatum, scope).await?;
        let query = match self
            .engine
            .analyst_prepare(&session, sql, &config.analyst_options())
            .await
        {
            Ok(q) => q,
            Err(AnalystError::Refused(g)) => {
                return Err(ServiceError::QueryRefused { rule: g.rule });
            }
            Err(e) => return Err(internal(e)),
        };
        draft.plan_fingerprint = Some(query.fingerprint.clone());
        draft.tables = query.tables.clone();
        draft.columns = query.columns.clone();
        let calibration = Calibration::new(&query, config)
            .map_err(|e| ServiceError::QueryRefused { rule: e.0 })?;
        draft.noise_scale = Some(calibration.max_std_dev());

        // The debit, durable before the query runs (or the stored answer).
        let cost = Cost {
            epsilon: config.epsilon_per_query,
            delta: calibration.delta_spent,
        };
        let key = CacheKey::new(query.fingerprint.clone(), self.snapshot_key.clone());
        // Identical queries are answered one at a time: the second finds
        // the first's stored answer instead of paying for fresh noise.
        let digest = key.digest();
        let slot = {
            let mut in_flight = self.in_flight.lock().map_err(|_| ServiceError::Internal)?;
            Arc::clone(in_flight.entry(digest.clone()).or_default())
        };
        let _turn = InFlight {
            service: self,
            digest,
            guard: Some(slot.lock_owned().await),
        };
        let ledger = Arc::clone(&self.ledger);
        let subject = access.subject.clone();
        let trace_id = draft.trace_id.clone();
        let charged = {
            let key = key.clone();
            tokio::task::spawn_blocking(move || {
                let now = Utc::now();
                match ledger.charge(&subject, cost, &key, &trace_id, now) {
                    Ok(Charge::Cached { answer }) => ledger
                        .balance(&subject, now)
                        .map(|b| (Charge::Cached { answer }, b.left, b.delta_left)),
                    Ok(
                        debited @ Charge::Debited {
                            left, delta_left, ..
                        },
                    ) => Ok((debited, left, delta_left)),
                    Err(e) => Err(e),
                }
            })
            .await
            .map_err(internal)?
        };
        let (charge, left, delta_left) = match charged {
            Ok(c) => c,
            Err(BudgetError::Exhausted { left, .. }) => {
                draft.budget_charged = Some(0.0);
                draft.budget_left = Some(left.to_f64());
                draft.budget_delta_charged = Some(0.0);
                return Err(ServiceError::BudgetExhausted { budget: "ε" });
            }
            Err(BudgetError::DeltaExhausted { left, .. }) => {
                draft.budget_charged = Some(0.0);
                draft.budget_delta_charged = Some(0.0);
                draft.budget_delta_left = Some(left.to_f64());
                return Err(ServiceError::BudgetExhausted { budget: "δ" });
            }
            Err(e) => return Err(internal(e)),
        };
        let (mut body, charged, delta_charged, cached) = match charge {
            Charge::Cached { answer } => (answer, MicroEpsilon::ZERO, Delta::ZERO, true),
            Charge::Debited {
                charged,
                delta_charged,
                ..
            } => {
                draft.budget_charged = Some(charged.to_f64());
                draft.budget_left = Some(left.to_f64());
                draft.budget_delta_charged = Some(delta_charged.to_f64());
                draft.budget_delta_left = Some(delta_left.to_f64());
                let exact = match self.engine.analyst_execute(&query).await {
                    Ok(exact) => exact,
                    Err(_) => {
                        // One error for every failure: no message, no value.
                        eprintln!("knooppunt-service: an analyst query failed while executing");
                        return Err(ServiceError::Internal);
                    }
                };
                let mut rng = NoiseRng::from_os().map_err(internal)?;
                let rows = noisy_rows(&query, &exact, &calibration, &mut rng);
                let body = answer_body(&query, peildatum, &rows, &calibration);
                let ledger = Arc::clone(&self.ledger);
                let stored = body.clone();
                tokio::task::spawn_blocking(move || ledger.store_answer(&key, &stored))
                    .await
                    .map_err(internal)?
                    .map_err(internal)?;
                (body, charged, delta_charged, false)
            }
        };
        draft.budget_charged = Some(charged.to_f64());
        draft.budget_left = Some(left.to_f64());
        draft.budget_delta_charged = Some(delta_charged.to_f64());
        draft.budget_delta_left = Some(delta_left.to_f64());
        draft.cells_returned = body["rows"].as_array().map_or(0, |r| r.len() as u64);
        if let Some(withheld) = body["withheld"].as_u64().filter(|w| *w > 0) {
            draft
                .cells_suppressed
                .insert("threshold".to_string(), withheld);
        }
        if cached {
            draft.noise_scale = body["mechanism"]["noise_scale"].as_f64();
        }
        if let Some(map) = body.as_object_mut() {
            map.insert("epsilon_charged".into(), Value::String(charged.to_string()));
            map.insert("budget_left".into(), Value::String(left.to_string()));
            map.insert(
                "delta_charged".into(),
                Value::String(delta_charged.to_string()),
            );
            map.insert("delta_left".into(), Value::String(delta_left.to_string()));
            map.insert("cached".into(), Value::Bool(cached));
        }
        Ok(body)
    }
}
