//! Signals: which buurten stand out, and always why (INDICATORS.md, "Signals").
//!
//! A signal is a pattern to look into, never a finding about anyone in it.
//! Every figure below is computed from the numerators and denominators of the
//! [`IndicatorTable`] alone, and every row carries the numbers needed to redo
//! the computation by hand.
//!
//! # Scope
//!
//! Signals are computed per buurt ([`Level::Buurt`] rows), within each
//! gemeente: the *peers* of a buurt are the other buurten of its gemeente
//! that have a rate for the indicator. Rows whose buurtcode or gemeentecode
//! is `onbekend` are left out entirely: they get no signal row and do not
//! enter any municipal statistic or ranking. A buurt without a row for an
//! indicator that other buurten of its gemeente have is treated as `0 / 0`.
//!
//! # Per indicator
//!
//! * **rate** — `numerator × 1000 / denominator` (as
//!   [`IndicatorValue::rate`]); `None` when the denominator is 0 (or
//!   negative). A buurt without a rate gets `None` for every rate-based figure
//!   and does not enter the shrinkage estimate, medians or percentiles.
//! * **municipal rate** — from the gemeente row of the table (level
//!   gemeente, `code` = the gemeentecode) when present with a denominator
//!   above 0; otherwise the pooled rate of the gemeente's buurten,
//!   `Σ numerators × 1000 / Σ denominators` (`onbekend` excluded).
//!   [`IndicatorSignal::municipal_from_gemeente_row`] says which.
//! * **shrunk rate** — empirical Bayes, the gamma–Poisson method-of-moments
//!   estimator of Marshall (1991, *Mapping disease and mortality rates using
//!   empirical Bayes estimators*, Appl. Statist. 40:283–294), the one GeoDa
//!   and most small-area-rate tools call "EB smoothing". Per indicator and
//!   gemeente, with per-unit rates `pᵢ = xᵢ / nᵢ` of the `N` buurten with a
//!   rate and `m` the municipal rate (per unit):
//!   - weighted between-buurt variance `s² = Σ nᵢ (pᵢ − m)² / Σ nᵢ`;
//!   - mean denominator `n̄ = Σ nᵢ / N`;
//!   - prior variance `τ² = max(0, s² − m / n̄)` (observed variance minus
//!     the Poisson sampling variance);
//!   - weight `wᵢ = τ² / (τ² + m / nᵢ) = nᵢ / (nᵢ + k)` with `k = m / τ²`;
//!   - `shrunkᵢ = wᵢ · rateᵢ + (1 − wᵢ) · municipal rate`.
//!
//!   A buurt with a small denominator has a large sampling variance
//!   `m / nᵢ`, hence a small weight, and is pulled towards the municipal
//!   rate; a large buurt keeps (almost) its own rate. The Poisson sampling
//!   variance (rather than the binomial `p(1−p)/n`) is used because several
//!   indicators count events and can exceed 1,000 per 1,000; for
//!   proportions it is slightly conservative (shrinks a little more).
//!   Edge cases: when `τ² = 0` (the spread between buurten is no larger than
//!   chance would produce) every weight is 0 and every buurt gets the
//!   municipal rate — full shrinkage, so nothing stands out on that
//!   indicator; when `τ² + m / nᵢ = 0` (municipal rate 0 and no spread, so
//!   every rate already equals the municipal rate) the weight is 1 (no
//!   shrinkage; the value is the same either way). A negative municipal rate
//!   (invalid counts) is treated as 0 in the sampling variance.
//! * **percentile** — mid-rank percentile of the *shrunk* rate among the
//!   gemeente's buurten with a rate:
//!   `100 × (L + E / 2) / N`, with `L` the number of peers with a strictly
//!   lower shrunk rate, `E` the number with an equal one (the buurt itself
//!   included) and `N` the number of peers (the buurt included). A lone
//!   buurt, or a set of all-equal buurten, sits at 50; the top of 10
//!   distinct buurten at 95. Ranking on the shrunk rate keeps a buurt of 40
//!   addresses from topping the list by chance. Values within a relative
//!   1e-9 of each other count as equal (floating-point guard).
//! * **above P90** — `percentile > 90` (strictly). With mid-rank percentiles
//!   a gemeente needs at least 6 buurten with a rate before any buurt can be
//!   above P90.
//! * **ratio to municipal** — raw `rate / municipal rate`; `None` when the
//!   municipal rate is 0 or missing, or the buurt has no rate.
//! * **robust z** — on the *shrunk* rate (consistent with the ranking, and
//!   robust to tiny buurten):
//!   `z = (shrunk − median) / (1.4826 × MAD)`, median and MAD (median
//!   absolute deviation from the median) over the peers' shrunk rates; when
//!   the MAD is 0, `z = (shrunk − median) / (1.2533 × MeanAD)` with MeanAD
//!   the mean absolute deviation from the median (the IBM/Iglewicz–Hoaglin
//!   convention; `1.2533 ≈ √(π/2)`); when that is 0 too, `z = 0`. The
//!   median and the scale used are reported ([`IndicatorSignal::median`],
//!   [`IndicatorSignal::z_scale`]). A scale within a relative 1e-9 of the
//!   median counts as 0. Because the shrunk rate is an increasing affine
//!   function of the raw rate when all denominators are equal, the z-score is
//!   then the same as on raw rates.
//!
//! # Composite, flag, drivers
//!
//! * `above_p90` lists the indicators above P90 (in indicator-id order),
//!   `count_above_p90` counts them;
//! * `weighted_mean_z = Σ wⱼ zⱼ / Σ wⱼ` over the indicators with a z-score,
//!   `wⱼ` from [`SignalConfig::weights`] (default 1; weights that are not
//!   finite or not above 0 leave the indicator out); `None` when no
//!   indicator remains;
//! * `flag` when `count_above_p90 >= flag_threshold` (default 3);
//! * `drivers`: one [`Driver`] per indicator above P90 with its counts, rate,
//!   municipal rate, ratio, shrunk rate, percentile and z, plus a sentence.
//!
//! # Trend
//!
//! With a previous table (the same quarter a year earlier) the same
//! computation runs on it, within the gemeenten of that table; each
//! indicator gets [`TrendFigures`] (the previous figures and the change,
//! current − previous) and the row gets a [`CompositeTrend`]. Buurten are
//! matched on buurtcode (same gemeente first, then any gemeente, for
//! municipal mergers); a buurt or indicator absent a year earlier gets
//! `None`.
//!
//! # Order and suppression
//!
//! Rows are sorted by (gemeentecode, flag desc, count_above_p90 desc,
//! weighted_mean_z desc with `None` last, buurtcode). Indicators are in id
//! order. Nothing depends on hash order. `suppressed` is `false` everywhere
//! here; the release path sets it (see [`SignalRow::mark_suppressed`]) when
//! disclosure control suppresses an indicator a signal was computed from.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::model::{IndicatorTable, IndicatorValue, Level};

/// The area code of records that could not be linked.
const UNKNOWN_AREA: &str = "onbekend";
/// Percentile above which (strictly) an indicator counts as "above P90".
const P90: f64 = 90.0;
/// Consistency constant of the MAD for a normal distribution.
const MAD_SCALE: f64 = 1.4826;
/// Consistency constant of the mean absolute deviation (≈ √(π/2)).
const MEAN_AD_SCALE: f64 = 1.2533;
/// Relative tolerance under which two rates are equal / a scale is 0.
const REL_TOL: f64 = 1e-9;

/// Configuration of signals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SignalConfig {
    /// Weights per indicator id for the weighted mean z (default 1 for an
    /// indicator not listed; a weight that is not finite or not above 0
    /// leaves the indicator out of the mean).
    pub weights: BTreeMap<String, f64>,
    /// Number of indicators above P90 that raises the flag (default 3).
    pub flag_threshold: usize,
}

impl Default for SignalConfig {
    fn default() -> Self {
        SignalConfig {
            weights: BTreeMap::new(),
            flag_threshold: 3,
        }
    }
}

impl SignalConfig {
    /// The weight of an indicator in the weighted mean z (1 when not
    /// configured).
    pub fn weight(&self, indicator: &str) -> f64 {
        self.weights.get(indicator).copied().unwrap_or(1.0)
    }
}

/// The figures of one indicator for one buurt a year earlier, and the change
/// since (current − previous; `None` when either side is missing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendFigures {
    /// Numerator count a year earlier.
    pub numerator: i64,
    /// Denominator count a year earlier.
    pub denominator: i64,
    /// Rate per 1,000 a year earlier.
    pub rate: Option<f64>,
    /// Shrunk rate per 1,000 a year earlier.
    pub shrunk_rate: Option<f64>,
    /// Municipal rate per 1,000 a year earlier.
    pub municipal_rate: Option<f64>,
    /// Ratio of the rate to the municipal rate a year earlier.
    pub ratio_to_municipal: Option<f64>,
    /// Percentile (0–100) a year earlier.
    pub percentile: Option<f64>,
    /// Robust z-score a year earlier.
    pub robust_z: Option<f64>,
    /// Whether the indicator was above P90 a year earlier.
    pub above_p90: bool,
    /// Change of the rate.
    pub change_rate: Option<f64>,
    /// Change of the shrunk rate.
    pub change_shrunk_rate: Option<f64>,
    /// Change of the percentile (in percentile points).
    pub change_percentile: Option<f64>,
    /// Change of the robust z-score.
    pub change_robust_z: Option<f64>,
    /// Whether the previous indicator value is suppressed by disclosure
    /// control (always `false` here; set by the release path).
    pub suppressed: bool,
}

/// Per-indicator figures of one buurt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndicatorSignal {
    /// Indicator id.
    pub indicator: String,
    /// Numerator count of the buurt (0 when the table has no row).
    pub numerator: i64,
    /// Denominator count of the buurt (0 when the table has no row).
    pub denominator: i64,
    /// Distinct privacy units behind the numerator.
    pub numerator_support: i64,
    /// Distinct privacy units behind the denominator.
    pub denominator_support: i64,
    /// Rate per 1,000; `None` when the denominator is 0.
    pub rate: Option<f64>,
    /// Empirical Bayes weight `w` of the buurt's own rate (0–1):
    /// `shrunk_rate = w × rate + (1 − w) × municipal_rate`.
    pub shrinkage_weight: Option<f64>,
    /// Rate per 1,000 shrunk towards the municipal rate.
    pub shrunk_rate: Option<f64>,
    /// Numerator of the municipal rate.
    pub municipal_numerator: i64,
    /// Denominator of the municipal rate.
    pub municipal_denominator: i64,
    /// Municipal rate per 1,000.
    pub municipal_rate: Option<f64>,
    /// `true` when the municipal rate comes from the gemeente row of the
    /// table, `false` when pooled over the gemeente's buurten.
    pub municipal_from_gemeente_row: bool,
    /// Number of buurten of the gemeente with a rate (the `N` of the
    /// percentile, median and MAD).
    pub peers: usize,
    /// Mid-rank percentile (0–100) of the shrunk rate among the peers.
    pub percentile: Option<f64>,
    /// `rate / municipal_rate`.
    pub ratio_to_municipal: Option<f64>,
    /// Median of the peers' shrunk rates.
    pub median: Option<f64>,
    /// Denominator of the robust z: `1.4826 × MAD`, or `1.2533 × MeanAD`
    /// when the MAD is 0; `None` when both are 0 (then z is 0).
    pub z_scale: Option<f64>,
    /// Robust z-score of the shrunk rate.
    pub robust_z: Option<f64>,
    /// `percentile > 90`.
    pub above_p90: bool,
    /// The same figures a year earlier, and the change.
    pub previous: Option<TrendFigures>,
    /// Whether the indicator value is suppressed by disclosure control
    /// (always `false` here; set by the release path).
    pub suppressed: bool,
}

/// Why a buurt stands out on one indicator: every number of the explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Driver {
    /// Indicator id.
    pub indicator: String,
    /// Numerator count of the buurt.
    pub numerator: i64,
    /// Denominator count of the buurt.
    pub denominator: i64,
    /// Rate per 1,000.
    pub rate: Option<f64>,
    /// Municipal rate per 1,000.
    pub municipal_rate: Option<f64>,
    /// `rate / municipal_rate`.
    pub ratio_to_municipal: Option<f64>,
    /// Shrunk rate per 1,000 (what the percentile ranks on).
    pub shrunk_rate: Option<f64>,
    /// Percentile among the gemeente's buurten.
    pub percentile: Option<f64>,
    /// Number of buurten ranked.
    pub peers: usize,
    /// Robust z-score.
    pub robust_z: Option<f64>,
    /// Whether the indicator is suppressed by disclosure control.
    pub suppressed: bool,
    /// The same, as one sentence.
    pub text: String,
}

/// The composite figures of one buurt a year earlier, and the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompositeTrend {
    /// The peildatum of the previous table.
    pub peildatum: NaiveDate,
    /// Indicators above P90 a year earlier.
    pub above_p90: Vec<String>,
    /// Their number.
    pub count_above_p90: usize,
    /// Weighted mean robust z a year earlier.
    pub weighted_mean_z: Option<f64>,
    /// Whether the buurt was flagged a year earlier.
    pub flag: bool,
    /// Change of `count_above_p90` (current − previous).
    pub change_count_above_p90: i64,
    /// Change of the weighted mean z.
    pub change_weighted_mean_z: Option<f64>,
}

/// The signal of one buurt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalRow {
    /// The buurt.
    pub buurtcode: String,
    /// Its wijk.
    pub wijkcode: String,
    /// Its gemeente.
    pub gemeentecode: String,
    /// The peildatum of the table the signal is computed from.
    pub peildatum: NaiveDate,
    /// Per indicator, in id order.
    pub indicators: Vec<IndicatorSignal>,
    /// Indicators above P90, in id order.
    pub above_p90: Vec<String>,
    /// Number of indicators above P90.
    pub count_above_p90: usize,
    /// Weighted mean of the robust z-scores (secondary ordering).
    pub weighted_mean_z: Option<f64>,
    /// `count_above_p90 >= flag_threshold`.
    pub flag: bool,
    /// The indicators above P90 with their figures.
    pub drivers: Vec<Driver>,
    /// The composite a year earlier, when a previous table was given and
    /// the buurt is in it.
    pub previous: Option<CompositeTrend>,
}

impl SignalRow {
    /// Marks an indicator as suppressed by disclosure control, in
    /// [`SignalRow::indicators`] and [`SignalRow::drivers`]. Returns whether
    /// the indicator was found.
    pub fn mark_suppressed(&mut self, indicator: &str) -> bool {
        let mut found = false;
        for s in self
            .indicators
            .iter_mut()
            .filter(|s| s.indicator == indicator)
        {
            s.suppressed = true;
            found = true;
        }
        for d in self.drivers.iter_mut().filter(|d| d.indicator == indicator) {
            d.suppressed = true;
        }
        found
    }
}

/// Computes the signals of every buurt of `current`, with the trend against
/// `previous` (the same quarter a year earlier) when given. See the module
/// documentation for every formula.
pub fn compute_signals(
    current: &IndicatorTable,
    previous: Option<&IndicatorTable>,
    config: &SignalConfig,
) -> Vec<SignalRow> {
    let now = analyse(current);
    let before = previous.map(|t| (t.peildatum, analyse(t)));
    // Previous buurten by buurtcode alone (first gemeente in code order), for
    // buurten that moved to another gemeente (municipal mergers).
    let by_code: BTreeMap<&str, &BuurtFigures> = match &before {
        Some((_, analysis)) => {
            let mut index = BTreeMap::new();
            for ((_, buurt), figures) in analysis {
                index.entry(buurt.as_str()).or_insert(figures);
            }
            index
        }
        None => BTreeMap::new(),
    };

    let mut rows: Vec<SignalRow> = now
        .iter()
        .map(|((gemeente, buurt), figures)| {
            let prev = before.as_ref().and_then(|(date, analysis)| {
                analysis
                    .get(&(gemeente.clone(), buurt.clone()))
                    .or_else(|| by_code.get(buurt.as_str()).copied())
                    .map(|f| (*date, f))
            });
            build_row(gemeente, buurt, current.peildatum, figures, prev, config)
        })
        .collect();
    rows.sort_by(row_order);
    rows
}

/// Counts of one indicator for one area.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Counts {
    numerator: i64,
    denominator: i64,
    numerator_support: i64,
    denominator_support: i64,
}

impl Counts {
    /// Adds a value (duplicate rows, which should not occur, are summed).
    fn add(&mut self, v: &IndicatorValue) {
        self.numerator = self.numerator.saturating_add(v.numerator);
        self.denominator = self.denominator.saturating_add(v.denominator);
        self.numerator_support = self.numerator_support.saturating_add(v.numerator_support);
        self.denominator_support = self
            .denominator_support
            .saturating_add(v.denominator_support);
    }

    /// Rate per 1,000, as [`IndicatorValue::rate`]; `None` unless the
    /// denominator is above 0.
    fn rate(&self) -> Option<f64> {
        (self.denominator > 0)
            .then(|| self.numerator as f64 * 1000.0 / self.denominator as f64)
            .and_then(finite)
    }
}

/// The figures of one indicator for one buurt in one table.
#[derive(Debug, Clone, Default, PartialEq)]
struct Figures {
    counts: Counts,
    rate: Option<f64>,
    shrinkage_weight: Option<f64>,
    shrunk_rate: Option<f64>,
    municipal: Counts,
    municipal_rate: Option<f64>,
    municipal_from_gemeente_row: bool,
    peers: usize,
    percentile: Option<f64>,
    ratio_to_municipal: Option<f64>,
    median: Option<f64>,
    z_scale: Option<f64>,
    robust_z: Option<f64>,
}

impl Figures {
    fn above_p90(&self) -> bool {
        self.percentile.is_some_and(|p| p > P90)
    }
}

/// The figures of one buurt in one table.
#[derive(Debug, Clone, Default)]
struct BuurtFigures {
    wijkcode: String,
    indicators: BTreeMap<String, Figures>,
}

/// All buurten of one table, keyed by (gemeentecode, buurtcode).
type Analysis = BTreeMap<(String, String), BuurtFigures>;

/// The counts of one buurt as read from the table.
#[derive(Debug, Default)]
struct BuurtCounts {
    wijkcode: String,
    indicators: BTreeMap<String, Counts>,
}

fn is_unknown(code: &str) -> bool {
    code == UNKNOWN_AREA
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Whether two values are equal up to a relative tolerance.
fn approx_eq(a: f64, b: f64) -> bool {
    (a - b).abs() <= REL_TOL * a.abs().max(b.abs()).max(1.0)
}

/// Computes every per-indicator figure of every buurt of one table.
fn analyse(table: &IndicatorTable) -> Analysis {
    // gemeente -> buurt -> counts; gemeente -> indicator ids; gemeente rows.
    let mut buurten: BTreeMap<&str, BTreeMap<&str, BuurtCounts>> = BTreeMap::new();
    let mut indicators: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut gemeente_rows: BTreeMap<(&str, &str), Counts> = BTreeMap::new();
    for v in &table.values {
        match v.level {
            Level::Buurt => {
                if is_unknown(&v.code) || is_unknown(&v.gemeentecode) {
                    continue;
                }
                let entry = buurten
                    .entry(v.gemeentecode.as_str())
                    .or_default()
                    .entry(v.code.as_str())
                    .or_insert_with(|| BuurtCounts {
                        wijkcode: v.wijkcode.clone(),
                        indicators: BTreeMap::new(),
                    });
                entry
                    .indicators
                    .entry(v.indicator.clone())
                    .or_default()
                    .add(v);
                indicators
                    .entry(v.gemeentecode.as_str())
                    .or_default()
                    .insert(v.indicator.as_str());
            }
            Level::Gemeente => {
                if !is_unknown(&v.code) {
                    gemeente_rows
                        .entry((v.code.as_str(), v.indicator.as_str()))
                        .or_default()
                        .add(v);
                }
            }
            Level::Wijk => {}
        }
    }

    let mut out = Analysis::new();
    for (gemeente, members) in &buurten {
        let ids = indicators.get(gemeente).cloned().unwrap_or_default();
        let mut per_buurt: Vec<BuurtFigures> = members
            .values()
            .map(|b| BuurtFigures {
                wijkcode: b.wijkcode.clone(),
                indicators: BTreeMap::new(),
            })
            .collect();
        for id in ids {
            let counts: Vec<Counts> = members
                .values()
                .map(|b| b.indicators.get(id).copied().unwrap_or_default())
                .collect();
            let row = gemeente_rows
                .get(&(*gemeente, id))
                .copied()
                .filter(|c| c.denominator > 0);
            let figures = indicator_figures(&counts, row);
            for (buurt, f) in per_buurt.iter_mut().zip(figures) {
                buurt.indicators.insert(id.to_string(), f);
            }
        }
        for (code, figures) in members.keys().zip(per_buurt) {
            out.insert((gemeente.to_string(), code.to_string()), figures);
        }
    }
    out
}

/// The figures of one indicator for every buurt of one gemeente (in the
/// order of `counts`), given the gemeente row when the table has one.
fn indicator_figures(counts: &[Counts], gemeente_row: Option<Counts>) -> Vec<Figures> {
    let (municipal, from_row) = match gemeente_row {
        Some(row) => (row, true),
        None => {
            let mut sum = Counts::default();
            for c in counts {
                sum.numerator = sum.numerator.saturating_add(c.numerator);
                sum.denominator = sum.denominator.saturating_add(c.denominator.max(0));
                sum.numerator_support = sum.numerator_support.saturating_add(c.numerator_support);
                sum.denominator_support = sum
                    .denominator_support
                    .saturating_add(c.denominator_support);
            }
            (sum, false)
        }
    };
    let municipal_rate = municipal.rate();

    // The buurten with a rate: (index, denominator, rate per 1,000).
    let rated: Vec<(usize, f64, f64)> = counts
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.rate().map(|r| (i, c.denominator as f64, r)))
        .collect();

    let weights: Vec<f64> = match municipal_rate {
        Some(m) => shrinkage_weights(
            &rated
                .iter()
                .map(|&(_, n, r)| (n, r / 1000.0))
                .collect::<Vec<_>>(),
            m / 1000.0,
        ),
        None => vec![1.0; rated.len()],
    };
    let shrunk: Vec<f64> = rated
        .iter()
        .zip(&weights)
        .map(|(&(_, _, r), &w)| match municipal_rate {
            Some(m) => m + w * (r - m),
            None => r,
        })
        .collect();

    let peers = rated.len();
    let median = median(&shrunk);
    let scale = median.and_then(|med| z_scale(&shrunk, med));

    let mut out: Vec<Figures> = counts
        .iter()
        .map(|c| Figures {
            counts: *c,
            municipal,
            municipal_rate,
            municipal_from_gemeente_row: from_row,
            peers,
            ..Figures::default()
        })
        .collect();
    for (k, &(i, _, rate)) in rated.iter().enumerate() {
        let (Some(f), Some(&s), Some(&w)) = (out.get_mut(i), shrunk.get(k), weights.get(k)) else {
            continue;
        };
        f.rate = Some(rate);
        f.shrinkage_weight = finite(w);
        f.shrunk_rate = finite(s);
        f.percentile = finite(percentile(&shrunk, s));
        f.ratio_to_municipal = municipal_rate
            .filter(|&m| m != 0.0)
            .and_then(|m| finite(rate / m));
        f.median = median;
        f.z_scale = scale;
        f.robust_z = median.and_then(|med| match scale {
            Some(sc) => finite((s - med) / sc),
            None => Some(0.0),
        });
    }
    out
}

/// Empirical Bayes weights (Marshall 1991, gamma–Poisson method of moments)
/// of buurten given as (denominator, per-unit rate), towards the per-unit
/// municipal rate `m`.
fn shrinkage_weights(rated: &[(f64, f64)], m: f64) -> Vec<f64> {
    let total: f64 = rated.iter().map(|&(n, _)| n).sum();
    if rated.is_empty() || total.is_nan() || total <= 0.0 {
        return vec![1.0; rated.len()];
    }
    let s2 = rated
        .iter()
        .map(|&(n, p)| n * (p - m) * (p - m))
        .sum::<f64>()
        / total;
    let mean_n = total / rated.len() as f64;
    let m_var = m.max(0.0);
    let tau2 = (s2 - m_var / mean_n).max(0.0);
    rated
        .iter()
        .map(|&(n, _)| {
            let denominator = tau2 + m_var / n;
            if denominator > 0.0 && denominator.is_finite() {
                tau2 / denominator
            } else {
                1.0
            }
        })
        .collect()
}

/// Mid-rank percentile of `x` among `values`: `100 × (L + E/2) / N`.
fn percentile(values: &[f64], x: f64) -> f64 {
    let mut lower = 0usize;
    let mut equal = 0usize;
    for &v in values {
        if approx_eq(v, x) {
            equal += 1;
        } else if v < x {
            lower += 1;
        }
    }
    100.0 * (2 * lower + equal) as f64 / (2 * values.len()) as f64
}

/// Median (mean of the middle two for an even count); `None` when empty.
fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    let value = if v.len() % 2 == 1 {
        *v.get(mid)?
    } else {
        (*v.get(mid - 1)? + *v.get(mid)?) / 2.0
    };
    finite(value)
}

/// The scale of the robust z: `1.4826 × MAD`, else `1.2533 × MeanAD`, else
/// `None` (both 0).
fn z_scale(values: &[f64], median_value: f64) -> Option<f64> {
    let deviations: Vec<f64> = values.iter().map(|v| (v - median_value).abs()).collect();
    let tolerance = REL_TOL * median_value.abs().max(1.0);
    let mad = median(&deviations)?;
    if mad > tolerance {
        return finite(MAD_SCALE * mad);
    }
    let mean_ad = deviations.iter().sum::<f64>() / deviations.len() as f64;
    if mean_ad > tolerance {
        return finite(MEAN_AD_SCALE * mean_ad);
    }
    None
}

fn difference(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => finite(a - b),
        _ => None,
    }
}

/// (above-P90 ids, weighted mean z) of one buurt's figures.
fn composite(figures: &BuurtFigures, config: &SignalConfig) -> (Vec<String>, Option<f64>) {
    let above: Vec<String> = figures
        .indicators
        .iter()
        .filter(|(_, f)| f.above_p90())
        .map(|(id, _)| id.clone())
        .collect();
    let mut weighted = 0.0;
    let mut total = 0.0;
    for (id, f) in &figures.indicators {
        let w = config.weight(id);
        if let Some(z) = f.robust_z
            && w.is_finite()
            && w > 0.0
        {
            weighted += w * z;
            total += w;
        }
    }
    let mean = (total > 0.0).then(|| weighted / total).and_then(finite);
    (above, mean)
}

fn fmt_opt(x: Option<f64>, decimals: usize) -> String {
    match x {
        Some(v) => format!("{v:.decimals$}"),
        None => "n/a".to_string(),
    }
}

fn driver(s: &IndicatorSignal) -> Driver {
    let text = format!(
        "{id}: {rate} per 1,000 ({num} of {den}) vs municipal {mrate} per 1,000 ({mnum} of {mden}), \
         ratio {ratio}; percentile {pct} among {peers} buurten of the gemeente, ranked on the \
         shrunk rate {shrunk} per 1,000 (weight {w}); robust z {z}",
        id = s.indicator,
        rate = fmt_opt(s.rate, 1),
        num = s.numerator,
        den = s.denominator,
        mrate = fmt_opt(s.municipal_rate, 1),
        mnum = s.municipal_numerator,
        mden = s.municipal_denominator,
        ratio = fmt_opt(s.ratio_to_municipal, 2),
        pct = fmt_opt(s.percentile, 1),
        peers = s.peers,
        shrunk = fmt_opt(s.shrunk_rate, 1),
        w = fmt_opt(s.shrinkage_weight, 2),
        z = fmt_opt(s.robust_z, 2),
    );
    Driver {
        indicator: s.indicator.clone(),
        numerator: s.numerator,
        denominator: s.denominator,
        rate: s.rate,
        municipal_rate: s.municipal_rate,
        ratio_to_municipal: s.ratio_to_municipal,
        shrunk_rate: s.shrunk_rate,
        percentile: s.percentile,
        peers: s.peers,
        robust_z: s.robust_z,
        suppressed: s.suppressed,
        text,
    }
}

fn trend(now: &Figures, before: &Figures) -> TrendFigures {
    TrendFigures {
        numerator: before.counts.numerator,
        denominator: before.counts.denominator,
        rate: before.rate,
        shrunk_rate: before.shrunk_rate,
        municipal_rate: before.municipal_rate,
        ratio_to_municipal: before.ratio_to_municipal,
        percentile: before.percentile,
        robust_z: before.robust_z,
        above_p90: before.above_p90(),
        change_rate: difference(now.rate, before.rate),
        change_shrunk_rate: difference(now.shrunk_rate, before.shrunk_rate),
        change_percentile: difference(now.percentile, before.percentile),
        change_robust_z: difference(now.robust_z, before.robust_z),
        suppressed: false,
    }
}

fn build_row(
    gemeente: &str,
    buurt: &str,
    peildatum: NaiveDate,
    figures: &BuurtFigures,
    previous: Option<(NaiveDate, &BuurtFigures)>,
    config: &SignalConfig,
) -> SignalRow {
    let indicators: Vec<IndicatorSignal> = figures
        .indicators
        .iter()
        .map(|(id, f)| IndicatorSignal {
            indicator: id.clone(),
            numerator: f.counts.numerator,
            denominator: f.counts.denominator,
            numerator_support: f.counts.numerator_support,
            denominator_support: f.counts.denominator_support,
            rate: f.rate,
            shrinkage_weight: f.shrinkage_weight,
            shrunk_rate: f.shrunk_rate,
            municipal_numerator: f.municipal.numerator,
            municipal_denominator: f.municipal.denominator,
            municipal_rate: f.municipal_rate,
            municipal_from_gemeente_row: f.municipal_from_gemeente_row,
            peers: f.peers,
            percentile: f.percentile,
            ratio_to_municipal: f.ratio_to_municipal,
            median: f.median,
            z_scale: f.z_scale,
            robust_z: f.robust_z,
            above_p90: f.above_p90(),
            previous: previous
                .and_then(|(_, p)| p.indicators.get(id))
                .map(|p| trend(f, p)),
            suppressed: false,
        })
        .collect();
    let (above_p90, weighted_mean_z) = composite(figures, config);
    let count_above_p90 = above_p90.len();
    let drivers = indicators
        .iter()
        .filter(|s| s.above_p90)
        .map(driver)
        .collect();
    let previous = previous.map(|(date, p)| {
        let (above, mean) = composite(p, config);
        let count = above.len();
        CompositeTrend {
            peildatum: date,
            flag: count >= config.flag_threshold,
            change_count_above_p90: count_above_p90 as i64 - count as i64,
            change_weighted_mean_z: difference(weighted_mean_z, mean),
            count_above_p90: count,
            above_p90: above,
            weighted_mean_z: mean,
        }
    });
    SignalRow {
        buurtcode: buurt.to_string(),
        wijkcode: figures.wijkcode.clone(),
        gemeentecode: gemeente.to_string(),
        peildatum,
        indicators,
        flag: count_above_p90 >= config.flag_threshold,
        count_above_p90,
        above_p90,
        weighted_mean_z,
        drivers,
        previous,
    }
}

/// (gemeentecode, flag desc, count desc, weighted mean z desc with `None`
/// last, buurtcode).
fn row_order(a: &SignalRow, b: &SignalRow) -> Ordering {
    let z = match (a.weighted_mean_z, b.weighted_mean_z) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    a.gemeentecode
        .cmp(&b.gemeentecode)
        .then(b.flag.cmp(&a.flag))
        .then(b.count_above_p90.cmp(&a.count_above_p90))
        .then(z)
        .then_with(|| a.buurtcode.cmp(&b.buurtcode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn value(
        indicator: &str,
        level: Level,
        code: &str,
        gemeente: &str,
        numerator: i64,
        denominator: i64,
    ) -> IndicatorValue {
        IndicatorValue {
            indicator: indicator.to_string(),
            level,
            code: code.to_string(),
            wijkcode: format!("WK{}", gemeente.trim_start_matches("GM")),
            gemeentecode: gemeente.to_string(),
            numerator,
            denominator,
            numerator_support: numerator,
            denominator_support: denominator,
            numerator_key: None,
            denominator_key: None,
        }
    }

    fn buurt(
        indicator: &str,
        code: &str,
        gemeente: &str,
        numerator: i64,
        denominator: i64,
    ) -> IndicatorValue {
        value(
            indicator,
            Level::Buurt,
            code,
            gemeente,
            numerator,
            denominator,
        )
    }

    fn table(values: Vec<IndicatorValue>) -> IndicatorTable {
        IndicatorTable {
            peildatum: date(2024, 3, 31),
            values,
        }
    }

    /// Buurten `BU1`…`BUn` of GM0001 with denominator 1000 and the given
    /// numerators for one indicator.
    fn thousand(indicator: &str, numerators: &[i64]) -> Vec<IndicatorValue> {
        numerators
            .iter()
            .enumerate()
            .map(|(i, &x)| buurt(indicator, &format!("BU{}", i + 1), "GM0001", x, 1000))
            .collect()
    }

    fn row<'a>(rows: &'a [SignalRow], code: &str) -> &'a SignalRow {
        rows.iter()
            .find(|r| r.buurtcode == code)
            .expect("buurt present")
    }

    fn ind<'a>(row: &'a SignalRow, id: &str) -> &'a IndicatorSignal {
        row.indicators
            .iter()
            .find(|s| s.indicator == id)
            .expect("indicator present")
    }

    #[track_caller]
    fn close(actual: Option<f64>, expected: f64) {
        let a = actual.expect("a value");
        assert!(
            (a - expected).abs() <= 1e-6 * expected.abs().max(1.0),
            "{a} != {expected}"
        );
    }

    #[test]
    fn robust_z_with_positive_mad() {
        // Rates 10, 20, 30, 40, 100 per 1,000 (all n = 1000).
        let rows = compute_signals(
            &table(thousand("I01", &[10, 20, 30, 40, 100])),
            None,
            &SignalConfig::default(),
        );
        assert_eq!(rows.len(), 5);
        // Municipal 200/5000 = 40 per 1,000. s² = (0.03² + 0.02² + 0.01² + 0 +
        // 0.06²)/5 = 0.001, m/n̄ = 0.04/1000 = 0.00004, τ² = 0.00096,
        // w = 0.00096 / (0.00096 + 0.00004) = 0.96.
        let top = ind(row(&rows, "BU5"), "I01");
        close(top.rate, 100.0);
        close(top.municipal_rate, 40.0);
        close(top.ratio_to_municipal, 2.5);
        close(top.shrinkage_weight, 0.96);
        close(top.shrunk_rate, 40.0 + 0.96 * 60.0); // 97.6
        // Shrunk median 40 + 0.96 × (30 − 40) = 30.4; MAD = 0.96 × 10.
        close(top.median, 30.4);
        close(top.z_scale, 1.4826 * 9.6);
        // z = 0.96 × 70 / (1.4826 × 0.96 × 10) = 70 / 14.826.
        close(top.robust_z, 4.721435316336166);
        close(ind(row(&rows, "BU1"), "I01").robust_z, -1.3489815189531902);
        close(ind(row(&rows, "BU3"), "I01").robust_z, 0.0);
        // Percentiles: (L + 1/2)/5 × 100.
        for (code, p) in [
            ("BU1", 10.0),
            ("BU2", 30.0),
            ("BU3", 50.0),
            ("BU4", 70.0),
            ("BU5", 90.0),
        ] {
            close(ind(row(&rows, code), "I01").percentile, p);
        }
        // 90 is not above P90.
        assert!(!top.above_p90);
        assert_eq!(top.peers, 5);
    }

    #[test]
    fn robust_z_falls_back_to_mean_absolute_deviation() {
        // Rates 10, 10, 10, 10, 50: MAD = median(0,0,0,0,40) = 0.
        let rows = compute_signals(
            &table(thousand("I01", &[10, 10, 10, 10, 50])),
            None,
            &SignalConfig::default(),
        );
        // m = 18; s² = (4 × 0.008² + 0.032²)/5 = 0.000256; τ² = 0.000256 −
        // 0.000018 = 0.000238; w = 0.000238 / 0.000256 = 0.9296875.
        let top = ind(row(&rows, "BU5"), "I01");
        close(top.shrinkage_weight, 0.9296875);
        // MeanAD of the raw rates from the median 10: 40/5 = 8; all scaled
        // by w, so z = 40 / (1.2533 × 8).
        close(top.robust_z, 3.9894678049948133);
        close(top.z_scale, 1.2533 * 8.0 * 0.9296875);
        close(ind(row(&rows, "BU1"), "I01").robust_z, 0.0);
        // Ties: (0 + 4/2)/5 = 40; top (4 + 1/2)/5 = 90.
        close(ind(row(&rows, "BU2"), "I01").percentile, 40.0);
        close(top.percentile, 90.0);
    }

    #[test]
    fn robust_z_is_zero_without_spread() {
        let rows = compute_signals(
            &table(thousand("I01", &[10, 10, 10, 10, 10])),
            None,
            &SignalConfig::default(),
        );
        for r in &rows {
            let s = ind(r, "I01");
            close(s.robust_z, 0.0);
            assert_eq!(s.z_scale, None);
            // τ² = max(0, 0 − m/n̄) = 0: full shrinkage to 10.
            close(s.shrinkage_weight, 0.0);
            close(s.shrunk_rate, 10.0);
            close(s.percentile, 50.0);
            close(r.weighted_mean_z, 0.0);
        }
    }

    #[test]
    fn shrinkage_pulls_a_tiny_buurt_more_than_a_large_one() {
        // A 5/50 and B 100/1000 both have rate 100; C 10/1000, D 35/950.
        let rows = compute_signals(
            &table(vec![
                buurt("I01", "BUA", "GM0001", 5, 50),
                buurt("I01", "BUB", "GM0001", 100, 1000),
                buurt("I01", "BUC", "GM0001", 10, 1000),
                buurt("I01", "BUD", "GM0001", 35, 950),
            ]),
            None,
            &SignalConfig::default(),
        );
        // m = 150/3000 = 0.05. s² = (50·0.05² + 1000·0.05² + 1000·0.04² +
        // 950·(35/950 − 0.05)²)/3000 = 4.3894737/3000 = 0.00146316;
        // n̄ = 750, τ² = s² − 0.05/750 = 0.00139649.
        // w_A = τ²/(τ² + 0.05/50) = 0.58272, w_B = τ²/(τ² + 0.05/1000) = 0.96543.
        let a = ind(row(&rows, "BUA"), "I01");
        let b = ind(row(&rows, "BUB"), "I01");
        close(a.rate, 100.0);
        close(b.rate, 100.0);
        assert!(!a.municipal_from_gemeente_row);
        close(a.municipal_rate, 50.0);
        close(a.shrinkage_weight, 0.5827232796486091);
        close(b.shrinkage_weight, 0.9654335961188599);
        close(a.shrunk_rate, 79.13616398243046);
        close(b.shrunk_rate, 98.27167980594301);
        // Ranked on the shrunk rate, the large buurt is above the tiny one.
        close(b.percentile, 87.5);
        close(a.percentile, 62.5);
    }

    #[test]
    fn a_tiny_buurt_does_not_top_the_list_by_chance() {
        // Six buurten of 1000 at 10…60 per 1,000, and T with 4 of 40 = 100.
        let mut values = thousand("I01", &[10, 20, 30, 40, 50, 60]);
        values.push(buurt("I01", "BUT", "GM0001", 4, 40));
        let rows = compute_signals(&table(values), None, &SignalConfig::default());
        // m = 214/6040 = 0.0354305; s² = 0.00031753, n̄ = 6040/7, τ² =
        // s² − m/n̄ = 0.00027647; w_T = τ²/(τ² + m/40) = 0.23788,
        // shrunk_T = 35.4305 + 0.23788 × (100 − 35.4305) = 50.790;
        // w = 0.88640 for the others, shrunk of BU6 = 57.209.
        let t = ind(row(&rows, "BUT"), "I01");
        let six = ind(row(&rows, "BU6"), "I01");
        close(t.shrunk_rate, 50.79009433962264);
        close(six.shrunk_rate, 57.20899656898588);
        // BU6 tops the list: (6 + 1/2)/7; T is second: (5 + 1/2)/7.
        close(six.percentile, 100.0 * 6.5 / 7.0);
        close(t.percentile, 100.0 * 5.5 / 7.0);
        assert!(six.above_p90);
        assert!(!t.above_p90);
    }

    #[test]
    fn percentile_ordering_and_ties() {
        // Rates 10, 20, 20, 30 (w = 0.6 for all, order preserved).
        let rows = compute_signals(
            &table(thousand("I01", &[10, 20, 20, 30])),
            None,
            &SignalConfig::default(),
        );
        close(ind(row(&rows, "BU1"), "I01").percentile, 12.5);
        close(ind(row(&rows, "BU2"), "I01").percentile, 50.0);
        close(ind(row(&rows, "BU3"), "I01").percentile, 50.0);
        close(ind(row(&rows, "BU4"), "I01").percentile, 87.5);
        close(ind(row(&rows, "BU1"), "I01").shrinkage_weight, 0.6);
    }

    /// Ten buurten BU01…BU10; on I01–I03 buurt i has 10·i per 1,000, on I04
    /// 10·(11 − i).
    fn ten_buurten() -> Vec<IndicatorValue> {
        let mut values = Vec::new();
        for id in ["I01", "I02", "I03", "I04"] {
            for i in 1..=10i64 {
                let x = if id == "I04" { 10 * (11 - i) } else { 10 * i };
                values.push(buurt(id, &format!("BU{i:02}"), "GM0001", x, 1000));
            }
        }
        values
    }

    #[test]
    fn flag_with_three_indicators_above_p90_and_drivers() {
        let rows = compute_signals(&table(ten_buurten()), None, &SignalConfig::default());
        let order: Vec<&str> = rows.iter().map(|r| r.buurtcode.as_str()).collect();
        // BU10 is flagged; BU01 is above P90 on I04 only; the rest by mean z.
        assert_eq!(
            order,
            [
                "BU10", "BU01", "BU09", "BU08", "BU07", "BU06", "BU05", "BU04", "BU03", "BU02"
            ]
        );
        let top = &rows[0];
        assert!(top.flag);
        assert_eq!(top.count_above_p90, 3);
        assert_eq!(top.above_p90, ["I01", "I02", "I03"]);
        // Municipal 550/10000 = 55; median 55, MAD 25 (deviations 5,5,15,15,
        // 25,25,35,35,45,45): z = ±45 / (1.4826 × 25) = ±1.2140834.
        // Weighted mean (3 × 1.2140834 − 1.2140834) / 4 = 0.6070417.
        close(top.weighted_mean_z, 0.6070416835289358);
        let ids: Vec<&str> = top.drivers.iter().map(|d| d.indicator.as_str()).collect();
        assert_eq!(ids, ["I01", "I02", "I03"]);
        for d in &top.drivers {
            assert_eq!((d.numerator, d.denominator, d.peers), (100, 1000, 10));
            close(d.rate, 100.0);
            close(d.municipal_rate, 55.0);
            close(d.ratio_to_municipal, 100.0 / 55.0);
            close(d.percentile, 95.0); // (9 + 1/2)/10
            close(d.robust_z, 1.2140833670578715);
            assert!(
                d.text.contains("100.0 per 1,000 (100 of 1000)"),
                "{}",
                d.text
            );
            assert!(d.text.contains("municipal 55.0 per 1,000"), "{}", d.text);
            assert!(d.text.contains("ratio 1.82"), "{}", d.text);
            assert!(
                d.text.contains("percentile 95.0 among 10 buurten"),
                "{}",
                d.text
            );
            assert!(!d.suppressed);
        }
        let i04 = ind(top, "I04");
        close(i04.percentile, 5.0);
        assert!(!i04.above_p90);
        assert!(top.indicators.iter().all(|s| !s.suppressed));
        // BU01: one indicator above P90, not flagged.
        let bu01 = &rows[1];
        assert!(!bu01.flag);
        assert_eq!(bu01.above_p90, ["I04"]);
        assert_eq!(bu01.drivers.len(), 1);
        close(bu01.weighted_mean_z, -0.6070416835289358);
        // BU09: the 85th percentile is not above P90; z = 35/37.065.
        let bu09 = &rows[2];
        assert!(!bu09.flag);
        assert_eq!(bu09.count_above_p90, 0);
        assert!(bu09.drivers.is_empty());
        close(bu09.weighted_mean_z, (3.0 - 1.0) * (35.0 / 37.065) / 4.0);
        // The flag threshold is configurable.
        let strict = SignalConfig {
            flag_threshold: 4,
            ..SignalConfig::default()
        };
        assert!(
            compute_signals(&table(ten_buurten()), None, &strict)
                .iter()
                .all(|r| !r.flag)
        );
    }

    #[test]
    fn weights_of_the_mean_z() {
        let mut config = SignalConfig::default();
        config.weights.insert("I04".to_string(), 0.0);
        config.weights.insert("I01".to_string(), 2.0);
        let rows = compute_signals(&table(ten_buurten()), None, &config);
        // BU10: (2 × 1.2140834 + 1.2140834 + 1.2140834) / 4; I04 left out.
        close(row(&rows, "BU10").weighted_mean_z, 1.2140833670578715);
        // BU05: rate 50 → z = −5/37.065 on I01–I03.
        close(row(&rows, "BU05").weighted_mean_z, -5.0 / 37.065);
    }

    #[test]
    fn trend_against_a_previous_table() {
        let mut current = thousand("I01", &[10, 20, 30, 40, 100]);
        current.push(buurt("I01", "BU6", "GM0001", 0, 0));
        let previous = IndicatorTable {
            peildatum: date(2023, 3, 31),
            values: thousand("I01", &[10, 20, 30, 40, 40]),
        };
        let rows = compute_signals(&table(current), Some(&previous), &SignalConfig::default());
        let top = row(&rows, "BU5");
        let s = ind(top, "I01");
        let p = s.previous.as_ref().expect("trend");
        assert_eq!((p.numerator, p.denominator), (40, 1000));
        close(p.rate, 40.0);
        close(p.municipal_rate, 28.0); // 140/5000
        close(p.ratio_to_municipal, 40.0 / 28.0);
        // Previous: BU4 and BU5 tie at 40: (3 + 2/2)/5 = 80.
        close(p.percentile, 80.0);
        // Previous median 30, MAD median(20,10,0,10,10) = 10: z = 10/14.826.
        close(p.robust_z, 0.6744907594765951);
        close(p.change_rate, 60.0);
        close(p.change_percentile, 10.0);
        close(p.change_robust_z, 4.046944556859571);
        assert!(!p.above_p90);
        let c = top.previous.as_ref().expect("composite trend");
        assert_eq!(c.peildatum, date(2023, 3, 31));
        assert_eq!(c.count_above_p90, 0);
        assert_eq!(c.change_count_above_p90, 0);
        close(c.weighted_mean_z, 0.6744907594765951);
        close(c.change_weighted_mean_z, 4.046944556859571);
        // BU6 is new: no trend.
        assert!(row(&rows, "BU6").previous.is_none());
        assert!(ind(row(&rows, "BU6"), "I01").previous.is_none());
        // Without a previous table there is no trend.
        let rows = compute_signals(
            &table(thousand("I01", &[10, 20])),
            None,
            &SignalConfig::default(),
        );
        assert!(
            rows.iter()
                .all(|r| r.previous.is_none() && r.indicators.iter().all(|s| s.previous.is_none()))
        );
    }

    #[test]
    fn trend_follows_a_buurt_into_another_gemeente() {
        let previous = IndicatorTable {
            peildatum: date(2023, 3, 31),
            values: vec![
                buurt("I01", "BU1", "GM0009", 10, 1000),
                buurt("I01", "BU2", "GM0009", 30, 1000),
            ],
        };
        let rows = compute_signals(
            &table(thousand("I01", &[20, 30])),
            Some(&previous),
            &SignalConfig::default(),
        );
        let p = ind(row(&rows, "BU1"), "I01")
            .previous
            .as_ref()
            .expect("trend");
        close(p.rate, 10.0);
        close(p.municipal_rate, 20.0); // 40/2000 in GM0009
        close(p.change_rate, 10.0);
        close(p.percentile, 25.0);
    }

    #[test]
    fn empty_table() {
        let empty = table(Vec::new());
        assert!(compute_signals(&empty, None, &SignalConfig::default()).is_empty());
        assert!(compute_signals(&empty, Some(&empty), &SignalConfig::default()).is_empty());
        // Gemeente and wijk rows alone give no signal rows.
        let only_totals = table(vec![
            value("I01", Level::Gemeente, "GM0001", "GM0001", 5, 100),
            value("I01", Level::Wijk, "WK0001", "GM0001", 5, 100),
        ]);
        assert!(compute_signals(&only_totals, None, &SignalConfig::default()).is_empty());
    }

    #[test]
    fn denominator_zero_buurt() {
        let rows = compute_signals(
            &table(vec![
                buurt("I01", "BUA", "GM0001", 10, 1000),
                buurt("I01", "BUB", "GM0001", 30, 1000),
                buurt("I01", "BUC", "GM0001", 0, 0),
                // BUD has only another indicator: I01 counts as 0 / 0.
                buurt("I02", "BUD", "GM0001", 1, 10),
            ]),
            None,
            &SignalConfig::default(),
        );
        assert_eq!(rows.len(), 4);
        for code in ["BUC", "BUD"] {
            let s = ind(row(&rows, code), "I01");
            assert_eq!((s.numerator, s.denominator), (0, 0));
            assert_eq!(s.rate, None);
            assert_eq!(s.shrunk_rate, None);
            assert_eq!(s.shrinkage_weight, None);
            assert_eq!(s.percentile, None);
            assert_eq!(s.ratio_to_municipal, None);
            assert_eq!(s.robust_z, None);
            assert!(!s.above_p90);
        }
        // Only A and B are ranked: 25 and 75; municipal 40/2000 = 20.
        let a = ind(row(&rows, "BUA"), "I01");
        assert_eq!(a.peers, 2);
        close(a.percentile, 25.0);
        close(ind(row(&rows, "BUB"), "I01").percentile, 75.0);
        close(a.municipal_rate, 20.0);
        close(a.ratio_to_municipal, 0.5);
        // BUD has a z only on I02 (the lone buurt: z 0); BUC has none.
        close(row(&rows, "BUD").weighted_mean_z, 0.0);
        assert_eq!(row(&rows, "BUC").weighted_mean_z, None);
        // None sorts last.
        assert_eq!(rows.last().map(|r| r.buurtcode.as_str()), Some("BUC"));
    }

    #[test]
    fn gemeente_row_and_onbekend() {
        let rows = compute_signals(
            &table(vec![
                buurt("I01", "BUA", "GM0001", 10, 1000),
                buurt("I01", "BUB", "GM0001", 30, 1000),
                buurt("I01", "onbekend", "GM0001", 900, 1000),
                buurt("I01", "onbekend", "onbekend", 900, 1000),
                // Includes the onbekend records of the gemeente: 940/3000.
                value("I01", Level::Gemeente, "GM0001", "GM0001", 940, 3000),
            ]),
            None,
            &SignalConfig::default(),
        );
        let codes: Vec<&str> = rows.iter().map(|r| r.buurtcode.as_str()).collect();
        assert_eq!(codes, ["BUB", "BUA"]);
        let b = ind(row(&rows, "BUB"), "I01");
        assert!(b.municipal_from_gemeente_row);
        assert_eq!(
            (b.municipal_numerator, b.municipal_denominator),
            (940, 3000)
        );
        close(b.municipal_rate, 940.0 / 3.0);
        close(b.ratio_to_municipal, 30.0 / (940.0 / 3.0));
        assert_eq!(b.peers, 2);
        close(b.percentile, 75.0);
    }

    #[test]
    fn several_gemeenten_are_ranked_separately() {
        let mut values = Vec::new();
        for i in 1..=6i64 {
            // GM0001: 10…60 per 1,000, buurtcodes sorting after GM0002's.
            values.push(buurt("I01", &format!("BUZ{i}"), "GM0001", 10 * i, 1000));
            // GM0002: 100…600 per 1,000.
            values.push(buurt("I01", &format!("BUA{i}"), "GM0002", 100 * i, 1000));
        }
        let rows = compute_signals(&table(values), None, &SignalConfig::default());
        let gemeenten: Vec<&str> = rows.iter().map(|r| r.gemeentecode.as_str()).collect();
        assert_eq!(
            gemeenten,
            ["GM0001"; 6]
                .iter()
                .chain(["GM0002"; 6].iter())
                .copied()
                .collect::<Vec<_>>()
        );
        // The top of each gemeente is at (5 + 1/2)/6, whatever the other does.
        let z6 = ind(row(&rows, "BUZ6"), "I01");
        let a6 = ind(row(&rows, "BUA6"), "I01");
        close(z6.percentile, 100.0 * 5.5 / 6.0);
        close(a6.percentile, 100.0 * 5.5 / 6.0);
        assert!(z6.above_p90 && a6.above_p90);
        assert_eq!(z6.peers, 6);
        close(z6.municipal_rate, 35.0); // 210/6000
        close(a6.municipal_rate, 350.0); // 2100/6000
        // z: median 35, MAD median(25,15,5,5,15,25) = 15 → 25/(1.4826 × 15).
        close(z6.robust_z, 25.0 / 22.239);
        close(a6.robust_z, 250.0 / 222.39);
        assert_eq!(rows[0].buurtcode, "BUZ6");
        assert_eq!(rows[6].buurtcode, "BUA6");
    }

    #[test]
    fn rows_serialize_without_nan_and_suppression_can_be_marked() {
        let mut rows = compute_signals(&table(ten_buurten()), None, &SignalConfig::default());
        let json = serde_json::to_string(&rows).expect("serialize");
        assert!(!json.contains("NaN"));
        let value = serde_json::to_value(&rows).expect("to value");
        let back: Vec<SignalRow> = serde_json::from_value(value).expect("deserialize");
        assert_eq!(back, rows);
        let config: SignalConfig = serde_json::from_str("{}").expect("defaults");
        assert_eq!(config, SignalConfig::default());
        let top = &mut rows[0];
        assert!(top.mark_suppressed("I02"));
        assert!(ind(top, "I02").suppressed);
        assert!(
            top.drivers
                .iter()
                .any(|d| d.indicator == "I02" && d.suppressed)
        );
        assert!(!top.mark_suppressed("I99"));
    }
}
