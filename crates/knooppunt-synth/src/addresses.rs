//! `bag_verblijfsobjecten.csv`: the addresses everything else hangs on.
//!
//! Addresses are laid out buurt by buurt in streets. A street has one
//! postcode (never shared with another street), house numbers counting up,
//! and now and then a building whose units carry a huisletter or a
//! toevoeging. Points are drawn inside the buurt polygon, at least a metre
//! from its boundary; a small share of addresses lies outside every buurt
//! (east of the municipality) and is the source's unlinked count.
//!
//! Quirks (not clean): UTF-8 with BOM, `\r\n`, a messy header, postcodes
//! now and then written `1234 ab`, floor areas from 1,000 m² sometimes with
//! a thousands dot (`1.250`). Coordinates always use the decimal comma, the
//! contract's format.

use knooppunt_core::{Rule, Source};

use crate::fmt::{self, POSTCODE_LETTER_PAIRS};
use crate::invalid::{BAD_NUMBERS, BAD_POSTCODES, Bad, Corruption, DEFAULT_RATE, Injector};
use crate::random::{self, Rand};
use crate::world::{Addr, BuurtKind, CROWDED, OUTSIDE, RESIDENTIAL, World};
use crate::writer::{CsvSink, CsvStyle, Encoding};
use crate::{Ctx, SourcePlan, SynthError};

/// Column names, in file order.
const HEADER: [&str; 13] = [
    "identificatie",
    "postcode",
    "huisnummer",
    "huisletter",
    "huisnummertoevoeging",
    "openbareruimtenaam",
    "woonplaatsnaam",
    "gebruiksdoel",
    "oppervlakte",
    "bouwjaar",
    "status",
    "x",
    "y",
];

/// `gebruiksdoel` values; the first three contain `woonfunctie`.
pub(crate) const GEBRUIKSDOELEN: [&str; 13] = [
    "woonfunctie",
    "woonfunctie,winkelfunctie",
    "woonfunctie,kantoorfunctie",
    "winkelfunctie",
    "kantoorfunctie",
    "industriefunctie",
    "bijeenkomstfunctie",
    "logiesfunctie",
    "gezondheidszorgfunctie",
    "onderwijsfunctie",
    "sportfunctie",
    "overige gebruiksfunctie",
    "kantoorfunctie,industriefunctie",
];

/// Number of leading [`GEBRUIKSDOELEN`] entries that are residential.
const RESIDENTIAL_DOELEN: u8 = 3;

/// `huisnummertoevoeging` values of units in a building.
pub(crate) const TOEVOEGINGEN: [&str; 12] = [
    "1", "2", "3", "4", "5", "6", "7", "8", "H", "I", "II", "III",
];

const STEMS: &[&str] = &[
    "Curaçao",
    "Bonaire",
    "Aruba",
    "Saba",
    "Zon",
    "Maan",
    "Sterren",
    "Meeuwen",
    "Reiger",
    "Merel",
    "Lijster",
    "Spreeuw",
    "Esdoorn",
    "Eiken",
    "Beuken",
    "Linden",
    "Wilgen",
    "Populieren",
    "Rembrandt",
    "Vermeer",
    "Mondriaan",
    "Escher",
    "Van Gogh",
    "Frans Hals",
    "Jan Steen",
    "Appel",
    "Peren",
    "Kersen",
    "Pruimen",
    "Tulp",
    "Rozen",
    "Lelie",
    "Iris",
    "Anjer",
    "Kamille",
    "Molen",
    "Sluis",
    "Haven",
    "Dijk",
    "Polder",
    "Gooi",
    "Eem",
    "Vecht",
    "Amstel",
    "Schelde",
    "Maas",
    "Rijn",
    "Waal",
    "Ijssel",
    "Noorder",
    "Zuider",
    "Ooster",
    "Wester",
    "Beatrix",
    "Juliana",
    "Oranje",
    "Nassau",
    "Erasmus",
    "Spinoza",
    "Huygens",
    "Descartes",
    "Goethe",
    "Molière",
    "Brontë",
    "Verdi",
    "Vivaldi",
    "Sweelinck",
    "Zoë",
];

const SUFFIXES: &[&str] = &[
    "straat", "laan", "weg", "hof", "kade", "pad", "dreef", "plein", "singel", "gracht", "erf",
    "park",
];

const STATUS_IN_GEBRUIK: &str = "Verblijfsobject in gebruik";
const STATUS_NIET_INGEMETEN: &str = "Verblijfsobject in gebruik (niet ingemeten)";

const INVALID_DOELEN: &[&str] = &[
    "ruimtevaartfunctie",
    "woonfunctie,ruimtevaartfunctie",
    "wonen",
];

static CORRUPTIONS: &[Corruption] = &[
    Corruption {
        rule: Rule::MissingRequired,
        column: 2,
        bad: Bad::Empty,
    },
    Corruption {
        rule: Rule::MissingRequired,
        column: 7,
        bad: Bad::Empty,
    },
    Corruption {
        rule: Rule::InvalidNumber,
        column: 8,
        bad: Bad::OneOf(BAD_NUMBERS),
    },
    Corruption {
        rule: Rule::InvalidNumber,
        column: 11,
        bad: Bad::OneOf(&["12,3,4", "abc"]),
    },
    Corruption {
        rule: Rule::InvalidCode,
        column: 0,
        bad: Bad::Digits(15),
    },
    Corruption {
        rule: Rule::InvalidCode,
        column: 1,
        bad: Bad::OneOf(BAD_POSTCODES),
    },
    Corruption {
        rule: Rule::InvalidValue,
        column: 7,
        bad: Bad::OneOf(INVALID_DOELEN),
    },
];

/// The file's outward form.
fn style(clean: bool) -> CsvStyle {
    if clean {
        CsvStyle::CLEAN
    } else {
        CsvStyle {
            encoding: Encoding::Utf8Bom,
            crlf: true,
            messy_header: true,
        }
    }
}

/// A street being laid out.
struct Street {
    name: String,
    postcode: u32,
    plaats: String,
}

/// Hands out postcodes: one per street, never reused.
struct Postcodes {
    next: u64,
    letters_per_pc4: u64,
}

impl Postcodes {
    fn new(addresses: u64) -> Self {
        // Roughly one street per 20 addresses; leave room for 1.5 times
        // that many within the 9,000 four-digit codes 1000–9999.
        let streets = addresses / 8 + 100;
        let per = (streets * 3 / 2)
            .div_ceil(8_999)
            .clamp(8, u64::from(POSTCODE_LETTER_PAIRS));
        Postcodes {
            next: 0,
            letters_per_pc4: per,
        }
    }

    fn next(&mut self) -> Result<u32, SynthError> {
        let k = self.next;
        self.next += 1;
        let pc4 = 1000 + k / self.letters_per_pc4;
        if pc4 > 9999 {
            return Err(SynthError::config(
                "scale too large: postcode space exhausted",
            ));
        }
        Ok((pc4 * 1000 + k % self.letters_per_pc4) as u32)
    }
}

/// Generates the addresses into `world.addrs` and writes the BAG file.
pub(crate) fn generate(ctx: &Ctx, world: &mut World<'_>) -> Result<SourcePlan, SynthError> {
    let path = ctx.out.join(Source::Bag.file_name());
    let mut rng = random::stream(ctx.seed, random::streams::BAG);
    let mut sink = CsvSink::create(&path, style(ctx.clean), &HEADER)?;
    let mut inj = Injector::new(CORRUPTIONS, DEFAULT_RATE, ctx.clean);
    let total: u64 = world
        .buurten
        .iter()
        .map(|b| u64::from(b.target))
        .sum::<u64>()
        + u64::from(world.outside_target);
    let mut postcodes = Postcodes::new(total);
    let mut g = BagGen {
        rng: &mut rng,
        sink: &mut sink,
        inj: &mut inj,
        clean: ctx.clean,
        invalid_seq: 0,
        first_street: true,
    };
    world.addrs.reserve(total as usize);
    let names: Vec<String> = world
        .index
        .buurten()
        .iter()
        .map(|b| b.gemeentenaam.clone())
        .collect();
    for (b, plaats) in names.iter().enumerate() {
        let start = world.addrs.len() as u32;
        let target = world.buurten[b].target;
        let mut forced_crowded = false;
        let mut placed = 0u32;
        while placed < target {
            let street = Street {
                name: g.street_name(),
                postcode: postcodes.next()?,
                plaats: plaats.clone(),
            };
            let center = world
                .sample_in(g.rng, b, 100_000)
                .ok_or_else(|| SynthError::config("cannot place a point inside a buurt"))?;
            let length = random::between(g.rng, 6, 40) as u32;
            let step = if random::chance(g.rng, 0.5) { 1 } else { 2 };
            let mut nr = 1 + random::between(g.rng, 0, 1) as u16;
            let mut in_street = 0;
            while in_street < length && placed < target {
                let point = g.point_near(world, b, center)?;
                let units = if random::chance(g.rng, 0.06) {
                    random::between(g.rng, 2, 6) as u32
                } else {
                    1
                };
                let lettered = random::chance(g.rng, 0.5);
                for u in 0..units.min(target - placed) {
                    let (letter, toevoeging) = match (units, lettered) {
                        (1, _) => (0, 0),
                        (_, true) => (b'A' + u as u8, 0),
                        (_, false) => (0, u as u8 + 1),
                    };
                    let apartment = units > 1;
                    let mut addr = g.attributes(world.buurten[b].kind, apartment);
                    addr.postcode = street.postcode;
                    addr.buurt = b as u32;
                    addr.huisnummer = nr;
                    addr.letter = letter;
                    addr.toevoeging = toevoeging;
                    if world.buurten[b].hotspot
                        && addr.residential()
                        && (!forced_crowded || random::chance(g.rng, 0.12))
                    {
                        forced_crowded = true;
                        addr.flags |= CROWDED;
                        addr.oppervlakte = random::between(g.rng, 28, 60) as u16;
                    }
                    g.emit(world, addr, &street, point)?;
                    placed += 1;
                }
                nr = nr.saturating_add(step);
                in_street += 1;
            }
        }
        world.buurten[b].start = start;
        world.buurten[b].len = world.addrs.len() as u32 - start;
    }
    // Addresses outside every buurt: valid rows that cannot be linked.
    let mut outside = 0u64;
    let plaats = names.first().cloned().unwrap_or_default();
    while outside < u64::from(world.outside_target) {
        let street = Street {
            name: g.street_name(),
            postcode: postcodes.next()?,
            plaats: plaats.clone(),
        };
        let point = world.sample_outside(g.rng);
        let mut nr = 1u16;
        for _ in 0..random::between(g.rng, 1, 12) {
            if outside >= u64::from(world.outside_target) {
                break;
            }
            let mut addr = g.attributes(BuurtKind::Residential, false);
            addr.postcode = street.postcode;
            addr.buurt = OUTSIDE;
            addr.huisnummer = nr;
            g.emit(world, addr, &street, point)?;
            outside += 1;
            nr += 2;
        }
    }
    for c in g.inj.top_up() {
        let street = Street {
            name: "Dorpsstraat".to_owned(),
            postcode: world.addrs.first().map_or(1_000_000, |a| a.postcode),
            plaats: plaats.clone(),
        };
        let point = world.sample_outside(g.rng);
        g.emit_invalid(world, &street, point, c)?;
    }
    let invalid = inj.tally();
    let rows = sink.finish()?;
    Ok(SourcePlan {
        file: Source::Bag.file_name().to_owned(),
        rows,
        invalid,
        unlinked: outside,
    })
}

/// The state of BAG generation.
struct BagGen<'r> {
    rng: &'r mut Rand,
    sink: &'r mut CsvSink,
    inj: &'r mut Injector,
    clean: bool,
    invalid_seq: u64,
    first_street: bool,
}

impl BagGen<'_> {
    fn street_name(&mut self) -> String {
        if self.first_street {
            // Always present, so an accented street name is in every set.
            self.first_street = false;
            return "Curaçaostraat".to_owned();
        }
        let stem = random::pick(self.rng, STEMS);
        let suffix = random::pick(self.rng, SUFFIXES);
        let joined = format!("{stem}{suffix}");
        let mut chars = joined.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
            .unwrap_or_default()
    }

    /// A point near the street's centre inside buurt `b`.
    fn point_near(
        &mut self,
        world: &World<'_>,
        b: usize,
        (cx, cy): (f64, f64),
    ) -> Result<(f64, f64), SynthError> {
        for _ in 0..8 {
            let x = crate::world::round_mm(cx + random::uniform(self.rng, -80.0, 80.0));
            let y = crate::world::round_mm(cy + random::uniform(self.rng, -80.0, 80.0));
            if world.inside(b, x, y) {
                return Ok((x, y));
            }
        }
        world
            .sample_in(self.rng, b, 100_000)
            .ok_or_else(|| SynthError::config("cannot place a point inside a buurt"))
    }

    /// Use, floor area and flags of a new address in a buurt of `kind`.
    fn attributes(&mut self, kind: BuurtKind, apartment: bool) -> Addr {
        const RES: &[(u8, f64)] = &[
            (0, 0.925),
            (1, 0.015),
            (2, 0.01),
            (3, 0.02),
            (4, 0.01),
            (6, 0.005),
            (8, 0.005),
            (9, 0.003),
            (11, 0.007),
        ];
        const MIXED: &[(u8, f64)] = &[
            (0, 0.58),
            (1, 0.08),
            (2, 0.03),
            (3, 0.13),
            (4, 0.09),
            (5, 0.02),
            (6, 0.03),
            (7, 0.01),
            (8, 0.02),
            (10, 0.01),
            (11, 0.01),
        ];
        const BUSINESS: &[(u8, f64)] = &[
            (0, 0.06),
            (2, 0.02),
            (3, 0.08),
            (4, 0.40),
            (5, 0.30),
            (12, 0.06),
            (6, 0.03),
            (10, 0.02),
            (11, 0.03),
        ];
        let table = match kind {
            BuurtKind::Residential => RES,
            BuurtKind::Mixed => MIXED,
            BuurtKind::Business => BUSINESS,
        };
        let doel = random::weighted_value(self.rng, table);
        let residential = doel < RESIDENTIAL_DOELEN;
        let oppervlakte = if residential {
            if apartment {
                random::between(self.rng, 30, 95) as f64
            } else {
                (105.0 * random::lognormal(self.rng, 0.3)).clamp(40.0, 450.0)
            }
        } else {
            let median = match doel {
                3 => 120.0,
                4 => 400.0,
                5 | 12 => 1500.0,
                _ => 300.0,
            };
            (median * random::lognormal(self.rng, 0.8)).clamp(15.0, 60_000.0)
        };
        Addr {
            postcode: 0,
            buurt: 0,
            huisnummer: 0,
            oppervlakte: oppervlakte.round() as u16,
            letter: 0,
            toevoeging: 0,
            doel,
            flags: if residential { RESIDENTIAL } else { 0 },
        }
    }

    /// The row of an address with the given fields.
    #[allow(clippy::too_many_arguments)]
    fn row(
        &mut self,
        id: String,
        street: &Street,
        huisnummer: String,
        letter: u8,
        toevoeging: u8,
        doel: u8,
        oppervlakte: u16,
        (x, y): (f64, f64),
    ) -> [String; 13] {
        let sloppy = !self.clean && random::chance(self.rng, 0.02);
        let opp = if !self.clean && oppervlakte >= 1000 && random::chance(self.rng, 0.5) {
            fmt::grouped(u64::from(oppervlakte))
        } else {
            oppervlakte.to_string()
        };
        let bouwjaar = if random::chance(self.rng, 0.03) {
            random::between(self.rng, 1900, 1974)
        } else {
            random::between(self.rng, 1975, 2025)
        };
        let status = if random::chance(self.rng, 0.015) {
            STATUS_NIET_INGEMETEN
        } else {
            STATUS_IN_GEBRUIK
        };
        [
            id,
            fmt::postcode(street.postcode, sloppy),
            huisnummer,
            if letter == 0 {
                String::new()
            } else {
                char::from(letter).to_string()
            },
            toevoeging
                .checked_sub(1)
                .and_then(|t| TOEVOEGINGEN.get(usize::from(t)))
                .map_or_else(String::new, |t| (*t).to_owned()),
            street.name.clone(),
            street.plaats.clone(),
            GEBRUIKSDOELEN[usize::from(doel)].to_owned(),
            opp,
            bouwjaar.to_string(),
            status.to_owned(),
            fmt::decimal(x, 3, false),
            fmt::decimal(y, 3, false),
        ]
    }

    /// Records and writes a valid address, then maybe an invalid row.
    fn emit(
        &mut self,
        world: &mut World<'_>,
        addr: Addr,
        street: &Street,
        point: (f64, f64),
    ) -> Result<(), SynthError> {
        let a = world.addrs.len() as u32;
        world.addrs.push(addr);
        if addr.residential() {
            world.residential.push(a);
        } else {
            world.nonresidential.push(a);
        }
        let row = self.row(
            world.address_id(a),
            street,
            addr.huisnummer.to_string(),
            addr.letter,
            addr.toevoeging,
            addr.doel,
            addr.oppervlakte,
            point,
        );
        self.sink.row(&row)?;
        if let Some(c) = self.inj.draw(self.rng) {
            self.emit_invalid(world, street, point, c)?;
        }
        Ok(())
    }

    /// Writes an invalid row: a fresh address (identificatie and house
    /// number nothing refers to) with one corrupted field.
    fn emit_invalid(
        &mut self,
        world: &World<'_>,
        street: &Street,
        point: (f64, f64),
        c: Corruption,
    ) -> Result<(), SynthError> {
        let k = self.invalid_seq;
        self.invalid_seq += 1;
        let id = format!("{}01{:010}", world.default_gm, 8_000_000_000 + k);
        let attrs = self.attributes(BuurtKind::Mixed, false);
        let mut row = self.row(
            id,
            street,
            (5000 + k).to_string(),
            0,
            0,
            attrs.doel,
            attrs.oppervlakte,
            point,
        );
        c.apply(&mut row, self.rng);
        self.sink.row(&row)
    }
}
