//! Differencing (issue 4): two inputs that differ by exactly one unit (a
//! person; separately, a business) in one buurt — so the buurt, its wijk and
//! its gemeente each count one more, in numerator and denominator, and
//! their keys move by that unit's secret key. Over many draws of the record
//! keys, the released values with and without the unit must be as close as
//! the perturbation table says: for each released count the total
//! variation distance is the table's documented bound (10/32 for the
//! default table), and for several cells at once it is the exact distance
//! between the product distributions, computed from the table.

use std::collections::HashMap;

use knooppunt_core::{Level, PrivacyUnit};
use knooppunt_privacy::{CellInput, PerturbationTable, ReleaseConfig, release};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DRAWS: usize = 30_000;

/// True (numerator, denominator) per buurt: two wijken of three buurten.
struct Setup {
    unit: PrivacyUnit,
    buurten: [(i64, i64); 6],
}

const WIJK: [&str; 2] = ["WK000100", "WK000101"];

fn buurt_code(i: usize) -> String {
    format!("BU0001{:02}{:02}", i / 3, i % 3)
}

fn cell(
    setup: &Setup,
    level: Level,
    code: &str,
    wijk: &str,
    num: (i64, i64),
    den: (i64, i64),
) -> CellInput {
    CellInput {
        indicator: "X01".to_owned(),
        denominator_group: "units".to_owned(),
        level,
        code: code.to_owned(),
        wijkcode: wijk.to_owned(),
        gemeentecode: "GM0001".to_owned(),
        numerator: num.0,
        denominator: den.0,
        numerator_support: num.0,
        denominator_support: den.0,
        numerator_unit: setup.unit,
        denominator_unit: setup.unit,
        numerator_key: num.1,
        denominator_key: den.1,
        numerator_dominance: None,
    }
}

/// One draw of the record keys; `with` adds the target unit (in numerator
/// and denominator of buurt 0). Returns the released numerator and
/// denominator of buurt 0, wijk 0 and the gemeente.
fn draw(setup: &Setup, rng: &mut ChaCha8Rng, with: bool) -> [i64; 6] {
    let target_key = i64::from(rng.random::<u32>());
    let mut cells = Vec::new();
    let mut wijken = [((0, 0), (0, 0)); 2];
    for (i, &(n, d)) in setup.buurten.iter().enumerate() {
        // The numerator's units are among the denominator's. The key of a
        // set of units is the sum of their keys; every other unit's key is
        // uniform, so "the rest" of a set is summarised by one uniform draw
        // (its sum is uniform modulo 2^32 too).
        let num_key = i64::from(rng.random::<u32>());
        let den_key = num_key + i64::from(rng.random::<u32>());
        let (mut num, mut den) = ((n, num_key), (d, den_key));
        if with && i == 0 {
            num = (num.0 + 1, num.1 + target_key);
            den = (den.0 + 1, den.1 + target_key);
        }
        cells.push(cell(
            setup,
            Level::Buurt,
            &buurt_code(i),
            WIJK[i / 3],
            num,
            den,
        ));
        let w = &mut wijken[i / 3];
        w.0 = (w.0.0 + num.0, w.0.1 + num.1);
        w.1 = (w.1.0 + den.0, w.1.1 + den.1);
    }
    for (j, w) in wijken.iter().enumerate() {
        cells.push(cell(setup, Level::Wijk, WIJK[j], WIJK[j], w.0, w.1));
    }
    let g = (
        (wijken[0].0.0 + wijken[1].0.0, wijken[0].0.1 + wijken[1].0.1),
        (wijken[0].1.0 + wijken[1].1.0, wijken[0].1.1 + wijken[1].1.1),
    );
    cells.push(cell(setup, Level::Gemeente, "GM0001", "GM0001", g.0, g.1));
    let rel = release(&cells, &ReleaseConfig::default()).expect("releases");
    let get = |level: Level, code: &str| {
        let c = rel
            .cells
            .iter()
            .find(|c| c.level == level && c.code == code)
            .expect("cell present");
        (
            c.numerator.value().expect("numerator released"),
            c.denominator.value().expect("denominator released"),
        )
    };
    let (b, w, g) = (
        get(Level::Buurt, &buurt_code(0)),
        get(Level::Wijk, WIJK[0]),
        get(Level::Gemeente, "GM0001"),
    );
    [b.0, w.0, g.0, b.1, w.1, g.1]
}

fn empirical_tv(a: &[Vec<i64>], b: &[Vec<i64>]) -> f64 {
    let mut counts: HashMap<&Vec<i64>, (f64, f64)> = HashMap::new();
    for x in a {
        counts.entry(x).or_default().0 += 1.0 / a.len() as f64;
    }
    for x in b {
        counts.entry(x).or_default().1 += 1.0 / b.len() as f64;
    }
    counts.values().map(|(p, q)| (p - q).abs()).sum::<f64>() / 2.0
}

/// Exact TV between the product of the released distributions of `values`
/// and of `values + 1` (independent cell keys).
fn exact_joint_tv(table: &PerturbationTable, values: &[i64]) -> f64 {
    fn product(table: &PerturbationTable, values: &[i64]) -> HashMap<Vec<i64>, f64> {
        let mut out: HashMap<Vec<i64>, f64> = HashMap::from([(Vec::new(), 1.0)]);
        for &v in values {
            let mut next = HashMap::new();
            for (prefix, p) in &out {
                for (x, q) in table.released_distribution(v) {
                    let mut key = prefix.clone();
                    key.push(x);
                    *next.entry(key).or_insert(0.0) += p * q;
                }
            }
            out = next;
        }
        out
    }
    let without = product(table, values);
    let plus: Vec<i64> = values.iter().map(|v| v + 1).collect();
    let with = product(table, &plus);
    let mut keys: Vec<&Vec<i64>> = without.keys().chain(with.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.iter()
        .map(|k| (without.get(*k).unwrap_or(&0.0) - with.get(*k).unwrap_or(&0.0)).abs())
        .sum::<f64>()
        / 2.0
}

fn check(setup: &Setup, seed: u64) {
    let table = PerturbationTable::default();
    let k = i64::from(
        ReleaseConfig::default()
            .validate()
            .expect("valid")
            .k(setup.unit),
    );
    let bound = table.differencing_bound(k);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let without: Vec<[i64; 6]> = (0..DRAWS).map(|_| draw(setup, &mut rng, false)).collect();
    let with: Vec<[i64; 6]> = (0..DRAWS).map(|_| draw(setup, &mut rng, true)).collect();
    let b = setup.buurten;
    let true_without = [
        b[0].0,
        b[0].0 + b[1].0 + b[2].0,
        b.iter().map(|x| x.0).sum(),
        b[0].1,
        b[0].1 + b[1].1 + b[2].1,
        b.iter().map(|x| x.1).sum(),
    ];
    // Each released number on its own: TV equals the table's value and
    // stays within the documented bound.
    for i in 0..6 {
        let a: Vec<Vec<i64>> = without.iter().map(|r| vec![r[i]]).collect();
        let c: Vec<Vec<i64>> = with.iter().map(|r| vec![r[i]]).collect();
        let measured = empirical_tv(&a, &c);
        let exact = table.total_variation(true_without[i], true_without[i] + 1);
        assert!(
            (measured - exact).abs() < 0.03,
            "cell {i}: measured {measured}, exact {exact}"
        );
        assert!(
            measured <= bound + 0.03,
            "cell {i}: measured {measured} above bound {bound}"
        );
        // Unbiased: the mean released value is the true value.
        let mean = without.iter().map(|r| r[i] as f64).sum::<f64>() / DRAWS as f64;
        assert!(
            (mean - true_without[i] as f64).abs() < 0.05,
            "cell {i}: mean {mean}"
        );
    }
    // The three numerators together (buurt, wijk, gemeente, whose keys all
    // move by the same unit key): the exact distance of the products.
    let a: Vec<Vec<i64>> = without.iter().map(|r| r[..3].to_vec()).collect();
    let c: Vec<Vec<i64>> = with.iter().map(|r| r[..3].to_vec()).collect();
    let measured = empirical_tv(&a, &c);
    let exact = exact_joint_tv(&table, &true_without[..3]);
    assert!(
        (measured - exact).abs() < 0.05,
        "joint: measured {measured}, exact {exact}"
    );
    assert!(exact <= 1.0 - (1.0 - bound).powi(3) + 1e-12);
}

/// One person more or less (k = 10 for persons).
#[test]
fn one_person_more_is_hidden_within_the_table_bound() {
    let setup = Setup {
        unit: PrivacyUnit::Person,
        buurten: [
            (25, 400),
            (31, 520),
            (18, 300),
            (40, 610),
            (22, 350),
            (35, 480),
        ],
    };
    check(&setup, 41);
}

/// One business more or less (k = 3 for companies).
#[test]
fn one_business_more_is_hidden_within_the_table_bound() {
    let setup = Setup {
        unit: PrivacyUnit::Company,
        buurten: [(4, 30), (6, 41), (3, 12), (9, 55), (5, 26), (7, 33)],
    };
    check(&setup, 42);
}
