use serde::{Deserialize, Serialize};

/// A departmental export of the contract, and the lake dataset made from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `buurten.geojson`: buurt boundaries (CBS layout).
    Buurten,
    /// `kerncijfers_buurten.csv`: optional key figures per buurt.
    Kerncijfers,
    /// `bag_verblijfsobjecten.csv`: addresses.
    Bag,
    /// `brp_inschrijvingen.csv`: population registrations (history).
    Brp,
    /// `kvk_vestigingen.csv`: business establishments.
    Kvk,
    /// `meldingen.xlsx`: public-space reports.
    Meldingen,
    /// `energie_verbruik.csv`: yearly energy use per address.
    Energie,
    /// `vastgoedtransacties.csv`: property sales.
    Vastgoed,
    /// `handhaving_zaken.csv`: enforcement and Bibob cases.
    Handhaving,
}

/// The thing in a source that must never be singled out (PRIVACY.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivacyUnit {
    /// A person, by BSN pseudonym.
    Person,
    /// An address (BAG verblijfsobject).
    Address,
    /// A company, by `kvk_nummer`.
    Company,
    /// A public-space report.
    Report,
    /// A property sale.
    Sale,
    /// A buurt (public geography; not personal).
    Area,
}

impl Source {
    /// Every source, in ingestion order: each source only depends on
    /// sources before it (buurten → bag → the rest).
    pub const ALL: [Source; 9] = [
        Source::Buurten,
        Source::Kerncijfers,
        Source::Bag,
        Source::Brp,
        Source::Kvk,
        Source::Meldingen,
        Source::Energie,
        Source::Vastgoed,
        Source::Handhaving,
    ];

    /// Short name, used as the lake directory and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Source::Buurten => "buurten",
            Source::Kerncijfers => "kerncijfers",
            Source::Bag => "bag",
            Source::Brp => "brp",
            Source::Kvk => "kvk",
            Source::Meldingen => "meldingen",
            Source::Energie => "energie",
            Source::Vastgoed => "vastgoed",
            Source::Handhaving => "handhaving",
        }
    }

    /// Parses a short name as returned by [`Source::name`].
    pub fn from_name(name: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.name() == name)
    }

    /// File name of the export in the exports directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Source::Buurten => "buurten.geojson",
            Source::Kerncijfers => "kerncijfers_buurten.csv",
            Source::Bag => "bag_verblijfsobjecten.csv",
            Source::Brp => "brp_inschrijvingen.csv",
            Source::Kvk => "kvk_vestigingen.csv",
            Source::Meldingen => "meldingen.xlsx",
            Source::Energie => "energie_verbruik.csv",
            Source::Vastgoed => "vastgoedtransacties.csv",
            Source::Handhaving => "handhaving_zaken.csv",
        }
    }

    /// The privacy unit whose record key is stored in the `record_key` column.
    pub fn privacy_unit(self) -> PrivacyUnit {
        match self {
            Source::Buurten | Source::Kerncijfers => PrivacyUnit::Area,
            Source::Bag | Source::Energie | Source::Handhaving => PrivacyUnit::Address,
            Source::Brp => PrivacyUnit::Person,
            Source::Kvk => PrivacyUnit::Company,
            Source::Meldingen => PrivacyUnit::Report,
            Source::Vastgoed => PrivacyUnit::Sale,
        }
    }

    /// Sources whose current snapshot this source's linking reads.
    pub fn depends_on(self) -> &'static [Source] {
        match self {
            Source::Buurten => &[],
            Source::Kerncijfers | Source::Bag | Source::Meldingen => &[Source::Buurten],
            Source::Brp | Source::Kvk | Source::Energie | Source::Vastgoed | Source::Handhaving => {
                &[Source::Bag]
            }
        }
    }
}

impl PrivacyUnit {
    /// Short name, used as the domain separator of record keys.
    pub fn name(self) -> &'static str {
        match self {
            PrivacyUnit::Person => "person",
            PrivacyUnit::Address => "address",
            PrivacyUnit::Company => "company",
            PrivacyUnit::Report => "report",
            PrivacyUnit::Sale => "sale",
            PrivacyUnit::Area => "area",
        }
    }
}

/// A validation rule; a row failing one goes to quarantine under its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A required field is empty.
    MissingRequired,
    /// A BSN is not nine digits passing the 11-check.
    BsnChecksum,
    /// A date is not `dd-mm-yyyy` / `yyyy-mm-dd`, or does not exist.
    InvalidDate,
    /// A number does not parse (decimal comma, thousands dots) or is out of range.
    InvalidNumber,
    /// An identifier or code does not have its contract format.
    InvalidCode,
    /// A value is not one of the contract's allowed values.
    InvalidValue,
    /// The row has a different number of fields than the header.
    FieldCount,
    /// Bytes that cannot be decoded in the file's detected encoding.
    Encoding,
}

impl Rule {
    /// Every rule, in report order.
    pub const ALL: [Rule; 8] = [
        Rule::MissingRequired,
        Rule::BsnChecksum,
        Rule::InvalidDate,
        Rule::InvalidNumber,
        Rule::InvalidCode,
        Rule::InvalidValue,
        Rule::FieldCount,
        Rule::Encoding,
    ];

    /// Stable code of the rule, as written in quarantine files.
    pub fn code(self) -> &'static str {
        match self {
            Rule::MissingRequired => "missing_required",
            Rule::BsnChecksum => "bsn_checksum",
            Rule::InvalidDate => "invalid_date",
            Rule::InvalidNumber => "invalid_number",
            Rule::InvalidCode => "invalid_code",
            Rule::InvalidValue => "invalid_value",
            Rule::FieldCount => "field_count",
            Rule::Encoding => "encoding",
        }
    }

    /// Parses a code as returned by [`Rule::code`].
    pub fn from_code(code: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Source::ALL {
            assert_eq!(Source::from_name(s.name()), Some(s));
        }
        for r in Rule::ALL {
            assert_eq!(Rule::from_code(r.code()), Some(r));
        }
    }

    #[test]
    fn dependencies_come_earlier_in_ingestion_order() {
        for (i, s) in Source::ALL.iter().enumerate() {
            for d in s.depends_on() {
                let j = Source::ALL.iter().position(|x| x == d);
                assert!(j.is_some_and(|j| j < i), "{s:?} depends on later {d:?}");
            }
        }
    }
}
