//! The service: authorisation, the cached release per peildatum, scope,
//! and the audit record written before anything is returned.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use chrono::{Datelike, Months, NaiveDate, Utc};
use knooppunt_audit::{
    Actor, AuditLog, Outcome, RecordDraft, RecordKind, ReviewConfig, read_records, review, verify,
};
use knooppunt_core::{Level, Source};
use knooppunt_privacy::{Release, ReleaseConfig, ReleasedCell};
use knooppunt_query::Engine;
use serde_json::{Value, json};

mod analyst;

pub use analyst::MAX_SQL_CHARS;

use crate::body::{Body, Listed};
use crate::ratelimit::Limiter;
use crate::release;
use crate::{BudgetConfig, Ledger, Purposes, RateLimit, Role, ServiceError, TokenStore};

/// Most peildata kept in the release cache.
const CACHE_ENTRIES: usize = 8;
/// Largest page of a list.
pub const MAX_LIMIT: usize = 1000;
/// Years a requested peildatum may fall in (the engine's date arithmetic
/// fails far outside them; schemathesis found a 500 at year 168).
pub const PEILDATUM_YEARS: std::ops::RangeInclusive<i32> = 1900..=2100;
/// Largest page offset.
pub const MAX_OFFSET: usize = 1_000_000;
/// Default page size.
pub const DEFAULT_LIMIT: usize = 100;

/// What a service is configured with besides the engine and the log.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// The lake the engine reads (for the buurt boundaries).
    pub lake: PathBuf,
    /// The token file.
    pub tokens: PathBuf,
    /// Disclosure control parameters.
    pub release: ReleaseConfig,
    /// The purposes and their roles.
    pub purposes: Purposes,
    /// Requests allowed per token; `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
    /// The privacy-budget ledger's directory.
    pub budget_dir: PathBuf,
    /// Analysts' privacy budgets.
    pub budget: BudgetConfig,
}

/// The endpoints, with the roles allowed on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The indicator catalogue (metadata only).
    Catalogue,
    /// Buurt boundaries (public geography) within scope.
    Boundaries,
    /// Released indicator cells.
    ReleasedIndicators,
    /// Released signals.
    ReleasedSignals,
    /// One buurt's released indicators and signal.
    Buurt,
    /// Recent audit records.
    AuditRecords,
    /// Verification of the audit chain.
    AuditVerify,
    /// Review aids over the audit log.
    AuditReview,
    /// Privacy budgets: an analyst's own, or everyone's for a privacy
    /// officer.
    Budgets,
    /// Analyst SQL answered with differential privacy.
    Query,
}

impl Endpoint {
    /// The command recorded in the audit log.
    pub fn command(self) -> &'static str {
        match self {
            Endpoint::Catalogue => "GET /v1/indicators",
            Endpoint::Boundaries => "GET /v1/boundaries",
            Endpoint::ReleasedIndicators => "GET /v1/released/indicators",
            Endpoint::ReleasedSignals => "GET /v1/released/signals",
            Endpoint::Buurt => "GET /v1/buurten/{code}",
            Endpoint::AuditRecords => "GET /v1/audit",
            Endpoint::AuditVerify => "GET /v1/audit/verify",
            Endpoint::AuditReview => "GET /v1/audit/review",
            Endpoint::Budgets => "GET /v1/budgets",
            Endpoint::Query => "POST /v1/query",
        }
    }

    /// Roles that may use the endpoint.
    pub fn roles(self) -> &'static [Role] {
        match self {
            Endpoint::Catalogue | Endpoint::Boundaries => &Role::ALL,
            Endpoint::ReleasedIndicators | Endpoint::ReleasedSignals | Endpoint::Buurt => {
                &[Role::Dashboard, Role::Analyst, Role::Admin]
            }
            Endpoint::AuditRecords | Endpoint::AuditVerify | Endpoint::AuditReview => {
                &[Role::PrivacyOfficer]
            }
            Endpoint::Budgets => &[Role::Analyst, Role::PrivacyOfficer],
            Endpoint::Query => &[Role::Analyst],
        }
    }

    /// Whether a purpose must be stated (every endpoint that reads data or
    /// the audit log).
    pub fn needs_purpose(self) -> bool {
        !matches!(self, Endpoint::Catalogue | Endpoint::Boundaries)
    }
}

/// An authorised caller for one endpoint; only [`Service::authorize`]
/// makes one.
#[derive(Debug, Clone)]
pub struct Access {
    token_id: String,
    /// Whose budget the caller spends: the token's subject, or the token
    /// itself when it names none.
    subject: String,
    role: Role,
    scope: BTreeSet<String>,
    purpose: String,
    endpoint: Endpoint,
}

impl Access {
    /// The token's id.
    pub fn token_id(&self) -> &str {
        &self.token_id
    }

    /// The natural person behind the token (budget holder).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The token's role.
    pub fn role(&self) -> Role {
        self.role
    }

    fn in_scope(&self, gemeentecode: &str) -> bool {
        self.scope.contains(gemeentecode)
    }

    fn check(&self, endpoint: Endpoint) -> Result<(), ServiceError> {
        if self.endpoint == endpoint {
            Ok(())
        } else {
            Err(ServiceError::RoleForbidden)
        }
    }
}

/// Analyst sessions by (peildatum, scope), each built once in its own cell:
/// the map's lock is held only to find or add the cell, never while a
/// session is built.
type AnalystSessions = Mutex<
    BTreeMap<
        (NaiveDate, Vec<String>),
        Arc<tokio::sync::OnceCell<Arc<knooppunt_query::AnalystSession>>>,
    >,
>;

/// The release at one peildatum, computed once.
#[derive(Debug)]
struct Released {
    peildatum: NaiveDate,
    previous_peildatum: Option<NaiveDate>,
    release: Release,
    /// Each released cell as compact JSON, aligned with `release.cells`.
    cells_json: Vec<Arc<str>>,
    signals: Vec<Value>,
    /// Each signal as compact JSON, aligned with `signals`.
    signals_json: Vec<Arc<str>>,
    /// Each signal's gemeentecode and buurtcode, aligned with `signals`.
    signal_areas: Vec<(String, String)>,
    /// Per buurtcode: its cells, its signal and its suppressed numbers (the
    /// buurt profile and the audit record of a page of signals).
    buurten: BTreeMap<String, BuurtEntry>,
    noise_scale: Option<f64>,
}

/// One buurt of a release, indexed once when the release is computed.
#[derive(Debug, Default)]
struct BuurtEntry {
    /// Indices of its cells in `release.cells`.
    cells: Vec<usize>,
    /// Index of its signal in `signals`.
    signal: Option<usize>,
    /// Suppressed numbers of its cells per reason.
    suppressed: BTreeMap<String, u64>,
}

#[derive(Debug)]
struct Tokens {
    modified: Option<SystemTime>,
    store: TokenStore,
}

/// The release service.
#[derive(Debug)]
pub struct Service {
    engine: Engine,
    audit: AuditLog,
    options: ServiceOptions,
    tokens: Mutex<Tokens>,
    snapshot_key: String,
    /// Each buurt boundary as a compact GeoJSON feature, with its
    /// gemeentecode (rendered once at start).
    boundaries: Vec<(String, Arc<str>)>,
    limiter: Option<Limiter>,
    ledger: Arc<Ledger>,
    default_peildatum: tokio::sync::OnceCell<NaiveDate>,
    /// Releases by peildatum (the lake's snapshots are fixed for the
    /// engine's lifetime), read without waiting for a computation.
    cache: std::sync::RwLock<BTreeMap<NaiveDate, Arc<Released>>>,
    /// Held while a release is computed, so each is computed once and at
    /// most one at a time: a release runs every indicator twice (the
    /// peildatum and a year before), and requests for many peildata must
    /// not run that many in parallel on the engine's cores and memory.
    computing: tokio::sync::Mutex<()>,
    /// The audit record's snapshots and tables of every release (fixed
    /// for the engine's lifetime).
    sources: RecordDraft,
    /// One lock per analyst plan being answered: an identical query that
    /// arrives meanwhile waits and gets the stored answer at no cost,
    /// instead of a second, independently noised answer.
    in_flight: Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Analyst sessions by peildatum and scope (see `analyst.rs`).
    analyst_sessions: AnalystSessions,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    eprintln!("knooppunt-service: {e}");
    ServiceError::Internal
}

impl Service {
    /// A service over `engine`, recording in `audit`.
    pub fn new(
        engine: Engine,
        audit: AuditLog,
        options: ServiceOptions,
    ) -> Result<Service, ServiceError> {
        let store = TokenStore::load(&options.tokens)?;
        let snapshot_key = engine
            .snapshots()
            .iter()
            .map(|(s, id)| format!("{}={id}", s.name()))
            .collect::<Vec<_>>()
            .join(",");
        let boundaries = match engine.snapshots().get(&Source::Buurten) {
            Some(id) => {
                let path = options
                    .lake
                    .join(Source::Buurten.name())
                    .join(id)
                    .join(Source::Buurten.file_name());
                let collection = knooppunt_geo::BuurtIndex::from_path(&path)
                    .map_err(|e| {
                        ServiceError::Config(format!("buurt boundaries {}: {e}", path.display()))
                    })?
                    .to_geojson_wgs84();
                collection["features"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|f| {
                        let gemeente = f["properties"]["gemeentecode"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string();
                        (gemeente, Arc::from(f.to_string()))
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        let limiter = options.rate_limit.map(Limiter::new);
        let mut sources = RecordDraft::new(RecordKind::Release, Actor::System, "", "", "");
        crate::release::record_sources(&engine, &mut sources);
        let ledger = Ledger::open(&options.budget_dir, options.budget.clone()).map_err(|e| {
            ServiceError::Config(format!(
                "budget ledger {}: {e}",
                options.budget_dir.display()
            ))
        })?;
        Ok(Service {
            engine,
            audit,
            tokens: Mutex::new(Tokens {
                modified: modified(&options.tokens),
                store,
            }),
            options,
            snapshot_key,
            boundaries,
            limiter,
            ledger: Arc::new(ledger),
            default_peildatum: tokio::sync::OnceCell::new(),
            cache: std::sync::RwLock::new(BTreeMap::new()),
            computing: tokio::sync::Mutex::new(()),
            sources,
            in_flight: Mutex::new(BTreeMap::new()),
            analyst_sessions: Mutex::new(BTreeMap::new()),
        })
    }

    /// Whether the service can answer: the audit log is writable.
    pub fn ready(&self) -> bool {
        !self.audit.is_poisoned()
    }

    /// The text of a suppressed number in CSV answers (the release
    /// configuration's `csv_suppressed`, as in `knooppunt indicators
    /// --release --format csv`).
    pub fn csv_suppressed(&self) -> &'static str {
        self.options.release.csv_suppressed.text()
    }

    /// The configured purposes, by name.
    pub fn purpose_names(&self) -> Vec<String> {
        self.options
            .purposes
            .0
            .iter()
            .map(|p| p.name.clone())
            .collect()
    }

    /// The audit log (to flush it on shutdown by dropping the service).
    pub fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    /// Checks token, rate limit, role and purpose for `endpoint`, in that
    /// order. The token file is re-read when it changed, so a revocation
    /// takes effect on the next request.
    ///
    /// A refusal of a valid token (role, purpose) is recorded in the audit
    /// log; unauthenticated requests and rate-limited ones are not (they
    /// are not attributable, or would let one token grow the log at will).
    pub async fn authorize(
        &self,
        bearer: Option<&str>,
        purpose: Option<&str>,
        endpoint: Endpoint,
    ) -> Result<Access, ServiceError> {
        let started = Instant::now();
        let bearer = bearer.ok_or(ServiceError::Unauthorized)?;
        let record = {
            let mut tokens = self.tokens.lock().map_err(|_| ServiceError::Internal)?;
            let now_modified = modified(&self.options.tokens);
            if now_modified != tokens.modified {
                tokens.store = TokenStore::load(&self.options.tokens)?;
                tokens.modified = now_modified;
            }
            tokens
                .store
                .authenticate(bearer, Utc::now())
                .cloned()
                .ok_or(ServiceError::Unauthorized)?
        };
        if let Some(limiter) = &self.limiter {
            limiter
                .check(&record.id, Instant::now())
                .map_err(|retry_after| ServiceError::RateLimited { retry_after })?;
        }
        let stated = purpose.map(str::trim).filter(|p| !p.is_empty());
        let access = Access {
            subject: record
                .subject
                .clone()
                .unwrap_or_else(|| format!("token:{}", record.id)),
            token_id: record.id,
            role: record.role,
            scope: record.scope.into_iter().collect(),
            purpose: stated.unwrap_or_default().to_string(),
            endpoint,
        };
        let refusal = if !endpoint.roles().contains(&access.role) {
            Some(ServiceError::RoleForbidden)
        } else {
            match stated {
                Some(p) if !self.options.purposes.allows(p, access.role) => {
                    Some(ServiceError::PurposeForbidden)
                }
                None if endpoint.needs_purpose() => Some(ServiceError::PurposeMissing),
                _ => None,
            }
        };
        match refusal {
            Some(e) => Err(self.refuse(&access, e, started).await),
            None => Ok(access),
        }
    }

    /// Records that `access` was refused with `error` (for refusals a
    /// caller can act on: role, purpose, scope, parameters) and returns the
    /// error. When the record cannot be written the answer is 503, as for
    /// every other response.
    pub async fn refuse(
        &self,
        access: &Access,
        error: ServiceError,
        started: Instant,
    ) -> ServiceError {
        let draft = self.draft(access, RecordKind::Query, None);
        self.refuse_with(draft, error, started).await
    }

    /// [`Service::refuse`] with a prepared record draft (the analyst path
    /// records its SQL text).
    pub(crate) async fn refuse_with(
        &self,
        draft: RecordDraft,
        error: ServiceError,
        started: Instant,
    ) -> ServiceError {
        let rule = match &error {
            ServiceError::RoleForbidden
            | ServiceError::PurposeMissing
            | ServiceError::PurposeForbidden
            | ServiceError::NotFound
            | ServiceError::BadRequest(_)
            | ServiceError::BudgetExhausted { .. } => error.code(),
            ServiceError::QueryRefused { rule } => rule,
            _ => return error,
        };
        self.record_refusal(draft, rule, error, started).await
    }

    /// Records `draft` as refused by `rule`; `error` unless the record
    /// cannot be written.
    pub(crate) async fn record_refusal(
        &self,
        mut draft: RecordDraft,
        rule: &str,
        error: ServiceError,
        started: Instant,
    ) -> ServiceError {
        draft.outcome = Outcome::Refused {
            rule: rule.to_string(),
        };
        match self.record(draft, started).await {
            Ok(()) => error,
            Err(e) => e,
        }
    }

    /// The indicator catalogue: metadata only.
    pub fn catalogue(&self, access: &Access) -> Result<Value, ServiceError> {
        access.check(Endpoint::Catalogue)?;
        let indicators: Vec<Value> = self
            .engine
            .registry()
            .queries()
            .iter()
            .map(|q| {
                json!({
                    "id": q.id,
                    "title": q.title,
                    "numerator": q.numerator,
                    "denominator": q.denominator,
                    "sources": q.sources.iter().map(|s| s.name()).collect::<Vec<_>>(),
                    "privacy_unit": q.privacy_unit.name(),
                    "denominator_unit": q.denominator_unit.name(),
                })
            })
            .collect();
        Ok(json!({ "indicators": indicators }))
    }

    /// Buurt boundaries in WGS84 within the caller's scope: a GeoJSON
    /// FeatureCollection of the features rendered at start.
    pub fn boundaries(&self, access: &Access) -> Result<Body, ServiceError> {
        access.check(Endpoint::Boundaries)?;
        let mut head = serde_json::Map::new();
        head.insert("type".to_string(), json!("FeatureCollection"));
        Ok(Body::Listed(Listed {
            head,
            field: "features",
            items: self
                .boundaries
                .iter()
                .filter(|(gemeente, _)| access.in_scope(gemeente))
                .map(|(_, feature)| Arc::clone(feature))
                .collect(),
        }))
    }

    /// The requested peildatum, checked against [`PEILDATUM_YEARS`], or
    /// the lake's latest date.
    async fn peildatum(&self, requested: Option<NaiveDate>) -> Result<NaiveDate, ServiceError> {
        match requested {
            Some(p) if PEILDATUM_YEARS.contains(&p.year()) => Ok(p),
            Some(_) => Err(ServiceError::BadRequest(
                "peildatum (1900-01-01 to 2100-12-31)",
            )),
            None => self
                .default_peildatum
                .get_or_try_init(|| async { self.engine.default_peildatum().await })
                .await
                .copied()
                .map_err(internal),
        }
    }

    /// Computes (or takes from the cache) the release at `peildatum`
    /// (default: the lake's latest date). Call it at start-up to have the
    /// first request answered quickly.
    pub async fn warm(&self, peildatum: Option<NaiveDate>) -> Result<NaiveDate, ServiceError> {
        Ok(self.released(peildatum).await?.peildatum)
    }

    async fn released(&self, requested: Option<NaiveDate>) -> Result<Arc<Released>, ServiceError> {
        let peildatum = self.peildatum(requested).await?;
        let cached = || {
            self.cache
                .read()
                .ok()
                .and_then(|m| m.get(&peildatum).cloned())
        };
        if let Some(r) = cached() {
            return Ok(r);
        }
        let _computing = self.computing.lock().await;
        if let Some(r) = cached() {
            return Ok(r);
        }
        let released = Arc::new(self.compute(peildatum).await?);
        let mut cache = self.cache.write().map_err(|_| ServiceError::Internal)?;
        if cache.len() >= CACHE_ENTRIES {
            cache.pop_first();
        }
        cache.insert(peildatum, Arc::clone(&released));
        Ok(released)
    }

    async fn compute(&self, peildatum: NaiveDate) -> Result<Released, ServiceError> {
        let registry = self.engine.registry();
        let current = self.engine.indicators(peildatum).await.map_err(internal)?;
        let previous = match peildatum.checked_sub_months(Months::new(12)) {
            Some(p) => Some(self.engine.indicators(p).await.map_err(internal)?),
            None => None,
        };
        let now =
            release::release_table(&current, registry, &self.options.release).map_err(internal)?;
        let before = previous
            .as_ref()
            .map(|p| release::release_table(p, registry, &self.options.release))
            .transpose()
            .map_err(internal)?;
        let signals = release::released_signals(
            &now,
            peildatum,
            before.as_ref().zip(previous.as_ref().map(|p| p.peildatum)),
        )
        .map_err(internal)?;
        let compact = |v: &Value| Arc::<str>::from(v.to_string());
        let cells_json = now
            .cells
            .iter()
            .map(|c| serde_json::to_string(c).map(Arc::from))
            .collect::<Result<Vec<_>, _>>()
            .map_err(internal)?;
        let signals_json = signals.iter().map(compact).collect();
        let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
        let signal_areas: Vec<(String, String)> = signals
            .iter()
            .map(|s| (text(s, "gemeentecode"), text(s, "buurtcode")))
            .collect();
        let mut buurten: BTreeMap<String, BuurtEntry> = BTreeMap::new();
        for (i, cell) in now.cells.iter().enumerate() {
            if cell.level != Level::Buurt {
                continue;
            }
            let entry = buurten.entry(cell.code.clone()).or_default();
            entry.cells.push(i);
            for (reason, n) in release::suppressed_counts(std::iter::once(cell)) {
                *entry.suppressed.entry(reason).or_insert(0) += n;
            }
        }
        for (i, (_, buurtcode)) in signal_areas.iter().enumerate() {
            if let Some(entry) = buurten.get_mut(buurtcode) {
                entry.signal.get_or_insert(i);
            }
        }
        Ok(Released {
            peildatum,
            previous_peildatum: previous.map(|p| p.peildatum),
            noise_scale: release::noise_scale(&now),
            release: now,
            cells_json,
            signals,
            signals_json,
            signal_areas,
            buurten,
        })
    }

    fn draft(&self, access: &Access, kind: RecordKind, released: Option<&Released>) -> RecordDraft {
        let mut draft = RecordDraft::new(
            kind,
            Actor::Token(access.token_id.clone()),
            access.role.as_str(),
            &access.purpose,
            access.endpoint.command(),
        );
        draft.client = "http".to_string();
        draft.trace_id = trace_id();
        if let Some(r) = released {
            draft.snapshots = self.sources.snapshots.clone();
            draft.tables = self.sources.tables.clone();
            draft.noise_scale = r.noise_scale;
            draft.policy_version = release::policy_version(&r.release);
        }
        draft
    }

    /// Appends `draft` durably; refuses the request when it cannot.
    async fn record(&self, mut draft: RecordDraft, started: Instant) -> Result<(), ServiceError> {
        draft.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match self.audit.append_async(draft).await {
            Ok(_) => Ok(()),
            Err(e) => {
                eprintln!("knooppunt-service: audit append failed: {e}");
                Err(ServiceError::AuditUnavailable)
            }
        }
    }

    /// Released cells at `level` (default: all levels) within scope, one
    /// page of them, with the total.
    pub async fn released_indicators(
        &self,
        access: &Access,
        level: Option<Level>,
        peildatum: Option<NaiveDate>,
        limit: Option<usize>,
        offset: Option<usize>,
    ) -> Result<Body, ServiceError> {
        access.check(Endpoint::ReleasedIndicators)?;
        let started = Instant::now();
        let (limit, offset) = page(limit, offset)?;
        let r = self.released(peildatum).await?;
        let cells: Vec<usize> = r
            .release
            .cells
            .iter()
            .enumerate()
            .filter(|(_, c)| access.in_scope(&c.gemeentecode))
            .filter(|(_, c)| level.is_none_or(|l| c.level == l))
            .map(|(i, _)| i)
            .collect();
        let total = cells.len();
        let page: Vec<usize> = cells.into_iter().skip(offset).take(limit).collect();
        let mut draft = self.draft(access, RecordKind::Release, Some(&r));
        draft.cells_returned = page.len() as u64;
        draft.cells_suppressed =
            release::suppressed_counts(page.iter().map(|&i| &r.release.cells[i]));
        let head = json!({
            "peildatum": r.peildatum,
            "level": level.map(Level::name),
            "parameters_fingerprint": r.release.parameters_fingerprint,
            "policy_version": r.release.parameters.config().policy_version,
            "noise_scale": r.noise_scale,
            "total": total,
            "limit": limit,
            "offset": offset,
        });
        let body = Listed {
            head: object(head),
            field: "cells",
            items: page.iter().map(|&i| Arc::clone(&r.cells_json[i])).collect(),
        };
        self.record(draft, started).await?;
        Ok(Body::Listed(body))
    }

    /// Released signals of the buurten within scope, one page of them.
    pub async fn released_signals(
        &self,
        access: &Access,
        peildatum: Option<NaiveDate>,
        limit: Option<usize>,
        offset: Option<usize>,
    ) -> Result<Body, ServiceError> {
        access.check(Endpoint::ReleasedSignals)?;
        let started = Instant::now();
        let (limit, offset) = page(limit, offset)?;
        let r = self.released(peildatum).await?;
        let rows: Vec<usize> = r
            .signal_areas
            .iter()
            .enumerate()
            .filter(|(_, (gemeente, _))| access.in_scope(gemeente))
            .map(|(i, _)| i)
            .collect();
        let total = rows.len();
        let page: Vec<usize> = rows.into_iter().skip(offset).take(limit).collect();
        let mut draft = self.draft(access, RecordKind::Release, Some(&r));
        draft.cells_returned = page.len() as u64;
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for &i in &page {
            for (reason, n) in r
                .buurten
                .get(&r.signal_areas[i].1)
                .into_iter()
                .flat_map(|b| &b.suppressed)
            {
                *counts.entry(reason.clone()).or_insert(0) += n;
            }
        }
        draft.cells_suppressed = counts;
        let head = json!({
            "peildatum": r.peildatum,
            "previous_peildatum": r.previous_peildatum,
            "parameters_fingerprint": r.release.parameters_fingerprint,
            "total": total,
            "limit": limit,
            "offset": offset,
        });
        let body = Listed {
            head: object(head),
            field: "signals",
            items: page
                .iter()
                .map(|&i| Arc::clone(&r.signals_json[i]))
                .collect(),
        };
        self.record(draft, started).await?;
        Ok(Body::Listed(body))
    }

    /// One buurt: its released indicators and its signal with drivers.
    /// A buurt outside the scope is as absent as one that does not exist.
    pub async fn buurt(
        &self,
        access: &Access,
        code: &str,
        peildatum: Option<NaiveDate>,
    ) -> Result<Value, ServiceError> {
        access.check(Endpoint::Buurt)?;
        let started = Instant::now();
        let r = self.released(peildatum).await?;
        let entry = r.buurten.get(code).ok_or(ServiceError::NotFound)?;
        let cells: Vec<&ReleasedCell> = entry.cells.iter().map(|&i| &r.release.cells[i]).collect();
        // A buurt lies in one gemeente: outside the scope it does not exist.
        let Some(first) = cells.first().filter(|c| access.in_scope(&c.gemeentecode)) else {
            return Err(ServiceError::NotFound);
        };
        let signal = entry.signal.map(|i| &r.signals[i]);
        let mut draft = self.draft(access, RecordKind::Release, Some(&r));
        draft.cells_returned = (cells.len() + usize::from(signal.is_some())) as u64;
        draft.cells_suppressed = entry.suppressed.clone();
        let body = json!({
            "peildatum": r.peildatum,
            "buurtcode": first.code,
            "wijkcode": first.wijkcode,
            "gemeentecode": first.gemeentecode,
            "parameters_fingerprint": r.release.parameters_fingerprint,
            "indicators": cells,
            "signal": signal,
        });
        self.record(draft, started).await?;
        Ok(body)
    }

    /// The most recent audit records (of `kind`, when given), skipping the
    /// newest `offset`, oldest first within the page.
    /// The read itself is recorded first.
    pub async fn audit_records(
        &self,
        access: &Access,
        kind: Option<RecordKind>,
        limit: Option<usize>,
        offset: Option<usize>,
    ) -> Result<Value, ServiceError> {
        access.check(Endpoint::AuditRecords)?;
        let started = Instant::now();
        let (limit, offset) = page(limit, offset)?;
        let dir = self.audit.dir().to_path_buf();
        // Pages count back from the newest record: offset 0 is the most
        // recent `limit`, offset `limit` the ones before them. The log is
        // streamed; only the newest `offset + limit` matches are kept.
        let keep = offset.saturating_add(limit);
        let (total, newest) = tokio::task::spawn_blocking(move || {
            let mut total = 0usize;
            let mut newest = std::collections::VecDeque::with_capacity(keep.min(4096));
            for record in knooppunt_audit::read_log(&dir)? {
                let record = record?;
                if kind.is_none_or(|k| record.kind == k) {
                    total += 1;
                    if newest.len() == keep {
                        newest.pop_front();
                    }
                    if keep > 0 {
                        newest.push_back(record);
                    }
                }
            }
            Ok::<_, knooppunt_audit::AuditError>((total, Vec::from(newest)))
        })
        .await
        .map_err(internal)?
        .map_err(internal)?;
        let end = newest.len().saturating_sub(offset);
        let recent = &newest[end.saturating_sub(limit)..end];
        let mut draft = log_read(access);
        draft.cells_returned = recent.len() as u64;
        let body = json!({
            "total": total,
            "limit": limit,
            "offset": offset,
            "records": recent,
        });
        self.record(draft, started).await?;
        Ok(body)
    }

    /// Verifies the audit chain; the verification is recorded first.
    pub async fn audit_verify(&self, access: &Access) -> Result<Value, ServiceError> {
        access.check(Endpoint::AuditVerify)?;
        let started = Instant::now();
        let dir = self.audit.dir().to_path_buf();
        let report = tokio::task::spawn_blocking(move || verify(&dir, None))
            .await
            .map_err(internal)?;
        let mut body = serde_json::to_value(&report).map_err(internal)?;
        if let Some(map) = body.as_object_mut() {
            map.remove("dir");
            map.insert("ok".into(), Value::Bool(report.is_ok()));
        }
        let draft = log_read(access);
        self.record(draft, started).await?;
        Ok(body)
    }
}

impl Service {
    /// Review aids over the whole audit log (near-duplicate queries, narrow
    /// pairs, unusual rates, budget burn); the read is recorded first.
    pub async fn audit_review(&self, access: &Access) -> Result<Value, ServiceError> {
        access.check(Endpoint::AuditReview)?;
        let started = Instant::now();
        let dir = self.audit.dir().to_path_buf();
        let records = tokio::task::spawn_blocking(move || read_records(&dir))
            .await
            .map_err(internal)?
            .map_err(internal)?;
        let found = review(&records, &ReviewConfig::default());
        let body = serde_json::to_value(&found).map_err(internal)?;
        let mut draft = log_read(access);
        draft.cells_returned = records.len() as u64;
        self.record(draft, started).await?;
        Ok(body)
    }
}

impl Service {
    /// Privacy budgets in the current period: an analyst sees their own
    /// balance and debits, a privacy officer every analyst's balance. The
    /// read is recorded first.
    pub async fn budgets(&self, access: &Access) -> Result<Value, ServiceError> {
        access.check(Endpoint::Budgets)?;
        let started = Instant::now();
        let ledger = Arc::clone(&self.ledger);
        let own = (access.role == Role::Analyst).then(|| access.subject.clone());
        let now = Utc::now();
        let (balances, entries) = tokio::task::spawn_blocking(move || match own {
            Some(subject) => {
                let balance = ledger.balance(&subject, now)?;
                let entries = ledger.entries(Some(&subject))?;
                Ok::<_, crate::BudgetError>((vec![balance], entries))
            }
            None => Ok((ledger.balances(now)?, Vec::new())),
        })
        .await
        .map_err(internal)?
        .map_err(internal)?;
        let config = self.ledger.config();
        let body = json!({
            "period": config.period.as_str(),
            "epsilon_per_period": config.epsilon_per_period,
            "delta_per_period": config.delta_per_period,
            "balances": balances,
            "entries": entries,
        });
        let mut draft = self.draft(access, RecordKind::LogRead, None);
        draft.tables = vec!["budget_ledger".to_string()];
        draft.cells_returned = (balances.len() + entries.len()) as u64;
        self.record(draft, started).await?;
        Ok(body)
    }
}

/// The fields of a JSON object (empty for anything else).
fn object(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// Validated page parameters.
fn page(limit: Option<usize>, offset: Option<usize>) -> Result<(usize, usize), ServiceError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ServiceError::BadRequest("limit (1 to 1000)"));
    }
    let offset = offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(ServiceError::BadRequest("offset (0 to 1000000)"));
    }
    Ok((limit, offset))
}

/// The draft of a read of the audit log or the ledger over HTTP.
fn log_read(access: &Access) -> RecordDraft {
    let mut draft = RecordDraft::log_read(
        Actor::Token(access.token_id.clone()),
        &access.purpose,
        access.endpoint.command(),
    );
    draft.client = "http".to_string();
    draft.trace_id = trace_id();
    draft
}

/// A random trace id (16 hex digits).
fn trace_id() -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    hex::encode(bytes)
}
