//! Planting invalid rows, and counting them exactly.
//!
//! An invalid row starts as a freshly generated *valid* row of its source
//! (with identifiers that nothing else references) and then has exactly one
//! field replaced by one [`Corruption`]: one rule, one column. So the number
//! of rows an ingest must quarantine under each rule is exactly the tally
//! kept here. Invalid rows are extra rows: they are interleaved with the
//! valid rows at random but never replace one, so the valid world (and the
//! indicators computed from it) is the same whether or not they are there.

use std::collections::BTreeMap;

use knooppunt_core::{Rule, bsn_passes_eleven_check};

use crate::random::{self, Rand};

/// The bad value a [`Corruption`] writes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bad {
    /// The empty string (a required field left blank).
    Empty,
    /// One of these literal texts.
    OneOf(&'static [&'static str]),
    /// This many random digits (an identifier of the wrong length).
    Digits(usize),
    /// Nine digits starting with `99` that fail the BSN 11-check.
    FailingBsn,
}

/// One way to make a row invalid: a bad value in one column, violating one rule.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Corruption {
    /// The rule the row violates.
    pub(crate) rule: Rule,
    /// The column (index in the header) that gets the bad value.
    pub(crate) column: usize,
    /// The bad value.
    pub(crate) bad: Bad,
}

impl Corruption {
    /// The bad text for this corruption.
    pub(crate) fn value(&self, rng: &mut Rand) -> String {
        match self.bad {
            Bad::Empty => String::new(),
            Bad::OneOf(options) => (*random::pick(rng, options)).to_owned(),
            Bad::Digits(n) => (0..n)
                .map(|_| char::from(b'0' + random::between(rng, 0, 9) as u8))
                .collect(),
            Bad::FailingBsn => failing_bsn(rng),
        }
    }

    /// Replaces this corruption's column of `row` with a bad value.
    pub(crate) fn apply(&self, row: &mut [String], rng: &mut Rand) {
        let value = self.value(rng);
        if let Some(field) = row.get_mut(self.column) {
            *field = value;
        }
    }
}

/// Nine digits starting with `99` whose last digit breaks the 11-check.
fn failing_bsn(rng: &mut Rand) -> String {
    let prefix = 99_000_000 + random::between(rng, 0, 999_999) as u32;
    let remainder = crate::persons::eleven_check_remainder(prefix);
    // The check digit must equal the remainder; any other digit fails.
    let digit = (remainder + 1) % 10;
    let bsn = format!("{prefix:08}{digit}");
    debug_assert!(!bsn_passes_eleven_check(&bsn));
    bsn
}

/// Decides where invalid rows go and tallies them per rule.
pub(crate) struct Injector {
    corruptions: &'static [Corruption],
    rate: f64,
    counts: BTreeMap<Rule, u64>,
}

/// Share of rows that are planted invalid in a source (per valid row).
pub(crate) const DEFAULT_RATE: f64 = 0.002;

impl Injector {
    /// An injector drawing from `corruptions` at `rate` per valid row;
    /// `clean` turns it off.
    pub(crate) fn new(corruptions: &'static [Corruption], rate: f64, clean: bool) -> Self {
        Injector {
            corruptions: if clean { &[] } else { corruptions },
            rate,
            counts: BTreeMap::new(),
        }
    }

    /// After a valid row: maybe the corruption for an invalid row to write
    /// next (already tallied).
    pub(crate) fn draw(&mut self, rng: &mut Rand) -> Option<Corruption> {
        if self.corruptions.is_empty() || !random::chance(rng, self.rate) {
            return None;
        }
        let c = *random::pick(rng, self.corruptions);
        *self.counts.entry(c.rule).or_default() += 1;
        Some(c)
    }

    /// At the end of a file: one corruption (tallied) for each rule of this
    /// source that has not been planted yet, so every rule occurs at least
    /// once even in tiny sets.
    pub(crate) fn top_up(&mut self) -> Vec<Corruption> {
        let mut out: Vec<Corruption> = Vec::new();
        for c in self.corruptions {
            if self.counts.get(&c.rule).copied().unwrap_or(0) == 0 {
                self.counts.insert(c.rule, 1);
                out.push(*c);
            }
        }
        out
    }

    /// Invalid rows planted per rule code, with every rule listed (0 when
    /// none).
    pub(crate) fn tally(&self) -> BTreeMap<String, u64> {
        Rule::ALL
            .iter()
            .map(|r| {
                (
                    r.code().to_owned(),
                    self.counts.get(r).copied().unwrap_or(0),
                )
            })
            .collect()
    }

    /// Total invalid rows planted.
    pub(crate) fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// Invalid dates: well-formed but non-existent days or months.
pub(crate) const BAD_DATES: &[&str] = &[
    "31-02-2023",
    "2023-13-01",
    "30-02-2025",
    "29-02-2025",
    "2024-00-10",
];

/// Text that no number parser accepts.
pub(crate) const BAD_NUMBERS: &[&str] = &["12,3,4", "abc", "12x", "1,2,3"];

/// Postcodes of the wrong shape.
pub(crate) const BAD_POSTCODES: &[&str] = &["12AB34", "123AB", "AB1234", "1234A"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_bsns_fail() {
        let mut rng = random::stream(3, 9);
        for _ in 0..1000 {
            let bsn = failing_bsn(&mut rng);
            assert_eq!(bsn.len(), 9);
            assert!(bsn.starts_with("99"));
            assert!(!bsn_passes_eleven_check(&bsn), "{bsn}");
        }
    }

    #[test]
    fn top_up_covers_every_rule_once() {
        static CS: &[Corruption] = &[
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
                rule: Rule::InvalidCode,
                column: 1,
                bad: Bad::Digits(3),
            },
        ];
        let mut inj = Injector::new(CS, 0.0, false);
        let mut rng = random::stream(1, 1);
        assert!(inj.draw(&mut rng).is_none());
        assert_eq!(inj.top_up().len(), 2);
        assert!(inj.top_up().is_empty());
        assert_eq!(inj.total(), 2);
        assert_eq!(inj.tally()["missing_required"], 1);
        assert_eq!(inj.tally()["bsn_checksum"], 0);
        let mut clean = Injector::new(CS, 1.0, true);
        assert!(clean.draw(&mut rng).is_none() && clean.top_up().is_empty());
    }
}
