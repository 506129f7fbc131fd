//! The one release path of knooppunt: authorise → run → disclosure control
//! → audit → return. Front ends (the HTTP API in `knooppunt-api`, the
//! command line) call this crate; none of them decides anything about
//! access or release on its own.
//!
//! - [`release`]: an exact indicator table becomes released cells and
//!   released signals (shared with `knooppunt indicators|signals --release`).
//! - [`TokenStore`]: bearer tokens, stored as SHA-256 hashes only.
//! - [`Purposes`]: which role may state which purpose (doelbinding).
//! - [`Service`]: checks token, role, purpose and scope, computes (and
//!   caches) the release per peildatum, and appends one audit record per
//!   successful data response before returning it.

pub mod analyst;
pub mod body;
pub mod budget;
mod durable;
mod purpose;
mod ratelimit;
pub mod release;
mod service;
mod token;

pub use body::{Body, Listed};
pub use budget::{
    Balance, BudgetConfig, BudgetError, CacheKey, Charge, Ledger, LedgerEntry, MicroEpsilon, Period,
};
pub use purpose::{Purpose, Purposes};
pub use ratelimit::RateLimit;
pub use service::{
    Access, DEFAULT_LIMIT, Endpoint, MAX_LIMIT, MAX_OFFSET, MAX_SQL_CHARS, PEILDATUM_YEARS,
    Service, ServiceOptions,
};
pub use token::{Role, TOKEN_PREFIX, TokenRecord, TokenStore, constant_time_eq, parse_lifetime};

/// Why a request was not answered. The messages carry no data values and
/// never say whether something exists outside the caller's scope.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No token, an unknown one, or an expired or revoked one.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// The token's role may not use this endpoint.
    #[error("this role may not use this endpoint")]
    RoleForbidden,
    /// No purpose was stated.
    #[error("state a purpose (X-Purpose header)")]
    PurposeMissing,
    /// The purpose is not configured or not allowed for the role.
    #[error("this purpose is not allowed for this role")]
    PurposeForbidden,
    /// Nothing of that name within the caller's scope.
    #[error("not found")]
    NotFound,
    /// A malformed parameter (named, never echoed).
    #[error("invalid parameter: {0}")]
    BadRequest(&'static str),
    /// Analyst SQL refused by a privacy rule (named, never a value).
    #[error("query refused by rule {rule}")]
    QueryRefused {
        /// The rule's name.
        rule: &'static str,
    },
    /// The analyst's privacy budget for this period cannot pay the query.
    #[error("privacy budget exhausted for this period: the query's {budget} does not fit")]
    BudgetExhausted {
        /// Which budget: `"ε"` or `"δ"`.
        budget: &'static str,
    },
    /// Too many requests for this token; retry after the given seconds.
    #[error("too many requests; retry later")]
    RateLimited {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The audit record could not be written, so nothing is returned.
    #[error("the audit log is unavailable; nothing is released without it")]
    AuditUnavailable,
    /// Configuration or start-up problem (token file, lake).
    #[error("{0}")]
    Config(String),
    /// The computation failed.
    #[error("internal error")]
    Internal,
}

impl ServiceError {
    /// A stable code for the error, used in JSON answers.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Unauthorized => "unauthorized",
            ServiceError::RoleForbidden => "forbidden",
            ServiceError::PurposeMissing => "purpose_required",
            ServiceError::PurposeForbidden => "purpose_not_allowed",
            ServiceError::NotFound => "not_found",
            ServiceError::BadRequest(_) => "bad_request",
            ServiceError::QueryRefused { .. } => "query_refused",
            ServiceError::RateLimited { .. } => "rate_limited",
            ServiceError::BudgetExhausted { .. } => "budget_exhausted",
            ServiceError::AuditUnavailable => "audit_unavailable",
            ServiceError::Config(_) | ServiceError::Internal => "internal",
        }
    }
}
