//! Exact integer differential-privacy noise for analyst SQL (PRIVACY.md,
//! "Analyst SQL": "noise is integer (discrete Laplace or discrete
//! Gaussian) drawn with exact arithmetic from a cryptographic RNG; no
//! floating-point noise").
//!
//! # Layout
//! - [`Rational`]: the exact positive numbers noise parameters are made of,
//!   parsed from configuration text (`"0.5"`, `"1/3"`).
//! - Samplers (Canonne, Kamath & Steinke 2020, "The Discrete Gaussian for
//!   Differential Privacy", Algorithms 1–3): [`bernoulli`],
//!   [`bernoulli_exp`], [`discrete_laplace`], [`discrete_gaussian`]. Integer
//!   arithmetic only, uniform integers by rejection, generic over
//!   [`RngCore`](rand_chacha::rand_core::RngCore).
//! - [`NoiseRng`]: the one RNG for released noise (ChaCha20 keyed by the
//!   OS). Seeded generators are for tests.
//! - [`Mechanism`] (serde) and [`add_noise`]: what a query's answer gets.
//! - Calibration and reporting (floating point allowed, parameters stay
//!   rational): [`laplace_scale`], [`gaussian_sigma2_at_least`],
//!   [`zcdp_rho_for`] and [`zcdp_epsilon`] (ρ-zCDP ⟷ (ε, δ)-DP, ρ rounded
//!   down), [`gaussian_sigma2_at_least`] (σ² rounded up),
//!   [`laplace_half_width`], [`gaussian_half_width`],
//!   [`threshold_for_delta`] and [`gaussian_threshold_for_delta`] (the
//!   private-key thresholds), [`laplace_variance`], [`gaussian_variance`].
//!
//! # Guarantees
//! Adding [`discrete_laplace`] noise of scale b to a query of L1
//! sensitivity Δ is (Δ/b)-DP; adding [`discrete_gaussian`] noise with
//! parameter σ² to a query of L2 sensitivity Δ is (Δ²/(2σ²))-zCDP, and
//! ρ-zCDP implies (ρ + 2√(ρ·ln(1/δ)), δ)-DP for every δ in (0, 1) (Bun &
//! Steinke 2016). Both hold for the exact distributions, which is why the
//! samplers never touch floating point: rounding in a float sampler leaks
//! (Mironov 2012).

mod calibrate;
mod rational;
mod sampler;

use std::fmt;

use rand_chacha::rand_core::RngCore;

pub use calibrate::{
    gaussian_half_width, gaussian_sigma2_at_least, gaussian_threshold_for_delta, gaussian_variance,
    laplace_half_width, laplace_scale, laplace_variance, threshold_for_delta, zcdp_epsilon,
    zcdp_rho_for,
};
pub use rational::Rational;
pub use sampler::{NoiseRng, bernoulli, bernoulli_exp, discrete_gaussian, discrete_laplace};

/// Errors of the noise module. Messages name the rule, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpError {
    /// A rational noise or privacy parameter is malformed, zero or out of
    /// range.
    #[error("rational number {rule}")]
    InvalidRational {
        /// The rule it breaks.
        rule: &'static str,
    },
    /// The operating system could not provide randomness for
    /// [`NoiseRng`]; no noise can be drawn, so nothing may be released.
    #[error("the operating system's random source failed")]
    OsRandomness,
}

/// The noise added to one released number.
///
/// Serialised as `{"kind": "laplace", "scale": "15/2"}` or
/// `{"kind": "gaussian", "sigma2": "25/2"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mechanism {
    /// Discrete Laplace: P(x) ∝ exp(−|x| / scale).
    Laplace {
        /// The scale b (ε = Δ / b for L1 sensitivity Δ).
        scale: Rational,
    },
    /// Discrete Gaussian: P(x) ∝ exp(−x² / (2·sigma2)).
    Gaussian {
        /// The parameter σ² (ρ = Δ² / (2σ²) for L2 sensitivity Δ).
        sigma2: Rational,
    },
}

impl Mechanism {
    /// One exact noise draw.
    pub fn sample<R: RngCore + ?Sized>(&self, rng: &mut R) -> i64 {
        match *self {
            Mechanism::Laplace { scale } => discrete_laplace(scale, rng),
            Mechanism::Gaussian { sigma2 } => discrete_gaussian(sigma2, rng),
        }
    }

    /// The smallest h with P(|noise| <= h) >= `level`: a released value
    /// v is within v ± h of the true value with probability at least
    /// `level`. See [`laplace_half_width`] for the edge cases.
    pub fn half_width(&self, level: f64) -> u64 {
        match *self {
            Mechanism::Laplace { scale } => laplace_half_width(scale, level),
            Mechanism::Gaussian { sigma2 } => gaussian_half_width(sigma2, level),
        }
    }

    /// The exact variance of the noise (for reporting).
    pub fn variance(&self) -> f64 {
        match *self {
            Mechanism::Laplace { scale } => laplace_variance(scale),
            Mechanism::Gaussian { sigma2 } => gaussian_variance(sigma2),
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mechanism::Laplace { scale } => write!(f, "discrete Laplace noise, scale {scale}")?,
            Mechanism::Gaussian { sigma2 } => {
                write!(f, "discrete Gaussian noise, sigma^2 {sigma2}")?;
            }
        }
        write!(f, "; 95 % within ±{}", self.half_width(0.95))
    }
}

/// `value` plus one exact draw of `mechanism`'s noise, saturating at the
/// ends of `i64`. Pure apart from the RNG: for released answers pass a
/// [`NoiseRng`].
pub fn add_noise<R: RngCore + ?Sized>(value: i64, mechanism: &Mechanism, rng: &mut R) -> i64 {
    value.saturating_add(mechanism.sample(rng))
}
