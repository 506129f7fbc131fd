//! The HTTP API of knooppunt: a thin axum router over
//! [`knooppunt_service::Service`]. Handlers read the bearer token, the
//! `X-Purpose` header and query parameters, call the service and render
//! its answer; every decision about access, scope and release is the
//! service's.
//!
//! - Answers are JSON by default; list answers are also CSV or an Arrow
//!   IPC stream by `Accept` ([`format`]).
//! - Errors are uniform `{"error": code, "message": text}` ([`error`]);
//!   they never carry data values, and a 404 looks the same whether the
//!   thing does not exist or lies outside the caller's scope.
//! - `/v1/openapi.json` is the OpenAPI 3.1 document generated from the
//!   handlers ([`openapi`]).
//! - Hardening: a body size limit, a request timeout, security headers on
//!   every answer, CORS only for configured origins ([`ApiConfig`]), the
//!   service's rate limit per token (429 with `Retry-After`), and TLS in
//!   [`serve`] when a certificate is configured.

pub mod error;
pub mod format;
pub mod openapi;
mod query;
mod serve;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;
use knooppunt_audit::RecordKind;
use knooppunt_core::Level;
use knooppunt_service::{Access, Endpoint, Service, ServiceError};
use serde_json::Value;

pub use error::ApiError;
pub use serve::{Tls, serve};

use format::{GEOJSON, JSON};

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 16 * 1024;
/// Requests taking longer are answered with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Configuration of the router beyond the service.
#[derive(Debug, Clone, Default)]
pub struct ApiConfig {
    /// Origins allowed to call the API from a browser (CORS). Empty: no
    /// CORS headers at all, so browsers refuse cross-origin reads.
    pub cors_origins: Vec<String>,
    /// Send `Strict-Transport-Security` (set when serving over TLS).
    pub hsts: bool,
}

/// The router over `service` with the default configuration (no CORS, no
/// HSTS).
pub fn router(service: Arc<Service>) -> Router {
    // The default configuration has no origins to parse.
    router_with(service, &ApiConfig::default()).unwrap_or_default()
}

/// The router over `service` with `config`; fails on an origin that is
/// not a valid header value.
pub fn router_with(service: Arc<Service>, config: &ApiConfig) -> Result<Router, String> {
    let document = serde_json::to_vec(&openapi::document(&service.purpose_names()))
        .map_err(|e| format!("OpenAPI document: {e}"))?;
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v1/openapi.json", get(openapi_json))
        .route("/v1/indicators", get(catalogue))
        .route("/v1/boundaries", get(boundaries))
        .route("/v1/released/indicators", get(released_indicators))
        .route("/v1/released/signals", get(released_signals))
        .route("/v1/buurten/{code}", get(buurt))
        .route("/v1/audit", get(audit_records))
        .route("/v1/audit/verify", get(audit_verify))
        .route("/v1/audit/review", get(audit_review))
        .route("/v1/budgets", get(budgets))
        .route("/v1/query", axum::routing::post(query::query))
        .fallback(not_found)
        .layer(axum::Extension(OpenApiDocument(document.into())))
        .with_state(service)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::from_fn(error::json_errors));
    if !config.cors_origins.is_empty() {
        let origins = config
            .cors_origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o).map_err(|_| format!("CORS origin `{o}` is not valid"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        router = router.layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::ACCEPT,
                    header::CONTENT_TYPE,
                    HeaderName::from_static("x-purpose"),
                ])
                .expose_headers([
                    header::RETRY_AFTER,
                    HeaderName::from_static("x-total-count"),
                ])
                .max_age(Duration::from_secs(600)),
        );
    }
    let hsts = config.hsts;
    Ok(router.layer(axum::middleware::from_fn(
        move |request: Request<Body>, next: Next| security_headers(request, next, hsts),
    )))
}

/// Headers on every answer: no sniffing, no framing, no referrer, no
/// caching of data, nothing executable, and HSTS over TLS.
async fn security_headers(request: Request<Body>, next: Next, hsts: bool) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

type Params = Query<HashMap<String, String>>;

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub(crate) fn purpose(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-purpose")?.to_str().ok()
}

/// How an endpoint answers: its JSON media type and, for lists, the field
/// holding the list (which CSV and Arrow render).
#[derive(Clone, Copy)]
struct Shape {
    json_type: &'static str,
    list: Option<&'static str>,
}

const OBJECT: Shape = Shape {
    json_type: JSON,
    list: None,
};

const fn list(field: &'static str) -> Shape {
    Shape {
        json_type: JSON,
        list: Some(field),
    }
}

/// The common path of every authorised endpoint: negotiate the form
/// (before anything is computed or recorded), authorise, call the service
/// (which records the answer before returning it), record a refusal of an
/// authorised caller, render.
async fn answer<F, T>(
    service: &Service,
    headers: &HeaderMap,
    endpoint: Endpoint,
    shape: Shape,
    f: F,
) -> Result<Response, ApiError>
where
    F: AsyncFnOnce(&Access) -> Result<T, ServiceError>,
    T: Into<knooppunt_service::Body>,
{
    let format = format::negotiate(headers, shape.list.is_some(), shape.json_type)
        .ok_or(ApiError::NotAcceptable)?;
    let started = Instant::now();
    let access = service
        .authorize(bearer(headers), purpose(headers), endpoint)
        .await?;
    let body = match f(&access).await {
        Ok(body) => body,
        Err(e) => return Err(service.refuse(&access, e, started).await.into()),
    };
    Ok(format::render(
        body.into(),
        format,
        shape.list,
        shape.json_type,
        service.csv_suppressed(),
    ))
}

fn parse<T>(
    params: &HashMap<String, String>,
    name: &'static str,
    f: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, ServiceError> {
    match params.get(name) {
        None => Ok(None),
        Some(v) => f(v).map(Some).ok_or(ServiceError::BadRequest(name)),
    }
}

/// A `YYYY-MM-DD` date (the range is the service's to check).
pub(crate) fn date(v: &str) -> Option<NaiveDate> {
    (v.len() == 10)
        .then(|| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
        .flatten()
}

fn peildatum(params: &HashMap<String, String>) -> Result<Option<NaiveDate>, ServiceError> {
    parse(params, "peildatum", date)
}

fn number(
    params: &HashMap<String, String>,
    name: &'static str,
) -> Result<Option<usize>, ServiceError> {
    parse(params, name, |v| {
        v.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| v.parse().ok())
            .flatten()
    })
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Alive", body = openapi::Status)))]
async fn healthz() -> axum::Json<Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the audit log is writable (nothing is released without it).
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = openapi::Status),
        (status = 503, description = "The audit log is unavailable", body = openapi::ErrorBody),
    ))]
async fn readyz(State(service): State<Arc<Service>>) -> Response {
    if service.ready() {
        axum::Json(serde_json::json!({ "status": "ready" })).into_response()
    } else {
        ApiError::Service(ServiceError::AuditUnavailable).into_response()
    }
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "catalogue",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
async fn openapi_json(
    axum::Extension(document): axum::Extension<OpenApiDocument>,
) -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document.0,
    )
}

/// The OpenAPI document as JSON, rendered once when the router is built
/// (its inputs, the routes and the configured purposes, are fixed then).
#[derive(Clone)]
struct OpenApiDocument(axum::body::Bytes);

async fn not_found() -> ApiError {
    ApiError::Service(ServiceError::NotFound)
}

/// The indicator catalogue (metadata only; any role).
#[utoipa::path(get, path = "/v1/indicators", tag = "catalogue",
    params(("X-Purpose" = Option<String>, Header, description = "Purpose (not required here)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The catalogue", content(
            (openapi::Catalogue = "application/json"),
            (String = "text/csv"),
            (Vec<u8> = "application/vnd.apache.arrow.stream"))),
        openapi::Refusals,
    ))]
async fn catalogue(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    answer(
        &service,
        &headers,
        Endpoint::Catalogue,
        list("indicators"),
        async |a| service.catalogue(a),
    )
    .await
}

/// Buurt boundaries in WGS84 within the token's scope (any role).
#[utoipa::path(get, path = "/v1/boundaries", tag = "catalogue",
    params(("X-Purpose" = Option<String>, Header, description = "Purpose (not required here)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "GeoJSON", content(
            (openapi::FeatureCollection = "application/geo+json"))),
        openapi::Refusals,
    ))]
async fn boundaries(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let shape = Shape {
        json_type: GEOJSON,
        list: None,
    };
    answer(&service, &headers, Endpoint::Boundaries, shape, async |a| {
        service.boundaries(a)
    })
    .await
}

/// Released indicator cells within scope (dashboard, analyst, admin).
#[utoipa::path(get, path = "/v1/released/indicators", tag = "released",
    params(
        ("X-Purpose" = String, Header, description = "Purpose (doelbinding)"),
        ("level" = Option<String>, Query, description = "buurt, wijk or gemeente (default: all)",
            pattern = "^(buurt|wijk|gemeente)$"),
        ("peildatum" = Option<String>, Query, format = Date, pattern = "^(19[0-9][0-9]|20[0-9][0-9]|2100)-[0-9]{2}-[0-9]{2}$",
            description = "Reference date (default: the lake's latest date)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size (default 100)"),
        ("offset" = Option<u32>, Query, maximum = 1000000, description = "Page offset (at most 1,000,000)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of released cells; `X-Total-Count` holds the total",
            headers(("x-total-count" = u64, description = "Cells in scope in total")),
            content(
                (openapi::ReleasedIndicators = "application/json"),
                (String = "text/csv"),
                (Vec<u8> = "application/vnd.apache.arrow.stream"))),
        (status = 400, description = "Invalid parameter", body = openapi::ErrorBody),
        openapi::Refusals,
    ))]
async fn released_indicators(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Query(params): Params,
) -> Result<Response, ApiError> {
    answer(
        &service,
        &headers,
        Endpoint::ReleasedIndicators,
        list("cells"),
        async |a| {
            let level = parse(&params, "level", Level::from_name)?;
            service
                .released_indicators(
                    a,
                    level,
                    peildatum(&params)?,
                    number(&params, "limit")?,
                    number(&params, "offset")?,
                )
                .await
        },
    )
    .await
}

/// Released signals of the buurten within scope.
#[utoipa::path(get, path = "/v1/released/signals", tag = "released",
    params(
        ("X-Purpose" = String, Header, description = "Purpose (doelbinding)"),
        ("peildatum" = Option<String>, Query, format = Date, pattern = "^(19[0-9][0-9]|20[0-9][0-9]|2100)-[0-9]{2}-[0-9]{2}$",
            description = "Reference date (default: the lake's latest date)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size (default 100)"),
        ("offset" = Option<u32>, Query, maximum = 1000000, description = "Page offset (at most 1,000,000)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of released signals",
            headers(("x-total-count" = u64, description = "Buurten in scope in total")),
            content(
                (openapi::ReleasedSignals = "application/json"),
                (String = "text/csv"),
                (Vec<u8> = "application/vnd.apache.arrow.stream"))),
        (status = 400, description = "Invalid parameter", body = openapi::ErrorBody),
        openapi::Refusals,
    ))]
async fn released_signals(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Query(params): Params,
) -> Result<Response, ApiError> {
    answer(
        &service,
        &headers,
        Endpoint::ReleasedSignals,
        list("signals"),
        async |a| {
            service
                .released_signals(
                    a,
                    peildatum(&params)?,
                    number(&params, "limit")?,
                    number(&params, "offset")?,
                )
                .await
        },
    )
    .await
}

/// One buurt: its released indicators and its signal with drivers.
#[utoipa::path(get, path = "/v1/buurten/{code}", tag = "released",
    params(
        ("code" = String, Path, description = "Buurt code, e.g. BU00340101"),
        ("X-Purpose" = String, Header, description = "Purpose (doelbinding)"),
        ("peildatum" = Option<String>, Query, format = Date, pattern = "^(19[0-9][0-9]|20[0-9][0-9]|2100)-[0-9]{2}-[0-9]{2}$",
            description = "Reference date (default: the lake's latest date)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The buurt's profile", body = openapi::BuurtProfile),
        (status = 400, description = "Invalid parameter", body = openapi::ErrorBody),
        openapi::Refusals,
        (status = 404, description = "No such buurt within the token's scope", body = openapi::ErrorBody),
    ))]
async fn buurt(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    answer(&service, &headers, Endpoint::Buurt, OBJECT, async |a| {
        service.buurt(a, &code, peildatum(&params)?).await
    })
    .await
}

/// The most recent audit records (privacy officers).
#[utoipa::path(get, path = "/v1/audit", tag = "audit",
    params(
        ("X-Purpose" = String, Header, description = "Purpose (doelbinding)"),
        ("kind" = Option<String>, Query, description = "query, release, log_read or log_event",
            pattern = "^(query|release|log_read|log_event)$"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Most records (default 100)"),
        ("offset" = Option<u32>, Query, maximum = 1000000,
            description = "Skip the newest records (pages back in time)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Recent records",
            headers(("x-total-count" = u64, description = "Matching records in total")),
            content(
                (openapi::AuditRecords = "application/json"),
                (String = "text/csv"),
                (Vec<u8> = "application/vnd.apache.arrow.stream"))),
        (status = 400, description = "Invalid parameter", body = openapi::ErrorBody),
        openapi::Refusals,
    ))]
async fn audit_records(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Query(params): Params,
) -> Result<Response, ApiError> {
    answer(
        &service,
        &headers,
        Endpoint::AuditRecords,
        list("records"),
        async |a| {
            let kind = parse(&params, "kind", RecordKind::from_name)?;
            service
                .audit_records(
                    a,
                    kind,
                    number(&params, "limit")?,
                    number(&params, "offset")?,
                )
                .await
        },
    )
    .await
}

/// Verifies the audit chain (privacy officers).
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    params(("X-Purpose" = String, Header, description = "Purpose (doelbinding)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The verification report", body = openapi::AuditVerify),
        openapi::Refusals,
    ))]
async fn audit_verify(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    answer(
        &service,
        &headers,
        Endpoint::AuditVerify,
        OBJECT,
        async |a| service.audit_verify(a).await,
    )
    .await
}

/// Review aids over the audit log (privacy officers): near-duplicate
/// queries, narrow pairs, unusual rates, budget burn.
#[utoipa::path(get, path = "/v1/audit/review", tag = "audit",
    params(("X-Purpose" = String, Header, description = "Purpose (doelbinding)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The review", body = openapi::AuditReview),
        openapi::Refusals,
    ))]
async fn audit_review(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    answer(
        &service,
        &headers,
        Endpoint::AuditReview,
        OBJECT,
        async |a| service.audit_review(a).await,
    )
    .await
}

/// Privacy budgets in the current period: an analyst's own balance and
/// debits, or every analyst's balance for a privacy officer.
#[utoipa::path(get, path = "/v1/budgets", tag = "audit",
    params(("X-Purpose" = String, Header, description = "Purpose (doelbinding)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Budgets", body = openapi::Budgets),
        openapi::Refusals,
    ))]
async fn budgets(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    answer(&service, &headers, Endpoint::Budgets, OBJECT, async |a| {
        service.budgets(a).await
    })
    .await
}
