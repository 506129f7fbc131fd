//! What an analyst may see: the analyst tables, their privacy units,
//! identifier columns, clamp bounds and public domains.

use knooppunt_core::PrivacyUnit;

/// The public domain a column's values come from, when it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainSpec {
    /// Not public: a group key over it needs a noisy threshold.
    Private,
    /// Buurtcodes of the municipalities in scope.
    Buurt,
    /// Wijkcodes of the municipalities in scope.
    Wijk,
    /// The gemeentecodes in scope (that the lake's buurten know).
    Gemeente,
    /// Whole years from `.0` to `.1` inclusive.
    Years(i32, i32),
    /// A fixed list of values from the contract.
    Values(&'static [&'static str]),
    /// `false` and `true`.
    Bool,
}

/// One column of an analyst table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalystColumn {
    /// Column name.
    pub name: &'static str,
    /// An identifier or free-text column: may join and be counted, never
    /// be output, grouped on or compared with a literal.
    pub identifier: bool,
    /// Clamp bounds `[lower, upper]` for SUM and AVG; `None`: not summable.
    pub bounds: Option<(i64, i64)>,
    /// The public domain of the column's values.
    pub domain: DomainSpec,
    /// For a date column: the public range of `date_part('year', col)`.
    pub date_years: Option<(i32, i32)>,
}

/// One analyst table: a view over a lake table or derived view, limited
/// to the municipalities in scope, without `record_key` and coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalystTable {
    /// Table name in the analyst session.
    pub name: &'static str,
    /// The privacy unit of its rows; `None` for public tables.
    pub unit: Option<PrivacyUnit>,
    /// The column naming the unit of a row.
    pub unit_column: Option<&'static str>,
    /// The columns, in view order.
    pub columns: Vec<AnalystColumn>,
}

impl AnalystTable {
    /// The column `name`, if the table has it.
    pub fn column(&self, name: &str) -> Option<&AnalystColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Categories of `meldingen.categorie` in the contract.
pub const MELDING_CATEGORIES: &[&str] = &[
    "Afval",
    "Drugsoverlast",
    "Geluidsoverlast",
    "Verdachte situatie",
    "Woonoverlast",
];
/// Categories of `handhaving.soort` in the contract.
pub const HANDHAVING_SOORTEN: &[&str] = &[
    "Bestuurlijke boete",
    "Bibob-toets",
    "Last onder dwangsom",
    "Sluiting Opiumwet 13b",
    "Sluiting Wet Victoria",
];
/// Values of `vastgoed.koper_type` in the contract.
pub const KOPER_TYPES: &[&str] = &["natuurlijk persoon", "rechtspersoon"];
/// Values of `brp.soort_adres` in the contract.
pub const SOORT_ADRES: &[&str] = &["B", "W"];

/// Birth and build years.
pub const LIFE_YEARS: (i32, i32) = (1900, 2030);
/// Years of events recorded by the municipality (reports, sales, cases,
/// energy years).
pub const EVENT_YEARS: (i32, i32) = (2000, 2030);

/// The analyst tables and their privacy metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalystCatalog {
    tables: Vec<AnalystTable>,
}

/// Shorthand constructors for the column table below.
fn id(name: &'static str) -> AnalystColumn {
    AnalystColumn {
        name,
        identifier: true,
        bounds: None,
        domain: DomainSpec::Private,
        date_years: None,
    }
}

fn private(name: &'static str) -> AnalystColumn {
    AnalystColumn {
        name,
        identifier: false,
        bounds: None,
        domain: DomainSpec::Private,
        date_years: None,
    }
}

fn public(name: &'static str, domain: DomainSpec) -> AnalystColumn {
    AnalystColumn {
        domain,
        ..private(name)
    }
}

fn numeric(name: &'static str, lower: i64, upper: i64) -> AnalystColumn {
    AnalystColumn {
        bounds: Some((lower, upper)),
        ..private(name)
    }
}

fn year(name: &'static str, (lo, hi): (i32, i32)) -> AnalystColumn {
    AnalystColumn {
        bounds: Some((i64::from(lo), i64::from(hi))),
        domain: DomainSpec::Years(lo, hi),
        ..private(name)
    }
}

fn date(name: &'static str, years: (i32, i32)) -> AnalystColumn {
    AnalystColumn {
        date_years: Some(years),
        ..private(name)
    }
}

fn areas() -> [AnalystColumn; 3] {
    [
        public("buurtcode", DomainSpec::Buurt),
        public("wijkcode", DomainSpec::Wijk),
        public("gemeentecode", DomainSpec::Gemeente),
    ]
}

fn table(
    name: &'static str,
    unit: Option<(PrivacyUnit, &'static str)>,
    columns: Vec<AnalystColumn>,
    with_areas: bool,
) -> AnalystTable {
    let mut columns = columns;
    if with_areas {
        columns.extend(areas());
    }
    AnalystTable {
        name,
        unit: unit.map(|(u, _)| u),
        unit_column: unit.map(|(_, c)| c),
        columns,
    }
}

impl AnalystCatalog {
    /// The standard catalogue over the contract's sources and the derived
    /// views (PRIVACY.md, "Analyst SQL").
    pub fn standard() -> AnalystCatalog {
        use PrivacyUnit::{Address, Company, Person, Report, Sale};
        let dates = LIFE_YEARS;
        let events = EVENT_YEARS;
        let tables = vec![
            table(
                "brp",
                Some((Person, "persoon_id")),
                vec![
                    id("persoon_id"),
                    year("geboortejaar", LIFE_YEARS),
                    id("adresseerbaarobject_id"),
                    public("soort_adres", DomainSpec::Values(SOORT_ADRES)),
                    date("datum_inschrijving", dates),
                    date("datum_uitschrijving", dates),
                ],
                true,
            ),
            table(
                "inwoners",
                Some((Person, "persoon_id")),
                vec![id("persoon_id")],
                true,
            ),
            table(
                "actuele_inschrijvingen",
                Some((Person, "persoon_id")),
                vec![
                    id("persoon_id"),
                    id("adresseerbaarobject_id"),
                    public("soort_adres", DomainSpec::Values(SOORT_ADRES)),
                ],
                true,
            ),
            table(
                "kvk",
                Some((Company, "kvk_nummer")),
                vec![
                    id("kvk_nummer"),
                    id("vestigingsnummer"),
                    private("sbi_code"),
                    private("rechtsvorm"),
                    date("datum_inschrijving", dates),
                    date("datum_opheffing", dates),
                    id("postcode"),
                    id("huisnummer"),
                    id("huisletter"),
                    id("huisnummertoevoeging"),
                    id("adresseerbaarobject_id"),
                ],
                true,
            ),
            table(
                "actieve_vestigingen",
                Some((Company, "kvk_nummer")),
                vec![
                    id("kvk_nummer"),
                    id("vestigingsnummer"),
                    private("sbi_code"),
                    id("adresseerbaarobject_id"),
                ],
                true,
            ),
            table(
                "bag",
                Some((Address, "identificatie")),
                vec![
                    id("identificatie"),
                    id("postcode"),
                    id("huisnummer"),
                    id("huisletter"),
                    id("huisnummertoevoeging"),
                    id("openbareruimtenaam"),
                    private("woonplaatsnaam"),
                    private("gebruiksdoel"),
                    public("woonfunctie", DomainSpec::Bool),
                    numeric("oppervlakte", 0, 1_000),
                    year("bouwjaar", LIFE_YEARS),
                    private("status"),
                ],
                true,
            ),
            table(
                "adressen",
                Some((Address, "identificatie")),
                vec![
                    id("identificatie"),
                    public("woonfunctie", DomainSpec::Bool),
                    numeric("oppervlakte", 0, 1_000),
                ],
                true,
            ),
            table(
                "meldingen",
                Some((Report, "melding_id")),
                vec![
                    id("melding_id"),
                    date("datum", events),
                    public("categorie", DomainSpec::Values(MELDING_CATEGORIES)),
                ],
                true,
            ),
            table(
                "energie",
                Some((Address, "adresseerbaarobject_id")),
                vec![
                    id("adresseerbaarobject_id"),
                    year("jaar", EVENT_YEARS),
                    numeric("verbruik_kwh", 0, 20_000),
                    numeric("aansluitingen", 0, 10),
                ],
                true,
            ),
            table(
                "vastgoed",
                Some((Sale, "transactie_id")),
                vec![
                    id("transactie_id"),
                    id("adresseerbaarobject_id"),
                    date("transactiedatum", events),
                    numeric("koopsom", 0, 2_000_000),
                    public("koper_type", DomainSpec::Values(KOPER_TYPES)),
                    id("koper_kvk"),
                ],
                true,
            ),
            table(
                "handhaving",
                Some((Address, "adresseerbaarobject_id")),
                vec![
                    id("zaak_id"),
                    id("adresseerbaarobject_id"),
                    public("soort", DomainSpec::Values(HANDHAVING_SOORTEN)),
                    date("datum_start", events),
                    date("datum_einde", events),
                    private("uitkomst"),
                ],
                true,
            ),
            table(
                "buurten",
                None,
                vec![
                    public("buurtcode", DomainSpec::Buurt),
                    private("buurtnaam"),
                    public("wijkcode", DomainSpec::Wijk),
                    private("wijknaam"),
                    public("gemeentecode", DomainSpec::Gemeente),
                    private("gemeentenaam"),
                ],
                false,
            ),
            table(
                "gebieden",
                None,
                vec![
                    public("level", DomainSpec::Values(&["buurt", "gemeente", "wijk"])),
                    private("code"),
                    public("wijkcode", DomainSpec::Wijk),
                    public("gemeentecode", DomainSpec::Gemeente),
                ],
                false,
            ),
        ];
        AnalystCatalog { tables }
    }

    /// Every analyst table.
    pub fn tables(&self) -> &[AnalystTable] {
        &self.tables
    }

    /// The analyst table `name`.
    pub fn table(&self, name: &str) -> Option<&AnalystTable> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// How strongly a unit must be protected: a query's unit is the strongest
/// among its tables (Person > Company > Address > Sale > Report).
pub fn unit_strength(unit: PrivacyUnit) -> u8 {
    match unit {
        PrivacyUnit::Person => 5,
        PrivacyUnit::Company => 4,
        PrivacyUnit::Address => 3,
        PrivacyUnit::Sale => 2,
        PrivacyUnit::Report => 1,
        PrivacyUnit::Area => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_analyst_table_exposes_secrets_or_coordinates() {
        for t in AnalystCatalog::standard().tables() {
            for banned in ["record_key", "x", "y", "bsn", "handelsnaam", "toelichting"] {
                assert!(t.column(banned).is_none(), "{} has {banned}", t.name);
            }
            if let Some(u) = t.unit_column {
                assert!(t.column(u).is_some_and(|c| c.identifier), "{}", t.name);
            }
        }
    }
}
