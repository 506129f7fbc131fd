//! How values are spelled in the exports: dates, Dutch numbers, postcodes.
//!
//! Dates are carried around as [`Day`] (days since 1 January of year 1),
//! which makes date arithmetic plain integer arithmetic.

use chrono::{Datelike, NaiveDate};

/// A calendar day as days since 0001-01-01 (chrono's `num_days_from_ce`).
pub(crate) type Day = i32;

/// The reference date of every generated set: the latest date that occurs
/// in any dated source.
pub(crate) const PEILDATUM: (i32, u32, u32) = (2026, 9, 30);

/// Days in the generated history window (about two years, ending on the
/// peildatum inclusive).
pub(crate) const HISTORY_DAYS: i32 = 730;

/// The day of `y-m-d`; out-of-range input gives the peildatum's year start.
pub(crate) fn day(y: i32, m: u32, d: u32) -> Day {
    NaiveDate::from_ymd_opt(y, m, d)
        .or_else(|| NaiveDate::from_ymd_opt(y, 1, 1))
        .map_or(0, |date| date.num_days_from_ce())
}

/// The peildatum as a [`Day`].
pub(crate) fn peildatum() -> Day {
    day(PEILDATUM.0, PEILDATUM.1, PEILDATUM.2)
}

/// Year, month and day of `d`.
pub(crate) fn ymd(d: Day) -> (i32, u32, u32) {
    NaiveDate::from_num_days_from_ce_opt(d)
        .map_or((1, 1, 1), |date| (date.year(), date.month(), date.day()))
}

/// Year of `d`.
pub(crate) fn year(d: Day) -> i32 {
    ymd(d).0
}

/// How a department writes dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateStyle {
    /// `dd-mm-yyyy`, the contract's default.
    Dmy,
    /// `yyyy-mm-dd`, which some departments use.
    Ymd,
}

/// `d` spelled in `style`.
pub(crate) fn date(d: Day, style: DateStyle) -> String {
    let (y, m, dd) = ymd(d);
    match style {
        DateStyle::Dmy => format!("{dd:02}-{m:02}-{y:04}"),
        DateStyle::Ymd => format!("{y:04}-{m:02}-{dd:02}"),
    }
}

/// Integer with Dutch thousands dots: `1250000` → `1.250.000`.
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// Non-negative `v` with `decimals` decimals and a decimal comma,
/// optionally with thousands dots: `1250000.0, 2, true` → `1.250.000,00`.
pub(crate) fn decimal(v: f64, decimals: u32, thousands: bool) -> String {
    let scale = 10u64.pow(decimals);
    let scaled = (v.max(0.0) * scale as f64).round() as u64;
    let int = scaled / scale;
    let frac = scaled % scale;
    let int_text = if thousands {
        grouped(int)
    } else {
        int.to_string()
    };
    if decimals == 0 {
        int_text
    } else {
        format!("{int_text},{frac:0width$}", width = decimals as usize)
    }
}

/// Letter pairs of Dutch postcodes; `SA`, `SD` and `SS` are never issued.
pub(crate) fn postcode_letters(index: u32) -> [u8; 2] {
    // 676 pairs minus the three excluded ones.
    let mut i = index % 673;
    for a in b'A'..=b'Z' {
        for b in b'A'..=b'Z' {
            if a == b'S' && matches!(b, b'A' | b'D' | b'S') {
                continue;
            }
            if i == 0 {
                return [a, b];
            }
            i -= 1;
        }
    }
    [b'Z', b'Z']
}

/// Number of usable postcode letter pairs.
pub(crate) const POSTCODE_LETTER_PAIRS: u32 = 673;

/// A packed postcode (`pc4 * 1000 + letter pair index`) spelled `1234AB`,
/// or `1234 ab` when `sloppy`.
pub(crate) fn postcode(packed: u32, sloppy: bool) -> String {
    let pc4 = packed / 1000;
    let [a, b] = postcode_letters(packed % 1000);
    if sloppy {
        format!(
            "{pc4} {}{}",
            char::from(a.to_ascii_lowercase()),
            char::from(b.to_ascii_lowercase())
        )
    } else {
        format!("{pc4}{}{}", char::from(a), char::from(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_spell() {
        let d = day(2026, 9, 30);
        assert_eq!(d, peildatum());
        assert_eq!(date(d, DateStyle::Dmy), "30-09-2026");
        assert_eq!(date(d - 30, DateStyle::Ymd), "2026-08-31");
        assert_eq!(year(d), 2026);
    }

    #[test]
    fn dutch_numbers() {
        assert_eq!(grouped(1_250_000), "1.250.000");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1.000");
        assert_eq!(decimal(1_250_000.0, 2, true), "1.250.000,00");
        assert_eq!(decimal(121_234.567, 3, false), "121234,567");
        assert_eq!(decimal(12.05, 1, false), "12,1");
        assert_eq!(decimal(7.0, 0, true), "7");
    }

    #[test]
    fn postcodes_skip_unissued_pairs() {
        let all: Vec<[u8; 2]> = (0..POSTCODE_LETTER_PAIRS).map(postcode_letters).collect();
        assert!(!all.contains(b"SA") && !all.contains(b"SD") && !all.contains(b"SS"));
        let mut unique = all.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), all.len());
        assert_eq!(postcode(1_234_000, false), "1234AA");
        assert_eq!(postcode(1_234_001, true), "1234 ab");
    }
}
