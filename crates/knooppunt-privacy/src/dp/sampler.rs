//! Exact samplers (Canonne, Kamath & Steinke 2020, "The Discrete Gaussian
//! for Differential Privacy", Algorithms 1–3) and [`NoiseRng`].
//!
//! Everything here is integer arithmetic on `u128`: no floating point, no
//! `ln(random())`. The only source of randomness is [`RngCore`], read as
//! uniform integers by rejection ([`uniform_below`]), so the distribution
//! of every output is exactly the stated one, given a uniform RNG.

use std::fmt;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{CryptoRng, RngCore, SeedableRng};

use super::{DpError, Rational};

/// A uniform integer in `0 .. n` (`n >= 1`), by rejection: draw just enough
/// random bits to cover `n − 1` and try again when the draw is `>= n`. No
/// modulo bias; on average fewer than two draws.
fn uniform_below<R: RngCore + ?Sized>(rng: &mut R, n: u128) -> u128 {
    debug_assert!(n >= 1, "uniform_below(0)");
    if n <= 1 {
        return 0;
    }
    let bits = 128 - (n - 1).leading_zeros();
    let mask = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    loop {
        let raw = if bits <= 64 {
            u128::from(rng.next_u64())
        } else {
            (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64())
        };
        let x = raw & mask;
        if x < n {
            return x;
        }
    }
}

/// Bernoulli(`num / den`) for `num <= den`, `den >= 1`.
fn bernoulli_ratio<R: RngCore + ?Sized>(rng: &mut R, num: u128, den: u128) -> bool {
    uniform_below(rng, den) < num
}

/// One fair coin.
fn fair_coin<R: RngCore + ?Sized>(rng: &mut R) -> bool {
    rng.next_u32() & 1 == 1
}

/// Bernoulli(exp(−γ)) for γ = `num / den` ∈ [0, 1] (Algorithm 1, first
/// part): draw A₁, A₂, … with Aₖ ~ Bernoulli(γ / k) until the first 0 at
/// position K; K is odd with probability exactly exp(−γ).
///
/// Bernoulli(γ / k) = Bernoulli(num / den) ∧ Bernoulli(1 / k), two
/// independent draws, so `den · k` never has to fit anywhere.
fn bernoulli_exp_at_most_one<R: RngCore + ?Sized>(rng: &mut R, num: u128, den: u128) -> bool {
    let mut k: u128 = 1;
    while bernoulli_ratio(rng, num, den) && bernoulli_ratio(rng, 1, k) {
        k += 1;
    }
    k % 2 == 1
}

/// Bernoulli(exp(−γ)) for any γ = `num / den` >= 0, `den >= 1` (Algorithm
/// 1): exp(−γ) = exp(−1)^⌊γ⌋ · exp(−(γ − ⌊γ⌋)), so draw ⌊γ⌋ times
/// Bernoulli(exp(−1)), stopping at the first 0, then the fractional part.
/// The loop ends after fewer than 1.6 rounds on average, however large γ.
fn bernoulli_exp_ratio<R: RngCore + ?Sized>(rng: &mut R, num: u128, den: u128) -> bool {
    let mut whole = num / den;
    while whole > 0 {
        if !bernoulli_exp_at_most_one(rng, 1, 1) {
            return false;
        }
        whole -= 1;
    }
    bernoulli_exp_at_most_one(rng, num % den, den)
}

/// An exact Bernoulli(`p`) draw: `true` with probability `p`. A `p` of 1
/// or more always gives `true`.
pub fn bernoulli<R: RngCore + ?Sized>(p: Rational, rng: &mut R) -> bool {
    let (num, den) = (u128::from(p.numer()), u128::from(p.denom()));
    num >= den || bernoulli_ratio(rng, num, den)
}

/// An exact Bernoulli(exp(−`gamma`)) draw (Canonne, Kamath & Steinke 2020,
/// Algorithm 1), for any `gamma > 0`, including `gamma > 1`.
pub fn bernoulli_exp<R: RngCore + ?Sized>(gamma: Rational, rng: &mut R) -> bool {
    bernoulli_exp_ratio(rng, u128::from(gamma.numer()), u128::from(gamma.denom()))
}

/// Discrete Laplace with scale `t / s` (Algorithm 2), `t, s >= 1`:
/// P(x) ∝ exp(−|x| · s / t) on all integers.
///
/// X = U + t·V with U uniform on `0 .. t` accepted with probability
/// exp(−U/t) and V geometric (Bernoulli(exp(−1)) until the first failure)
/// is geometric with ratio exp(−1/t); ⌊X / s⌋ is then geometric with ratio
/// exp(−s/t), and a random sign (rejecting "−0") makes it two-sided.
///
/// The only deviation from the paper is a guard against overflow: a draw
/// whose magnitude does not fit in an `i64` is rejected. That conditions
/// the output on |x| <= `i64::MAX`, which removes a probability mass below
/// exp(−2²³) for every scale a [`Rational`] can hold: exact in every sense
/// that matters, and never a wrong value.
fn discrete_laplace_ratio<R: RngCore + ?Sized>(rng: &mut R, t: u128, s: u128) -> i64 {
    loop {
        let u = uniform_below(rng, t);
        if !bernoulli_exp_ratio(rng, u, t) {
            continue;
        }
        let mut v: u128 = 0;
        while bernoulli_exp_at_most_one(rng, 1, 1) {
            v += 1;
        }
        let Some(x) = t.checked_mul(v).and_then(|tv| tv.checked_add(u)) else {
            continue;
        };
        let Ok(y) = i64::try_from(x / s) else {
            continue;
        };
        let negative = fair_coin(rng);
        if negative && y == 0 {
            continue;
        }
        return if negative { -y } else { y };
    }
}

/// An exact draw from the discrete Laplace distribution with the given
/// `scale` b: P(x) ∝ exp(−|x| / b) for every integer x (Canonne, Kamath &
/// Steinke 2020, Algorithm 2). Adding it to a count of sensitivity Δ is
/// (Δ / b)-differentially private.
pub fn discrete_laplace<R: RngCore + ?Sized>(scale: Rational, rng: &mut R) -> i64 {
    discrete_laplace_ratio(rng, u128::from(scale.numer()), u128::from(scale.denom()))
}

/// ⌊√(n / d)⌋ for `n, d >= 1`, by bisection on r² · d <= n.
fn floor_sqrt_ratio(n: u128, d: u128) -> u128 {
    // n / d <= 2^40, so the root is below 2^21.
    let (mut lo, mut hi) = (0u128, 1u128 << 21);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if mid * mid * d <= n {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// An exact draw from the discrete Gaussian distribution with parameter
/// `sigma2` (σ²): P(x) ∝ exp(−x² / (2σ²)) for every integer x (Canonne,
/// Kamath & Steinke 2020, Algorithm 3). Adding it to a count of
/// sensitivity Δ is (Δ² / (2σ²))-zCDP. Its variance is slightly below σ².
///
/// With t = ⌊σ⌋ + 1, a discrete Laplace draw Y of scale t is accepted with
/// probability exp(−(|Y| − σ²/t)² / (2σ²)). For σ² = n / d that exponent
/// is the integer ratio (|Y|·t·d − n)² / (2·n·d·t²); with n, d <= 2⁴⁰ the
/// denominator is below 2¹²², and the numerator fits in a `u128` unless
/// |Y| exceeds 2²³ standard deviations. Such a Y is rejected, which
/// conditions the output on a bound whose excluded mass is below
/// exp(−2⁴⁵): the output is exactly the discrete Gaussian restricted to
/// that (astronomically wide) range.
pub fn discrete_gaussian<R: RngCore + ?Sized>(sigma2: Rational, rng: &mut R) -> i64 {
    let n = u128::from(sigma2.numer());
    let d = u128::from(sigma2.denom());
    let t = floor_sqrt_ratio(n, d) + 1;
    let den = 2 * n * d * t * t;
    loop {
        let y = discrete_laplace_ratio(rng, t, 1);
        let c = u128::from(y.unsigned_abs());
        let Some(ctd) = c.checked_mul(t * d) else {
            continue;
        };
        let diff = ctd.abs_diff(n);
        let Some(num) = diff.checked_mul(diff) else {
            continue;
        };
        if bernoulli_exp_ratio(rng, num, den) {
            return y;
        }
    }
}

/// The random number generator for **every released noise draw**:
/// ChaCha20 (a cryptographic stream cipher) keyed with 256 bits from the
/// operating system (`getrandom`).
///
/// PRIVACY.md requires noise "from a cryptographic RNG". Use this type, and
/// only this type, for noise that leaves the engine. The samplers are
/// generic over [`RngCore`] only so that tests can replay a seeded
/// [`ChaCha20Rng`]; a seeded or otherwise predictable generator in
/// production would let anyone who knows the seed subtract the noise.
///
/// It is deliberately neither `Clone` nor seedable from outside, and its
/// `Debug` output shows no state: two copies would draw the same noise.
pub struct NoiseRng {
    inner: ChaCha20Rng,
}

impl NoiseRng {
    /// A generator keyed from the operating system's random source. Fails
    /// (closed) when the OS cannot provide randomness.
    pub fn from_os() -> Result<NoiseRng, DpError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| DpError::OsRandomness)?;
        Ok(NoiseRng {
            inner: ChaCha20Rng::from_seed(seed),
        })
    }
}

impl fmt::Debug for NoiseRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NoiseRng { .. }")
    }
}

impl RngCore for NoiseRng {
    fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.inner.fill_bytes(dest);
    }
}

impl CryptoRng for NoiseRng {}

#[cfg(test)]
mod tests {
    use super::*;

    /// |observed − expected| within 5 standard errors for a share `p`.
    fn assert_share(count: u64, draws: u64, p: f64, what: &str) {
        let expected = draws as f64 * p;
        let sd = (expected * (1.0 - p)).sqrt();
        assert!(
            (count as f64 - expected).abs() < 5.0 * sd,
            "{what}: {count} of {draws}, expected {expected}"
        );
    }

    #[test]
    fn uniform_below_is_unbiased_for_awkward_bounds() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let draws = 60_000u64;
        for n in [3usize, 5, 6, 7] {
            let mut counts = vec![0u64; n];
            for _ in 0..draws {
                let x = uniform_below(&mut rng, n as u128);
                counts[usize::try_from(x).expect("below n")] += 1;
            }
            for (value, &count) in counts.iter().enumerate() {
                assert_share(count, draws, 1.0 / n as f64, &format!("{value} of 0..{n}"));
            }
        }
        // Above 2^64 the two-word path is used: thirds of 0 .. 3·2^64.
        let n = 3u128 << 64;
        let mut thirds = [0u64; 3];
        for _ in 0..draws {
            let x = uniform_below(&mut rng, n);
            thirds[usize::try_from(x >> 64).expect("below 3")] += 1;
        }
        for (third, &count) in thirds.iter().enumerate() {
            assert_share(
                count,
                draws,
                1.0 / 3.0,
                &format!("third {third} of 0..3*2^64"),
            );
        }
    }

    #[test]
    fn floor_sqrt_ratio_is_exact() {
        for (n, d, r) in [
            (1, 1, 1),
            (3, 1, 1),
            (4, 1, 2),
            (25, 2, 3),
            (1, 4, 0),
            (1 << 40, 1, 1 << 20),
        ] {
            assert_eq!(floor_sqrt_ratio(n, d), r, "{n}/{d}");
        }
    }
}
