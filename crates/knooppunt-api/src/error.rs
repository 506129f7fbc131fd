//! Error answers: always `{"error": code, "message": text}`, never a data
//! value, and a 404 that looks the same whether the thing does not exist or
//! lies outside the caller's scope.

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use knooppunt_service::ServiceError;
use serde_json::json;

/// An error answer.
#[derive(Debug)]
pub enum ApiError {
    /// What the service refused or failed with.
    Service(ServiceError),
    /// No acceptable response form (`Accept`).
    NotAcceptable,
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        ApiError::Service(e)
    }
}

impl ApiError {
    /// A 500 without details.
    pub fn internal() -> ApiError {
        ApiError::Service(ServiceError::Internal)
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            ApiError::Service(e) => match e {
                ServiceError::Unauthorized => StatusCode::UNAUTHORIZED,
                ServiceError::RoleForbidden
                | ServiceError::PurposeMissing
                | ServiceError::PurposeForbidden => StatusCode::FORBIDDEN,
                ServiceError::NotFound => StatusCode::NOT_FOUND,
                ServiceError::BadRequest(_) => StatusCode::BAD_REQUEST,
                ServiceError::QueryRefused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                ServiceError::BudgetExhausted { .. } => StatusCode::FORBIDDEN,
                ServiceError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                ServiceError::AuditUnavailable => StatusCode::SERVICE_UNAVAILABLE,
                ServiceError::Config(_) | ServiceError::Internal => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
        }
    }
}

/// The JSON error answer for `status` with `code` and `message`.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "error": code, "message": message });
    let mut response = (status, axum::Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (code, message) = match &self {
            ApiError::NotAcceptable => (
                "not_acceptable",
                "acceptable forms: application/json; lists also text/csv and \
                 application/vnd.apache.arrow.stream"
                    .to_string(),
            ),
            // Configuration details stay in the server's log.
            ApiError::Service(ServiceError::Config(_)) => {
                ("internal", ServiceError::Internal.to_string())
            }
            ApiError::Service(e) => (e.code(), e.to_string()),
        };
        let mut response = error_response(status, code, &message);
        if let ApiError::Service(ServiceError::RateLimited { retry_after }) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}

/// Turns error answers that did not come from a handler (axum's extractor
/// rejections, 405, tower-http's 413 and 408) into the JSON error form.
pub async fn json_errors(request: Request<Body>, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "send the body as application/json",
        ),
        StatusCode::NOT_FOUND => ("not_found", "not found"),
        s if s.is_client_error() => ("bad_request", "the request is malformed"),
        _ => ("internal", "internal error"),
    };
    let mut answer = error_response(status, code, message);
    if let Some(allow) = response.headers().get(header::ALLOW) {
        answer.headers_mut().insert(header::ALLOW, allow.clone());
    }
    answer
}
