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
        parse_fixed(text.trim(), DECIMALS, MICROS_PER_EPSILON)
            .map(MicroEpsilon)
            .map_err(bad)
    }
}

impl fmt::Display for MicroEpsilon {
    /// Decimal ε with at least one and at most six decimals: `3.0`, `0.25`,
    /// `0.000001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&format_fixed(self.0, DECIMALS, MICROS_PER_EPSILON))
    }
}

impl FromStr for MicroEpsilon {
    type Err = BudgetError;

    fn from_str(s: &str) -> Result<MicroEpsilon, BudgetError> {
        MicroEpsilon::parse(s)
    }
}

impl FixedAmount for MicroEpsilon {
    const SYMBOL: &'static str = "ε";
    const PER_WHOLE: u64 = MICROS_PER_EPSILON;

    fn from_units(units: u64) -> MicroEpsilon {
        MicroEpsilon(units)
    }

    fn parse(text: &str) -> Result<MicroEpsilon, BudgetError> {
        MicroEpsilon::parse(text)
    }
}

/// Units of [`Delta`] per 1 (10¹⁸).
const DELTA_UNITS: u64 = 1_000_000_000_000_000_000;
/// Decimal places a δ amount can carry.
const DELTA_DECIMALS: usize = 18;

/// An amount of δ (the probability with which an (ε, δ) guarantee may
/// fail) in units of 10⁻¹⁸, so that δ budgets add up exactly like
/// [`MicroEpsilon`].
///
/// What a query spends is converted from the exact [`Rational`] its
/// calibration used, rounded **up** ([`Delta::at_least`]); a budget given
/// as a fraction is rounded **down** ([`Delta::at_most`]): both on the
/// safe side. Written as decimal text with up to 18 decimals (`"0.00001"`,
/// `"0.0"`); configuration may also write a fraction (`"1/100000"`, rounded
/// down to 10⁻¹⁸).
///
/// [`Rational`]: knooppunt_privacy::dp::Rational
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Delta(u64);

impl Delta {
    /// No δ.
    pub const ZERO: Delta = Delta(0);

    /// An amount of `units` · 10⁻¹⁸.
    pub const fn from_units(units: u64) -> Delta {
        Delta(units)
    }

    /// The amount in units of 10⁻¹⁸.
    pub const fn units(self) -> u64 {
        self.0
    }

    /// The smallest amount at least `r` (`None` above 18.4).
    pub fn at_least(r: knooppunt_privacy::dp::Rational) -> Option<Delta> {
        let scaled = u128::from(r.numer()) * u128::from(DELTA_UNITS);
        u64::try_from(scaled.div_ceil(u128::from(r.denom())))
            .ok()
            .map(Delta)
    }

    /// The largest amount at most `r` (`None` above 18.4).
    pub fn at_most(r: knooppunt_privacy::dp::Rational) -> Option<Delta> {
        let scaled = u128::from(r.numer()) * u128::from(DELTA_UNITS);
        u64::try_from(scaled / u128::from(r.denom()))
            .ok()
            .map(Delta)
    }

    /// The amount as a float, for records that carry numbers (the audit
    /// log).
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / DELTA_UNITS as f64
    }

    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: Delta) -> Option<Delta> {
        match self.0.checked_add(other.0) {
            Some(d) => Some(Delta(d)),
            None => None,
        }
    }

    /// `self - other`, or zero if `other` is larger.
    pub const fn saturating_sub(self, other: Delta) -> Delta {
        Delta(self.0.saturating_sub(other.0))
    }

    /// `self + other`, capped at the largest amount.
    pub const fn saturating_add(self, other: Delta) -> Delta {
        Delta(self.0.saturating_add(other.0))
    }

    /// Parses δ text: a decimal with at most 18 significant decimals
    /// (exact), or a fraction `a/b` (rounded down to 10⁻¹⁸). No sign, no
    /// exponent.
    pub fn parse(text: &str) -> Result<Delta, BudgetError> {
        let bad = |why: &str| {
            BudgetError::Config(format!(
                "invalid δ amount ({why}); write a decimal like \"0.00001\" or a fraction like \"1/100000\""
            ))
        };
        let text = text.trim();
        if text.contains('/') {
            let r: knooppunt_privacy::dp::Rational =
                text.parse().map_err(|_| bad("not a positive fraction"))?;
            return Delta::at_most(r).ok_or_else(|| bad("too large"));
        }
        parse_fixed(text, DELTA_DECIMALS, DELTA_UNITS)
            .map(Delta)
            .map_err(bad)
    }
}

impl fmt::Display for Delta {
    /// Decimal δ with at least one and at most 18 decimals: `0.00001`,
    /// `0.0`, `1.0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&format_fixed(self.0, DELTA_DECIMALS, DELTA_UNITS))
    }
}

impl FromStr for Delta {
    type Err = BudgetError;

    fn from_str(s: &str) -> Result<Delta, BudgetError> {
        Delta::parse(s)
    }
}

impl FixedAmount for Delta {
    const SYMBOL: &'static str = "δ";
    const PER_WHOLE: u64 = DELTA_UNITS;

    fn from_units(units: u64) -> Delta {
        Delta(units)
    }

    fn parse(text: &str) -> Result<Delta, BudgetError> {
        Delta::parse(text)
    }
}

/// What one query spends of an analyst's budget: ε, and the δ its
/// calibration used (zero for pure ε-DP).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Cost {
    /// ε.
    pub epsilon: MicroEpsilon,
    /// δ.
    pub delta: Delta,
}

impl From<MicroEpsilon> for Cost {
    /// A pure ε cost (δ 0).
    fn from(epsilon: MicroEpsilon) -> Cost {
        Cost {
            epsilon,
            delta: Delta::ZERO,
        }
    }
}

/// Parses a non-negative decimal (digits, optionally a point and at most
/// `decimals` significant decimals; no sign, no exponent) exactly into
/// units of 10^-`decimals` (`per_whole` units make 1). The error says why,
/// without the text.
fn parse_fixed(text: &str, decimals: usize, per_whole: u64) -> Result<u64, &'static str> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty() {
        return Err("empty");
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a non-negative decimal number");
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > decimals {
        return Err("too many decimals");
    }
    let mut units: u64 = 0;
    for b in whole.bytes() {
        units = units
            .checked_mul(10)
            .and_then(|u| u.checked_add(u64::from(b - b'0')))
            .ok_or("too large")?;
    }
    let mut frac_units: u64 = 0;
    for i in 0..decimals {
        let digit = frac.as_bytes().get(i).map_or(0, |b| u64::from(b - b'0'));
        frac_units = frac_units * 10 + digit;
    }
    units
        .checked_mul(per_whole)
        .and_then(|u| u.checked_add(frac_units))
        .ok_or("too large")
}

/// `units` (of 10^-`decimals`, `per_whole` to 1) as a decimal with at least
/// one and at most `decimals` decimals: `3.0`, `0.25`, `0.000001`.
fn format_fixed(units: u64, decimals: usize, per_whole: u64) -> String {
    let whole = units / per_whole;
    let frac = format!("{:0width$}", units % per_whole, width = decimals);
    let frac = frac.trim_end_matches('0');
    format!("{whole}.{}", if frac.is_empty() { "0" } else { frac })
}

/// An exact fixed-point amount (ε or δ), written as decimal text.
trait FixedAmount: Sized + fmt::Display {
    /// `ε` or `δ`, for messages.
    const SYMBOL: &'static str;
    /// Units per whole 1.
    const PER_WHOLE: u64;
    fn from_units(units: u64) -> Self;
    fn parse(text: &str) -> Result<Self, BudgetError>;
}

macro_rules! amount_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$t, D::Error> {
                deserializer.deserialize_any(AmountVisitor(std::marker::PhantomData))
            }
        }
    };
}
amount_serde!(MicroEpsilon);
amount_serde!(Delta);

/// Reads an amount from a string, an integer (whole units) or a short
/// float.
struct AmountVisitor<T>(std::marker::PhantomData<T>);

impl<T: FixedAmount> Visitor<'_> for AmountVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} amount as a decimal string like \"1.0\"", T::SYMBOL)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::parse(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        v.checked_mul(T::PER_WHOLE)
            .map(T::from_units)
            .ok_or_else(|| E::custom(format!("{} amount too large", T::SYMBOL)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        let v = u64::try_from(v)
            .map_err(|_| E::custom(format!("{} amount must not be negative", T::SYMBOL)))?;
        self.visit_u64(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        if !v.is_finite() || v < 0.0 {
            return Err(E::custom(format!(
                "{} amount must be a finite non-negative number",
                T::SYMBOL
            )));
        }
        // Rust prints the shortest decimal that reads back as `v`, without
        // an exponent (1e-5 as "0.00001"). With at most 15 significant
        // digits that decimal is the text that was parsed, so the exact
        // parse below sees what the user wrote.
        let text = format!("{v}");
        let significant = text
            .bytes()
            .filter(u8::is_ascii_digit)
            .skip_while(|&b| b == b'0')
            .count();
        if significant > 15 {
            return Err(E::custom(format!(
                "{} amount has too many digits for a number; write it as a string",
                T::SYMBOL
            )));
        }
        T::parse(&text).map_err(E::custom)
    }
}
