//! The HTTP API of knooppunt: a thin axum router over
//! [`knooppunt_service::Service`]. Handlers read the bearer token, the
//! `X-Purpose` header and query parameters, call the service and turn its
//! answer or error into JSON; every decision about access, scope and
//! release is the service's.
//!
//! Errors are uniform: `{"error": code, "message": text}` with 400, 401,
//! 403, 404, 503 or 500; they never carry data values and a 404 looks the
//! same whether the thing does not exist or lies outside the caller's
//! scope.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;
use knooppunt_audit::RecordKind;
use knooppunt_core::Level;
use knooppunt_service::{Endpoint, Service, ServiceError};
use serde_json::{Value, json};

/// Largest request body accepted (requests in this API carry none).
pub const BODY_LIMIT: usize = 16 * 1024;
/// Requests taking longer are answered with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The router over `service`.
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v1/indicators", get(catalogue))
        .route("/v1/boundaries", get(boundaries))
        .route("/v1/released/indicators", get(released_indicators))
        .route("/v1/released/signals", get(released_signals))
        .route("/v1/buurten/{code}", get(buurt))
        .route("/v1/audit", get(audit_records))
        .route("/v1/audit/verify", get(audit_verify))
        .fallback(not_found)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(service)
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError(ServiceError);

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            ServiceError::Unauthorized => StatusCode::UNAUTHORIZED,
            ServiceError::RoleForbidden
            | ServiceError::PurposeMissing
            | ServiceError::PurposeForbidden => StatusCode::FORBIDDEN,
            ServiceError::NotFound => StatusCode::NOT_FOUND,
            ServiceError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServiceError::AuditUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::Config(_) | ServiceError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // Configuration details stay in the server's log.
        let message = match &self.0 {
            ServiceError::Config(_) => ServiceError::Internal.to_string(),
            e => e.to_string(),
        };
        let body = json!({ "error": self.0.code(), "message": message });
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

type ApiResult = Result<axum::Json<Value>, ApiError>;
type Params = Query<HashMap<String, String>>;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn purpose(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-purpose")?.to_str().ok()
}

fn authorize(
    service: &Service,
    headers: &HeaderMap,
    endpoint: Endpoint,
) -> Result<knooppunt_service::Access, ApiError> {
    Ok(service.authorize(bearer(headers), purpose(headers), endpoint)?)
}

fn parse<T>(
    params: &HashMap<String, String>,
    name: &'static str,
    f: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some(v) => f(v)
            .map(Some)
            .ok_or(ApiError(ServiceError::BadRequest(name))),
    }
}

fn peildatum(params: &HashMap<String, String>) -> Result<Option<NaiveDate>, ApiError> {
    parse(params, "peildatum", |v| {
        (v.len() == 10)
            .then(|| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
            .flatten()
    })
}

fn number(params: &HashMap<String, String>, name: &'static str) -> Result<Option<usize>, ApiError> {
    parse(params, name, |v| v.parse().ok())
}

async fn healthz() -> axum::Json<Value> {
    axum::Json(json!({ "status": "ok" }))
}

async fn readyz(State(service): State<Arc<Service>>) -> Response {
    if service.ready() {
        axum::Json(json!({ "status": "ready" })).into_response()
    } else {
        ApiError(ServiceError::AuditUnavailable).into_response()
    }
}

async fn not_found() -> ApiError {
    ApiError(ServiceError::NotFound)
}

async fn catalogue(State(service): State<Arc<Service>>, headers: HeaderMap) -> ApiResult {
    let access = authorize(&service, &headers, Endpoint::Catalogue)?;
    Ok(axum::Json(service.catalogue(&access)?))
}

async fn boundaries(State(service): State<Arc<Service>>, headers: HeaderMap) -> ApiResult {
    let access = authorize(&service, &headers, Endpoint::Boundaries)?;
    Ok(axum::Json(service.boundaries(&access)?))
}

async fn released_indicators(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Query(params): Params,
) -> ApiResult {
    let access = authorize(&service, &headers, Endpoint::ReleasedIndicators)?;
    let level = parse(&params, "level", Level::from_name)?;
    let body = service
        .released_indicators(
            &access,
            level,
            peildatum(&params)?,
            number(&params, "limit")?,
            number(&params, "offset")?,
        )
        .await?;
    Ok(axum::Json(body))
}

async fn released_signals(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Query(params): Params,
) -> ApiResult {
    let access = authorize(&service, &headers, Endpoint::ReleasedSignals)?;
    let body = service
        .released_signals(
            &access,
            peildatum(&params)?,
            number(&params, "limit")?,
            number(&params, "offset")?,
        )
        .await?;
    Ok(axum::Json(body))
}

async fn buurt(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(params): Params,
) -> ApiResult {
    let access = authorize(&service, &headers, Endpoint::Buurt)?;
    let body = service.buurt(&access, &code, peildatum(&params)?).await?;
    Ok(axum::Json(body))
}

async fn audit_records(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Query(params): Params,
) -> ApiResult {
    let access = authorize(&service, &headers, Endpoint::AuditRecords)?;
    let kind = parse(&params, "kind", |v| {
        [
            RecordKind::Query,
            RecordKind::Release,
            RecordKind::LogRead,
            RecordKind::LogEvent,
        ]
        .into_iter()
        .find(|k| k.as_str() == v)
    })?;
    let body = service
        .audit_records(&access, kind, number(&params, "limit")?)
        .await?;
    Ok(axum::Json(body))
}

async fn audit_verify(State(service): State<Arc<Service>>, headers: HeaderMap) -> ApiResult {
    let access = authorize(&service, &headers, Endpoint::AuditVerify)?;
    Ok(axum::Json(service.audit_verify(&access).await?))
}
