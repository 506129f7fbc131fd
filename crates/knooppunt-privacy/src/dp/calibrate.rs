//! Calibration and reporting: noise parameters from privacy parameters,
//! confidence half-widths and the threshold for releasing group keys that
//! are not from a public domain.
//!
//! Floating point is allowed here and only here: these numbers configure or
//! describe the noise, they never draw it. The parameters themselves stay
//! [`Rational`], so what is configured is exactly what is sampled.

use super::{DpError, Rational};

/// The discrete Laplace scale for ε-differential privacy of a query whose
/// L1 sensitivity is `sensitivity`: b = Δ / ε. Refused for Δ = 0 (nothing to
/// protect means a caller's bug) and when b leaves [`Rational`]'s range.
pub fn laplace_scale(sensitivity: u64, epsilon: Rational) -> Result<Rational, DpError> {
    Rational::from_integer(sensitivity)?.checked_div(epsilon)
}

/// The discrete Gaussian σ² for ρ-zero-concentrated differential privacy of
/// a query whose L2 sensitivity is `sensitivity`: σ² = Δ² / (2ρ) (Canonne,
/// Kamath & Steinke 2020, Theorem 14). Refused for Δ = 0 and when σ²
/// leaves [`Rational`]'s range.
pub fn gaussian_sigma2_for_rho(sensitivity: u64, rho: Rational) -> Result<Rational, DpError> {
    let delta = Rational::from_integer(sensitivity)?;
    delta
        .checked_mul(delta)?
        .checked_div(rho.checked_mul(Rational::from_integer(2)?)?)
}

/// ln(1 + a) with a = exp(−1/b), the discrete Laplace's normalising term:
/// P(x) = (1 − a)/(1 + a) · a^|x|.
fn laplace_ln_one_plus_a(scale: Rational) -> f64 {
    (-scale.recip().to_f64()).exp().ln_1p()
}

/// ln P(X > m) for a discrete Laplace X of scale b and any integer m:
/// P(X > m) = a^(m+1) / (1 + a) for m >= 0, and 1 − a^|m| / (1 + a) for
/// m < 0 (by symmetry, P(X > m) = 1 − P(X >= |m|)).
fn laplace_ln_upper_tail(scale: Rational, m: i128) -> f64 {
    let inv_b = scale.recip().to_f64();
    let ln_one_plus_a = laplace_ln_one_plus_a(scale);
    if m >= 0 {
        -((m + 1) as f64) * inv_b - ln_one_plus_a
    } else {
        let at_least_abs_m = (-(m.unsigned_abs() as f64) * inv_b - ln_one_plus_a).exp();
        (-at_least_abs_m).ln_1p()
    }
}

/// The smallest integer m in `lo ..= hi` with `holds(m)`, for a predicate
/// that is monotone (false … false true … true) and true at `hi`.
fn smallest_such_that(mut lo: i128, mut hi: i128, holds: impl Fn(i128) -> bool) -> i128 {
    if holds(lo) {
        return lo;
    }
    // Invariant: holds(hi), !holds(lo).
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if holds(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// The smallest integer h >= 0 with P(|X| <= h) >= `level` for a discrete
/// Laplace X of scale b: the half-width of the symmetric interval
/// `value ± h` that contains the true value with probability at least
/// `level` (e.g. 0.95).
///
/// From the exact pmf, P(|X| > h) = 2·a^(h+1) / (1 + a) with a = exp(−1/b),
/// compared in log space so that levels close to 1 stay accurate. A
/// `level` of 0 or less gives 0; 1 or more, or NaN, gives `u64::MAX` (no
/// finite interval: the conservative answer).
pub fn laplace_half_width(scale: Rational, level: f64) -> u64 {
    if level.is_nan() || level >= 1.0 {
        return u64::MAX;
    }
    if level <= 0.0 {
        return 0;
    }
    let ln_target = (-level).ln_1p();
    let holds = |h: i128| std::f64::consts::LN_2 + laplace_ln_upper_tail(scale, h) <= ln_target;
    let mut hi = (scale.to_f64() * (2.0 / (1.0 - level)).ln()).ceil() as i128 + 1;
    while !holds(hi) {
        hi = hi.saturating_mul(2).max(1);
    }
    to_u64(smallest_such_that(0, hi, holds))
}

/// The smallest threshold τ such that a group that exists only because of
/// one privacy unit is released with probability at most `delta`.
///
/// Such a group's true count c is at most `sensitivity` (Δ: the rows one
/// unit can contribute to a group after contribution bounding), and it is
/// released when its noisy count c + X, X discrete Laplace of scale b, is
/// **greater than** τ. The worst case is c = Δ, so τ is the smallest
/// non-negative integer with P(X > τ − Δ) <= δ. For δ < 1/(1 + a) that is
///
/// τ = Δ + m, m = ⌈b · (ln(1/δ) − ln(1 + a))⌉ − 1, a = exp(−1/b),
///
/// because P(X > m) = a^(m+1) / (1 + a) for m >= 0 (exact pmf, no
/// approximation); the implementation searches for the smallest m that
/// satisfies the inequality, so it is also right for larger δ and at the
/// boundaries where rounding the formula could be off by one. τ is
/// clamped to 0 from below.
///
/// A `delta` of 0 or less, or NaN, gives `u64::MAX` (release nothing: fail
/// closed); 1 or more gives 0.
pub fn threshold_for_delta(scale: Rational, sensitivity: u64, delta: f64) -> u64 {
    if delta.is_nan() || delta <= 0.0 {
        return u64::MAX;
    }
    if delta >= 1.0 {
        return 0;
    }
    let ln_delta = delta.ln();
    let holds = |m: i128| laplace_ln_upper_tail(scale, m) <= ln_delta;
    // P(X > m) <= exp(−(m+1)/b), so this m is large enough up to rounding.
    let mut hi = (scale.to_f64() * -ln_delta).ceil() as i128 + 1;
    while !holds(hi) {
        hi = hi.saturating_mul(2).max(1);
    }
    // τ = Δ + m is clamped to 0, so no m below −Δ needs to be considered.
    let lo = -i128::from(sensitivity);
    let m = smallest_such_that(lo.min(hi), hi, holds);
    to_u64(i128::from(sensitivity) + m)
}

fn to_u64(x: i128) -> u64 {
    u64::try_from(x.max(0)).unwrap_or(u64::MAX)
}

/// σ² up to which the discrete Gaussian's normalising constant is summed
/// term by term; above it, √(2πσ²) is exact to double precision (by the
/// Poisson summation formula the relative error is about
/// 2·exp(−2π²σ²)).
const GAUSSIAN_DIRECT_SUM_LIMIT: f64 = 1.0e4;

/// Σ over all integers x of exp(−x²/(2σ²)).
fn gaussian_normaliser(sigma2: f64) -> f64 {
    if sigma2 > GAUSSIAN_DIRECT_SUM_LIMIT {
        return (2.0 * std::f64::consts::PI * sigma2).sqrt();
    }
    // Terms beyond 40σ are below exp(−800): zero in f64.
    let limit = (40.0 * sigma2.sqrt()).ceil() as i64 + 1;
    let mut sum = 0.0;
    for x in (1..=limit).rev() {
        sum += (-((x * x) as f64) / (2.0 * sigma2)).exp();
    }
    1.0 + 2.0 * sum
}

/// The smallest integer h >= 0 with P(|X| <= h) >= `level` for a discrete
/// Gaussian X with parameter σ² (see [`laplace_half_width`] for the meaning
/// and the edge cases).
///
/// From the exact pmf P(x) = exp(−x²/(2σ²)) / Z: the upper tail
/// T(h) = P(X > h) is summed from far out inwards (small terms first, so
/// the sum is accurate), and h is the first point where 2·T(h) <= 1 −
/// level stops holding, plus one. The work is proportional to σ.
pub fn gaussian_half_width(sigma2: Rational, level: f64) -> u64 {
    if level.is_nan() || level >= 1.0 {
        return u64::MAX;
    }
    if level <= 0.0 {
        return 0;
    }
    let s2 = sigma2.to_f64();
    let z = gaussian_normaliser(s2);
    let q = (1.0 - level) / 2.0;
    // Beyond x_top the remaining tail is below q · exp(−40).
    let x_top =
        (s2.sqrt() * (2.0 * (-q.ln() + 40.0 + (s2.sqrt() + 2.0).ln())).sqrt()).ceil() as u64 + 1;
    let mut tail = 0.0;
    for x in (0..=x_top).rev() {
        // Here `tail` is T(x) = P(X > x); adding P(x) gives T(x − 1).
        tail += (-((x as f64) * (x as f64)) / (2.0 * s2)).exp() / z;
        if tail > q {
            return x;
        }
    }
    // T(−1) >= 1/2 > q, so the loop has returned.
    0
}

/// The exact variance of the discrete Laplace of scale b: 2a / (1 − a)²
/// with a = exp(−1/b). For reporting.
pub fn laplace_variance(scale: Rational) -> f64 {
    let a = (-scale.recip().to_f64()).exp();
    let one_minus_a = -(-scale.recip().to_f64()).exp_m1();
    2.0 * a / (one_minus_a * one_minus_a)
}

/// The variance of the discrete Gaussian with parameter σ² (slightly below
/// σ² for small σ², σ² to double precision above 10⁴). For reporting.
pub fn gaussian_variance(sigma2: Rational) -> f64 {
    let s2 = sigma2.to_f64();
    if s2 > GAUSSIAN_DIRECT_SUM_LIMIT {
        return s2;
    }
    let limit = (40.0 * s2.sqrt()).ceil() as i64 + 1;
    let mut second_moment = 0.0;
    for x in (1..=limit).rev() {
        let xf = x as f64;
        second_moment += xf * xf * (-(xf * xf) / (2.0 * s2)).exp();
    }
    2.0 * second_moment / gaussian_normaliser(s2)
}
