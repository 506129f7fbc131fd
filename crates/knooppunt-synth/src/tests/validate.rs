//! A small independent validator of the export contract, used to check
//! that every planted invalid row breaks exactly one rule and that valid
//! rows break none. It follows EXPORTS.md, not the generator's code.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use knooppunt_core::{Rule, Source, bsn_passes_eleven_check};

/// How a column is checked.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Text,
    Id16,
    Postcode,
    Int,
    Decimal,
    Date,
    Bsn,
    Digits(usize),
    Sbi,
    OneOf(&'static [&'static str]),
    Gebruiksdoel,
}

const GEBRUIKSDOEL: &[&str] = &[
    "woonfunctie",
    "winkelfunctie",
    "kantoorfunctie",
    "industriefunctie",
    "bijeenkomstfunctie",
    "logiesfunctie",
    "gezondheidszorgfunctie",
    "onderwijsfunctie",
    "sportfunctie",
    "overige gebruiksfunctie",
];

/// Column specs `(name, kind, required)` of a CSV source.
pub(super) fn spec(source: Source) -> Vec<(&'static str, Kind, bool)> {
    use Kind::*;
    match source {
        Source::Bag => vec![
            ("identificatie", Id16, true),
            ("postcode", Postcode, true),
            ("huisnummer", Int, true),
            ("huisletter", Text, false),
            ("huisnummertoevoeging", Text, false),
            ("openbareruimtenaam", Text, false),
            ("woonplaatsnaam", Text, false),
            ("gebruiksdoel", Gebruiksdoel, true),
            ("oppervlakte", Int, false),
            ("bouwjaar", Int, false),
            ("status", Text, false),
            ("x", Decimal, true),
            ("y", Decimal, true),
        ],
        Source::Brp => vec![
            ("bsn", Bsn, true),
            ("geboortejaar", Int, false),
            ("adresseerbaarobject_id", Id16, true),
            ("soort_adres", OneOf(&["W", "B"]), true),
            ("datum_inschrijving", Date, true),
            ("datum_uitschrijving", Date, false),
        ],
        Source::Kvk => vec![
            ("kvk_nummer", Digits(8), true),
            ("vestigingsnummer", Digits(12), true),
            ("handelsnaam", Text, false),
            ("sbi_code", Sbi, true),
            ("rechtsvorm", Text, false),
            ("datum_inschrijving", Date, true),
            ("datum_opheffing", Date, false),
            ("postcode", Postcode, false),
            ("huisnummer", Int, false),
            ("huisletter", Text, false),
            ("huisnummertoevoeging", Text, false),
        ],
        Source::Energie => vec![
            ("adresseerbaarobject_id", Id16, true),
            ("jaar", Int, true),
            ("verbruik_kwh", Decimal, true),
            ("aansluitingen", Int, false),
        ],
        Source::Vastgoed => vec![
            ("transactie_id", Text, true),
            ("adresseerbaarobject_id", Id16, true),
            ("transactiedatum", Date, true),
            ("koopsom", Decimal, true),
            (
                "koper_type",
                OneOf(&["natuurlijk persoon", "rechtspersoon"]),
                true,
            ),
            ("koper_kvk", Digits(8), false),
        ],
        Source::Handhaving => vec![
            ("zaak_id", Text, true),
            ("adresseerbaarobject_id", Id16, true),
            (
                "soort",
                OneOf(&[
                    "Bibob-toets",
                    "Last onder dwangsom",
                    "Bestuurlijke boete",
                    "Sluiting Opiumwet 13b",
                    "Sluiting Wet Victoria",
                ]),
                true,
            ),
            ("datum_start", Date, true),
            ("datum_einde", Date, false),
            ("uitkomst", Text, false),
        ],
        _ => Vec::new(),
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `123`, `1.234`, `1.234.567` (thousands dots in groups of three).
fn dutch_int(s: &str) -> bool {
    if digits(s) {
        return true;
    }
    let groups: Vec<&str> = s.split('.').collect();
    groups.len() > 1
        && (1..=3).contains(&groups[0].len())
        && digits(groups[0])
        && groups[1..].iter().all(|g| g.len() == 3 && digits(g))
}

pub(super) fn dutch_decimal(s: &str) -> bool {
    match s.split_once(',') {
        Some((int, frac)) => dutch_int(int) && digits(frac),
        None => dutch_int(s),
    }
}

pub(super) fn date(s: &str) -> bool {
    NaiveDate::parse_from_str(s, "%d-%m-%Y").is_ok() && s.len() == 10
        || NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() && s.len() == 10
}

fn postcode(s: &str) -> bool {
    let n: String = s
        .chars()
        .filter(|c| *c != ' ')
        .collect::<String>()
        .to_uppercase();
    let b = n.as_bytes();
    b.len() == 6
        && (b'1'..=b'9').contains(&b[0])
        && b[1..4].iter().all(u8::is_ascii_digit)
        && b[4..].iter().all(u8::is_ascii_uppercase)
}

/// The rule `value` breaks as a `kind` column, if any.
pub(super) fn check(value: &str, kind: Kind, required: bool) -> Option<Rule> {
    if value.is_empty() {
        return required.then_some(Rule::MissingRequired);
    }
    let ok = match kind {
        Kind::Text => true,
        Kind::Id16 => value.len() == 16 && digits(value),
        Kind::Postcode => postcode(value),
        Kind::Int => dutch_int(value),
        Kind::Decimal => dutch_decimal(value),
        Kind::Date => date(value),
        Kind::Bsn => bsn_passes_eleven_check(value),
        Kind::Digits(n) => value.len() == n && digits(value),
        Kind::Sbi => (2..=5).contains(&value.len()) && digits(value),
        Kind::OneOf(set) => set.contains(&value),
        Kind::Gebruiksdoel => value.split(',').all(|d| GEBRUIKSDOEL.contains(&d)),
    };
    if ok {
        return None;
    }
    Some(match kind {
        Kind::Id16 | Kind::Postcode | Kind::Digits(_) | Kind::Sbi => Rule::InvalidCode,
        Kind::Int | Kind::Decimal => Rule::InvalidNumber,
        Kind::Date => Rule::InvalidDate,
        Kind::Bsn => Rule::BsnChecksum,
        Kind::OneOf(_) | Kind::Gebruiksdoel | Kind::Text => Rule::InvalidValue,
    })
}

/// Violations per rule over `rows`; panics when a row breaks two rules.
pub(super) fn tally(rows: impl Iterator<Item = Vec<Option<Rule>>>) -> BTreeMap<String, u64> {
    let mut out: BTreeMap<String, u64> =
        Rule::ALL.iter().map(|r| (r.code().to_owned(), 0)).collect();
    for (line, row) in rows.enumerate() {
        let broken: Vec<Rule> = row.into_iter().flatten().collect();
        assert!(broken.len() <= 1, "row {line} breaks {broken:?}");
        if let Some(rule) = broken.first() {
            *out.entry(rule.code().to_owned()).or_default() += 1;
        }
    }
    out
}
