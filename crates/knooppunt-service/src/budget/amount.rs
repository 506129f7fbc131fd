//! Exact privacy-budget amounts: integer micro-epsilon.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::BudgetError;

/// Micro-epsilon per ε.
const MICROS_PER_EPSILON: u64 = 1_000_000;
/// Decimal places a budget amount can carry.
const DECIMALS: usize = 6;

/// An amount of privacy budget in micro-epsilon (1 ε = 1 000 000).
///
/// Budget arithmetic is exact integer arithmetic: three charges of ε 0.333333
/// plus one of ε 0.000001 spend a budget of ε 1.0 to the last micro. Amounts
/// are written and parsed as decimal text with at most six decimals
/// (`"1.0"`, `"0.25"`, `"0.333333"`); text that a micro-epsilon cannot
/// represent exactly (`"0.1234567"`) is refused, never rounded.
///
/// In JSON an amount is a string (`"0.25"`). Reading also accepts a JSON
/// integer (whole ε) and a JSON number with at most 15 significant digits,
/// whose shortest decimal form is exactly the text that was written, so a
/// configuration may say `"epsilon_per_period": 1.5` without float rounding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MicroEpsilon(u64);

impl MicroEpsilon {
    /// No budget.
    pub const ZERO: MicroEpsilon = MicroEpsilon(0);

    /// An amount of `micros` micro-epsilon.
    pub const fn from_micros(micros: u64) -> MicroEpsilon {
        MicroEpsilon(micros)
    }

    /// A whole number of ε, or `None` if it does not fit.
    pub const fn from_epsilon(epsilon: u64) -> Option<MicroEpsilon> {
        match epsilon.checked_mul(MICROS_PER_EPSILON) {
            Some(m) => Some(MicroEpsilon(m)),
            None => None,
        }
    }

    /// The amount in micro-epsilon.
    pub const fn micros(self) -> u64 {
        self.0
    }

    /// The amount in ε as a float, for records that carry ε as a number (the
    /// audit log). For amounts of at most 15 significant digits (every
    /// amount below ε 10^9) this is the float nearest to the amount, whose
    /// shortest decimal form is the amount's text, so it reads back exactly.
    pub fn to_f64(self) -> f64 {
        // Below 2^53 the u64 converts exactly, and one IEEE division is
        // correctly rounded: the result is the float nearest the quotient.
        self.0 as f64 / MICROS_PER_EPSILON as f64
    }

    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: MicroEpsilon) -> Option<MicroEpsilon> {
        match self.0.checked_add(other.0) {
            Some(m) => Some(MicroEpsilon(m)),
            None => None,
        }
    }

    /// `self - other`, or zero if `other` is larger.
    pub const fn saturating_sub(self, other: MicroEpsilon) -> MicroEpsilon {
        MicroEpsilon(self.0.saturating_sub(other.0))
    }

    /// `self + other`, capped at the largest amount.
    pub const fn saturating_add(self, other: MicroEpsilon) -> MicroEpsilon {
        MicroEpsilon(self.0.saturating_add(other.0))
    }

    /// Parses decimal ε text exactly: digits, optionally a point and up to six
    /// significant decimals (trailing zeros beyond six are fine). No sign,
    /// no exponent, no rounding.
    pub fn parse(text: &str) -> Result<MicroEpsilon, BudgetError> {
        let bad = |why: &str| {
            BudgetError::Config(format!(
                "invalid ε amount ({why}); write a decimal like \"1.0\" or \"0.25\" with at most {DECIMALS} decimals"
            ))
        };
        let text = text.trim();
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(bad("empty"));
        }
        if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("not a non-negative decimal number"));
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > DECIMALS {
            return Err(bad("more than six decimals"));
        }
        let mut micros: u64 = 0;
        for b in whole.bytes() {
            micros = micros
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(b - b'0')))
                .ok_or_else(|| bad("too large"))?;
        }
        micros = micros
            .checked_mul(MICROS_PER_EPSILON)
            .ok_or_else(|| bad("too large"))?;
        let mut frac_micros: u64 = 0;
        for i in 0..DECIMALS {
            let digit = frac.as_bytes().get(i).map_or(0, |b| u64::from(b - b'0'));
            frac_micros = frac_micros * 10 + digit;
        }
        micros
            .checked_add(frac_micros)
            .map(MicroEpsilon)
            .ok_or_else(|| bad("too large"))
    }
}

impl fmt::Display for MicroEpsilon {
    /// Decimal ε with at least one and at most six decimals: `3.0`, `0.25`,
    /// `0.000001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / MICROS_PER_EPSILON;
        let frac = self.0 % MICROS_PER_EPSILON;
        let digits = format!("{frac:06}");
        let digits = digits.trim_end_matches('0');
        let digits = if digits.is_empty() { "0" } else { digits };
        f.pad(&format!("{whole}.{digits}"))
    }
}

impl FromStr for MicroEpsilon {
    type Err = BudgetError;

    fn from_str(s: &str) -> Result<MicroEpsilon, BudgetError> {
        MicroEpsilon::parse(s)
    }
}

impl Serialize for MicroEpsilon {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MicroEpsilon {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<MicroEpsilon, D::Error> {
        deserializer.deserialize_any(AmountVisitor)
    }
}

/// Reads an amount from a string, an integer (whole ε) or a short float.
struct AmountVisitor;

impl Visitor<'_> for AmountVisitor {
    type Value = MicroEpsilon;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an ε amount as a decimal string like \"1.0\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<MicroEpsilon, E> {
        MicroEpsilon::parse(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<MicroEpsilon, E> {
        MicroEpsilon::from_epsilon(v).ok_or_else(|| E::custom("ε amount too large"))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<MicroEpsilon, E> {
        let v = u64::try_from(v).map_err(|_| E::custom("ε amount must not be negative"))?;
        self.visit_u64(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<MicroEpsilon, E> {
        if !v.is_finite() || v < 0.0 {
            return Err(E::custom("ε amount must be a finite non-negative number"));
        }
        // Rust prints the shortest decimal that reads back as `v`. With at
        // most 15 significant digits that decimal is the text that was
        // parsed, so the exact parse below sees what the user wrote.
        let text = format!("{v}");
        let significant = text
            .bytes()
            .filter(u8::is_ascii_digit)
            .skip_while(|&b| b == b'0')
            .count();
        if significant > 15 {
            return Err(E::custom(
                "ε amount has too many digits for a number; write it as a string",
            ));
        }
        MicroEpsilon::parse(&text).map_err(E::custom)
    }
}
