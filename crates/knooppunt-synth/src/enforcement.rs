//! `handhaving_zaken.csv`: enforcement and Bibob cases.
//!
//! A few hundred cases over two years at scale 1, half of them in hotspot
//! buurten, where closures under the Opiumwet and the Wet Victoria are
//! far more common. Finished cases have a `datum_einde` on or after the
//! start; `uitkomst` is always filled ("In behandeling" while open). About
//! 2% of cases carry an identificatie that BAG does not have (the unlinked
//! count).
//!
//! Quirks (not clean): Windows-1252 (outcomes such as "Overtreding
//! beëindigd"), `\r\n`, dates `yyyy-mm-dd`.

use knooppunt_core::{Rule, Source};

use crate::fmt::{self, DateStyle, Day, HISTORY_DAYS};
use crate::invalid::{BAD_DATES, Bad, Corruption, DEFAULT_RATE, Injector};
use crate::random::{self, Rand};
use crate::world::World;
use crate::writer::{CsvSink, CsvStyle, Encoding};
use crate::{Ctx, SourcePlan, SynthError};

const HEADER: [&str; 6] = [
    "zaak_id",
    "adresseerbaarobject_id",
    "soort",
    "datum_start",
    "datum_einde",
    "uitkomst",
];

static CORRUPTIONS: &[Corruption] = &[
    Corruption {
        rule: Rule::MissingRequired,
        column: 0,
        bad: Bad::Empty,
    },
    Corruption {
        rule: Rule::MissingRequired,
        column: 1,
        bad: Bad::Empty,
    },
    Corruption {
        rule: Rule::InvalidDate,
        column: 3,
        bad: Bad::OneOf(BAD_DATES),
    },
    Corruption {
        rule: Rule::InvalidCode,
        column: 1,
        bad: Bad::Digits(15),
    },
    Corruption {
        rule: Rule::InvalidValue,
        column: 2,
        bad: Bad::OneOf(&["Huisbezoek", "Waarschuwing", "Opiumwet"]),
    },
];

/// Cases per year in a municipality of 150,000 inhabitants (scale 1).
const CASES_PER_YEAR_PER_SCALE: f64 = 150.0;

/// Share of cases written under an id that BAG does not have.
const DANGLING_SHARE: f64 = 0.02;

/// Dangling ids of this source start here (kept apart from other sources').
const DANGLING_BASE: u64 = 300_000_000;

const BIBOB: &str = "Bibob-toets";
const DWANGSOM: &str = "Last onder dwangsom";
const BOETE: &str = "Bestuurlijke boete";
const OPIUMWET: &str = "Sluiting Opiumwet 13b";
const VICTORIA: &str = "Sluiting Wet Victoria";

const SOORT_ELSEWHERE: &[(&str, f64)] = &[
    (BIBOB, 0.30),
    (DWANGSOM, 0.30),
    (BOETE, 0.25),
    (OPIUMWET, 0.10),
    (VICTORIA, 0.05),
];

const SOORT_HOTSPOT: &[(&str, f64)] = &[
    (BIBOB, 0.15),
    (DWANGSOM, 0.25),
    (BOETE, 0.20),
    (OPIUMWET, 0.25),
    (VICTORIA, 0.15),
];

fn outcomes(soort: &str) -> &'static [&'static str] {
    match soort {
        BIBOB => &[
            "Positief advies",
            "Negatief advies",
            "Advies met voorwaarden",
        ],
        DWANGSOM => &["Dwangsom verbeurd", "Overtreding beëindigd", "Ingetrokken"],
        BOETE => &["Boete opgelegd", "Boete ingetrokken", "Bezwaar gegrond"],
        _ => &[
            "Pand gesloten",
            "Sluiting opgeheven",
            "Waarschuwing gegeven",
        ],
    }
}

fn style(clean: bool) -> CsvStyle {
    if clean {
        CsvStyle::CLEAN
    } else {
        CsvStyle {
            encoding: Encoding::Windows1252,
            crlf: true,
            messy_header: false,
        }
    }
}

/// Writes the enforcement file.
pub(crate) fn generate(ctx: &Ctx, world: &World<'_>) -> Result<SourcePlan, SynthError> {
    let path = ctx.out.join(Source::Handhaving.file_name());
    let mut rng = random::stream(ctx.seed, random::streams::HANDHAVING);
    let mut sink = CsvSink::create(&path, style(ctx.clean), &HEADER)?;
    let mut inj = Injector::new(CORRUPTIONS, DEFAULT_RATE, ctx.clean);
    let peil = fmt::peildatum();
    let date_style = if ctx.clean {
        DateStyle::Dmy
    } else {
        DateStyle::Ymd
    };
    let total = (CASES_PER_YEAR_PER_SCALE * ctx.scale * 2.0)
        .round()
        .max(3.0) as u64;
    let mut next_id = 0u64;
    let mut unlinked = 0u64;
    for k in 0..total {
        let a = if random::chance(&mut rng, 0.5) {
            world.hotspot_address(&mut rng)
        } else {
            None
        };
        let a = a.unwrap_or_else(|| world.any_address(&mut rng));
        let hot = world.is_hotspot(a);
        let soort =
            random::weighted_value(&mut rng, if hot { SOORT_HOTSPOT } else { SOORT_ELSEWHERE });
        // The first case is always unlinked, so even tiny sets have one.
        let id = if unlinked == 0 || random::chance(&mut rng, DANGLING_SHARE) {
            unlinked += 1;
            world.dangling_id(DANGLING_BASE + k)
        } else {
            // An address outside every buurt is in BAG but in no buurt.
            if world.buurt_of(a).is_none() {
                unlinked += 1;
            }
            world.address_id(a)
        };
        let row = case_row(&mut rng, &mut next_id, id, soort, peil, date_style);
        sink.row(&row)?;
        if let Some(c) = inj.draw(&mut rng) {
            invalid(
                &mut rng,
                &mut sink,
                world,
                &mut next_id,
                c,
                peil,
                date_style,
            )?;
        }
    }
    for c in inj.top_up() {
        invalid(
            &mut rng,
            &mut sink,
            world,
            &mut next_id,
            c,
            peil,
            date_style,
        )?;
    }
    let invalid = inj.tally();
    let rows = sink.finish()?;
    Ok(SourcePlan {
        file: Source::Handhaving.file_name().to_owned(),
        rows,
        invalid,
        unlinked,
    })
}

/// A valid case row.
fn case_row(
    rng: &mut Rand,
    next_id: &mut u64,
    id: String,
    soort: &str,
    peil: Day,
    style: DateStyle,
) -> [String; 6] {
    let start = peil - random::between(rng, 0, i64::from(HISTORY_DAYS) - 1) as Day;
    let end = start + random::between(rng, 14, 300) as Day;
    let (einde, uitkomst) = if end <= peil && random::chance(rng, 0.75) {
        (
            fmt::date(end, style),
            (*random::pick(rng, outcomes(soort))).to_owned(),
        )
    } else {
        (String::new(), "In behandeling".to_owned())
    };
    let zaak = *next_id;
    *next_id += 1;
    [
        format!("Z{zaak:07}"),
        id,
        soort.to_owned(),
        fmt::date(start, style),
        einde,
        uitkomst,
    ]
}

/// An invalid row: a fresh case with one bad field.
fn invalid(
    rng: &mut Rand,
    sink: &mut CsvSink,
    world: &World<'_>,
    next_id: &mut u64,
    c: Corruption,
    peil: Day,
    style: DateStyle,
) -> Result<(), SynthError> {
    let a = world.any_address(rng);
    let soort = random::weighted_value(rng, SOORT_ELSEWHERE);
    let mut row = case_row(rng, next_id, world.address_id(a), soort, peil, style);
    c.apply(&mut row, rng);
    sink.row(&row)
}
