//! `energie_verbruik.csv`: yearly electricity use per residential address.
//!
//! Most residential addresses get a row for each of the two full years
//! before the peildatum. Use grows with floor area and varies log-normally;
//! a few addresses use many times the usual amount in the latest year
//! (more often in hotspots, and most often in planted overcrowded
//! dwellings). About 0.3% of the address series carry an identificatie
//! that BAG does not have (the unlinked count).
//!
//! Quirks (not clean): UTF-8 with BOM; `verbruik_kwh` always uses the
//! decimal comma (the contract's format), sometimes without decimals.

use knooppunt_core::{Rule, Source};

use crate::fmt;
use crate::invalid::{BAD_NUMBERS, Bad, Corruption, DEFAULT_RATE, Injector};
use crate::random::{self, Rand};
use crate::world::World;
use crate::writer::{CsvSink, CsvStyle, Encoding};
use crate::{Ctx, SourcePlan, SynthError};

const HEADER: [&str; 4] = [
    "adresseerbaarobject_id",
    "jaar",
    "verbruik_kwh",
    "aansluitingen",
];

static CORRUPTIONS: &[Corruption] = &[
    Corruption {
        rule: Rule::MissingRequired,
        column: 2,
        bad: Bad::Empty,
    },
    Corruption {
        rule: Rule::MissingRequired,
        column: 1,
        bad: Bad::Empty,
    },
    Corruption {
        rule: Rule::InvalidNumber,
        column: 2,
        bad: Bad::OneOf(BAD_NUMBERS),
    },
    Corruption {
        rule: Rule::InvalidNumber,
        column: 1,
        bad: Bad::OneOf(&["20x5", "abc"]),
    },
    Corruption {
        rule: Rule::InvalidCode,
        column: 0,
        bad: Bad::Digits(15),
    },
];

/// Share of address series written under an id that BAG does not have.
const DANGLING_SHARE: f64 = 0.003;

/// Dangling ids of this source start here (kept apart from other sources').
const DANGLING_BASE: u64 = 100_000_000;

fn style(clean: bool) -> CsvStyle {
    if clean {
        CsvStyle::CLEAN
    } else {
        CsvStyle {
            encoding: Encoding::Utf8Bom,
            crlf: false,
            messy_header: false,
        }
    }
}

/// Writes the energy file.
pub(crate) fn generate(ctx: &Ctx, world: &World<'_>) -> Result<SourcePlan, SynthError> {
    let path = ctx.out.join(Source::Energie.file_name());
    let mut rng = random::stream(ctx.seed, random::streams::ENERGIE);
    let mut sink = CsvSink::create(&path, style(ctx.clean), &HEADER)?;
    let mut inj = Injector::new(CORRUPTIONS, DEFAULT_RATE, ctx.clean);
    let latest = fmt::year(fmt::peildatum()) - 1;
    let mut unlinked = 0u64;
    let mut dangling = 0u64;
    for &a in &world.residential {
        if !random::chance(&mut rng, 0.93) {
            continue;
        }
        let addr = world.addrs[a as usize];
        let hot = world.is_hotspot(a);
        // The first series is always unlinked, so even tiny sets have one.
        let linked = unlinked > 0 && !random::chance(&mut rng, DANGLING_SHARE);
        // An address outside every buurt is in BAG but in no buurt: unlinked too.
        let in_buurt = linked && world.buurt_of(a).is_some();
        let id = if linked {
            world.address_id(a)
        } else {
            dangling += 1;
            world.dangling_id(DANGLING_BASE + dangling)
        };
        let base = (900.0 + 16.0 * f64::from(addr.oppervlakte)) * random::lognormal(&mut rng, 0.25);
        let anomaly = if addr.crowded() {
            0.5
        } else if hot {
            0.04
        } else {
            0.0005
        };
        let factor = if random::chance(&mut rng, anomaly) {
            random::uniform(&mut rng, 6.0, 15.0)
        } else {
            1.0
        };
        let aansluitingen = if random::chance(&mut rng, 0.05) { 2 } else { 1 };
        let years = [
            (latest - 1, base * random::uniform(&mut rng, 0.95, 1.08)),
            (latest, base * factor),
        ];
        for (jaar, kwh) in years {
            if !in_buurt {
                unlinked += 1;
            }
            let row = [
                id.clone(),
                jaar.to_string(),
                kwh_text(&mut rng, kwh, ctx.clean),
                aansluitingen.to_string(),
            ];
            sink.row(&row)?;
            if let Some(c) = inj.draw(&mut rng) {
                invalid(&mut rng, &mut sink, world, c, latest)?;
            }
        }
    }
    for c in inj.top_up() {
        invalid(&mut rng, &mut sink, world, c, latest)?;
    }
    let invalid = inj.tally();
    let rows = sink.finish()?;
    Ok(SourcePlan {
        file: Source::Energie.file_name().to_owned(),
        rows,
        invalid,
        unlinked,
    })
}

/// `kwh` with a decimal comma (one decimal, or none now and then).
fn kwh_text(rng: &mut Rand, kwh: f64, clean: bool) -> String {
    let decimals = if !clean && random::chance(rng, 0.2) {
        0
    } else {
        1
    };
    fmt::decimal(kwh.max(1.0), decimals, false)
}

/// An invalid row: a plausible address-year with one bad field.
fn invalid(
    rng: &mut Rand,
    sink: &mut CsvSink,
    world: &World<'_>,
    c: Corruption,
    latest: i32,
) -> Result<(), SynthError> {
    let a = world.any_address(rng);
    let mut row = [
        world.address_id(a),
        latest.to_string(),
        fmt::decimal(random::uniform(rng, 1000.0, 5000.0), 1, false),
        "1".to_owned(),
    ];
    c.apply(&mut row, rng);
    sink.row(&row)
}
