//! `brp_inschrijvingen.csv`: who is (and was) registered where.
//!
//! Every residential address gets a household (some stay empty); people
//! have earlier registrations elsewhere in the municipality, former
//! residents have ended registrations, transients string together short
//! stays (< 183 days) and leave, and some people have a briefadres (`B`).
//! Hotspot buurten get planted overcrowded dwellings (many adults on a
//! small floor area), far more transients and more briefadressen.
//!
//! BSNs are synthetic and pass the 11-check. They come from the `99`
//! test range (about 909,000 numbers, enough up to scale ~4); a larger run
//! continues with `98…`, `97…` and so on, still synthetic but no longer
//! recognisable as test numbers. Every date lies on or before the peildatum
//! and an ended registration always ends after it starts.
//!
//! Quirks (not clean): 3% of rows spell their dates `yyyy-mm-dd`.

use knooppunt_core::{Rule, Source, bsn_passes_eleven_check};

use crate::fmt::{self, DateStyle, Day};
use crate::invalid::{BAD_DATES, Bad, Corruption, DEFAULT_RATE, Injector};
use crate::random::{self, Rand};
use crate::world::World;
use crate::writer::{CsvSink, CsvStyle};
use crate::{Ctx, SourcePlan, SynthError};

const HEADER: [&str; 6] = [
    "bsn",
    "geboortejaar",
    "adresseerbaarobject_id",
    "soort_adres",
    "datum_inschrijving",
    "datum_uitschrijving",
];

static CORRUPTIONS: &[Corruption] = &[
    Corruption {
        rule: Rule::MissingRequired,
        column: 2,
        bad: Bad::Empty,
    },
    Corruption {
        rule: Rule::MissingRequired,
        column: 4,
        bad: Bad::Empty,
    },
    Corruption {
        rule: Rule::BsnChecksum,
        column: 0,
        bad: Bad::FailingBsn,
    },
    Corruption {
        rule: Rule::InvalidDate,
        column: 4,
        bad: Bad::OneOf(BAD_DATES),
    },
    Corruption {
        rule: Rule::InvalidDate,
        column: 5,
        bad: Bad::OneOf(BAD_DATES),
    },
    Corruption {
        rule: Rule::InvalidNumber,
        column: 1,
        bad: Bad::OneOf(&["19x5", "abc", "1,9,8"]),
    },
    Corruption {
        rule: Rule::InvalidCode,
        column: 2,
        bad: Bad::Digits(15),
    },
    Corruption {
        rule: Rule::InvalidValue,
        column: 3,
        bad: Bad::OneOf(&["X", "Z", "Q"]),
    },
];

/// Share of valid registrations at an address that does not exist in BAG.
const DANGLING_SHARE: f64 = 0.002;

/// `(9*d1 + 8*d2 + ... + 2*d8) mod 11` of an eight-digit prefix: the check
/// digit a valid BSN must end with (no valid BSN when it is 10).
pub(crate) fn eleven_check_remainder(prefix: u32) -> u32 {
    let mut p = prefix;
    let mut sum = 0;
    for weight in 2..=9 {
        sum += (p % 10) * weight;
        p /= 10;
    }
    sum % 11
}

/// Hands out distinct valid synthetic BSNs, `99` range first.
pub(crate) struct BsnGen {
    block: u32,
    offset: u32,
}

impl BsnGen {
    /// Starts at `990000000`.
    pub(crate) fn new() -> Self {
        BsnGen {
            block: 99,
            offset: 0,
        }
    }

    /// The next BSN.
    pub(crate) fn next_bsn(&mut self) -> Result<String, SynthError> {
        loop {
            if self.offset >= 1_000_000 {
                self.block -= 1;
                self.offset = 0;
                if self.block < 10 {
                    return Err(SynthError::config(
                        "scale too large: synthetic BSN range exhausted",
                    ));
                }
            }
            let prefix = self.block * 1_000_000 + self.offset;
            self.offset += 1;
            let check = eleven_check_remainder(prefix);
            if check <= 9 {
                let bsn = format!("{prefix:08}{check}");
                debug_assert!(bsn_passes_eleven_check(&bsn));
                return Ok(bsn);
            }
        }
    }
}

/// Per-buurt counts at the peildatum, for `kerncijfers_buurten.csv`.
pub(crate) struct Population {
    /// Current `W` registrations per buurt.
    pub(crate) inwoners: Vec<u64>,
    /// Addresses with at least one current `W` registration, per buurt.
    pub(crate) huishoudens: Vec<u64>,
}

/// Writes the BRP file; returns its plan and the population per buurt.
pub(crate) fn generate(
    ctx: &Ctx,
    world: &World<'_>,
) -> Result<(SourcePlan, Population), SynthError> {
    let path = ctx.out.join(Source::Brp.file_name());
    let mut rng = random::stream(ctx.seed, random::streams::BRP);
    let mut sink = CsvSink::create(&path, CsvStyle::CLEAN, &HEADER)?;
    let mut inj = Injector::new(CORRUPTIONS, DEFAULT_RATE, ctx.clean);
    let mut g = BrpGen {
        rng: &mut rng,
        sink: &mut sink,
        inj: &mut inj,
        world,
        bsn: BsnGen::new(),
        occupancy: vec![0; world.addrs.len()],
        inwoners: vec![0; world.buurten.len()],
        unlinked: 0,
        dangling: 0,
        clean: ctx.clean,
        peil: fmt::peildatum(),
    };
    for a in 0..world.addrs.len() as u32 {
        let addr = world.addrs[a as usize];
        let hot = world.is_hotspot(a);
        if addr.residential() {
            g.household(a)?;
            if random::chance(g.rng, 0.6) {
                g.former_resident(a)?;
            }
            let (p, max) = if hot { (0.08, 4) } else { (0.006, 1) };
            if random::chance(g.rng, p) {
                for _ in 0..random::between(g.rng, 1, max) {
                    g.transient(a)?;
                }
            }
        }
        let (p, max) = if hot { (0.05, 3) } else { (0.003, 1) };
        if random::chance(g.rng, p) {
            for _ in 0..random::between(g.rng, 1, max) {
                g.briefadres(a)?;
            }
        }
    }
    for c in g.inj.top_up() {
        g.invalid(c)?;
    }
    let mut huishoudens = vec![0u64; world.buurten.len()];
    for (a, n) in g.occupancy.iter().enumerate() {
        if *n > 0
            && let Some(b) = world.buurt_of(a as u32)
        {
            huishoudens[b] += 1;
        }
    }
    let population = Population {
        inwoners: std::mem::take(&mut g.inwoners),
        huishoudens,
    };
    let unlinked = g.unlinked;
    let invalid = inj.tally();
    let rows = sink.finish()?;
    let plan = SourcePlan {
        file: Source::Brp.file_name().to_owned(),
        rows,
        invalid,
        unlinked,
    };
    Ok((plan, population))
}

/// The state of BRP generation.
struct BrpGen<'r, 'w> {
    rng: &'r mut Rand,
    sink: &'r mut CsvSink,
    inj: &'r mut Injector,
    world: &'r World<'w>,
    bsn: BsnGen,
    /// Current `W` registrations per address (saturating).
    occupancy: Vec<u8>,
    inwoners: Vec<u64>,
    unlinked: u64,
    dangling: u64,
    clean: bool,
    peil: Day,
}

impl BrpGen<'_, '_> {
    fn peil_year(&self) -> i32 {
        fmt::year(self.peil)
    }

    /// A birth day in `year`, not after the peildatum.
    fn birth(&mut self, year: i32) -> Day {
        (fmt::day(year, 1, 1) + random::between(self.rng, 0, 364) as Day).min(self.peil)
    }

    /// Another residential address than `a` (or `a` when there is none).
    fn elsewhere(&mut self, a: u32) -> u32 {
        for _ in 0..4 {
            if let Some(p) = self.world.any_residential(self.rng)
                && p != a
            {
                return p;
            }
        }
        a
    }

    /// Writes one valid registration, then maybe an invalid row.
    fn reg(
        &mut self,
        bsn: &str,
        born: i32,
        a: u32,
        brief: bool,
        d_in: Day,
        d_out: Option<Day>,
    ) -> Result<(), SynthError> {
        let d_in = d_in.min(self.peil);
        // An ended registration ends after it starts and by the peildatum;
        // one that cannot is still current.
        let d_out = d_out.map(|d| d.min(self.peil)).filter(|d| *d > d_in);
        // The first registration is always unlinked, so even tiny sets have one.
        let id = if self.unlinked == 0 || random::chance(self.rng, DANGLING_SHARE) {
            self.unlinked += 1;
            self.dangling += 1;
            self.world.dangling_id(self.dangling)
        } else {
            if d_out.is_none() && !brief {
                let n = &mut self.occupancy[a as usize];
                *n = n.saturating_add(1);
                if let Some(b) = self.world.buurt_of(a) {
                    self.inwoners[b] += 1;
                }
            }
            // An address outside every buurt links to BAG but not to a buurt:
            // ingest counts the row as unlinked (buurt onbekend).
            if self.world.buurt_of(a).is_none() {
                self.unlinked += 1;
            }
            self.world.address_id(a)
        };
        let row = self.row(bsn.to_owned(), born, id, brief, d_in, d_out);
        self.sink.row(&row)?;
        if let Some(c) = self.inj.draw(self.rng) {
            self.invalid(c)?;
        }
        Ok(())
    }

    fn row(
        &mut self,
        bsn: String,
        born: i32,
        id: String,
        brief: bool,
        d_in: Day,
        d_out: Option<Day>,
    ) -> [String; 6] {
        let style = if !self.clean && random::chance(self.rng, 0.03) {
            DateStyle::Ymd
        } else {
            DateStyle::Dmy
        };
        [
            bsn,
            born.to_string(),
            id,
            if brief { "B" } else { "W" }.to_owned(),
            fmt::date(d_in, style),
            d_out.map_or_else(String::new, |d| fmt::date(d, style)),
        ]
    }

    /// An invalid row: a fresh person's registration with one bad field.
    fn invalid(&mut self, c: Corruption) -> Result<(), SynthError> {
        let bsn = self.bsn.next_bsn()?;
        let born = self.peil_year() - random::between(self.rng, 20, 70) as i32;
        let a = self.world.any_address(self.rng);
        let d_in = self.peil - random::between(self.rng, 100, 5000) as Day;
        let d_out =
            random::chance(self.rng, 0.5).then(|| d_in + random::between(self.rng, 1, 99) as Day);
        let mut row = self.row(bsn, born, self.world.address_id(a), false, d_in, d_out);
        c.apply(&mut row, self.rng);
        self.sink.row(&row)
    }

    /// The current household of residential address `a`, each member with
    /// some earlier registrations elsewhere.
    fn household(&mut self, a: u32) -> Result<(), SynthError> {
        let addr = self.world.addrs[a as usize];
        let opp = i64::from(addr.oppervlakte);
        let crowded = addr.crowded();
        let size = if crowded {
            // Overcrowded: oppervlakte < 12 m² per inhabitant, at least 4.
            ((opp / 12 + 1).max(4) + random::between(self.rng, 0, 2)).min(12)
        } else if random::chance(self.rng, 0.04) {
            0
        } else {
            let h = random::weighted_value(
                self.rng,
                &[
                    (1i64, 0.37),
                    (2, 0.32),
                    (3, 0.13),
                    (4, 0.12),
                    (5, 0.045),
                    (6, 0.015),
                ],
            );
            // Keep ordinary households clear of the overcrowding rule.
            if h >= 4 && opp < 12 * h { 3 } else { h }
        };
        let moved_in = if crowded {
            self.peil - random::between(self.rng, 20, 700) as Day
        } else {
            self.peil - random::exponential(self.rng, 3000.0).min(40.0 * 365.0) as Day
        };
        let year = self.peil_year();
        for i in 0..size {
            let child = !crowded && size >= 3 && i >= 2;
            let born = if child {
                year - random::between(self.rng, 0, 17) as i32
            } else if crowded {
                year - random::between(self.rng, 19, 45) as i32
            } else {
                year - random::between(self.rng, 20, 85) as i32
            };
            let birth = self.birth(born);
            let d_in = moved_in.max(birth);
            let bsn = self.bsn.next_bsn()?;
            if !child && random::chance(self.rng, 0.5) {
                self.earlier(&bsn, born, birth, a, d_in)?;
            }
            self.reg(&bsn, born, a, false, d_in, None)?;
        }
        Ok(())
    }

    /// One or two earlier (long) registrations elsewhere, ending on `until`.
    fn earlier(
        &mut self,
        bsn: &str,
        born: i32,
        birth: Day,
        a: u32,
        until: Day,
    ) -> Result<(), SynthError> {
        let adult = birth + 18 * 365;
        let mut spans: Vec<(u32, Day, Day)> = Vec::new();
        let mut end = until;
        loop {
            let start = end - random::between(self.rng, 300, 3500) as Day;
            if start < adult {
                break;
            }
            let p = self.elsewhere(a);
            spans.push((p, start, end));
            end = start;
            if spans.len() >= 2 || !random::chance(self.rng, 0.3) {
                break;
            }
        }
        for (p, start, end) in spans.into_iter().rev() {
            self.reg(bsn, born, p, false, start, Some(end))?;
        }
        Ok(())
    }

    /// Someone who lived at `a` for a year or more and has left.
    fn former_resident(&mut self, a: u32) -> Result<(), SynthError> {
        let start = self.peil - random::between(self.rng, 800, 9000) as Day;
        let end = (start + random::between(self.rng, 365, 3650) as Day).min(self.peil - 1);
        let latest_birth_year = fmt::year(start) - 18;
        let born =
            (self.peil_year() - random::between(self.rng, 25, 80) as i32).min(latest_birth_year);
        let bsn = self.bsn.next_bsn()?;
        self.reg(&bsn, born, a, false, start, Some(end))
    }

    /// A chain of one to three short stays (< 183 days), the first at `a`;
    /// most transients then leave the municipality, some stay at the last.
    fn transient(&mut self, a: u32) -> Result<(), SynthError> {
        let born = self.peil_year() - random::between(self.rng, 19, 40) as i32;
        let bsn = self.bsn.next_bsn()?;
        let stays = random::between(self.rng, 1, 3);
        let stays_on = random::chance(self.rng, 0.3);
        let mut end = self.peil - random::between(self.rng, 0, 420) as Day;
        let mut spans: Vec<(u32, Day, Day)> = Vec::new();
        for j in 0..stays {
            let start = end - random::between(self.rng, 20, 170) as Day;
            let p = if j == stays - 1 {
                a
            } else {
                match self.world.buurt_of(a) {
                    Some(b) => self.world.address_in_with(self.rng, b, true).unwrap_or(a),
                    None => a,
                }
            };
            spans.push((p, start, end));
            end = start;
        }
        for (i, (p, start, end)) in spans.into_iter().rev().enumerate() {
            let last = i as i64 == stays - 1;
            let d_out = if last && stays_on { None } else { Some(end) };
            self.reg(&bsn, born, p, false, start, d_out)?;
        }
        Ok(())
    }

    /// A current briefadres at `a`, often after a registration elsewhere.
    fn briefadres(&mut self, a: u32) -> Result<(), SynthError> {
        let born = self.peil_year() - random::between(self.rng, 20, 70) as i32;
        let bsn = self.bsn.next_bsn()?;
        let since = self.peil - random::between(self.rng, 10, 1500) as Day;
        if random::chance(self.rng, 0.5) {
            let p = self.elsewhere(a);
            let start = since - random::between(self.rng, 400, 4000) as Day;
            self.reg(&bsn, born, p, false, start, Some(since))?;
        }
        self.reg(&bsn, born, a, true, since, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bsns_are_distinct_valid_and_in_the_test_range() {
        let mut g = BsnGen::new();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..5000 {
            let bsn = g.next_bsn().expect("bsn");
            assert!(bsn.starts_with("99"), "{bsn}");
            assert!(bsn_passes_eleven_check(&bsn), "{bsn}");
            assert!(seen.insert(bsn));
        }
    }

    #[test]
    fn bsn_range_continues_below_99() {
        let mut g = BsnGen {
            block: 99,
            offset: 999_990,
        };
        let mut last = String::new();
        for _ in 0..20 {
            last = g.next_bsn().expect("bsn");
        }
        assert!(last.starts_with("98") && bsn_passes_eleven_check(&last));
    }
}
