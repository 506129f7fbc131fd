//! `vastgoedtransacties.csv`: property sales over two years.
//!
//! A sale's price follows from the floor area, the buurt's price per m², a
//! yearly rise of 5% and ±7% noise, so an ordinary resale never gains 30%
//! within a year. Planted quick resales (a sale followed within 60–330
//! days by one at 32–80% more) are common in hotspots and rare elsewhere.
//! Legal-person buyers give a `koper_kvk`: in hotspots often a property
//! company registered only weeks or months before the sale, elsewhere an
//! older one from the KvK file or a company registered elsewhere. About
//! 0.3% of sales carry an identificatie that BAG does not have (the
//! unlinked count).
//!
//! Quirks (not clean): `\r\n`, dates `yyyy-mm-dd`, `koopsom` mostly with
//! thousands dots (`1.250.000,00`).

use knooppunt_core::{Rule, Source};

use crate::businesses::{Companies, EXTERNAL_COMPANIES, Holding, kvk_number};
use crate::fmt::{self, DateStyle, Day, HISTORY_DAYS};
use crate::invalid::{BAD_DATES, Bad, Corruption, DEFAULT_RATE, Injector};
use crate::random::{self, Rand};
use crate::world::World;
use crate::writer::{CsvSink, CsvStyle, Encoding};
use crate::{Ctx, SourcePlan, SynthError};

const HEADER: [&str; 6] = [
    "transactie_id",
    "adresseerbaarobject_id",
    "transactiedatum",
    "koopsom",
    "koper_type",
    "koper_kvk",
];

const KOPER_TYPE: usize = 4;
const KOPER_KVK: usize = 5;

static CORRUPTIONS: &[Corruption] = &[
    Corruption {
        rule: Rule::MissingRequired,
        column: 0,
        bad: Bad::Empty,
    },
    Corruption {
        rule: Rule::MissingRequired,
        column: 3,
        bad: Bad::Empty,
    },
    Corruption {
        rule: Rule::InvalidDate,
        column: 2,
        bad: Bad::OneOf(BAD_DATES),
    },
    Corruption {
        rule: Rule::InvalidNumber,
        column: 3,
        bad: Bad::OneOf(&["abc", "12,3,4"]),
    },
    Corruption {
        rule: Rule::InvalidCode,
        column: KOPER_KVK,
        bad: Bad::Digits(7),
    },
    Corruption {
        rule: Rule::InvalidValue,
        column: KOPER_TYPE,
        bad: Bad::OneOf(&["stichting", "onbekend", "particulier"]),
    },
];

/// Sales per year in a municipality of 150,000 inhabitants (scale 1).
const SALES_PER_YEAR_PER_SCALE: f64 = 4_000.0;

/// Share of sales written under an id that BAG does not have.
const DANGLING_SHARE: f64 = 0.003;

/// Dangling ids of this source start here (kept apart from other sources').
const DANGLING_BASE: u64 = 200_000_000;

const NATUURLIJK: &str = "natuurlijk persoon";
const RECHTSPERSOON: &str = "rechtspersoon";

fn style(clean: bool) -> CsvStyle {
    if clean {
        CsvStyle::CLEAN
    } else {
        CsvStyle {
            encoding: Encoding::Utf8,
            crlf: true,
            messy_header: false,
        }
    }
}

/// Writes the sales file.
pub(crate) fn generate(
    ctx: &Ctx,
    world: &World<'_>,
    companies: &Companies,
) -> Result<SourcePlan, SynthError> {
    let path = ctx.out.join(Source::Vastgoed.file_name());
    let mut rng = random::stream(ctx.seed, random::streams::VASTGOED);
    let mut sink = CsvSink::create(&path, style(ctx.clean), &HEADER)?;
    let mut inj = Injector::new(CORRUPTIONS, DEFAULT_RATE, ctx.clean);
    let young: Vec<Holding> = companies
        .holdings
        .iter()
        .copied()
        .filter(|h| h.young)
        .collect();
    let old: Vec<Holding> = companies
        .holdings
        .iter()
        .copied()
        .filter(|h| !h.young)
        .collect();
    let mut g = SaleGen {
        rng: &mut rng,
        sink: &mut sink,
        inj: &mut inj,
        world,
        clean: ctx.clean,
        peil: fmt::peildatum(),
        young,
        old,
        next_id: 0,
        dangling: 0,
        external: 0,
        unlinked: 0,
        written: 0,
    };
    let total = (SALES_PER_YEAR_PER_SCALE * ctx.scale * 2.0).round() as u64;
    while g.written < total {
        g.sale()?;
    }
    for c in g.inj.top_up() {
        g.invalid(c)?;
    }
    let unlinked = g.unlinked;
    let invalid = inj.tally();
    let rows = sink.finish()?;
    Ok(SourcePlan {
        file: Source::Vastgoed.file_name().to_owned(),
        rows,
        invalid,
        unlinked,
    })
}

/// The state of sales generation.
struct SaleGen<'r, 'w> {
    rng: &'r mut Rand,
    sink: &'r mut CsvSink,
    inj: &'r mut Injector,
    world: &'r World<'w>,
    clean: bool,
    peil: Day,
    young: Vec<Holding>,
    old: Vec<Holding>,
    next_id: u64,
    dangling: u64,
    external: u64,
    unlinked: u64,
    written: u64,
}

impl SaleGen<'_, '_> {
    fn first_day(&self) -> Day {
        self.peil - HISTORY_DAYS + 1
    }

    /// The market price of address `a` on `day`, with noise.
    fn price(&mut self, a: u32, day: Day) -> f64 {
        let addr = self.world.addrs[a as usize];
        let per_m2 = self
            .world
            .buurt_of(a)
            .map_or(3500.0, |b| self.world.buurten[b].price_m2);
        let years = f64::from(day - self.first_day()) / 365.0;
        let price = f64::from(addr.oppervlakte)
            * per_m2
            * (1.0 + 0.05 * years)
            * random::uniform(self.rng, 0.93, 1.07);
        price.max(50_000.0)
    }

    fn koopsom(&mut self, price: f64) -> String {
        let euros = if random::chance(self.rng, 0.7) {
            (price / 500.0).round() * 500.0
        } else {
            price.round()
        };
        let dots = !self.clean && random::chance(self.rng, 0.9);
        fmt::decimal(euros, 2, dots)
    }

    /// A legal-person buyer registered well before `day`.
    fn established_buyer(&mut self, day: Day) -> String {
        for _ in 0..5 {
            if self.old.is_empty() {
                break;
            }
            let h = *random::pick(self.rng, &self.old);
            if h.registered < day - 400 {
                return kvk_number(h.company);
            }
        }
        let k = self.external;
        self.external += 1;
        kvk_number(EXTERNAL_COMPANIES + k)
    }

    fn row(&mut self, id: String, day: Day, price: f64, koper: &str, kvk: String) -> [String; 6] {
        let t = self.next_id;
        self.next_id += 1;
        let style = if self.clean {
            DateStyle::Dmy
        } else {
            DateStyle::Ymd
        };
        [
            format!("T{t:09}"),
            id,
            fmt::date(day, style),
            self.koopsom(price),
            koper.to_owned(),
            kvk,
        ]
    }

    /// Writes one valid sale of `a`, then maybe an invalid row.
    fn emit(
        &mut self,
        a: u32,
        day: Day,
        price: f64,
        koper: &str,
        kvk: String,
    ) -> Result<(), SynthError> {
        debug_assert!(day <= self.peil && day >= self.first_day());
        // The first sale is always unlinked, so even tiny sets have one.
        let id = if self.unlinked == 0 || random::chance(self.rng, DANGLING_SHARE) {
            self.unlinked += 1;
            self.dangling += 1;
            self.world.dangling_id(DANGLING_BASE + self.dangling)
        } else {
            // An address outside every buurt is in BAG but in no buurt.
            if self.world.buurt_of(a).is_none() {
                self.unlinked += 1;
            }
            self.world.address_id(a)
        };
        let row = self.row(id, day, price, koper, kvk);
        self.sink.row(&row)?;
        self.written += 1;
        if let Some(c) = self.inj.draw(self.rng) {
            self.invalid(c)?;
        }
        Ok(())
    }

    /// The buyer of an ordinary sale on `day`.
    fn buyer(&mut self, hot: bool, day: Day) -> (&'static str, String) {
        if random::chance(self.rng, if hot { 0.3 } else { 0.12 }) {
            (RECHTSPERSOON, self.established_buyer(day))
        } else {
            (NATUURLIJK, String::new())
        }
    }

    /// One sale, a quick-resale pair, or a sale to a young company.
    fn sale(&mut self) -> Result<(), SynthError> {
        let a = if !self.world.hotspots.is_empty() && random::chance(self.rng, 0.12) {
            self.world.hotspot_address(self.rng)
        } else if random::chance(self.rng, 0.85) {
            self.world.any_residential(self.rng)
        } else {
            None
        };
        let a = a.unwrap_or_else(|| self.world.any_address(self.rng));
        let hot = self.world.is_hotspot(a);
        let first = self.first_day();
        let mut day = self.peil - random::between(self.rng, 0, i64::from(HISTORY_DAYS) - 1) as Day;
        if random::chance(self.rng, if hot { 0.25 } else { 0.003 }) && day - 60 >= first {
            // Quick resale: bought, then sold on within a year for much more.
            let before = (day - random::between(self.rng, 60, 330) as Day).max(first);
            let price = self.price(a, before);
            let (koper, kvk) = self.buyer(hot, before);
            self.emit(a, before, price, koper, kvk)?;
            let resale = price * random::uniform(self.rng, 1.32, 1.8);
            let (koper, kvk) = self.buyer(hot, day);
            return self.emit(a, day, resale, koper, kvk);
        }
        if hot && !self.young.is_empty() && random::chance(self.rng, 0.2) {
            // A company registered weeks or months before it buys.
            let h = *random::pick(self.rng, &self.young);
            let latest = (self.peil - h.registered).min(330);
            day = (h.registered + random::between(self.rng, 15, i64::from(latest)) as Day)
                .clamp(first, self.peil);
            let price = self.price(a, day);
            return self.emit(a, day, price, RECHTSPERSOON, kvk_number(h.company));
        }
        let price = self.price(a, day);
        let (koper, kvk) = self.buyer(hot, day);
        self.emit(a, day, price, koper, kvk)
    }

    /// An invalid row: a fresh sale with one bad field.
    fn invalid(&mut self, c: Corruption) -> Result<(), SynthError> {
        let a = self.world.any_address(self.rng);
        let day = self.peil - random::between(self.rng, 0, i64::from(HISTORY_DAYS) - 1) as Day;
        let price = self.price(a, day);
        let id = self.world.address_id(a);
        let mut row = self.row(id, day, price, NATUURLIJK, String::new());
        if c.column == KOPER_KVK {
            // A malformed kvk number only makes sense for a legal person.
            row[KOPER_TYPE] = RECHTSPERSOON.to_owned();
        }
        c.apply(&mut row, self.rng);
        self.sink.row(&row)
    }
}
