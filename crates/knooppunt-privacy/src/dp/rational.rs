//! [`Rational`]: the exact positive numbers that noise parameters are made of.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use super::DpError;

/// A positive rational number `num / den`, always in lowest terms.
///
/// Noise scales, variances and privacy parameters are rationals so that the
/// samplers can work with exact integer arithmetic (PRIVACY.md, "Analyst
/// SQL": "noise is integer … drawn with exact arithmetic"). Configuration
/// writes them as text: a decimal (`"0.5"`, `"7.5"`, `"3"`) or a fraction
/// (`"1/3"`, `"15/2"`); serde uses the same text, and [`fmt::Display`]
/// writes the fraction (`"15/2"`, or `"3"` for an integer).
///
/// Both parts are at most [`Rational::MAX_PART`] (2⁴⁰). The bound is what
/// lets every intermediate value of the discrete Gaussian sampler fit in a
/// `u128` (see `sampler.rs`); it still allows scales and variances up to
/// about 10¹² and decimals with up to 12 significant fractional digits.
/// Zero is not a `Rational`: a noise scale of zero is no noise, and a
/// configuration that says so is refused when it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rational {
    num: u64,
    den: u64,
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        let r = a % b;
        a = b;
        b = r;
    }
    a
}

fn invalid(rule: &'static str) -> DpError {
    DpError::InvalidRational { rule }
}

impl Rational {
    /// The largest numerator or denominator (2⁴⁰), after reduction to lowest
    /// terms.
    pub const MAX_PART: u64 = 1 << 40;

    /// One.
    pub const ONE: Rational = Rational { num: 1, den: 1 };

    /// `num / den`, reduced to lowest terms. Refused when either part is
    /// zero or a reduced part exceeds [`Rational::MAX_PART`].
    pub fn new(num: u64, den: u64) -> Result<Rational, DpError> {
        Rational::from_u128(u128::from(num), u128::from(den))
    }

    /// The integer `n` as a rational; refused for 0 and above
    /// [`Rational::MAX_PART`].
    pub fn from_integer(n: u64) -> Result<Rational, DpError> {
        Rational::new(n, 1)
    }

    /// `num / den` from wide parts, reduced; the same rules as
    /// [`Rational::new`].
    pub(crate) fn from_u128(num: u128, den: u128) -> Result<Rational, DpError> {
        if den == 0 {
            return Err(invalid("has a zero denominator"));
        }
        if num == 0 {
            return Err(invalid("must be positive"));
        }
        let g = gcd(num, den);
        let (num, den) = (num / g, den / g);
        let max = u128::from(Rational::MAX_PART);
        if num > max || den > max {
            return Err(invalid(
                "needs a numerator or denominator above 2^40 (too large or too precise)",
            ));
        }
        // Both parts are at most 2^40 here, so the conversions cannot fail.
        let num = u64::try_from(num).map_err(|_| invalid("is out of range"))?;
        let den = u64::try_from(den).map_err(|_| invalid("is out of range"))?;
        Ok(Rational { num, den })
    }

    /// The numerator, in lowest terms.
    pub fn numer(self) -> u64 {
        self.num
    }

    /// The denominator, in lowest terms.
    pub fn denom(self) -> u64 {
        self.den
    }

    /// Whether this is a whole number.
    pub fn is_integer(self) -> bool {
        self.den == 1
    }

    /// The exact product; refused when the result leaves the range.
    pub fn checked_mul(self, other: Rational) -> Result<Rational, DpError> {
        Rational::from_u128(
            u128::from(self.num) * u128::from(other.num),
            u128::from(self.den) * u128::from(other.den),
        )
    }

    /// The exact quotient `self / other`; refused when the result leaves the
    /// range.
    pub fn checked_div(self, other: Rational) -> Result<Rational, DpError> {
        Rational::from_u128(
            u128::from(self.num) * u128::from(other.den),
            u128::from(self.den) * u128::from(other.num),
        )
    }

    /// The exact sum (for adding up privacy costs); refused when the result
    /// leaves the range.
    pub fn checked_add(self, other: Rational) -> Result<Rational, DpError> {
        Rational::from_u128(
            u128::from(self.num) * u128::from(other.den)
                + u128::from(other.num) * u128::from(self.den),
            u128::from(self.den) * u128::from(other.den),
        )
    }

    /// The reciprocal `den / num` (always in range).
    pub fn recip(self) -> Rational {
        Rational {
            num: self.den,
            den: self.num,
        }
    }

    /// The nearest `f64`, for reporting and calibration only: never use it
    /// to draw noise.
    pub fn to_f64(self) -> f64 {
        // Both parts are at most 2^40 and so exact in an f64; the quotient
        // is correctly rounded.
        self.num as f64 / self.den as f64
    }
}

impl PartialOrd for Rational {
    fn partial_cmp(&self, other: &Rational) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rational {
    fn cmp(&self, other: &Rational) -> Ordering {
        (u128::from(self.num) * u128::from(other.den))
            .cmp(&(u128::from(other.num) * u128::from(self.den)))
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

/// Parses a run of ASCII digits (at least one) into a `u128`; `None` when
/// it is empty, holds anything but digits, or overflows.
fn parse_digits(s: &str) -> Option<u128> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u128>().ok()
}

impl FromStr for Rational {
    type Err = DpError;

    /// Accepts `INT`, `INT.FRAC` and `INT/INT` (ASCII digits only, surrounding
    /// whitespace ignored). No signs, exponents, `.5` or `5.`: a
    /// configuration value should read unambiguously.
    fn from_str(text: &str) -> Result<Rational, DpError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(invalid("is empty"));
        }
        if let Some((num, den)) = text.split_once('/') {
            let num = parse_digits(num);
            let den = parse_digits(den);
            return match (num, den) {
                (Some(num), Some(den)) => Rational::from_u128(num, den),
                _ => Err(invalid("is not of the form 0.5, 3 or 1/3")),
            };
        }
        let syntax = || invalid("is not of the form 0.5, 3 or 1/3");
        let (whole, frac) = match text.split_once('.') {
            // "5." has a point but no fraction.
            Some((_, "")) => return Err(syntax()),
            Some((whole, frac)) => (whole, frac),
            None => (text, ""),
        };
        let whole = parse_digits(whole).ok_or_else(syntax)?;
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(syntax());
        }
        // Trailing zeros add nothing ("0.50" is 1/2) but would count
        // against the 38 digits that fit in a u128.
        let frac = frac.trim_end_matches('0');
        let frac_value = if frac.is_empty() {
            0
        } else {
            parse_digits(frac).ok_or_else(|| invalid("has too many digits"))?
        };
        let digits = u32::try_from(frac.len()).map_err(|_| invalid("has too many digits"))?;
        let scale = 10u128
            .checked_pow(digits)
            .ok_or_else(|| invalid("has too many digits"))?;
        let num = whole
            .checked_mul(scale)
            .and_then(|w| w.checked_add(frac_value))
            .ok_or_else(|| invalid("has too many digits"))?;
        Rational::from_u128(num, scale)
    }
}

impl TryFrom<&str> for Rational {
    type Error = DpError;

    fn try_from(text: &str) -> Result<Rational, DpError> {
        text.parse()
    }
}

impl serde::Serialize for Rational {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Rational {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Rational, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Rational;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a positive rational as text, e.g. \"0.5\" or \"1/3\"")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Rational, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}
