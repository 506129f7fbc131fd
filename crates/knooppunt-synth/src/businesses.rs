//! `kvk_vestigingen.csv`: business establishments.
//!
//! Companies have one establishment (a few have two or three) at a BAG
//! address, written as postcode + huisnummer (+ letter, toevoeging); about
//! 1% carry a house number that no BAG address has (the unlinked count).
//! Some establishments closed, some of those reopened under the same
//! `kvk_nummer`. Cash-intensive SBI classes (INDICATORS.md) make up ~15%.
//! In hotspot buurten a few addresses hold 5–12 active establishments,
//! cash-intensive classes reach ~45%, churn is higher, and young property
//! companies are registered there (the buyers in `vastgoed`).
//!
//! Quirks (not clean): Windows-1252, `\r\n`, a messy header, trade names
//! with accents, quotes, `;` and embedded newlines, postcodes now and then
//! written `1234 ab`, SBI codes with a leading zero (`01130`).

use knooppunt_core::{Rule, Source};

use crate::addresses::TOEVOEGINGEN;
use crate::fmt::{self, DateStyle, Day};
use crate::invalid::{BAD_DATES, BAD_POSTCODES, Bad, Corruption, DEFAULT_RATE, Injector};
use crate::random::{self, Rand};
use crate::world::World;
use crate::writer::{CsvSink, CsvStyle, Encoding};
use crate::{Ctx, SourcePlan, SynthError};

const HEADER: [&str; 11] = [
    "kvk_nummer",
    "vestigingsnummer",
    "handelsnaam",
    "sbi_code",
    "rechtsvorm",
    "datum_inschrijving",
    "datum_opheffing",
    "postcode",
    "huisnummer",
    "huisletter",
    "huisnummertoevoeging",
];

static CORRUPTIONS: &[Corruption] = &[
    Corruption {
        rule: Rule::MissingRequired,
        column: 1,
        bad: Bad::Empty,
    },
    Corruption {
        rule: Rule::MissingRequired,
        column: 3,
        bad: Bad::Empty,
    },
    Corruption {
        rule: Rule::InvalidDate,
        column: 5,
        bad: Bad::OneOf(BAD_DATES),
    },
    Corruption {
        rule: Rule::InvalidDate,
        column: 6,
        bad: Bad::OneOf(BAD_DATES),
    },
    Corruption {
        rule: Rule::InvalidNumber,
        column: 8,
        bad: Bad::OneOf(&["abc", "1,2,3"]),
    },
    Corruption {
        rule: Rule::InvalidCode,
        column: 0,
        bad: Bad::Digits(7),
    },
    Corruption {
        rule: Rule::InvalidCode,
        column: 1,
        bad: Bad::Digits(11),
    },
    Corruption {
        rule: Rule::InvalidCode,
        column: 3,
        bad: Bad::OneOf(&["56A0", "47X1", "9G02", "ABC"]),
    },
    Corruption {
        rule: Rule::InvalidCode,
        column: 7,
        bad: Bad::OneOf(BAD_POSTCODES),
    },
];

/// Establishments in a municipality of 150,000 inhabitants (scale 1).
const ESTABLISHMENTS_PER_SCALE: f64 = 15_000.0;

/// A group of SBI codes with trade-name words.
struct Sector {
    codes: &'static [&'static str],
    names: &'static [&'static str],
    weight: f64,
}

/// Cash-intensive classes (INDICATORS.md), by prefix.
const CASH: &[Sector] = &[
    Sector {
        codes: &["9602", "96021", "96022"],
        names: &["Kapsalon", "Beautysalon", "Barbershop", "Nagelstudio"],
        weight: 4.0,
    },
    Sector {
        codes: &["5610", "56101", "56102"],
        names: &["Snackbar", "Restaurant", "Eethuis", "Pizzeria", "Grillroom"],
        weight: 3.5,
    },
    Sector {
        codes: &["5630", "56300"],
        names: &["Café", "Bar", "Lounge"],
        weight: 1.2,
    },
    Sector {
        codes: &["4511", "45111", "4519"],
        names: &["Autohandel", "Autocentrum"],
        weight: 1.2,
    },
    Sector {
        codes: &["4520", "45201"],
        names: &["Autobedrijf", "Garage", "Bandenservice"],
        weight: 1.0,
    },
    Sector {
        codes: &["4771", "47711"],
        names: &["Boutique", "Modehuis"],
        weight: 1.2,
    },
    Sector {
        codes: &["4777"],
        names: &["Juwelier", "Goudsmid"],
        weight: 0.3,
    },
    Sector {
        codes: &["4742"],
        names: &["Telecomshop", "Phone Repair"],
        weight: 0.3,
    },
    Sector {
        codes: &["9604"],
        names: &["Sauna", "Wellness"],
        weight: 0.3,
    },
    Sector {
        codes: &["9200", "92009"],
        names: &["Speelhal", "Casino"],
        weight: 0.1,
    },
    Sector {
        codes: &["5510"],
        names: &["Hotel", "Pension"],
        weight: 0.4,
    },
    Sector {
        codes: &["6612"],
        names: &["Geldwissel", "Wisselkantoor"],
        weight: 0.05,
    },
    Sector {
        codes: &["4941", "49410"],
        names: &["Transport", "Koeriersdienst", "Logistiek"],
        weight: 1.5,
    },
];

/// Everything else.
const OTHER: &[Sector] = &[
    Sector {
        codes: &["6201", "62010"],
        names: &["IT-diensten", "Software"],
        weight: 7.0,
    },
    Sector {
        codes: &["7022", "70221"],
        names: &["Advies", "Consultancy"],
        weight: 10.0,
    },
    Sector {
        codes: &["4120", "43221", "4332"],
        names: &["Bouwbedrijf", "Klusbedrijf", "Installatietechniek"],
        weight: 8.0,
    },
    Sector {
        codes: &["8690", "86921"],
        names: &["Praktijk", "Fysiotherapie"],
        weight: 5.0,
    },
    Sector {
        codes: &["7311", "7410"],
        names: &["Reclamebureau", "Ontwerpstudio"],
        weight: 5.0,
    },
    Sector {
        codes: &["8559", "85592"],
        names: &["Bijles", "Opleidingen"],
        weight: 4.0,
    },
    Sector {
        codes: &["01130", "0113", "01410"],
        names: &["Kwekerij", "Tuinderij", "Veehouderij"],
        weight: 1.0,
    },
    Sector {
        codes: &["4791", "47910"],
        names: &["Webshop"],
        weight: 6.0,
    },
    Sector {
        codes: &["4711"],
        names: &["Supermarkt"],
        weight: 1.0,
    },
    Sector {
        codes: &["1071", "10711"],
        names: &["Bakkerij", "Banketbakkerij"],
        weight: 0.8,
    },
    Sector {
        codes: &["9001", "90011"],
        names: &["Muziek", "Theaterproducties"],
        weight: 3.0,
    },
    Sector {
        codes: &["7111"],
        names: &["Architectenbureau"],
        weight: 2.0,
    },
    Sector {
        codes: &["6910"],
        names: &["Advocatenkantoor", "Notariskantoor"],
        weight: 2.0,
    },
    Sector {
        codes: &["8121", "81210"],
        names: &["Schoonmaakbedrijf", "Glazenwasserij"],
        weight: 3.0,
    },
    Sector {
        codes: &["4939"],
        names: &["Taxi"],
        weight: 2.0,
    },
    Sector {
        codes: &["9329"],
        names: &["Evenementen"],
        weight: 2.0,
    },
    HOLDING,
];

/// Property and holding companies: the legal-person buyers of `vastgoed`.
const HOLDING: Sector = Sector {
    codes: &["6810", "68100", "6420", "64"],
    names: &["Vastgoed", "Onroerend Goed", "Holding", "Beheer"],
    weight: 3.0,
};

const SURNAMES: &[&str] = &[
    "Jansen",
    "de Vries",
    "van den Berg",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "Dekker",
    "Öztürk",
    "Zoë",
    "Sánchez",
    "Müller",
    "François",
    "El Idrissi",
    "Kaya",
    "Nguyen",
    "Çelik",
    "Boateng",
    "Da Silva",
    "Noël",
];

const WORDS: &[&str] = &[
    "De Zon",
    "Het Anker",
    "De Hoek",
    "Centrum",
    "Noord",
    "Oost",
    "Zuid",
    "West",
    "De Molen",
    "Het Plein",
    "Bij Ons",
    "Bella",
    "Flevo",
    "Almere",
    "Royal",
    "Express",
];

/// Trade names written with quotes, `;` or a newline (not clean).
const AWKWARD_NAMES: &[&str] = &[
    "Bakkerij \"De Zon\"; Jansen\nvestiging 2",
    "Eethuis \"Het Hoekje\"",
    "Jansen & Zn; Installatie",
    "Kapsalon Zoë;\nHair & Beauty",
];

const RECHTSVORMEN: &[(&str, f64)] = &[
    ("Eenmanszaak", 0.55),
    ("Besloten Vennootschap", 0.28),
    ("Vennootschap onder firma", 0.08),
    ("Stichting", 0.04),
    ("Commanditaire Vennootschap", 0.02),
    ("Vereniging", 0.02),
    ("Coöperatie", 0.005),
    ("Naamloze Vennootschap", 0.005),
];

/// A property or holding company that can buy real estate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Holding {
    /// Its company number (index for [`kvk_number`]).
    pub(crate) company: u64,
    /// Its registration date (earliest `datum_inschrijving`).
    pub(crate) registered: Day,
    /// Registered in the last 14 months in a hotspot: a young buyer.
    pub(crate) young: bool,
}

/// What `vastgoed` needs from the KvK file.
pub(crate) struct Companies {
    /// Holding and property companies in the file.
    pub(crate) holdings: Vec<Holding>,
}

/// The eight-digit `kvk_nummer` of company `i` (a bijection on `0..10^8`,
/// so distinct companies never share a number; ~10% have a leading zero).
pub(crate) fn kvk_number(i: u64) -> String {
    format!("{:08}", (10_000_003 + i * 48_271) % 100_000_000)
}

/// The twelve-digit `vestigingsnummer` of establishment `i`.
fn vestigingsnummer(i: u64) -> String {
    format!("{:012}", (123_456_789 + i * 7_919) % 1_000_000_000_000)
}

/// Company numbers from here on are never written to the KvK file
/// (buyers registered elsewhere).
pub(crate) const EXTERNAL_COMPANIES: u64 = 90_000_000;

fn style(clean: bool) -> CsvStyle {
    if clean {
        CsvStyle::CLEAN
    } else {
        CsvStyle {
            encoding: Encoding::Windows1252,
            crlf: true,
            messy_header: true,
        }
    }
}

/// Where an establishment is.
#[derive(Debug, Clone, Copy)]
enum Site {
    /// A BAG address.
    Address(u32),
    /// The postcode of a BAG address with a house number no address has.
    Unknown { postcode: u32, huisnummer: u32 },
}

/// One establishment row to write.
struct Vestiging<'a> {
    company: u64,
    name: &'a str,
    sbi: &'a str,
    rechtsvorm: &'a str,
    start: Day,
    end: Option<Day>,
    site: Site,
}

/// Writes the KvK file.
pub(crate) fn generate(
    ctx: &Ctx,
    world: &World<'_>,
) -> Result<(SourcePlan, Companies), SynthError> {
    let path = ctx.out.join(Source::Kvk.file_name());
    let mut rng = random::stream(ctx.seed, random::streams::KVK);
    let mut sink = CsvSink::create(&path, style(ctx.clean), &HEADER)?;
    let mut inj = Injector::new(CORRUPTIONS, DEFAULT_RATE, ctx.clean);
    let mut g = KvkGen {
        rng: &mut rng,
        sink: &mut sink,
        inj: &mut inj,
        world,
        clean: ctx.clean,
        peil: fmt::peildatum(),
        companies: 0,
        vestigingen: 0,
        unlinked: 0,
        holdings: Vec::new(),
    };
    g.forced_names()?;
    g.clusters()?;
    g.young_holdings()?;
    let target = (ESTABLISHMENTS_PER_SCALE * ctx.scale).round() as u64;
    while g.sink.rows() - g.inj.total() < target {
        g.company()?;
    }
    for c in g.inj.top_up() {
        g.invalid(c)?;
    }
    let unlinked = g.unlinked;
    let holdings = std::mem::take(&mut g.holdings);
    let invalid = inj.tally();
    let rows = sink.finish()?;
    Ok((
        SourcePlan {
            file: Source::Kvk.file_name().to_owned(),
            rows,
            invalid,
            unlinked,
        },
        Companies { holdings },
    ))
}

/// The state of KvK generation.
struct KvkGen<'r, 'w> {
    rng: &'r mut Rand,
    sink: &'r mut CsvSink,
    inj: &'r mut Injector,
    world: &'r World<'w>,
    clean: bool,
    peil: Day,
    companies: u64,
    vestigingen: u64,
    unlinked: u64,
    holdings: Vec<Holding>,
}

impl KvkGen<'_, '_> {
    fn new_company(&mut self) -> u64 {
        let c = self.companies;
        self.companies += 1;
        c
    }

    fn sector(&mut self, hot: bool) -> &'static Sector {
        let cash = random::chance(self.rng, if hot { 0.45 } else { 0.15 });
        let group = if cash { CASH } else { OTHER };
        let table: Vec<(usize, f64)> = group
            .iter()
            .enumerate()
            .map(|(i, s)| (i, s.weight))
            .collect();
        &group[random::weighted_value(self.rng, &table)]
    }

    fn trade_name(&mut self, sector: &Sector) -> String {
        if !self.clean && random::chance(self.rng, 0.003) {
            return (*random::pick(self.rng, AWKWARD_NAMES)).to_owned();
        }
        let word = random::pick(self.rng, sector.names);
        match random::index(self.rng, 3) {
            0 => format!("{word} {}", random::pick(self.rng, SURNAMES)),
            1 => format!("{} {word}", random::pick(self.rng, SURNAMES)),
            _ => format!("{word} {}", random::pick(self.rng, WORDS)),
        }
    }

    fn rechtsvorm(&mut self) -> &'static str {
        random::weighted_value(self.rng, RECHTSVORMEN)
    }

    /// A site for a regular establishment.
    fn site(&mut self) -> Site {
        // The first establishment is always unlinked, so even tiny sets
        // have one.
        if self.unlinked == 0 || random::chance(self.rng, 0.01) {
            let a = self.world.any_address(self.rng);
            return Site::Unknown {
                postcode: self.world.addrs[a as usize].postcode,
                // Streets never run this high, so no BAG address matches.
                huisnummer: random::between(self.rng, 2000, 2999) as u32,
            };
        }
        if !self.world.hotspots.is_empty()
            && random::chance(self.rng, 0.10)
            && let Some(a) = self.world.hotspot_address(self.rng)
        {
            return Site::Address(a);
        }
        if random::chance(self.rng, 0.45)
            && let Some(a) = self.world.any_nonresidential(self.rng)
        {
            return Site::Address(a);
        }
        Site::Address(self.world.any_address(self.rng))
    }

    fn row(&mut self, v: &Vestiging<'_>) -> [String; 11] {
        let vest = self.vestigingen;
        self.vestigingen += 1;
        let sloppy = !self.clean && random::chance(self.rng, 0.03);
        let (postcode, huisnummer, letter, toevoeging) = match v.site {
            Site::Address(a) => {
                let addr = self.world.addrs[a as usize];
                (
                    addr.postcode,
                    u32::from(addr.huisnummer),
                    if addr.letter == 0 {
                        String::new()
                    } else {
                        char::from(addr.letter).to_string()
                    },
                    addr.toevoeging
                        .checked_sub(1)
                        .and_then(|t| TOEVOEGINGEN.get(usize::from(t)))
                        .map_or_else(String::new, |t| (*t).to_owned()),
                )
            }
            Site::Unknown {
                postcode,
                huisnummer,
            } => (postcode, huisnummer, String::new(), String::new()),
        };
        [
            kvk_number(v.company),
            vestigingsnummer(vest),
            v.name.to_owned(),
            v.sbi.to_owned(),
            v.rechtsvorm.to_owned(),
            fmt::date(v.start, DateStyle::Dmy),
            v.end
                .map_or_else(String::new, |d| fmt::date(d, DateStyle::Dmy)),
            fmt::postcode(postcode, sloppy),
            huisnummer.to_string(),
            letter,
            toevoeging,
        ]
    }

    /// Writes a valid establishment, then maybe an invalid row.
    fn emit(&mut self, v: &Vestiging<'_>) -> Result<(), SynthError> {
        debug_assert!(v.start <= self.peil && v.end.is_none_or(|e| e > v.start && e <= self.peil));
        // Unknown addresses do not link; addresses outside every buurt link
        // to BAG but not to a buurt. Both end up in buurt onbekend.
        let unlinked = match v.site {
            Site::Unknown { .. } => true,
            Site::Address(a) => self.world.buurt_of(a).is_none(),
        };
        if unlinked {
            self.unlinked += 1;
        }
        let row = self.row(v);
        self.sink.row(&row)?;
        if let Some(c) = self.inj.draw(self.rng) {
            self.invalid(c)?;
        }
        Ok(())
    }

    /// An invalid row: a fresh company with one bad field.
    fn invalid(&mut self, c: Corruption) -> Result<(), SynthError> {
        let company = self.new_company();
        let sector = self.sector(false);
        let name = self.trade_name(sector);
        let start = self.peil - random::between(self.rng, 30, 5000) as Day;
        let end =
            random::chance(self.rng, 0.5).then(|| start + random::between(self.rng, 1, 29) as Day);
        let sbi = *random::pick(self.rng, sector.codes);
        let v = Vestiging {
            company,
            name: &name,
            sbi,
            rechtsvorm: "Eenmanszaak",
            start,
            end,
            site: Site::Address(self.world.any_address(self.rng)),
        };
        let mut row = self.row(&v);
        c.apply(&mut row, self.rng);
        self.sink.row(&row)
    }

    /// Two establishments with names that test quoting and encoding.
    fn forced_names(&mut self) -> Result<(), SynthError> {
        let names: [(&str, &str); 2] = if self.clean {
            [("Bakkerij De Zon", "1071"), ("Café Zoë", "5630")]
        } else {
            [
                ("Bakkerij \"De Zon\"; Jansen\nvestiging 2", "1071"),
                ("Café Zoë", "5630"),
            ]
        };
        for (name, sbi) in names {
            let company = self.new_company();
            let start = self.peil - random::between(self.rng, 400, 9000) as Day;
            let site = self.site();
            self.emit(&Vestiging {
                company,
                name,
                sbi,
                rechtsvorm: "Eenmanszaak",
                start,
                end: None,
                site,
            })?;
        }
        Ok(())
    }

    /// Addresses holding five or more active establishments: several per
    /// hotspot, and a rare business centre elsewhere.
    fn clusters(&mut self) -> Result<(), SynthError> {
        let world = self.world;
        let per_hotspot = (4.0 * world.scale).round().max(1.0) as usize;
        for b in 0..world.buurten.len() {
            let hot = world.buurten[b].hotspot;
            let count = if hot {
                per_hotspot
            } else if random::chance(self.rng, 0.03) {
                1
            } else {
                0
            };
            for _ in 0..count {
                let Some(a) = world
                    .address_in_with(self.rng, b, false)
                    .or_else(|| world.address_in(self.rng, b))
                else {
                    continue;
                };
                let n = if hot {
                    random::between(self.rng, 5, 12)
                } else {
                    random::between(self.rng, 5, 8)
                };
                for _ in 0..n {
                    let company = self.new_company();
                    let sector = self.sector(hot);
                    let name = self.trade_name(sector);
                    let start = self.peil - random::between(self.rng, 30, 1100) as Day;
                    let rechtsvorm = if random::chance(self.rng, 0.6) {
                        "Besloten Vennootschap"
                    } else {
                        "Eenmanszaak"
                    };
                    let sbi = *random::pick(self.rng, sector.codes);
                    self.emit(&Vestiging {
                        company,
                        name: &name,
                        sbi,
                        rechtsvorm,
                        start,
                        end: None,
                        site: Site::Address(a),
                    })?;
                }
            }
        }
        Ok(())
    }

    /// Property companies registered in the last 14 months in hotspots.
    fn young_holdings(&mut self) -> Result<(), SynthError> {
        if self.world.hotspots.is_empty() {
            return Ok(());
        }
        let n = (12.0 * self.world.scale).round().max(2.0) as usize;
        for _ in 0..n {
            let Some(a) = self.world.hotspot_address(self.rng) else {
                continue;
            };
            let company = self.new_company();
            let start = self.peil - random::between(self.rng, 30, 420) as Day;
            let name = self.trade_name(&HOLDING);
            let sbi = *random::pick(self.rng, &["6810", "68100"]);
            self.emit(&Vestiging {
                company,
                name: &name,
                sbi,
                rechtsvorm: "Besloten Vennootschap",
                start,
                end: None,
                site: Site::Address(a),
            })?;
            self.holdings.push(Holding {
                company,
                registered: start,
                young: true,
            });
        }
        Ok(())
    }

    /// A regular company with one to three establishments, some closed and
    /// some of those reopened.
    fn company(&mut self) -> Result<(), SynthError> {
        let company = self.new_company();
        let first_site = self.site();
        let hot = matches!(first_site, Site::Address(a) if self.world.is_hotspot(a));
        let sector = self.sector(hot);
        let holding = sector.codes == HOLDING.codes;
        let rechtsvorm = if holding {
            "Besloten Vennootschap"
        } else {
            self.rechtsvorm()
        };
        let name = self.trade_name(sector);
        let sbi = *random::pick(self.rng, sector.codes);
        let branches = if random::chance(self.rng, 0.05) {
            random::between(self.rng, 2, 3)
        } else {
            1
        };
        let mean_age = if hot { 1500.0 } else { 3000.0 };
        let mut registered = self.peil;
        for i in 0..branches {
            let site = if i == 0 { first_site } else { self.site() };
            let mut start =
                self.peil - random::exponential(self.rng, mean_age).min(45.0 * 365.0) as Day;
            let closes = random::chance(self.rng, if hot { 0.30 } else { 0.10 });
            let end = if closes {
                let recent = random::chance(self.rng, if hot { 0.6 } else { 0.25 });
                let end = if recent {
                    self.peil - random::between(self.rng, 0, 364) as Day
                } else {
                    self.peil - random::between(self.rng, 365, 4000) as Day
                };
                if start >= end - 30 {
                    start = end - random::between(self.rng, 30, 2000) as Day;
                }
                Some(end)
            } else {
                None
            };
            registered = registered.min(start);
            self.emit(&Vestiging {
                company,
                name: &name,
                sbi,
                rechtsvorm,
                start,
                end,
                site,
            })?;
            if let Some(end) = end
                && end < self.peil
                && random::chance(self.rng, 0.2)
            {
                // Reopened: same company, new establishment, same place.
                let reopened = (end + random::between(self.rng, 1, 90) as Day).min(self.peil);
                self.emit(&Vestiging {
                    company,
                    name: &name,
                    sbi,
                    rechtsvorm,
                    start: reopened,
                    end: None,
                    site,
                })?;
            }
        }
        if holding {
            self.holdings.push(Holding {
                company,
                registered,
                young: false,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_their_lengths_and_are_distinct() {
        let kvk: std::collections::BTreeSet<String> = (0..100_000).map(kvk_number).collect();
        assert_eq!(kvk.len(), 100_000);
        assert!(kvk.iter().all(|k| k.len() == 8));
        assert!(kvk.iter().any(|k| k.starts_with('0')));
        assert_eq!(vestigingsnummer(5).len(), 12);
        assert_ne!(kvk_number(EXTERNAL_COMPANIES), kvk_number(0));
    }

    #[test]
    fn names_are_windows_1252() {
        let all = SURNAMES
            .iter()
            .chain(WORDS)
            .chain(AWKWARD_NAMES)
            .chain(CASH.iter().chain(OTHER).flat_map(|s| s.names))
            .chain(RECHTSVORMEN.iter().map(|(r, _)| r));
        for s in all {
            let (_, _, unmappable) = encoding_rs::WINDOWS_1252.encode(s);
            assert!(!unmappable, "{s}");
        }
    }
}
