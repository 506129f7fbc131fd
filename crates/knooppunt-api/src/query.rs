//! `POST /v1/query`: analyst SQL answered with differential privacy. The
//! handler only reads the token, the purpose and the JSON body; the
//! service gates, charges, runs, noises and records
//! ([`Service::query`]).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use knooppunt_service::{Endpoint, Service, ServiceError};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::{ApiError, bearer, purpose};

// The schema's `max_length` below must be the service's limit.
const _: () = assert!(knooppunt_service::MAX_SQL_CHARS == 2500);

/// The body of `POST /v1/query`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueryRequest {
    /// One SELECT over the analyst tables, answering only aggregates
    /// (COUNT, COUNT(DISTINCT unit), SUM and AVG of clamped columns); at
    /// most 2,500 characters, so that any body the schema allows fits the
    /// 16 KiB body limit even with every character JSON-escaped.
    #[schema(min_length = 1, max_length = 2500)]
    sql: String,
    /// Reference date (default: the lake's latest date).
    #[schema(format = Date, min_length = 10, max_length = 10,
        pattern = "^(19[0-9][0-9]|20[0-9][0-9]|2100)-[0-9]{2}-[0-9]{2}$")]
    peildatum: Option<String>,
}

/// A noisy answer of analyst SQL.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct QueryAnswer {
    /// Fingerprint of the canonical rewritten plan (with bounds, peildatum,
    /// scope and snapshots): identical questions share it.
    fingerprint: String,
    /// The reference date of the answer.
    #[schema(format = Date)]
    peildatum: String,
    /// Output columns: group keys, then aggregates.
    columns: Vec<String>,
    /// One object per released group: each key's value, and per aggregate
    /// `{value, noise_scale, half_width_95, interval_95}` (an AVG adds its
    /// noisy `sum` and `count`).
    #[schema(value_type = Vec<Object>)]
    rows: Vec<Value>,
    /// Groups with private keys withheld by the noisy threshold.
    withheld: u64,
    /// The noise: `kind` (`discrete_laplace` with each value's `scale`, or
    /// `discrete_gaussian` with each value's `sigma2` and the answer's
    /// `rho`), ε, δ, the δ spent, per value its `noise_scale` and
    /// `half_width_95`, and the private-key threshold.
    #[schema(value_type = Object)]
    mechanism: Value,
    /// ε charged for this answer (`0.0` when cached).
    epsilon_charged: String,
    /// ε left of the analyst's budget in this period.
    budget_left: String,
    /// δ charged for this answer (`0.0` when cached or when the noise
    /// needs none).
    delta_charged: String,
    /// δ left of the analyst's budget in this period.
    delta_left: String,
    /// Whether this is the stored answer of an identical earlier query.
    cached: bool,
}

/// Analyst SQL with differential privacy (analysts only): the cost is
/// debited from the analyst's privacy budget before the query runs; an
/// identical query on the same data returns the stored answer at no cost.
#[utoipa::path(post, path = "/v1/query", tag = "analyst",
    params(("X-Purpose" = String, Header, description = "Purpose (doelbinding)")),
    request_body(content = QueryRequest, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The noisy answer", body = QueryAnswer),
        (status = 400, description = "Malformed body or parameter", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Role or purpose not allowed, or the privacy budget is exhausted",
            body = crate::openapi::ErrorBody),
        (status = 413, description = "Body larger than 16 KiB", body = crate::openapi::ErrorBody),
        (status = 422, description = "Refused by a privacy rule (named in the message)",
            body = crate::openapi::ErrorBody),
        (status = 429, description = "Rate limited", body = crate::openapi::ErrorBody),
        (status = 500, description = "The query failed (one error for every failure)",
            body = crate::openapi::ErrorBody),
        (status = 503, description = "The audit log is unavailable", body = crate::openapi::ErrorBody),
    ))]
pub(crate) async fn query(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // The answer is JSON only: another `Accept` is refused before anything
    // is computed or recorded, as on every other endpoint.
    crate::format::negotiate(&headers, false, "application/json").ok_or(ApiError::NotAcceptable)?;
    let started = Instant::now();
    let access = service
        .authorize(bearer(&headers), purpose(&headers), Endpoint::Query)
        .await?;
    let request = match parse(&body) {
        Ok(r) => r,
        Err(e) => return Err(service.refuse(&access, e, started).await.into()),
    };
    let (sql, peildatum) = request;
    let answer = service.query(&access, &sql, peildatum).await?;
    Ok(axum::Json(answer).into_response())
}

fn parse(body: &[u8]) -> Result<(String, Option<NaiveDate>), ServiceError> {
    let request: QueryRequest =
        serde_json::from_slice(body).map_err(|_| ServiceError::BadRequest("body"))?;
    let peildatum = match request.peildatum.as_deref() {
        None => None,
        Some(v) => Some(crate::date(v).ok_or(ServiceError::BadRequest("peildatum"))?),
    };
    Ok((request.sql, peildatum))
}
