//! The cell-key perturbation table: which noise a count gets for a given
//! cell key.

use serde::{Deserialize, Serialize};

use crate::PrivacyError;

/// One possible noise value of a row and its probability, as a weight out of
/// [`PerturbationTable::probability_denominator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseWeight {
    /// The integer added to the true count.
    pub noise: i64,
    /// Probability × `probability_denominator`.
    pub weight: u32,
}

/// The noise distribution for true counts from `from_value` up to (not
/// including) the next row's `from_value`; the last row covers every larger
/// count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerturbationRow {
    /// Smallest true count this row applies to.
    pub from_value: i64,
    /// The noise values, ascending, with their weights.
    pub noise: Vec<NoiseWeight>,
}

/// A published perturbation table (cell-key method).
///
/// A cell's key `K` (the sum of its units' record keys, reduced modulo
/// 2³²) selects the noise: the bucket `⌊K · d / 2³²⌋` (with `d` the
/// probability denominator) is looked up in the cumulative weights of the
/// row for the cell's true count. Because record keys are uniform and
/// secret, `K` is uniform on `[0, 2³²)`, so each noise value occurs with
/// exactly its weight / `d` (exactly, when `d` is a power of two).
///
/// [`PerturbationTable::validate`] enforces what makes a table publishable:
/// every row has mean exactly 0; an empty cell (count 0) gets no noise; a
/// positive count never becomes 0 or negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerturbationTable {
    /// Identifier of the table, recorded with every release.
    pub id: String,
    /// The weights of every row sum to this.
    pub probability_denominator: u32,
    /// Rows by ascending `from_value`; the first starts at 0.
    pub rows: Vec<PerturbationRow>,
}

/// Summary statistics of one row, for documentation and audit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RowStatistics {
    /// Smallest true count the row applies to.
    pub from_value: i64,
    /// Mean noise (0 for every valid table).
    pub mean: f64,
    /// Variance of the noise.
    pub variance: f64,
    /// Largest absolute noise.
    pub max_abs_noise: i64,
    /// Probability that the count is released unchanged.
    pub p_unchanged: f64,
}

fn w(noise: i64, weight: u32) -> NoiseWeight {
    NoiseWeight { noise, weight }
}

impl Default for PerturbationTable {
    fn default() -> Self {
        PerturbationTable::knooppunt_v1()
    }
}

impl PerturbationTable {
    /// The default table `knooppunt-ckm-v1` (probabilities in 32nds):
    ///
    /// | true count | −2 | −1 | 0 | +1 | +2 | mean | variance |
    /// |---|---|---|---|---|---|---|---|
    /// | 0, 1 | | | 32 | | | 0 | 0 |
    /// | 2 | | 10 | 14 | 6 | 2 | 0 | 0.75 |
    /// | ≥ 3 | 2 | 9 | 10 | 9 | 2 | 0 | 1.0625 |
    pub fn knooppunt_v1() -> PerturbationTable {
        PerturbationTable {
            id: "knooppunt-ckm-v1".to_owned(),
            probability_denominator: 32,
            rows: vec![
                PerturbationRow {
                    from_value: 0,
                    noise: vec![w(0, 32)],
                },
                PerturbationRow {
                    from_value: 2,
                    noise: vec![w(-1, 10), w(0, 14), w(1, 6), w(2, 2)],
                },
                PerturbationRow {
                    from_value: 3,
                    noise: vec![w(-2, 2), w(-1, 9), w(0, 10), w(1, 9), w(2, 2)],
                },
            ],
        }
    }

    /// Checks that the table is publishable: weights positive and summing to
    /// the denominator, noise values ascending, mean exactly 0 per row, no
    /// noise on count 0, no positive count perturbed to 0 or below.
    pub fn validate(&self) -> Result<(), PrivacyError> {
        let bad = |rule: &'static str| {
            Err(PrivacyError::InvalidPerturbationTable {
                id: self.id.clone(),
                rule,
            })
        };
        if self.id.is_empty() {
            return bad("has an empty id");
        }
        if self.probability_denominator == 0 || self.probability_denominator > 1 << 20 {
            return bad("probability_denominator must be between 1 and 2^20");
        }
        if self.rows.first().map(|r| r.from_value) != Some(0) {
            return bad("the first row must start at count 0");
        }
        if self
            .rows
            .windows(2)
            .any(|p| p[0].from_value >= p[1].from_value)
        {
            return bad("rows must have strictly ascending from_value");
        }
        for row in &self.rows {
            if row.noise.is_empty() || row.noise.iter().any(|n| n.weight == 0) {
                return bad("every row needs noise values with positive weights");
            }
            if row.noise.windows(2).any(|p| p[0].noise >= p[1].noise) {
                return bad("noise values in a row must be strictly ascending");
            }
            if row.noise.iter().any(|n| n.noise.abs() > 1000) {
                return bad("noise values must be small (|noise| <= 1000)");
            }
            let total: u64 = row.noise.iter().map(|n| u64::from(n.weight)).sum();
            if total != u64::from(self.probability_denominator) {
                return bad("the weights of a row must sum to probability_denominator");
            }
            let moment: i128 = row
                .noise
                .iter()
                .map(|n| i128::from(n.noise) * i128::from(n.weight))
                .sum();
            if moment != 0 {
                return bad("every row must have mean noise exactly 0");
            }
            let min_noise = row.noise.iter().map(|n| n.noise).min().unwrap_or(0);
            if row.from_value == 0 {
                // The row covers count 0 (which must stay exactly 0) and
                // possibly small positive counts (which must stay positive):
                // only noise 0 satisfies both with mean 0.
                if row.noise.len() != 1 || row.noise[0].noise != 0 {
                    return bad("counts of 0 must get no noise");
                }
            } else if row.from_value + min_noise < 1 {
                return bad("a positive count must never be perturbed to 0 or below");
            }
        }
        Ok(())
    }

    /// The row for a true count.
    fn row(&self, value: i64) -> Option<&PerturbationRow> {
        self.rows.iter().rev().find(|r| r.from_value <= value)
    }

    /// The noise for a true count `value` and a cell key (the sum of the
    /// cell's record keys; only its residue modulo 2³² is used). Zero for
    /// count 0 and for negative counts (which validated input never has).
    pub fn noise(&self, value: i64, key: i64) -> i64 {
        let Some(row) = self.row(value) else {
            return 0;
        };
        // rem_euclid keeps the residue in [0, 2^32) even for a negative sum.
        let key = key.rem_euclid(1 << 32) as u64;
        let bucket = (key * u64::from(self.probability_denominator)) >> 32;
        let mut cumulative = 0u64;
        for n in &row.noise {
            cumulative += u64::from(n.weight);
            if bucket < cumulative {
                return n.noise;
            }
        }
        // Unreachable for a validated table (weights sum to the denominator).
        0
    }

    /// The released value of a true count with a cell key.
    pub fn perturb(&self, value: i64, key: i64) -> i64 {
        value + self.noise(value, key)
    }

    /// The distribution of the released value of a true count, as
    /// `(released value, probability)` pairs in ascending order.
    pub fn released_distribution(&self, value: i64) -> Vec<(i64, f64)> {
        let d = f64::from(self.probability_denominator);
        match self.row(value) {
            Some(row) => row
                .noise
                .iter()
                .map(|n| (value + n.noise, f64::from(n.weight) / d))
                .collect(),
            None => vec![(value, 1.0)],
        }
    }

    /// Exact total variation distance between the released distributions of
    /// true counts `a` and `b` (keys uniform): how well one release can tell
    /// `a` from `b` at best.
    pub fn total_variation(&self, a: i64, b: i64) -> f64 {
        let pa = self.released_distribution(a);
        let pb = self.released_distribution(b);
        let mut values: Vec<i64> = pa.iter().chain(pb.iter()).map(|(v, _)| *v).collect();
        values.sort_unstable();
        values.dedup();
        let p = |dist: &[(i64, f64)], v: i64| {
            dist.iter().find(|(x, _)| *x == v).map_or(0.0, |(_, q)| *q)
        };
        values
            .iter()
            .map(|&v| (p(&pa, v) - p(&pb, v)).abs())
            .sum::<f64>()
            / 2.0
    }

    /// The documented differencing bound: the largest total variation
    /// distance between the released values of counts `v` and `v + 1`, over
    /// every `v >= min_count` (pass the smallest `k`: a positive count below
    /// `k` is never released). For `knooppunt-ckm-v1` and `k >= 3` this is
    /// 10/32 = 0.3125.
    pub fn differencing_bound(&self, min_count: i64) -> f64 {
        let last = self.rows.last().map_or(0, |r| r.from_value);
        (min_count.max(0)..=last.max(min_count) + 1)
            .map(|v| self.total_variation(v, v + 1))
            .fold(0.0, f64::max)
    }

    /// Mean, variance, largest deviation and probability of no change for
    /// every row.
    pub fn statistics(&self) -> Vec<RowStatistics> {
        let d = f64::from(self.probability_denominator);
        self.rows
            .iter()
            .map(|row| {
                let p = |n: &NoiseWeight| f64::from(n.weight) / d;
                let mean: f64 = row.noise.iter().map(|n| p(n) * n.noise as f64).sum();
                let variance = row
                    .noise
                    .iter()
                    .map(|n| p(n) * (n.noise as f64 - mean).powi(2))
                    .sum();
                RowStatistics {
                    from_value: row.from_value,
                    mean,
                    variance,
                    max_abs_noise: row.noise.iter().map(|n| n.noise.abs()).max().unwrap_or(0),
                    p_unchanged: row.noise.iter().filter(|n| n.noise == 0).map(p).sum(),
                }
            })
            .collect()
    }

    /// The table as Markdown (for the README and the release notes): one line
    /// per row with the probability of each noise value, its mean, variance
    /// and largest deviation, followed by the differencing bound for `k = 3`.
    pub fn to_markdown(&self) -> String {
        let mut noises: Vec<i64> = self
            .rows
            .iter()
            .flat_map(|r| r.noise.iter().map(|n| n.noise))
            .collect();
        noises.sort_unstable();
        noises.dedup();
        let mut out = format!(
            "Perturbation table `{}` (probabilities out of {}):\n\n| true count |",
            self.id, self.probability_denominator
        );
        for n in &noises {
            out.push_str(&format!(" {n:+} |"));
        }
        out.push_str(" mean | variance | max abs noise |\n|---|");
        for _ in &noises {
            out.push_str("---|");
        }
        out.push_str("---|---|---|\n");
        let stats = self.statistics();
        for (i, row) in self.rows.iter().enumerate() {
            let range = match self.rows.get(i + 1) {
                Some(next) if next.from_value == row.from_value + 1 => row.from_value.to_string(),
                Some(next) => format!("{}–{}", row.from_value, next.from_value - 1),
                None => format!("≥ {}", row.from_value),
            };
            out.push_str(&format!("| {range} |"));
            for n in &noises {
                match row.noise.iter().find(|x| x.noise == *n) {
                    Some(x) => out.push_str(&format!(" {} |", x.weight)),
                    None => out.push_str(" |"),
                }
            }
            let s = &stats[i];
            out.push_str(&format!(
                " {:.4} | {:.4} | {} |\n",
                s.mean.abs(),
                s.variance,
                s.max_abs_noise
            ));
        }
        out.push_str(&format!(
            "\nDifferencing bound (total variation between the released values of \
             counts v and v + 1, any v >= 3): {:.4}\n",
            self.differencing_bound(3)
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_table_is_valid_and_documented() {
        let t = PerturbationTable::default();
        t.validate().expect("default table valid");
        let s = t.statistics();
        assert_eq!(s.len(), 3);
        assert!(s.iter().all(|r| r.mean.abs() < 1e-12));
        assert!((s[1].variance - 0.75).abs() < 1e-12);
        assert!((s[2].variance - 1.0625).abs() < 1e-12);
        assert_eq!(s[2].max_abs_noise, 2);
        assert!((t.differencing_bound(3) - 10.0 / 32.0).abs() < 1e-12);
        let md = t.to_markdown();
        assert!(
            md.contains("| ≥ 3 | 2 | 9 | 10 | 9 | 2 | 0.0000 | 1.0625 | 2 |"),
            "{md}"
        );
    }

    #[test]
    fn lookup_follows_the_weights_exactly() {
        let t = PerturbationTable::default();
        // Count every bucket of the key space at 2^27 granularity: each
        // 32nd of [0, 2^32) is 2^27 keys.
        let mut counts = std::collections::BTreeMap::new();
        for bucket in 0..32i64 {
            let key = bucket << 27;
            *counts.entry(t.noise(10, key)).or_insert(0) += 1;
            // The last key of the bucket falls in the same bucket.
            assert_eq!(t.noise(10, key), t.noise(10, key + (1 << 27) - 1));
        }
        let expected: std::collections::BTreeMap<i64, i32> =
            [(-2, 2), (-1, 9), (0, 10), (1, 9), (2, 2)]
                .into_iter()
                .collect();
        assert_eq!(counts, expected);
    }

    #[test]
    fn never_negative_never_zeroed_and_zero_stays_zero() {
        let t = PerturbationTable::default();
        for v in 0..50 {
            for bucket in 0..32i64 {
                let key = (bucket << 27) + 12345;
                let r = t.perturb(v, key);
                assert!(r >= 0);
                assert_eq!(r == 0, v == 0);
            }
        }
        // Only the residue modulo 2^32 matters.
        assert_eq!(t.noise(7, 5), t.noise(7, 5 + (1 << 32)));
        assert_eq!(t.noise(7, -1), t.noise(7, (1 << 32) - 1));
    }

    #[test]
    fn invalid_tables_are_refused() {
        let mut t = PerturbationTable::default();
        t.rows[2].noise[0].noise = -3;
        assert!(t.validate().is_err(), "mean not zero");
        let mut t = PerturbationTable::default();
        t.rows[1].noise = vec![w(-2, 1), w(0, 30), w(2, 1)];
        assert!(t.validate().is_err(), "2 - 2 = 0");
        let mut t = PerturbationTable::default();
        t.rows[0].noise = vec![w(-1, 16), w(1, 16)];
        assert!(t.validate().is_err(), "zero must stay zero");
        let mut t = PerturbationTable::default();
        t.rows[2].noise[2].weight = 11;
        assert!(t.validate().is_err(), "weights must sum up");
    }
}
