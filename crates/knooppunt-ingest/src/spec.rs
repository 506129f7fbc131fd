//! What each CSV/xlsx source must contain, column by column, and how a
//! validated row becomes a row of the source's lake schema (pseudonymised,
//! keyed and linked).

use std::sync::Arc;

use knooppunt_core::{PrivacyUnit, Rule, Source, bsn_passes_eleven_check};

use crate::key::PseudonymKey;
use crate::link::{Area, Linker};
use crate::parse::{
    Cell, cell_text, date32, parse_date, parse_decimal, parse_digits, parse_int, parse_money_cents,
    parse_postcode,
};

/// How a column's text is checked and typed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// Any text.
    Text,
    /// ASCII digits, length in the range.
    Digits(usize, usize),
    /// An integer (`i32`), thousands dots allowed.
    Int,
    /// A decimal with decimal comma.
    Decimal,
    /// Euros, at most two decimals.
    Money,
    /// A date in either contract format, or a spreadsheet date.
    Date,
    /// A postcode, normalised.
    Postcode,
    /// A BSN (validated, then pseudonymised).
    Bsn,
    /// One of the listed values, matched case-insensitively; the listed
    /// spelling is stored.
    OneOf(&'static [&'static str]),
    /// A comma list of BAG gebruiksdoelen.
    Gebruiksdoel,
    /// A CBS buurtcode: `BU` + 8 digits.
    BuurtCode,
}

/// One input column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Col {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    /// The value must be present (the column must then also be present).
    pub(crate) required: bool,
}

const fn req(name: &'static str, kind: Kind) -> Col {
    Col {
        name,
        kind,
        required: true,
    }
}

const fn opt(name: &'static str, kind: Kind) -> Col {
    Col {
        name,
        kind,
        required: false,
    }
}

const GEBRUIKSDOELEN: [&str; 10] = [
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

const SOORT_ADRES: &[&str] = &["W", "B"];
const KOPER_TYPE: &[&str] = &["natuurlijk persoon", "rechtspersoon"];
const HANDHAVING_SOORT: &[&str] = &[
    "Bibob-toets",
    "Last onder dwangsom",
    "Bestuurlijke boete",
    "Sluiting Opiumwet 13b",
    "Sluiting Wet Victoria",
];

/// The input columns of a CSV/xlsx source. Columns not listed here (such as
/// `toelichting` and `handelsnaam`) are never read.
pub(crate) fn columns(source: Source) -> &'static [Col] {
    use Kind::*;
    match source {
        Source::Buurten => &[],
        Source::Kerncijfers => {
            const {
                &[
                    req("buurtcode", BuurtCode),
                    opt("inwoners", Int),
                    opt("huishoudens", Int),
                    opt("woningen", Int),
                ]
            }
        }
        Source::Bag => {
            const {
                &[
                    req("identificatie", Digits(16, 16)),
                    req("postcode", Postcode),
                    req("huisnummer", Int),
                    opt("huisletter", Text),
                    opt("huisnummertoevoeging", Text),
                    req("openbareruimtenaam", Text),
                    req("woonplaatsnaam", Text),
                    req("gebruiksdoel", Gebruiksdoel),
                    req("oppervlakte", Int),
                    req("bouwjaar", Int),
                    req("status", Text),
                    req("x", Decimal),
                    req("y", Decimal),
                ]
            }
        }
        Source::Brp => {
            const {
                &[
                    req("bsn", Bsn),
                    req("geboortejaar", Int),
                    req("adresseerbaarobject_id", Digits(16, 16)),
                    req("soort_adres", OneOf(SOORT_ADRES)),
                    req("datum_inschrijving", Date),
                    opt("datum_uitschrijving", Date),
                ]
            }
        }
        Source::Kvk => {
            const {
                &[
                    req("kvk_nummer", Digits(8, 8)),
                    req("vestigingsnummer", Digits(12, 12)),
                    req("sbi_code", Digits(2, 5)),
                    req("rechtsvorm", Text),
                    req("datum_inschrijving", Date),
                    opt("datum_opheffing", Date),
                    req("postcode", Postcode),
                    req("huisnummer", Int),
                    opt("huisletter", Text),
                    opt("huisnummertoevoeging", Text),
                ]
            }
        }
        Source::Meldingen => {
            const {
                &[
                    req("melding_id", Text),
                    req("datum", Date),
                    req("categorie", Text),
                    opt("x", Decimal),
                    opt("y", Decimal),
                    opt("lat", Decimal),
                    opt("lon", Decimal),
                ]
            }
        }
        Source::Energie => {
            const {
                &[
                    req("adresseerbaarobject_id", Digits(16, 16)),
                    req("jaar", Int),
                    req("verbruik_kwh", Decimal),
                    req("aansluitingen", Int),
                ]
            }
        }
        Source::Vastgoed => {
            const {
                &[
                    req("transactie_id", Text),
                    req("adresseerbaarobject_id", Digits(16, 16)),
                    req("transactiedatum", Date),
                    req("koopsom", Money),
                    req("koper_type", OneOf(KOPER_TYPE)),
                    opt("koper_kvk", Digits(8, 8)),
                ]
            }
        }
        Source::Handhaving => {
            const {
                &[
                    req("zaak_id", Text),
                    req("adresseerbaarobject_id", Digits(16, 16)),
                    req("soort", OneOf(HANDHAVING_SOORT)),
                    req("datum_start", Date),
                    opt("datum_einde", Date),
                    opt("uitkomst", Text),
                ]
            }
        }
    }
}

/// Columns that must appear in the header even though their values are
/// optional (the contract lists them); the meldingen coordinate pairs are
/// checked separately (one of the two pairs must be there).
pub(crate) fn header_required(source: Source, col: &Col) -> bool {
    col.required
        || matches!(
            (source, col.name),
            (Source::Brp, "datum_uitschrijving")
                | (Source::Kvk, "datum_opheffing")
                | (Source::Handhaving, "datum_einde")
        )
}

/// A typed value of an output column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Null,
    Str(String),
    /// Text shared by many rows (area codes).
    Shared(Arc<str>),
    Int(i32),
    F64(f64),
    Cents(i128),
    Date(i32),
    Bool(bool),
    I64(i64),
}

impl Val {
    fn str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A row that failed validation: which column (by contract name) and rule.
pub(crate) type Violation = (Option<&'static str>, Rule);

/// Checks and types one input value.
pub(crate) fn parse_value(col: &Col, cell: Cell<'_>) -> Result<Val, Violation> {
    let fail = |rule| (Some(col.name), rule);
    if cell.is_empty() {
        return if col.required {
            Err(fail(Rule::MissingRequired))
        } else {
            Ok(Val::Null)
        };
    }
    let value = match col.kind {
        Kind::Text => cell_text(cell).map(Val::Str),
        Kind::Digits(lo, hi) => parse_digits(cell, lo, hi).map_err(fail)?.map(Val::Str),
        Kind::Int => parse_int(cell).map_err(fail)?.map(Val::Int),
        Kind::Decimal => parse_decimal(cell).map_err(fail)?.map(Val::F64),
        Kind::Money => parse_money_cents(cell).map_err(fail)?.map(Val::Cents),
        Kind::Date => parse_date(cell)
            .map_err(fail)?
            .map(|d| Val::Date(date32(d))),
        Kind::Postcode => parse_postcode(cell).map_err(fail)?.map(Val::Str),
        Kind::Bsn => {
            let text = cell_text(cell).unwrap_or_default();
            if !bsn_passes_eleven_check(&text) {
                return Err(fail(Rule::BsnChecksum));
            }
            Some(Val::Str(text))
        }
        Kind::OneOf(allowed) => {
            let text = cell_text(cell).unwrap_or_default();
            let found = allowed
                .iter()
                .find(|a| a.eq_ignore_ascii_case(&text))
                .ok_or(fail(Rule::InvalidValue))?;
            Some(Val::Str((*found).to_string()))
        }
        Kind::Gebruiksdoel => {
            let text = cell_text(cell).unwrap_or_default().to_lowercase();
            let mut parts = Vec::new();
            for p in text.split(',').map(str::trim) {
                if !GEBRUIKSDOELEN.contains(&p) {
                    return Err(fail(Rule::InvalidValue));
                }
                parts.push(p);
            }
            Some(Val::Str(parts.join(",")))
        }
        Kind::BuurtCode => {
            let text = cell_text(cell).unwrap_or_default().to_ascii_uppercase();
            let ok = text.len() == 10
                && text.starts_with("BU")
                && text[2..].bytes().all(|b| b.is_ascii_digit());
            if !ok {
                return Err(fail(Rule::InvalidCode));
            }
            Some(Val::Str(text))
        }
    };
    Ok(value.unwrap_or(Val::Null))
}

/// Range checks that need more than one column or a domain rule.
fn check_row(source: Source, vals: &[Val]) -> Result<(), Violation> {
    match source {
        Source::Bag | Source::Kvk => {
            let nr_index = columns(source)
                .iter()
                .position(|c| c.name == "huisnummer")
                .unwrap_or(0);
            if let Val::Int(n) = vals[nr_index]
                && !(1..=99_999).contains(&n)
            {
                return Err((Some("huisnummer"), Rule::InvalidNumber));
            }
        }
        Source::Meldingen => {
            // vals: melding_id, datum, categorie, x, y, lat, lon. Each pair
            // is filled completely or not at all.
            for (a, b, na, nb) in [(3, 4, "x", "y"), (5, 6, "lat", "lon")] {
                match (&vals[a], &vals[b]) {
                    (Val::Null, Val::F64(_)) => return Err((Some(na), Rule::MissingRequired)),
                    (Val::F64(_), Val::Null) => return Err((Some(nb), Rule::MissingRequired)),
                    _ => {}
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Turns validated input values into a lake row (in the lake schema's column
/// order). Returns the row and whether it was linked to a buurt.
pub(crate) fn finish(
    source: Source,
    vals: Vec<Val>,
    key: &PseudonymKey,
    linker: &Linker,
) -> Result<(Vec<Val>, bool), Violation> {
    check_row(source, &vals)?;
    let mut v = vals;
    let take = |v: &mut Vec<Val>, i: usize| std::mem::replace(&mut v[i], Val::Null);
    let (mut row, area, unit_id): (Vec<Val>, Option<Area>, String) = match source {
        Source::Buurten => return Ok((v, true)),
        Source::Kerncijfers => {
            let linked = v[0].str().is_some_and(|code| linker.has_buurt(code));
            return Ok((v, linked));
        }
        Source::Bag => {
            let id = v[0].str().unwrap_or_default().to_string();
            let (x, y) = (f64_of(&v[11]), f64_of(&v[12]));
            let area = linker.locate(x, y);
            let woon = v[7]
                .str()
                .is_some_and(|g| g.split(',').any(|p| p == "woonfunctie"));
            let mut row: Vec<Val> = v.drain(..8).collect();
            row.push(Val::Bool(woon));
            row.append(&mut v);
            (row, area, id)
        }
        Source::Brp => {
            let bsn = take(&mut v, 0);
            let pseudonym = key.pseudonym(bsn.str().unwrap_or_default());
            let area = linker.address(v[2].str().unwrap_or_default());
            v[0] = Val::Str(pseudonym.clone());
            (v, area, pseudonym)
        }
        Source::Kvk => {
            let (pc, nr) = (v[6].str().unwrap_or_default().to_string(), int_of(&v[7]));
            let address = linker.kvk_address(&pc, nr, v[8].str(), v[9].str());
            let company = v[0].str().unwrap_or_default().to_string();
            let (id, area) = match address {
                Some((id, area)) => (Val::Str(id), Some(area)),
                None => (Val::Null, None),
            };
            v.push(id);
            (v, area, company)
        }
        Source::Meldingen => {
            let point = match (&v[3], &v[4], &v[5], &v[6]) {
                (Val::F64(x), Val::F64(y), _, _) => Some((*x, *y)),
                (_, _, Val::F64(lat), Val::F64(lon)) => {
                    Some(knooppunt_geo::wgs84_to_rd(*lat, *lon))
                }
                _ => None,
            };
            let area = point.and_then(|(x, y)| linker.locate(x, y));
            let id = v[0].str().unwrap_or_default().to_string();
            let mut row: Vec<Val> = v.drain(..3).collect();
            match point {
                Some((x, y)) => row.extend([Val::F64(x), Val::F64(y)]),
                None => row.extend([Val::Null, Val::Null]),
            }
            (row, area, id)
        }
        Source::Energie | Source::Handhaving => {
            let id_index = if source == Source::Energie { 0 } else { 1 };
            let id = v[id_index].str().unwrap_or_default().to_string();
            let area = linker.address(&id);
            (v, area, id)
        }
        Source::Vastgoed => {
            let area = linker.address(v[1].str().unwrap_or_default());
            let id = v[0].str().unwrap_or_default().to_string();
            (v, area, id)
        }
    };
    let linked = area
        .as_ref()
        .is_some_and(|a| &*a.buurt != knooppunt_core::ONBEKEND);
    let area = area.unwrap_or_else(Area::onbekend);
    row.extend([
        Val::Shared(area.buurt),
        Val::Shared(area.wijk),
        Val::Shared(area.gemeente),
    ]);
    let unit: PrivacyUnit = source.privacy_unit();
    row.push(Val::I64(key.record_key(unit, &unit_id)));
    Ok((row, linked))
}

fn f64_of(v: &Val) -> f64 {
    match v {
        Val::F64(f) => *f,
        _ => f64::NAN,
    }
}

fn int_of(v: &Val) -> i32 {
    match v {
        Val::Int(i) => *i,
        _ => 0,
    }
}
