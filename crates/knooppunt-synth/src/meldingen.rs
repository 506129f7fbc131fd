//! `meldingen.xlsx` (sheet `Meldingen`): public-space reports.
//!
//! Two years of reports, spread evenly over the days and ending on the
//! peildatum (which always has at least one report). Each report lies in a
//! buurt drawn by address count; hotspots get more reports and a far
//! larger share of `Drugsoverlast`, growing in the last twelve months. A
//! report carries RD `x`/`y` or WGS84 `lat`/`lon` (converted with
//! `knooppunt_geo::rd_to_wgs84`, and kept only when converting back lands
//! in the same buurt); about 1% have no location and 0.3% lie outside
//! every buurt (the unlinked count). `toelichting` is made-up free text
//! that may name (fictional) people; it must never be ingested.
//!
//! `datum` is an Excel date cell (a serial number with a date format);
//! when not clean, 5% are text dates instead. The workbook is written in
//! constant-memory mode, so memory does not grow with the row count; a
//! sheet holds at most 1,048,575 data rows, so the report count is capped
//! there (scale ≳ 17).

use knooppunt_core::{Rule, Source};
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use crate::fmt::{self, DateStyle, Day, HISTORY_DAYS};
use crate::invalid::{BAD_DATES, Bad, Corruption, DEFAULT_RATE, Injector};
use crate::random::{self, Rand};
use crate::world::World;
use crate::writer::{commit, temp_path};
use crate::{Ctx, SourcePlan, SynthError};

const HEADER: [&str; 8] = [
    "melding_id",
    "datum",
    "categorie",
    "toelichting",
    "x",
    "y",
    "lat",
    "lon",
];

static CORRUPTIONS: &[Corruption] = &[
    Corruption {
        rule: Rule::MissingRequired,
        column: 0,
        bad: Bad::Empty,
    },
    Corruption {
        rule: Rule::MissingRequired,
        column: 2,
        bad: Bad::Empty,
    },
    Corruption {
        rule: Rule::InvalidDate,
        column: 1,
        bad: Bad::OneOf(BAD_DATES),
    },
    Corruption {
        rule: Rule::InvalidNumber,
        column: 4,
        bad: Bad::OneOf(&["abc", "12,3,4"]),
    },
];

/// Reports per year in a municipality of 150,000 inhabitants (scale 1).
const REPORTS_PER_YEAR_PER_SCALE: f64 = 30_000.0;

/// Data rows a worksheet can hold (1,048,576 rows minus the header).
const SHEET_ROWS: u64 = 1_048_575;

/// Valid reports are capped here, leaving room for invalid rows.
const MAX_REPORTS: u64 = 1_040_000;

const DRUGS: &str = "Drugsoverlast";

const OTHER_CATEGORIES: &[(&str, f64)] = &[
    ("Afval", 0.38),
    ("Geluidsoverlast", 0.22),
    ("Woonoverlast", 0.18),
    ("Verdachte situatie", 0.22),
];

const PEOPLE: &[&str] = &[
    "Pietersen",
    "de Wit",
    "Karim",
    "Sanne B.",
    "meneer Koster",
    "mevrouw Dijkstra",
    "Ruud",
    "de familie Yilmaz",
    "Achmed",
    "Joke van Dam",
];

const TEXTS: &[(&str, &[&str])] = &[
    (
        "Afval",
        &[
            "Vuilniszakken naast de container, al een week.",
            "Grofvuil op de stoep bij nummer {n}.",
            "Melder {p} ziet steeds afval in de groenstrook.",
        ],
    ),
    (
        "Geluidsoverlast",
        &[
            "Harde muziek tot laat in de nacht, volgens melder bij {p}.",
            "Blaffende hond, hele dag.",
            "Feest in de tuin, melder {p} kan niet slapen.",
        ],
    ),
    (
        "Woonoverlast",
        &[
            "Melder klaagt over {p} van nummer {n}: steeds ruzie.",
            "Veel wisselende bewoners, matrassen bij het raam.",
            "Stank uit de woning.",
        ],
    ),
    (
        "Verdachte situatie",
        &[
            "Auto staat al dagen met draaiende motor.",
            "Onbekenden lopen bij {p} in en uit.",
            "Iemand probeert fietsen open te breken.",
        ],
    ),
    (
        DRUGS,
        &[
            "Veel aanloop van auto's, vermoedelijk handel.",
            "Wietlucht in het trappenhuis, melder noemt {p}.",
            "Overdracht van zakjes bij het speeltuintje.",
        ],
    ),
];

/// One spreadsheet cell.
enum Cell {
    Empty,
    Text(String),
    Number(f64),
    Date(Day),
}

/// Where a report is.
enum Location {
    None,
    Rd(f64, f64),
    Wgs84(f64, f64),
}

/// Writes the meldingen workbook.
pub(crate) fn generate(ctx: &Ctx, world: &World<'_>) -> Result<SourcePlan, SynthError> {
    let path = ctx.out.join(Source::Meldingen.file_name());
    let tmp = temp_path(&path);
    let xlsx = |source: XlsxError| SynthError::Xlsx {
        path: path.clone(),
        source,
    };
    let mut rng = random::stream(ctx.seed, random::streams::MELDINGEN);
    let mut inj = Injector::new(CORRUPTIONS, DEFAULT_RATE, ctx.clean);
    let mut workbook = Workbook::new();
    let created = ExcelDateTime::from_ymd(2026, 9, 30).map_err(xlsx)?;
    workbook.set_properties(&DocProperties::new().set_creation_datetime(&created));
    workbook.set_tempdir(&ctx.out).map_err(xlsx)?;
    let date_format = Format::new().set_num_format("dd-mm-yyyy");
    let (rows, unlinked) = {
        let sheet = workbook
            .add_worksheet_with_constant_memory()
            .map_err(xlsx)?;
        sheet.set_name("Meldingen").map_err(xlsx)?;
        for (c, name) in HEADER.iter().enumerate() {
            sheet.write_string(0, c as u16, *name).map_err(xlsx)?;
        }
        let mut g = MeldingGen {
            rng: &mut rng,
            inj: &mut inj,
            world,
            sheet,
            date_format: &date_format,
            clean: ctx.clean,
            weights: random::cumulative(world.buurten.iter().map(|b| {
                if b.target == 0 {
                    0.0
                } else {
                    f64::from(b.len + 1) * if b.hotspot { 1.6 } else { 1.0 }
                }
            })),
            next_row: 1,
            next_id: 0,
            unlinked: 0,
        };
        let total =
            ((REPORTS_PER_YEAR_PER_SCALE * ctx.scale * 2.0).round() as u64).clamp(1, MAX_REPORTS);
        let peil = fmt::peildatum();
        let days = HISTORY_DAYS as u64;
        let first = peil - HISTORY_DAYS + 1;
        for d in 0..days {
            // Even spread; the last day always gets ceil(total / days) >= 1.
            let n = (d + 1) * total / days - d * total / days;
            for _ in 0..n {
                g.report(first + d as Day).map_err(xlsx)?;
            }
        }
        for c in g.inj.top_up() {
            g.invalid(c).map_err(xlsx)?;
        }
        (g.next_row - 1, g.unlinked)
    };
    if rows > SHEET_ROWS {
        return Err(SynthError::config("too many reports for one worksheet"));
    }
    workbook.save(&tmp).map_err(xlsx)?;
    commit(&path)?;
    Ok(SourcePlan {
        file: Source::Meldingen.file_name().to_owned(),
        rows,
        invalid: inj.tally(),
        unlinked,
    })
}

/// The state of report generation.
struct MeldingGen<'r, 'w> {
    rng: &'r mut Rand,
    inj: &'r mut Injector,
    world: &'r World<'w>,
    sheet: &'r mut Worksheet,
    date_format: &'r Format,
    clean: bool,
    weights: Vec<f64>,
    next_row: u64,
    next_id: u64,
    unlinked: u64,
}

impl MeldingGen<'_, '_> {
    fn category(&mut self, hot: bool, day: Day) -> &'static str {
        let recent = day > fmt::peildatum() - 365;
        let drugs = match (hot, recent) {
            (true, true) => 0.22,
            (true, false) => 0.15,
            (false, _) => 0.03,
        };
        if random::chance(self.rng, drugs) {
            DRUGS
        } else {
            random::weighted_value(self.rng, OTHER_CATEGORIES)
        }
    }

    fn text(&mut self, category: &str) -> String {
        let options = TEXTS
            .iter()
            .find(|(c, _)| *c == category)
            .map_or(&[][..], |(_, t)| *t);
        if options.is_empty() {
            return String::new();
        }
        let template = random::pick(self.rng, options);
        let person = random::pick(self.rng, PEOPLE);
        let number = random::between(self.rng, 1, 120);
        template
            .replace("{p}", person)
            .replace("{n}", &number.to_string())
    }

    /// A location in buurt `b`: RD mostly, WGS84 when the round trip stays
    /// inside the buurt.
    fn location_in(&mut self, b: usize) -> Location {
        let Some((x, y)) = self.world.sample_in(self.rng, b, 100_000) else {
            return Location::None;
        };
        if random::chance(self.rng, 0.3) {
            let (lat, lon) = knooppunt_geo::rd_to_wgs84(x, y);
            let (lat, lon) = (round7(lat), round7(lon));
            let (bx, by) = knooppunt_geo::wgs84_to_rd(lat, lon);
            if self.world.inside(b, bx, by) {
                return Location::Wgs84(lat, lon);
            }
        }
        Location::Rd(x, y)
    }

    fn date_cell(&mut self, day: Day) -> Cell {
        if !self.clean && random::chance(self.rng, 0.05) {
            let style = if random::chance(self.rng, 0.2) {
                DateStyle::Ymd
            } else {
                DateStyle::Dmy
            };
            Cell::Text(fmt::date(day, style))
        } else {
            Cell::Date(day)
        }
    }

    fn cells(&mut self, day: Day, category: &str, location: &Location) -> [Cell; 8] {
        let id = self.next_id;
        self.next_id += 1;
        let (x, y, lat, lon) = match *location {
            Location::None => (Cell::Empty, Cell::Empty, Cell::Empty, Cell::Empty),
            Location::Rd(x, y) => (Cell::Number(x), Cell::Number(y), Cell::Empty, Cell::Empty),
            Location::Wgs84(lat, lon) => (
                Cell::Empty,
                Cell::Empty,
                Cell::Number(lat),
                Cell::Number(lon),
            ),
        };
        [
            Cell::Text(format!("M{id:08}")),
            self.date_cell(day),
            Cell::Text(category.to_owned()),
            Cell::Text(self.text(category)),
            x,
            y,
            lat,
            lon,
        ]
    }

    fn write(&mut self, cells: &[Cell; 8]) -> Result<(), XlsxError> {
        let row = self.next_row as u32;
        self.next_row += 1;
        for (c, cell) in cells.iter().enumerate() {
            let c = c as u16;
            match cell {
                Cell::Empty => {}
                Cell::Text(s) => {
                    self.sheet.write_string(row, c, s)?;
                }
                Cell::Number(v) => {
                    self.sheet.write_number(row, c, *v)?;
                }
                Cell::Date(d) => {
                    let (y, m, dd) = fmt::ymd(*d);
                    let date = ExcelDateTime::from_ymd(y as u16, m as u8, dd as u8)?;
                    self.sheet
                        .write_datetime_with_format(row, c, &date, self.date_format)?;
                }
            }
        }
        Ok(())
    }

    /// Writes one valid report on `day`, then maybe an invalid row.
    fn report(&mut self, day: Day) -> Result<(), XlsxError> {
        let b = random::draw_cumulative(self.rng, &self.weights);
        let hot = self.world.buurten[b].hotspot;
        let category = self.category(hot, day);
        // The first report never has a location, so even tiny sets have an
        // unlinked one.
        let location = if self.unlinked == 0 || random::chance(self.rng, 0.01) {
            Location::None
        } else if random::chance(self.rng, 0.003) {
            let (x, y) = self.world.sample_outside(self.rng);
            Location::Rd(x, y)
        } else {
            self.location_in(b)
        };
        let linked = match location {
            Location::None => false,
            Location::Rd(x, y) => self.world.inside(b, x, y),
            Location::Wgs84(..) => true,
        };
        if !linked {
            self.unlinked += 1;
        }
        let cells = self.cells(day, category, &location);
        self.write(&cells)?;
        if let Some(c) = self.inj.draw(self.rng) {
            self.invalid(c)?;
        }
        Ok(())
    }

    /// An invalid row: a fresh report with an RD location and one bad cell.
    fn invalid(&mut self, c: Corruption) -> Result<(), XlsxError> {
        let b = random::draw_cumulative(self.rng, &self.weights);
        let day =
            fmt::peildatum() - random::between(self.rng, 0, i64::from(HISTORY_DAYS) - 1) as Day;
        let location = match self.world.sample_in(self.rng, b, 100_000) {
            Some((x, y)) => Location::Rd(x, y),
            None => Location::Rd(self.world.bbox[0], self.world.bbox[1]),
        };
        let category = self.category(false, day);
        let mut cells = self.cells(day, category, &location);
        let value = c.value(self.rng);
        cells[c.column] = if value.is_empty() {
            Cell::Empty
        } else {
            Cell::Text(value)
        };
        self.write(&cells)
    }
}

/// Rounds degrees to 7 decimals (about a centimetre).
fn round7(v: f64) -> f64 {
    (v * 1e7).round() / 1e7
}
