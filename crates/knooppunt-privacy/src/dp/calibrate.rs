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
    // P(|X| <= h) >= level ⟺ P(X > h) <= (1 − level) / 2 (symmetry): the
    // threshold search with no sensitivity.
    threshold_for_delta(scale, 0, (1.0 - level) / 2.0)
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
    gaussian_smallest_tail_at_most(sigma2.to_f64(), (1.0 - level) / 2.0, 1.0)
}

/// The smallest x >= 0 with P(X > x) · `slack` <= `q` (q < 1/2) for a
/// discrete Gaussian X of parameter `s2`: the upper tail T(x) = P(X > x)
/// is summed from far out inwards (small terms first, so the sum is
/// accurate; the mass beyond the start is below q · e⁻⁴⁰). The work is
/// proportional to σ.
fn gaussian_smallest_tail_at_most(s2: f64, q: f64, slack: f64) -> u64 {
    let z = gaussian_normaliser(s2);
    let mut tail = 0.0;
    for x in (0..=gaussian_tail_start(s2, q)).rev() {
        // Here `tail` is T(x), checked at the previous step; adding P(x)
        // gives T(x − 1).
        tail += (-((x as f64) * (x as f64)) / (2.0 * s2)).exp() / z;
        if tail * slack > q {
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

/// The largest power-of-two denominator a calibrated [`Rational`] uses.
const MAX_DENOM: u128 = 1 << 40;

/// A [`Rational`] at most `x` and as close to it as the range allows (for a
/// finite `x > 0`): the better of the floor on the grid 1/2^k (k <= 40) and
/// the best continued-fraction convergent below `x` with both parts at most
/// 2⁴⁰. `None` when nothing positive fits. `x` is taken as exact: callers
/// that computed it with rounding error shrink it first (a candidate is
/// compared with `x` in floating point, correctly rounded, which errs by at
/// most half an ulp).
fn rational_at_most(x: f64) -> Option<Rational> {
    if !x.is_finite() || x <= 0.0 {
        return None;
    }
    let max = Rational::MAX_PART as f64;
    let mut den = MAX_DENOM;
    // x · den is exact for a power of two den (no overflow below 2^1023),
    // and its floor is below 2^40 + 1 once den is small enough.
    while den > 1 && (x * den as f64).floor() > max {
        den /= 2;
    }
    let num = (x * den as f64).floor();
    // 1 <= num <= 2^40: the conversion is exact.
    let mut best = if (1.0..=max).contains(&num) {
        Rational::new(num as u64, den as u64).ok()
    } else {
        None
    };
    // Convergents h/k of x: h_n = a_n·h_(n−1) + h_(n−2), likewise k.
    let limit = u128::from(Rational::MAX_PART);
    let (mut h0, mut h1, mut k0, mut k1) = (0u128, 1u128, 1u128, 0u128);
    let mut y = x;
    for _ in 0..64 {
        let a = y.floor();
        if !(0.0..=max).contains(&a) {
            break;
        }
        let a = a as u128;
        let (h, k) = (a * h1 + h0, a * k1 + k0);
        if h > limit || k > limit {
            break;
        }
        if h >= 1 && (h as f64) / (k as f64) <= x {
            let candidate = Rational::new(h as u64, k as u64).ok();
            if candidate > best {
                best = candidate;
            }
        }
        (h0, h1, k0, k1) = (h1, h, k1, k);
        let frac = y - y.floor();
        if frac <= 0.0 {
            break;
        }
        y = 1.0 / frac;
    }
    best
}

/// The smallest [`Rational`] of the form n / 2^k (k <= 40, the largest k
/// whose n fits) that is at least `num / den`, exactly (integer
/// arithmetic); `num / den` itself when it is in range. `None` when
/// `num / den` exceeds the range or either part is 0.
fn rational_at_least(num: u128, den: u128) -> Option<Rational> {
    if den == 0 || num == 0 {
        return None;
    }
    if let Ok(exact) = Rational::from_u128(num, den) {
        return Some(exact);
    }
    let (whole, rest) = (num / den, num % den);
    let mut d = MAX_DENOM;
    loop {
        // ⌈num · d / den⌉ = whole · d + ⌈rest · d / den⌉, without overflow
        // as long as whole · d fits (it is checked) and rest · d fits
        // (rest < den; callers keep den below 2^80).
        let n = whole
            .checked_mul(d)
            .and_then(|w| rest.checked_mul(d).map(|r| (w, r)))
            .and_then(|(w, r)| w.checked_add(r.div_ceil(den)));
        if let Some(n) = n
            && n <= u128::from(Rational::MAX_PART)
        {
            let n = u64::try_from(n).ok()?;
            let d = u64::try_from(d).ok()?;
            return Rational::new(n, d).ok();
        }
        if d == 1 {
            return None;
        }
        d /= 2;
    }
}

/// The ε of the (ε, δ)-DP guarantee implied by ρ-zCDP: ε = ρ + 2·√(ρ·ln(1/δ))
/// (Bun & Steinke 2016, Proposition 1.3). Floating point, for reporting and
/// checks; `delta` in (0, 1).
pub fn zcdp_epsilon(rho: f64, delta: f64) -> f64 {
    rho + 2.0 * (rho * -delta.ln()).sqrt()
}

/// The ρ of zero-concentrated DP that converts to (`epsilon`, `delta`)-DP
/// by [`zcdp_epsilon`]: the solution of ε = ρ + 2√(ρL), L = ln(1/δ), which
/// is ρ = (√(L + ε) − √L)² = ε² / (√(L + ε) + √L)² (the second form avoids
/// the cancellation of the first).
///
/// Computed in floating point, then made conservative: shrunk by a relative
/// 10⁻⁹ (far more than the rounding error of the few operations above) and
/// rounded **down** to a [`Rational`]. Less ρ is more noise, so the ρ
/// returned converts to an ε at most `epsilon` (and within about 10⁻⁹ of
/// it, relatively, whenever ρ's range allows). Refused when δ is not below 1, or ρ leaves the range.
pub fn zcdp_rho_for(epsilon: Rational, delta: Rational) -> Result<Rational, DpError> {
    if delta >= Rational::ONE {
        return Err(DpError::InvalidRational {
            rule: "delta must be below 1 to convert epsilon to zCDP",
        });
    }
    let eps = epsilon.to_f64();
    let l = -delta.to_f64().ln();
    let root_sum = (l + eps).sqrt() + l.sqrt();
    let rho = eps * eps / (root_sum * root_sum) * (1.0 - 1e-9);
    let rho = rational_at_most(rho).ok_or(DpError::InvalidRational {
        rule: "rho for this epsilon and delta is out of range",
    })?;
    // Belt and braces: the rounding above must never spend more than ε.
    if zcdp_epsilon(rho.to_f64(), delta.to_f64()) > eps {
        return Err(DpError::InvalidRational {
            rule: "rho for this epsilon and delta cannot be rounded safely",
        });
    }
    Ok(rho)
}

/// The discrete Gaussian σ² for ρ-zCDP of a query whose **squared** L2
/// sensitivity is `l2_squared`: σ² = Δ₂² / (2ρ), exactly when that fits a
/// [`Rational`], else rounded **up** to one of the form n / 2^k (exact
/// integer arithmetic). More σ² is more noise,
/// so the noise is ρ'-zCDP for some ρ' <= ρ. Refused when σ² leaves the
/// range (or for a zero sensitivity).
pub fn gaussian_sigma2_at_least(l2_squared: u128, rho: Rational) -> Result<Rational, DpError> {
    // σ² = l2² · den(ρ) / (2 · num(ρ)); 2 · num(ρ) <= 2^41.
    let num = l2_squared.checked_mul(u128::from(rho.denom()));
    let den = 2 * u128::from(rho.numer());
    num.and_then(|n| rational_at_least(n, den))
        .ok_or(DpError::InvalidRational {
            rule: "sigma^2 for this sensitivity and rho is out of range",
        })
}

/// The smallest threshold τ such that a group that exists only because of
/// one privacy unit is released with probability at most `delta`, under
/// **discrete Gaussian** noise with parameter σ²: the counterpart of
/// [`threshold_for_delta`] (whose reasoning it shares: the worst case is a
/// true count of Δ = `sensitivity`, released when Δ + X > τ, so τ = Δ + m
/// with m the smallest integer such that P(X > m) <= δ; τ clamped to 0).
///
/// P(X > m) is computed from the exact pmf P(x) = exp(−x²/(2σ²)) / Z: the
/// tail is summed from far out inwards (small terms first; the mass beyond
/// the starting point is below δ · e⁻⁴⁰), in one pass for m >= 0. The
/// comparison is conservative: the computed tail is inflated by a relative
/// 10⁻⁶ before it is compared with δ, far more than the floating-point error
/// of the sum, so the τ returned always satisfies P(X > τ − Δ) <= δ; it can
/// exceed the exact smallest τ by one only when P(X > m) lies within that
/// 10⁻⁶ of δ. For δ >= 1/2 (never used by analyst SQL; P(X > 0) < 1/2, so
/// then m <= 0) m is found by bisection on P(X > m) = 1 − P(X > −m − 1).
///
/// A `delta` of 0 or less, or NaN, gives `u64::MAX` (release nothing: fail
/// closed); 1 or more gives 0. The work is proportional to σ.
pub fn gaussian_threshold_for_delta(sigma2: Rational, sensitivity: u64, delta: f64) -> u64 {
    if delta.is_nan() || delta <= 0.0 {
        return u64::MAX;
    }
    if delta >= 1.0 {
        return 0;
    }
    const SLACK: f64 = 1.0 + 1e-6;
    let s2 = sigma2.to_f64();
    let z = gaussian_normaliser(s2);
    let term = |x: u64| (-((x as f64) * (x as f64)) / (2.0 * s2)).exp() / z;
    let sens = i128::from(sensitivity);
    if delta < 0.5 {
        // m >= 0.
        let m = gaussian_smallest_tail_at_most(s2, delta, SLACK);
        return to_u64(sens + i128::from(m));
    }
    let x_top = gaussian_tail_start(s2, 0.5);
    // δ in [1/2, 1): m <= 0. P(X > −k) = 1 − T(k − 1) with T(j) = P(X > j).
    let upper_tail = |j: u64| -> f64 {
        let mut tail = 0.0;
        for x in (j + 1..=x_top.max(j + 1)).rev() {
            tail += term(x);
        }
        tail
    };
    // P(X > m) <= δ with m = −k ⟺ T(k − 1) >= 1 − δ (deflated for safety).
    let holds_k = |k: u64| k == 0 || upper_tail(k - 1) / SLACK >= 1.0 - delta;
    // holds_k is true for small k and false for large: find the largest
    // k <= Δ that holds.
    let (mut lo, mut hi) = (0u64, sensitivity);
    if holds_k(hi) {
        return 0;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if holds_k(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    to_u64(sens - i128::from(lo))
}

/// Where to start summing a discrete Gaussian's upper tail so that the mass
/// left out is below `q` · e⁻⁴⁰ (the Gaussian tail bound with room to
/// spare for the normaliser).
fn gaussian_tail_start(s2: f64, q: f64) -> u64 {
    (s2.sqrt() * (2.0 * (-q.ln() + 40.0 + (s2.sqrt() + 2.0).ln())).sqrt()).ceil() as u64 + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dp::discrete_gaussian;
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;

    fn r(text: &str) -> Rational {
        text.parse().expect("rational")
    }

    #[test]
    fn zcdp_rho_spends_at_most_and_almost_exactly_epsilon() {
        for eps in ["0.01", "0.1", "0.5", "1", "3", "10"] {
            for delta in [
                "1/2",
                "0.001",
                "1/20000000",
                "0.0000000001",
                "1/1000000000000",
            ] {
                let (e, d) = (r(eps), r(delta));
                let rho = zcdp_rho_for(e, d).expect("rho");
                let back = zcdp_epsilon(rho.to_f64(), d.to_f64());
                assert!(back <= e.to_f64(), "{eps}, {delta}: {back}");
                assert!(back >= e.to_f64() * (1.0 - 1e-8), "{eps}, {delta}: {back}");
                // The closed form, independently: (√(L+ε) − √L)².
                let l = -d.to_f64().ln();
                let exact = ((l + e.to_f64()).sqrt() - l.sqrt()).powi(2);
                assert!(rho.to_f64() <= exact, "{eps}, {delta}");
                assert!(rho.to_f64() >= exact * (1.0 - 1e-6), "{eps}, {delta}");
            }
        }
        assert!(zcdp_rho_for(r("1"), r("1")).is_err());
        assert!(zcdp_rho_for(r("1"), r("2")).is_err());
    }

    #[test]
    fn gaussian_sigma2_rounds_up_exactly() {
        for (l2_squared, rho) in [
            (1u128, "1/2"),
            (8, "0.000148"),
            (3 * 4 * 2100 * 2100, "0.0001234567"),
            (12, "7/3"),
            (1, "1/1099511627776"),
        ] {
            let rho = r(rho);
            let s2 = gaussian_sigma2_at_least(l2_squared, rho).expect("sigma2");
            // s2 >= l2² / (2ρ) ⟺ s2.num · 2 · ρ.num >= l2² · ρ.den · s2.den.
            let lhs = u128::from(s2.numer()) * 2 * u128::from(rho.numer());
            let rhs = l2_squared * u128::from(rho.denom()) * u128::from(s2.denom());
            assert!(lhs >= rhs, "{l2_squared}, {rho}: {s2}");
            let exact = l2_squared as f64 / (2.0 * rho.to_f64());
            assert!(
                s2.to_f64() <= exact * (1.0 + 1e-9),
                "{l2_squared}, {rho}: {s2}"
            );
            // ρ' = l2² / (2σ²) <= ρ.
            assert!(l2_squared as f64 / (2.0 * s2.to_f64()) <= rho.to_f64());
        }
        // The exact σ² is kept when it is representable.
        assert_eq!(gaussian_sigma2_at_least(1, r("1/2")), Ok(r("1")));
        assert!(gaussian_sigma2_at_least(1 << 40, r("1/1099511627776")).is_err());
    }

    /// P(X > m) for the discrete Gaussian, independently of the code under
    /// test: normaliser and tail summed in increasing order of x.
    fn tail_independent(s2: f64, m: i64) -> f64 {
        let w = |x: i64| (-((x * x) as f64) / (2.0 * s2)).exp();
        let reach = (60.0 * s2.sqrt()).ceil() as i64 + 10;
        let z: f64 = (-reach..=reach).map(w).sum();
        let tail: f64 = ((m + 1)..=(m + 1).max(reach)).map(w).sum();
        tail / z
    }

    #[test]
    fn gaussian_threshold_is_the_smallest_that_keeps_delta() {
        for s2 in ["1", "25/2", "100", "3000", "9999"] {
            let sigma2 = r(s2);
            let s2f = sigma2.to_f64();
            for sens in [1u64, 3] {
                for delta in [0.49, 0.01, 1e-3, 1e-7, 1e-12] {
                    let tau = gaussian_threshold_for_delta(sigma2, sens, delta);
                    let m = tau as i64 - sens as i64;
                    let kept = tail_independent(s2f, m);
                    assert!(
                        kept <= delta,
                        "σ² {s2}, Δ {sens}, δ {delta}: τ {tau}, {kept}"
                    );
                    if tau > 0 {
                        let below = tail_independent(s2f, m - 1);
                        assert!(
                            below > delta * (1.0 - 1e-5),
                            "σ² {s2}, Δ {sens}, δ {delta}: τ {tau} is not the smallest ({below})"
                        );
                    }
                    // Never above the sub-Gaussian bound P(X > t) <= exp(−t²/(2σ²)).
                    let bound = sens + (s2f.sqrt() * (2.0 * -delta.ln()).sqrt()).ceil() as u64;
                    assert!(tau <= bound, "σ² {s2}, δ {delta}: τ {tau} > bound {bound}");
                }
            }
        }
        // δ >= 1/2: m <= 0 (bisection branch), also the smallest.
        for (delta, negative) in [(0.5, false), (0.7, true), (0.95, true)] {
            let sigma2 = r("25/2");
            let sens = 10;
            let tau = gaussian_threshold_for_delta(sigma2, sens, delta);
            let m = tau as i64 - sens as i64;
            assert_eq!(m < 0, negative, "δ {delta}: m {m}");
            assert!(tail_independent(12.5, m) <= delta, "δ {delta}");
            assert!(tail_independent(12.5, m - 1) > delta, "δ {delta}");
        }
        assert_eq!(gaussian_threshold_for_delta(r("4"), 1, 0.0), u64::MAX);
        assert_eq!(gaussian_threshold_for_delta(r("4"), 1, f64::NAN), u64::MAX);
        assert_eq!(gaussian_threshold_for_delta(r("4"), 1, 1.0), 0);
    }

    /// The threshold against the sampler: a group of true count Δ with
    /// discrete Gaussian noise is released (noisy count > τ) at most δ of
    /// the time, and with τ − 1 more often than δ.
    #[test]
    fn gaussian_threshold_holds_for_sampled_noise() {
        let sigma2 = r("25/2");
        let (sens, delta) = (2u64, 0.02);
        let tau = gaussian_threshold_for_delta(sigma2, sens, delta);
        let mut rng = ChaCha20Rng::seed_from_u64(2020);
        let draws = 200_000u64;
        let (mut above, mut above_lower) = (0u64, 0u64);
        for _ in 0..draws {
            let noisy = sens as i64 + discrete_gaussian(sigma2, &mut rng);
            above += u64::from(noisy > tau as i64);
            above_lower += u64::from(noisy > tau as i64 - 1);
        }
        let exact = tail_independent(12.5, tau as i64 - sens as i64);
        let exact_lower = tail_independent(12.5, tau as i64 - sens as i64 - 1);
        assert!(exact <= delta && exact_lower > delta);
        // Within 5 standard errors of the exact release probabilities.
        for (count, p) in [(above, exact), (above_lower, exact_lower)] {
            let sd = (draws as f64 * p * (1.0 - p)).sqrt();
            assert!(
                (count as f64 - draws as f64 * p).abs() < 5.0 * sd,
                "{count} of {draws}, expected {p}"
            );
        }
        assert!((above as f64) < draws as f64 * delta * 1.05);
        assert!((above_lower as f64) > draws as f64 * delta);
    }
}
