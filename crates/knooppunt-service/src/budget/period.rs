//! Calendar budget periods, in UTC.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use super::BudgetError;

/// The calendar period a budget is granted for. Periods are calendar periods
/// in UTC; weeks are ISO 8601 weeks (Monday to Sunday, numbered within the
/// ISO week-year), so 1 January 2027 falls in `2026-W53`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// A calendar day: `2026-11-28`.
    Day,
    /// An ISO week: `2026-W48`.
    Week,
    /// A calendar month: `2026-11`.
    #[default]
    Month,
    /// A calendar quarter: `2026-Q4`.
    Quarter,
    /// A calendar year: `2026`.
    Year,
}

impl Period {
    /// Every period.
    pub const ALL: [Period; 5] = [
        Period::Day,
        Period::Week,
        Period::Month,
        Period::Quarter,
        Period::Year,
    ];

    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
            Period::Quarter => "quarter",
            Period::Year => "year",
        }
    }

    /// The key of the period that contains `time`: `2026-11-28`, `2026-W48`,
    /// `2026-11`, `2026-Q4` or `2026`.
    pub fn key(self, time: DateTime<Utc>) -> String {
        let date = time.date_naive();
        match self {
            Period::Day => date.format("%Y-%m-%d").to_string(),
            Period::Week => {
                let week = date.iso_week();
                format!("{:04}-W{:02}", week.year(), week.week())
            }
            Period::Month => format!("{:04}-{:02}", date.year(), date.month()),
            Period::Quarter => format!("{:04}-Q{}", date.year(), date.month0() / 3 + 1),
            Period::Year => format!("{:04}", date.year()),
        }
    }

    /// The first instant of the period that contains `time`.
    pub fn start(self, time: DateTime<Utc>) -> DateTime<Utc> {
        let date = time.date_naive();
        let first = match self {
            Period::Day => Some(date),
            Period::Week => {
                date.checked_sub_days(Days::new(u64::from(date.weekday().num_days_from_monday())))
            }
            Period::Month => date.with_day(1),
            Period::Quarter => NaiveDate::from_ymd_opt(date.year(), date.month0() / 3 * 3 + 1, 1),
            Period::Year => NaiveDate::from_ymd_opt(date.year(), 1, 1),
        };
        // Every calendar date has a period start within chrono's range except
        // in the first week of its range; fall back to the date itself.
        first.unwrap_or(date).and_time(NaiveTime::MIN).and_utc()
    }

    /// The first instant after the period that contains `time`: when a fresh
    /// budget starts.
    pub fn end(self, time: DateTime<Utc>) -> DateTime<Utc> {
        let start = self.start(time);
        let date = start.date_naive();
        let next = match self {
            Period::Day => date.checked_add_days(Days::new(1)),
            Period::Week => date.checked_add_days(Days::new(7)),
            Period::Month => date.checked_add_months(Months::new(1)),
            Period::Quarter => date.checked_add_months(Months::new(3)),
            Period::Year => date.checked_add_months(Months::new(12)),
        };
        next.map_or(DateTime::<Utc>::MAX_UTC, |d| {
            d.and_time(NaiveTime::MIN).and_utc()
        })
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Period {
    type Err = BudgetError;

    fn from_str(s: &str) -> Result<Period, BudgetError> {
        Period::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                BudgetError::Config(
                    "unknown budget period; use day, week, month, quarter or year".into(),
                )
            })
    }
}
