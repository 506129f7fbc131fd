//! Seeded synthetic indicator inputs: gemeenten, wijken and buurten with
//! exactly additive counts and record-key sums, many small cells, the real
//! twelve indicators with their shared denominators, an `onbekend` chain
//! and optionally a sum indicator (koopsom) for the dominance rule.

use knooppunt_core::{Level, PrivacyUnit};
use knooppunt_privacy::{CellInput, Contributions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Shape of a synthetic release.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// Number of gemeenten.
    pub(crate) gemeenten: usize,
    /// Wijken per gemeente (inclusive range).
    pub(crate) wijken: (usize, usize),
    /// Buurten per wijk (inclusive range).
    pub(crate) buurten: (usize, usize),
    /// Share of tiny buurten (a few inhabitants).
    pub(crate) tiny_share: f64,
    /// Add the sum indicator `S01` (koopsom, with dominance contributions).
    pub(crate) with_sum: bool,
}

impl Spec {
    /// A few gemeenten, for the audits.
    pub(crate) fn small() -> Spec {
        Spec {
            gemeenten: 3,
            wijken: (1, 5),
            buurten: (1, 6),
            tiny_share: 0.3,
            with_sum: true,
        }
    }

    /// The national shape: 342 gemeenten, ≈3,300 wijken, ≈14,000 buurten.
    #[allow(dead_code, reason = "used by the benchmark")]
    pub(crate) fn national() -> Spec {
        Spec {
            gemeenten: 342,
            wijken: (1, 18),
            buurten: (1, 7),
            tiny_share: 0.15,
            with_sum: false,
        }
    }
}

/// (indicator, denominator group, numerator unit, denominator unit, maximum
/// rate as a fraction of the denominator).
pub(crate) const INDICATORS: [(&str, &str, PrivacyUnit, PrivacyUnit, f64); 12] = [
    (
        "I01",
        "active_establishments",
        PrivacyUnit::Company,
        PrivacyUnit::Company,
        0.3,
    ),
    (
        "I02",
        "establishment_addresses",
        PrivacyUnit::Address,
        PrivacyUnit::Address,
        0.05,
    ),
    (
        "I03",
        "active_establishments",
        PrivacyUnit::Company,
        PrivacyUnit::Company,
        0.2,
    ),
    (
        "I04",
        "inhabitants",
        PrivacyUnit::Person,
        PrivacyUnit::Person,
        0.02,
    ),
    (
        "I05",
        "residential_addresses",
        PrivacyUnit::Address,
        PrivacyUnit::Address,
        0.03,
    ),
    (
        "I06",
        "energy_addresses",
        PrivacyUnit::Address,
        PrivacyUnit::Address,
        0.02,
    ),
    (
        "I07",
        "inhabitants",
        PrivacyUnit::Report,
        PrivacyUnit::Person,
        0.03,
    ),
    ("I08", "sales", PrivacyUnit::Address, PrivacyUnit::Sale, 0.1),
    ("I09", "sales", PrivacyUnit::Company, PrivacyUnit::Sale, 0.1),
    (
        "I10",
        "addresses",
        PrivacyUnit::Address,
        PrivacyUnit::Address,
        0.01,
    ),
    (
        "I11",
        "addresses",
        PrivacyUnit::Address,
        PrivacyUnit::Address,
        0.04,
    ),
    (
        "I12",
        "registrations",
        PrivacyUnit::Person,
        PrivacyUnit::Person,
        0.03,
    ),
];

const GROUPS: [(&str, PrivacyUnit, f64); 8] = [
    ("active_establishments", PrivacyUnit::Company, 0.1),
    ("establishment_addresses", PrivacyUnit::Address, 0.07),
    ("inhabitants", PrivacyUnit::Person, 1.0),
    ("residential_addresses", PrivacyUnit::Address, 0.45),
    ("energy_addresses", PrivacyUnit::Address, 0.4),
    ("sales", PrivacyUnit::Sale, 0.03),
    ("addresses", PrivacyUnit::Address, 0.5),
    ("registrations", PrivacyUnit::Person, 1.02),
];

/// Additive figures of one area for one count.
#[derive(Debug, Clone, Copy, Default)]
struct Count {
    value: i64,
    support: i64,
    key: i64,
}

impl Count {
    fn add(&mut self, o: &Count) {
        self.value += o.value;
        self.support += o.support;
        self.key += o.key;
    }
}

/// Everything of one area.
#[derive(Debug, Clone, Default)]
struct Figures {
    groups: Vec<Count>,
    numerators: Vec<Count>,
    sum: Count,
    top2: (i64, i64),
}

impl Figures {
    fn add(&mut self, o: &Figures) {
        if self.groups.is_empty() {
            *self = o.clone();
            return;
        }
        for (a, b) in self.groups.iter_mut().zip(&o.groups) {
            a.add(b);
        }
        for (a, b) in self.numerators.iter_mut().zip(&o.numerators) {
            a.add(b);
        }
        self.sum.add(&o.sum);
        let mut all = [self.top2.0, self.top2.1, o.top2.0, o.top2.1];
        all.sort_unstable_by(|x, y| y.cmp(x));
        self.top2 = (all[0], all[1]);
    }
}

/// A key sum with a uniform residue modulo 2^32 for `count` records.
fn key_sum(rng: &mut ChaCha8Rng, count: i64) -> i64 {
    if count == 0 {
        0
    } else {
        (count - 1) * (1 << 31) + i64::from(rng.random::<u32>())
    }
}

fn count(rng: &mut ChaCha8Rng, value: i64, support_share: f64) -> Count {
    let support = if value == 0 {
        0
    } else {
        ((value as f64 * support_share).ceil() as i64).max(1)
    };
    Count {
        value,
        support,
        key: key_sum(rng, value),
    }
}

fn buurt(rng: &mut ChaCha8Rng, tiny: bool) -> Figures {
    let size: f64 = if tiny {
        rng.random_range(0.0..25.0)
    } else {
        rng.random_range(40.0..4000.0)
    };
    let groups: Vec<Count> = GROUPS
        .iter()
        .map(|(name, _, factor)| {
            let v = (size * factor * rng.random_range(0.8..1.2)).round() as i64;
            let share = if *name == "active_establishments" {
                0.9
            } else {
                1.0
            };
            count(rng, v, share)
        })
        .collect();
    let numerators = INDICATORS
        .iter()
        .map(|(id, group, _, _, rate)| {
            let g = GROUPS.iter().position(|(n, _, _)| n == group).unwrap_or(0);
            let den = groups[g].value;
            let max = (den as f64 * rate * rng.random_range(0.0..2.0)).round() as i64;
            let v = if rng.random_bool(0.3) {
                rng.random_range(0..=max.min(3))
            } else {
                max
            };
            let share = if *id == "I03" { 0.7 } else { 1.0 };
            count(rng, v, share)
        })
        .collect();
    let sales = groups[5];
    let mut prices: Vec<i64> = (0..sales.value)
        .map(|_| {
            if rng.random_bool(0.02) {
                rng.random_range(8_000_000..40_000_000)
            } else {
                rng.random_range(150_000..900_000)
            }
        })
        .collect();
    // Now and then an office tower: one sale dominating the buurt's koopsom.
    if let Some(first) = prices.first_mut()
        && rng.random_bool(0.2)
    {
        *first = rng.random_range(100_000_000..300_000_000);
    }
    prices.sort_unstable_by(|a, b| b.cmp(a));
    let total: i64 = prices.iter().sum();
    Figures {
        groups,
        numerators,
        sum: Count {
            value: total,
            support: sales.support,
            key: sales.key,
        },
        top2: (
            prices.first().copied().unwrap_or(0),
            prices.get(1).copied().unwrap_or(0),
        ),
    }
}

fn cells_of(
    spec: &Spec,
    out: &mut Vec<CellInput>,
    level: Level,
    code: &str,
    wijkcode: &str,
    gemeentecode: &str,
    f: &Figures,
) {
    for (i, (id, group, nu, du, _)) in INDICATORS.iter().enumerate() {
        let g = GROUPS.iter().position(|(n, _, _)| n == group).unwrap_or(0);
        out.push(CellInput {
            indicator: (*id).to_owned(),
            denominator_group: (*group).to_owned(),
            level,
            code: code.to_owned(),
            wijkcode: wijkcode.to_owned(),
            gemeentecode: gemeentecode.to_owned(),
            numerator: f.numerators[i].value,
            denominator: f.groups[g].value,
            numerator_support: f.numerators[i].support,
            denominator_support: f.groups[g].support,
            numerator_unit: *nu,
            denominator_unit: *du,
            numerator_key: f.numerators[i].key,
            denominator_key: f.groups[g].key,
            numerator_dominance: None,
        });
    }
    if spec.with_sum {
        let sales = f.groups[5];
        out.push(CellInput {
            indicator: "S01".to_owned(),
            denominator_group: "sales".to_owned(),
            level,
            code: code.to_owned(),
            wijkcode: wijkcode.to_owned(),
            gemeentecode: gemeentecode.to_owned(),
            numerator: f.sum.value,
            denominator: sales.value,
            numerator_support: f.sum.support,
            denominator_support: sales.support,
            numerator_unit: PrivacyUnit::Sale,
            denominator_unit: PrivacyUnit::Sale,
            numerator_key: f.sum.key,
            denominator_key: sales.key,
            numerator_dominance: Some(Contributions {
                total: f.sum.value,
                largest: f.top2.0,
                second_largest: f.top2.1,
            }),
        });
    }
}

/// Generates every cell (all indicators × buurten, wijken, gemeenten and the
/// `onbekend` chain) for a seed.
pub(crate) fn generate(seed: u64, spec: &Spec) -> Vec<CellInput> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    for g in 0..spec.gemeenten {
        let gm = format!("GM{:04}", g + 1);
        let mut gf = Figures::default();
        let wijken = rng.random_range(spec.wijken.0..=spec.wijken.1);
        for w in 0..wijken {
            let wk = format!("WK{:04}{:02}", g + 1, w);
            let mut wf = Figures::default();
            let buurten = rng.random_range(spec.buurten.0..=spec.buurten.1);
            for b in 0..buurten {
                let bu = format!("BU{:04}{:02}{:02}", g + 1, w, b);
                let tiny = rng.random_bool(spec.tiny_share);
                let bf = buurt(&mut rng, tiny);
                cells_of(spec, &mut out, Level::Buurt, &bu, &wk, &gm, &bf);
                wf.add(&bf);
            }
            cells_of(spec, &mut out, Level::Wijk, &wk, &wk, &gm, &wf);
            gf.add(&wf);
        }
        cells_of(spec, &mut out, Level::Gemeente, &gm, &gm, &gm, &gf);
    }
    // Unlinked records: the same tiny figures at all three levels.
    let onbekend = buurt(&mut rng, true);
    for level in Level::ALL {
        cells_of(
            spec, &mut out, level, "onbekend", "onbekend", "onbekend", &onbekend,
        );
    }
    out
}
