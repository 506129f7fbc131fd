//! Analyst SQL answered with user-level differential privacy (PRIVACY.md,
//! "Analyst SQL"): the configuration, the calibration of the noise and the
//! noisy answer. [`Service::query`](crate::Service::query) runs the whole
//! path (gate, rewrite, budget, execution, noise, audit); this module is
//! the pure part, shared with the tests and the benchmark.
//!
//! # Calibration, discrete Laplace (the default; pure ε-DP over the whole answer)
//! The rewrite bounds every privacy unit to at most `max_groups` groups
//! (1 without GROUP BY) and, per group, each value `j` of a row to a change
//! of at most Δⱼ ([`AnalystQuery::value_sensitivities`]; an AVG is two
//! values, its bounded sum and count). A row has `V` values. The query's ε
//! ([`QueryConfig::epsilon_per_query`]) is split evenly over the `V`
//! values, and value `j` of every row gets independent discrete Laplace
//! noise of scale
//!
//! bⱼ = max_groups · V · Δⱼ / ε.
//!
//! Adding or removing one unit changes at most `max_groups` rows, value `j`
//! of each by at most Δⱼ, so the privacy loss of the whole answer is at most
//! Σ_rows Σⱼ Δⱼ / bⱼ = max_groups · V · (1 / (max_groups · V)) · ε = ε. With
//! one value per row this is b = L1 / ε, L1 = [`AnalystQuery::l1_sensitivity`].
//! Noise is drawn by the exact integer sampler of
//! [`knooppunt_privacy::dp`] from [`NoiseRng`](knooppunt_privacy::dp::NoiseRng)
//! (ChaCha20 keyed by the OS) in production; everything after the draw
//! (AVG as noisy sum / max(noisy count, 1), clamping an average to its
//! bounds, intervals) is post-processing.
//!
//! # Calibration, discrete Gaussian (`"mechanism": "gaussian"`; (ε, δ)-DP via zCDP)
//! The discrete Gaussian with parameter σ² added to a value of sensitivity
//! Δ is Δ²/(2σ²)-zCDP (Canonne, Kamath & Steinke 2020), and zCDP composes
//! by adding ρ. The query's δ ([`QueryConfig::delta`]) is split in two
//! halves: δ_noise = δ/2 for the noise and δ/2 for the private-key
//! threshold below. The query's ε is converted to the ρ with
//! ρ + 2√(ρ·ln(1/δ_noise)) = ε, i.e. ρ = (√(L + ε) − √L)², L = ln(1/δ_noise)
//! ([`zcdp_rho_for`](knooppunt_privacy::dp::zcdp_rho_for): computed in
//! floating point, rounded **down** to an exact rational). As for the
//! Laplace, ρ is split evenly over the `max_groups · V` values one unit can
//! change, and value `j` gets discrete Gaussian noise with
//!
//! σⱼ² = max_groups · V · Δⱼ² / (2ρ),
//!
//! rounded **up** to an exact rational
//! ([`gaussian_sigma2_at_least`](knooppunt_privacy::dp::gaussian_sigma2_at_least)).
//! The whole answer is then Σ_rows Σⱼ Δⱼ²/(2σⱼ²) <= ρ-zCDP, hence
//! (ε, δ_noise)-DP; every rounding is on the side of more noise.
//!
//! # δ
//! What a query spends of the analyst's δ budget per period
//! ([`BudgetConfig::delta_per_period`](crate::BudgetConfig::delta_per_period))
//! is exactly what its calibration used ([`Calibration::delta_spent`],
//! rounded up to 10⁻¹⁸): with the Laplace, 0, or δ when it has private
//! group keys; with the Gaussian, δ/2, plus δ/2 when it has private group
//! keys.
//!
//! # Group keys
//! Public-domain keys are complete in the exact answer (empty groups
//! included) and every row is released. A row with a private key (a column
//! without a public domain, e.g. `bag.gebruiksdoel`) is released only when
//! its noisy count exceeds a threshold τ, with the count value `c` of the
//! query: the first COUNT, COUNT(DISTINCT unit) or the count of the first
//! AVG. With δ_t the threshold's δ (the Laplace: δ; the Gaussian: δ/2),
//! τ = [`threshold_for_delta`](knooppunt_privacy::dp::threshold_for_delta)(b_c, Δ_c, δ_t / max_groups)
//! for the Laplace and
//! [`gaussian_threshold_for_delta`](knooppunt_privacy::dp::gaussian_threshold_for_delta)(σ_c², Δ_c, δ_t / max_groups)
//! for the Gaussian. A group that exists only because of one unit is then
//! released with probability at most δ_t / max_groups, and one unit reaches
//! at most `max_groups` groups: the threshold adds δ_t to the δ of the
//! noise. A query with private keys and no count to threshold on is refused
//! ([`PRIVATE_KEYS_NEED_COUNT`]): adding a hidden count would spend budget
//! the analyst did not ask for.
//!
//! # Reported precision
//! Each released number carries its noise scale as a standard deviation
//! (exact variance of the discrete Laplace or Gaussian), the half-width `h` of the
//! symmetric 95 % interval (the smallest `h` with P(|noise| ≤ h) ≥ 0.95,
//! exact pmf) and the interval itself. An AVG's interval is the range of
//! sum / count over the 97.5 % intervals of its sum and count (both hold
//! together with probability ≥ 95 % by the union bound), clamped to the
//! AVG's bounds; it is `null` when the count's interval reaches below 1.

use chrono::NaiveDate;
use knooppunt_privacy::dp::{
    Mechanism, Rational, add_noise, gaussian_sigma2_at_least, gaussian_threshold_for_delta,
    threshold_for_delta, zcdp_rho_for,
};
use knooppunt_query::{AggregateKind, AnalystOptions, AnalystQuery, ExactAnswer};
use rand_chacha::rand_core::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::MicroEpsilon;
use crate::budget::Delta;

/// Rule of a refusal: private group keys without a count to threshold on.
pub const PRIVATE_KEYS_NEED_COUNT: &str = "private_keys_need_count";
/// Rule of a refusal: the noise for this query cannot be calibrated (a
/// sensitivity so large that the scale leaves the exact range).
pub const CALIBRATION: &str = "calibration";
/// The analyst answers' policy version in the audit log.
pub const POLICY_VERSION: &str = "analyst-dp-v1";
/// Confidence level of the reported intervals.
pub const LEVEL: f64 = 0.95;

/// The noise mechanism of analyst answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseKind {
    /// Discrete Laplace (pure ε-DP; δ only for private-key thresholds).
    #[default]
    Laplace,
    /// Discrete Gaussian, calibrated through zCDP ((ε, δ)-DP).
    Gaussian,
}

/// The privacy parameters of analyst SQL, part of the budget configuration
/// (`"query": {…}` in the JSON of
/// [`BudgetConfig`](crate::BudgetConfig)); every field is optional.
///
/// ```json
/// {"epsilon_per_query": "0.1", "delta": "1/10000000", "max_groups": 4,
///  "max_contribution": 1, "max_domain_size": 100000, "mechanism": "laplace"}
/// ```
///
/// or, for discrete Gaussian noise, `"mechanism": "gaussian"`:
///
/// ```json
/// {"epsilon_per_query": "0.5", "delta": "1/10000000", "mechanism": "gaussian"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryConfig {
    /// ε charged for (and spent on) every answered query that is not cached.
    pub epsilon_per_query: MicroEpsilon,
    /// δ of a query (a decimal or a fraction: `"0.0000001"`,
    /// `"1/10000000"`). With the Laplace it is used only by the threshold on
    /// groups with private keys; with the Gaussian half of it goes to the
    /// noise (the ε-to-zCDP conversion) and half to that threshold. What a
    /// query uses is debited from the δ budget (see the module docs).
    pub delta: Rational,
    /// Groups one privacy unit may contribute to.
    pub max_groups: u64,
    /// What one unit may add per group to a count (times the clamp bounds:
    /// to a sum).
    pub max_contribution: u64,
    /// Most group combinations of complete public domains.
    pub max_domain_size: u64,
    /// The noise.
    pub mechanism: NoiseKind,
}

impl Default for QueryConfig {
    fn default() -> QueryConfig {
        let options = AnalystOptions::default();
        QueryConfig {
            epsilon_per_query: MicroEpsilon::from_micros(100_000),
            delta: Rational::new(1, 10_000_000).unwrap_or(Rational::ONE),
            max_groups: options.max_groups,
            max_contribution: options.max_contribution,
            max_domain_size: options.max_domain_size,
            mechanism: NoiseKind::Laplace,
        }
    }
}

impl QueryConfig {
    /// The bounds of the gate's rewrite.
    pub fn analyst_options(&self) -> AnalystOptions {
        AnalystOptions {
            max_groups: self.max_groups,
            max_contribution: self.max_contribution,
            max_domain_size: self.max_domain_size,
        }
    }

    /// ε per query as an exact rational; `None` for ε 0 (nothing can be
    /// answered).
    pub fn epsilon(&self) -> Option<Rational> {
        Rational::new(self.epsilon_per_query.micros(), 1_000_000).ok()
    }
}

/// The noise of one value column of an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueNoise {
    /// The value's name (`name`, or `name.sum` / `name.count` of an AVG).
    pub name: String,
    /// Δⱼ: most change of this value in one group from one unit.
    pub sensitivity: u64,
    /// The noise: discrete Laplace of scale bⱼ or discrete Gaussian of
    /// parameter σⱼ².
    pub mechanism: Mechanism,
    /// The noise's standard deviation.
    pub std_dev: f64,
    /// Half-width of the 95 % interval.
    pub half_width_95: u64,
    /// Half-width of the 97.5 % interval (for AVG intervals).
    pub half_width_975: u64,
}

/// How an analyst query's answer is noised (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// ε of the query.
    pub epsilon: Rational,
    /// δ of the query (as configured).
    pub delta: Rational,
    /// The noise's kind.
    pub kind: NoiseKind,
    /// The Gaussian's ρ (zCDP) for the whole answer, rounded down.
    pub rho: Option<Rational>,
    /// The Gaussian's δ for converting ρ to (ε, δ): δ/2.
    pub delta_noise: Option<Rational>,
    /// With private group keys: the threshold's δ (Laplace δ, Gaussian δ/2).
    pub delta_threshold: Option<Rational>,
    /// The δ this answer spends: `delta_noise + delta_threshold`, each
    /// rounded up to 10⁻¹⁸ (what is debited from the δ budget).
    pub delta_spent: Delta,
    /// Per value of a row, in [`AnalystQuery::value_names`] order.
    pub values: Vec<ValueNoise>,
    /// For private group keys: the value index of the count and the
    /// threshold its noisy value must exceed.
    pub threshold: Option<(usize, u64)>,
}

/// Why a query cannot be calibrated: the rule of the refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalibrationError(pub &'static str);

impl Calibration {
    /// The calibration of `query` under `config`.
    pub fn new(
        query: &AnalystQuery,
        config: &QueryConfig,
    ) -> Result<Calibration, CalibrationError> {
        let refuse = |_| CalibrationError(CALIBRATION);
        let epsilon = config.epsilon().ok_or(CalibrationError(CALIBRATION))?;
        let names = query.value_names();
        let sens = query.value_sensitivities();
        let v = sens.len().max(1) as u64;
        let groups = query.max_groups.max(1);
        let private = query.group_keys.iter().any(|k| k.domain.is_none());
        let half = Rational::new(1, 2).map_err(refuse)?;
        let (rho, delta_noise, delta_threshold) = match config.mechanism {
            NoiseKind::Laplace => (None, None, private.then_some(config.delta)),
            NoiseKind::Gaussian => {
                let half_delta = config.delta.checked_mul(half).map_err(refuse)?;
                let rho = zcdp_rho_for(epsilon, half_delta).map_err(refuse)?;
                (Some(rho), Some(half_delta), private.then_some(half_delta))
            }
        };
        let mut values = Vec::with_capacity(sens.len());
        for (name, s) in names.into_iter().zip(sens) {
            let s = s.max(1);
            let mechanism = match rho {
                None => {
                    let l1 = groups
                        .checked_mul(v)
                        .and_then(|x| x.checked_mul(s))
                        .ok_or(CalibrationError(CALIBRATION))?;
                    Mechanism::Laplace {
                        scale: knooppunt_privacy::dp::laplace_scale(l1, epsilon).map_err(refuse)?,
                    }
                }
                Some(rho) => {
                    let l2_squared = u128::from(groups)
                        .checked_mul(u128::from(v))
                        .and_then(|x| x.checked_mul(u128::from(s) * u128::from(s)))
                        .ok_or(CalibrationError(CALIBRATION))?;
                    Mechanism::Gaussian {
                        sigma2: gaussian_sigma2_at_least(l2_squared, rho).map_err(refuse)?,
                    }
                }
            };
            values.push(ValueNoise {
                name,
                sensitivity: s,
                mechanism,
                std_dev: mechanism.variance().sqrt(),
                half_width_95: mechanism.half_width(LEVEL),
                half_width_975: mechanism.half_width(1.0 - (1.0 - LEVEL) / 2.0),
            });
        }
        let threshold = match delta_threshold {
            Some(delta_t) => {
                let index = count_index(query).ok_or(CalibrationError(PRIVATE_KEYS_NEED_COUNT))?;
                let noise = &values[index];
                let per_group = delta_t.to_f64() / groups as f64;
                let tau = match noise.mechanism {
                    Mechanism::Laplace { scale } => {
                        threshold_for_delta(scale, noise.sensitivity, per_group)
                    }
                    Mechanism::Gaussian { sigma2 } => {
                        gaussian_threshold_for_delta(sigma2, noise.sensitivity, per_group)
                    }
                };
                Some((index, tau))
            }
            None => None,
        };
        let spent = |d: Option<Rational>| d.map_or(Some(Delta::ZERO), Delta::at_least);
        let delta_spent = spent(delta_noise)
            .zip(spent(delta_threshold))
            .and_then(|(a, b)| a.checked_add(b))
            .ok_or(CalibrationError(CALIBRATION))?;
        Ok(Calibration {
            epsilon,
            delta: config.delta,
            kind: config.mechanism,
            rho,
            delta_noise,
            delta_threshold,
            delta_spent,
            values,
            threshold,
        })
    }

    /// The largest noise standard deviation of any value (the audit
    /// record's `noise_scale`).
    pub fn max_std_dev(&self) -> f64 {
        self.values.iter().map(|v| v.std_dev).fold(0.0, f64::max)
    }

    /// The mechanism as JSON, for the answer: `kind` (`discrete_laplace`
    /// with each value's `scale`, or `discrete_gaussian` with each value's
    /// `sigma2` and the whole answer's `rho`), ε, δ and the δ spent, and
    /// per value its sensitivity, `noise_scale` (standard deviation) and
    /// 95 % half-width.
    pub fn to_json(&self) -> Value {
        let text = |r: Option<Rational>| r.map(|r| r.to_string());
        let values: Vec<Value> = self
            .values
            .iter()
            .map(|v| {
                let mut value = json!({
                    "name": v.name,
                    "sensitivity": v.sensitivity,
                    "noise_scale": v.std_dev,
                    "half_width_95": v.half_width_95,
                });
                let (key, parameter) = match v.mechanism {
                    Mechanism::Laplace { scale } => ("scale", scale),
                    Mechanism::Gaussian { sigma2 } => ("sigma2", sigma2),
                };
                value[key] = Value::String(parameter.to_string());
                value
            })
            .collect();
        let mut mechanism = json!({
            "kind": match self.kind {
                NoiseKind::Laplace => "discrete_laplace",
                NoiseKind::Gaussian => "discrete_gaussian",
            },
            "epsilon": self.epsilon.to_string(),
            "delta": self.delta.to_string(),
            "delta_spent": self.delta_spent.to_string(),
            "level": LEVEL,
            "values": values,
            "threshold": self.threshold.map(|(_, t)| t),
            "noise_scale": self.max_std_dev(),
        });
        if self.kind == NoiseKind::Gaussian {
            mechanism["rho"] = json!(text(self.rho));
            mechanism["delta_noise"] = json!(text(self.delta_noise));
            mechanism["delta_threshold"] = json!(text(self.delta_threshold));
        }
        mechanism
    }
}

/// The value index of the count a private-key threshold uses.
fn count_index(query: &AnalystQuery) -> Option<usize> {
    let mut index = 0;
    for a in &query.aggregates {
        match a.kind {
            AggregateKind::Count | AggregateKind::CountDistinctUnit => return Some(index),
            AggregateKind::Avg { .. } => return Some(index + 1),
            AggregateKind::Sum { .. } => index += 1,
        }
    }
    None
}

/// The released rows of an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct NoisyRows {
    /// Output column names: group keys, then aggregates.
    pub columns: Vec<String>,
    /// One JSON object per released row.
    pub rows: Vec<Value>,
    /// Rows with private keys withheld by the threshold.
    pub withheld: u64,
}

fn cell(value: i64, noise: &ValueNoise) -> Value {
    let h = i64::try_from(noise.half_width_95).unwrap_or(i64::MAX);
    json!({
        "value": value,
        "noise_scale": noise.std_dev,
        "half_width_95": noise.half_width_95,
        "interval_95": [value.saturating_sub(h), value.saturating_add(h)],
    })
}

/// An AVG from its noisy sum and count (post-processing), clamped to
/// `[lower, upper]`, with its interval.
fn average(sum: i64, count: i64, lower: i64, upper: i64, s: &ValueNoise, c: &ValueNoise) -> Value {
    let (lo_f, hi_f) = (lower as f64, upper as f64);
    let value = (sum as f64 / count.max(1) as f64).clamp(lo_f, hi_f);
    let hs = i64::try_from(s.half_width_975).unwrap_or(i64::MAX);
    let hc = i64::try_from(c.half_width_975).unwrap_or(i64::MAX);
    let (c_lo, c_hi) = (count.saturating_sub(hc), count.saturating_add(hc));
    let interval = if c_lo >= 1 {
        let (s_lo, s_hi) = (sum.saturating_sub(hs) as f64, sum.saturating_add(hs) as f64);
        let corners = [
            s_lo / c_lo as f64,
            s_lo / c_hi as f64,
            s_hi / c_lo as f64,
            s_hi / c_hi as f64,
        ];
        let lo = corners.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = corners.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        json!([lo.clamp(lo_f, hi_f), hi.clamp(lo_f, hi_f)])
    } else {
        Value::Null
    };
    json!({
        "value": value,
        "noise_scale": Value::Null,
        "interval_95": interval,
        "sum": cell(sum, s),
        "count": cell(count, c),
    })
}

/// Noises `exact` (the exact bounded answer of `query`) with
/// `calibration`, drawing from `rng` (a
/// [`NoiseRng`](knooppunt_privacy::dp::NoiseRng) for anything released),
/// and withholds private-key rows below the threshold. Every value of
/// every row is drawn, withheld or not, so the draws do not depend on
/// the data.
pub fn noisy_rows<R: RngCore + ?Sized>(
    query: &AnalystQuery,
    exact: &ExactAnswer,
    calibration: &Calibration,
    rng: &mut R,
) -> NoisyRows {
    let mut columns: Vec<String> = query.group_keys.iter().map(|k| k.name.clone()).collect();
    columns.extend(query.aggregates.iter().map(|a| a.name.clone()));
    let mut rows = Vec::with_capacity(exact.values.len());
    let mut withheld = 0;
    for (keys, values) in exact.keys.iter().zip(&exact.values) {
        let noised: Vec<i64> = values
            .iter()
            .zip(&calibration.values)
            .map(|(v, n)| add_noise(*v, &n.mechanism, rng))
            .collect();
        if let Some((index, tau)) = calibration.threshold {
            let count = noised.get(index).copied().unwrap_or(i64::MIN);
            if count <= i64::try_from(tau).unwrap_or(i64::MAX) {
                withheld += 1;
                continue;
            }
        }
        let mut row = Map::new();
        for (k, v) in query.group_keys.iter().zip(keys) {
            row.insert(k.name.clone(), v.clone().map_or(Value::Null, Value::String));
        }
        let mut i = 0;
        for a in &query.aggregates {
            match a.kind {
                AggregateKind::Avg { lower, upper } => {
                    let (Some(s), Some(c)) = (noised.get(i), noised.get(i + 1)) else {
                        break;
                    };
                    let (ns, nc) = (&calibration.values[i], &calibration.values[i + 1]);
                    row.insert(a.name.clone(), average(*s, *c, lower, upper, ns, nc));
                    i += 2;
                }
                _ => {
                    let Some(v) = noised.get(i) else { break };
                    row.insert(a.name.clone(), cell(*v, &calibration.values[i]));
                    i += 1;
                }
            }
        }
        rows.push(Value::Object(row));
    }
    NoisyRows {
        columns,
        rows,
        withheld,
    }
}

/// The stored (cacheable) part of an answer: everything but what depends
/// on the request (`epsilon_charged`, `budget_left`, `cached`).
pub fn answer_body(
    query: &AnalystQuery,
    peildatum: NaiveDate,
    rows: &NoisyRows,
    calibration: &Calibration,
) -> Value {
    json!({
        "fingerprint": query.fingerprint,
        "peildatum": peildatum,
        "columns": rows.columns,
        "rows": rows.rows,
        "withheld": rows.withheld,
        "mechanism": calibration.to_json(),
    })
}
