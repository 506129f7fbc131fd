//! Field parsers for the quirks of the export contract: decimal comma and
//! thousands dots, two date formats, Excel serial dates, postcodes and
//! fixed-format identifiers. Every parser is pure and returns the [`Rule`]
//! a bad value violates, never the value itself.

use chrono::{Datelike, NaiveDate};
use knooppunt_core::Rule;

/// One field of an input row, as the reader produced it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    /// No value (empty text or empty spreadsheet cell).
    Empty,
    /// Text, already trimmed.
    Text(&'a str),
    /// A spreadsheet number.
    Number(f64),
    /// A spreadsheet date cell.
    Date(NaiveDate),
}

impl<'a> Cell<'a> {
    /// A text cell, trimmed; whitespace-only text is empty.
    pub(crate) fn text(raw: &'a str) -> Cell<'a> {
        let t = raw.trim();
        if t.is_empty() {
            Cell::Empty
        } else {
            Cell::Text(t)
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Cell::Empty)
    }
}

/// Days from 1970-01-01 (Arrow `Date32`).
pub(crate) fn date32(d: NaiveDate) -> i32 {
    // 719_163 is the number of days from 0001-01-01 (CE day 1) to 1970-01-01.
    d.num_days_from_ce() - 719_163
}

/// Parses `dd-mm-yyyy` or `yyyy-mm-dd`; the date must exist.
pub(crate) fn parse_date_text(s: &str) -> Result<NaiveDate, Rule> {
    let parts: Vec<&str> = s.split('-').collect();
    if parts.len() != 3
        || !parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(Rule::InvalidDate);
    }
    let (y, m, d) = match (parts[0].len(), parts[1].len(), parts[2].len()) {
        (4, 2, 2) => (parts[0], parts[1], parts[2]),
        (2, 2, 4) => (parts[2], parts[1], parts[0]),
        _ => return Err(Rule::InvalidDate),
    };
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return Err(Rule::InvalidDate);
    };
    NaiveDate::from_ymd_opt(y, m, d).ok_or(Rule::InvalidDate)
}

/// Converts an Excel serial day number (1900 date system, with Excel's
/// fictitious 29-02-1900 accounted for) to a date. Times of day are dropped.
pub(crate) fn excel_serial_date(serial: f64) -> Result<NaiveDate, Rule> {
    if !serial.is_finite() || !(61.0..=2_958_465.0).contains(&serial) {
        return Err(Rule::InvalidDate);
    }
    let base = NaiveDate::from_ymd_opt(1899, 12, 30).ok_or(Rule::InvalidDate)?;
    base.checked_add_days(chrono::Days::new(serial.floor() as u64))
        .ok_or(Rule::InvalidDate)
}

/// A date from any cell: text in either format, an Excel date cell, or an
/// Excel serial number.
pub(crate) fn parse_date(cell: Cell<'_>) -> Result<Option<NaiveDate>, Rule> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Text(s) => parse_date_text(s).map(Some),
        Cell::Date(d) => Ok(Some(d)),
        Cell::Number(n) => excel_serial_date(n).map(Some),
    }
}

/// Parses a Dutch-formatted decimal: optional sign, digits with optional
/// thousands dots in groups of three, optional decimal comma. `1.250` is
/// 1250; `12.5` is invalid (a dot is never a decimal separator here).
pub(crate) fn parse_decimal_text(s: &str) -> Result<f64, Rule> {
    let (int_part, frac_part) = split_decimal(s)?;
    let mut text = String::with_capacity(s.len());
    text.push_str(&int_part);
    if let Some(frac) = frac_part {
        text.push('.');
        text.push_str(frac);
    }
    text.parse::<f64>().map_err(|_| Rule::InvalidNumber)
}

/// Splits into (sign + integer digits without dots, fraction digits).
fn split_decimal(s: &str) -> Result<(String, Option<&str>), Rule> {
    let (sign, body) = match s.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", s.strip_prefix('+').unwrap_or(s)),
    };
    let (int_raw, frac) = match body.split_once(',') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if let Some(f) = frac
        && (f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(Rule::InvalidNumber);
    }
    if int_raw.is_empty() {
        return Err(Rule::InvalidNumber);
    }
    let groups: Vec<&str> = int_raw.split('.').collect();
    let first_ok = !groups[0].is_empty() && groups[0].bytes().all(|b| b.is_ascii_digit());
    let grouped = groups.len() == 1 || groups[0].len() <= 3;
    let rest_ok = groups[1..]
        .iter()
        .all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()));
    if !(first_ok && grouped && rest_ok) {
        return Err(Rule::InvalidNumber);
    }
    let mut int_part = String::with_capacity(int_raw.len() + 1);
    int_part.push_str(sign);
    for g in groups {
        int_part.push_str(g);
    }
    Ok((int_part, frac))
}

/// A decimal from any cell.
pub(crate) fn parse_decimal(cell: Cell<'_>) -> Result<Option<f64>, Rule> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Text(s) => parse_decimal_text(s).map(Some),
        Cell::Number(n) if n.is_finite() => Ok(Some(n)),
        Cell::Number(_) | Cell::Date(_) => Err(Rule::InvalidNumber),
    }
}

/// An integer that fits `i32`; a decimal comma with only zeros after it is
/// accepted (`12,0`), thousands dots too (`1.250`).
pub(crate) fn parse_int(cell: Cell<'_>) -> Result<Option<i32>, Rule> {
    let value = match cell {
        Cell::Empty => return Ok(None),
        Cell::Text(s) => {
            let (int_part, frac) = split_decimal(s)?;
            if frac.is_some_and(|f| f.bytes().any(|b| b != b'0')) {
                return Err(Rule::InvalidNumber);
            }
            int_part.parse::<i64>().map_err(|_| Rule::InvalidNumber)?
        }
        Cell::Number(n) if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 => n as i64,
        Cell::Number(_) | Cell::Date(_) => return Err(Rule::InvalidNumber),
    };
    i32::try_from(value)
        .map(Some)
        .map_err(|_| Rule::InvalidNumber)
}

/// An amount in euros as cents (`1.250.000,00` → 125000000), at most two
/// decimals.
pub(crate) fn parse_money_cents(cell: Cell<'_>) -> Result<Option<i128>, Rule> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Text(s) => {
            let (int_part, frac) = split_decimal(s)?;
            let frac = frac.unwrap_or("");
            if frac.len() > 2 {
                return Err(Rule::InvalidNumber);
            }
            let euros: i128 = int_part.parse().map_err(|_| Rule::InvalidNumber)?;
            let mut cents_text = frac.to_string();
            while cents_text.len() < 2 {
                cents_text.push('0');
            }
            let cents: i128 = cents_text.parse().map_err(|_| Rule::InvalidNumber)?;
            let total = euros.abs() * 100 + cents;
            let signed = if int_part.starts_with('-') {
                -total
            } else {
                total
            };
            if signed.abs() >= 10i128.pow(13) {
                return Err(Rule::InvalidNumber);
            }
            Ok(Some(signed))
        }
        Cell::Number(n) if n.is_finite() && n.abs() < 1e11 => Ok(Some((n * 100.0).round() as i128)),
        Cell::Number(_) | Cell::Date(_) => Err(Rule::InvalidNumber),
    }
}

/// Text of a cell; spreadsheet numbers that are whole become digits
/// (identifiers in xlsx arrive as floats).
pub(crate) fn cell_text(cell: Cell<'_>) -> Option<String> {
    match cell {
        Cell::Empty => None,
        Cell::Text(s) => Some(s.to_string()),
        Cell::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => Some(format!("{}", n as i64)),
        Cell::Number(n) => Some(format!("{n}")),
        Cell::Date(d) => Some(d.format("%Y-%m-%d").to_string()),
    }
}

/// A string of exactly `len` ASCII digits (leading zeros kept).
pub(crate) fn parse_digits(
    cell: Cell<'_>,
    min_len: usize,
    max_len: usize,
) -> Result<Option<String>, Rule> {
    let Some(text) = cell_text(cell) else {
        return Ok(None);
    };
    if (min_len..=max_len).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(Some(text))
    } else {
        Err(Rule::InvalidCode)
    }
}

/// A Dutch postcode, normalised: `1234 ab` → `1234AB`.
pub(crate) fn parse_postcode(cell: Cell<'_>) -> Result<Option<String>, Rule> {
    let Some(text) = cell_text(cell) else {
        return Ok(None);
    };
    let norm: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let b = norm.as_bytes();
    let ok = b.len() == 6
        && (b'1'..=b'9').contains(&b[0])
        && b[1..4].iter().all(u8::is_ascii_digit)
        && b[4..6].iter().all(u8::is_ascii_uppercase);
    if ok {
        Ok(Some(norm))
    } else {
        Err(Rule::InvalidCode)
    }
}

/// Packs a normalised postcode and house number into one key for linking.
pub(crate) fn postcode_key(postcode: &str, huisnummer: i32) -> Option<u64> {
    let b = postcode.as_bytes();
    if b.len() != 6 {
        return None;
    }
    let digits: u64 = postcode[..4].parse().ok()?;
    let l1 = u64::from(b[4].checked_sub(b'A')?);
    let l2 = u64::from(b[5].checked_sub(b'A')?);
    let pc = (digits * 26 + l1) * 26 + l2;
    let nr = u64::try_from(huisnummer).ok()?;
    Some((pc << 24) | (nr & 0xFF_FFFF))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> Cell<'_> {
        Cell::text(s)
    }

    #[test]
    fn decimals_follow_dutch_conventions() {
        assert_eq!(parse_decimal(t("121234,567")), Ok(Some(121234.567)));
        assert_eq!(parse_decimal(t("1.250")), Ok(Some(1250.0)));
        assert_eq!(parse_decimal(t("1.250.000,50")), Ok(Some(1_250_000.5)));
        assert_eq!(parse_decimal(t("-3,5")), Ok(Some(-3.5)));
        assert_eq!(parse_decimal(t("  ")), Ok(None));
        for bad in [
            "12.5",
            "1,2,3",
            "abc",
            "1.25.000",
            ",5",
            "5,",
            "1..000",
            "12345.678",
        ] {
            assert_eq!(parse_decimal(t(bad)), Err(Rule::InvalidNumber), "{bad}");
        }
    }

    #[test]
    fn integers_and_money() {
        assert_eq!(parse_int(t("1.250")), Ok(Some(1250)));
        assert_eq!(parse_int(t("42")), Ok(Some(42)));
        assert_eq!(parse_int(t("42,00")), Ok(Some(42)));
        assert_eq!(parse_int(t("42,5")), Err(Rule::InvalidNumber));
        assert_eq!(parse_int(t("99999999999")), Err(Rule::InvalidNumber));
        assert_eq!(parse_int(Cell::Number(7.0)), Ok(Some(7)));
        assert_eq!(parse_money_cents(t("1.250.000,00")), Ok(Some(125_000_000)));
        assert_eq!(parse_money_cents(t("350000")), Ok(Some(35_000_000)));
        assert_eq!(parse_money_cents(t("350000,5")), Ok(Some(35_000_050)));
        assert_eq!(parse_money_cents(t("1,234")), Err(Rule::InvalidNumber));
    }

    #[test]
    fn dates_in_both_formats_must_exist() {
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(parse_date(t("29-02-2024")), Ok(Some(d)));
        assert_eq!(parse_date(t("2024-02-29")), Ok(Some(d)));
        for bad in [
            "29-02-2023",
            "2023-13-01",
            "31-04-2023",
            "1-2-2023",
            "2023/01/01",
            "x",
        ] {
            assert_eq!(parse_date(t(bad)), Err(Rule::InvalidDate), "{bad}");
        }
        assert_eq!(date32(NaiveDate::from_ymd_opt(1970, 1, 2).unwrap()), 1);
    }

    #[test]
    fn excel_serials_match_excel() {
        // Excel shows 45292 as 01-01-2024 and 60 is its fictitious 29-02-1900.
        assert_eq!(
            excel_serial_date(45292.0),
            Ok(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap())
        );
        assert_eq!(
            excel_serial_date(45292.75),
            Ok(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap())
        );
        assert_eq!(
            excel_serial_date(61.0),
            Ok(NaiveDate::from_ymd_opt(1900, 3, 1).unwrap())
        );
        assert_eq!(excel_serial_date(-1.0), Err(Rule::InvalidDate));
    }

    #[test]
    fn codes_and_postcodes() {
        assert_eq!(parse_postcode(t("1234 ab")), Ok(Some("1234AB".into())));
        assert_eq!(parse_postcode(t("1234AB")), Ok(Some("1234AB".into())));
        assert_eq!(parse_postcode(t("0234AB")), Err(Rule::InvalidCode));
        assert_eq!(parse_postcode(t("12AB34")), Err(Rule::InvalidCode));
        assert_eq!(
            parse_digits(t("0034010000000001"), 16, 16),
            Ok(Some("0034010000000001".into()))
        );
        assert_eq!(
            parse_digits(t("034010000000001"), 16, 16),
            Err(Rule::InvalidCode)
        );
        assert_eq!(
            parse_digits(Cell::Number(1234.0), 1, 12),
            Ok(Some("1234".into()))
        );
        assert_ne!(postcode_key("1234AB", 1), postcode_key("1234AB", 2));
        assert_ne!(postcode_key("1234AB", 1), postcode_key("1234AC", 1));
    }
}
