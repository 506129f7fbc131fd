use chrono::{DateTime, Utc};

/// Source of the current time, injected so that snapshots, audit records and
/// peildatum defaults are deterministic in tests.
pub trait TimeProvider: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl TimeProvider for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that always returns the same instant, for tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl TimeProvider for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}
