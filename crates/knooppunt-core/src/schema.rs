//! The Parquet contract: one Arrow schema per source dataset in the lake.
//!
//! Conventions: identifiers are `Utf8` (leading zeros kept); dates are
//! `Date32`; every linked dataset carries `buurtcode`, `wijkcode` and
//! `gemeentecode` (`onbekend` when the record could not be linked); every
//! dataset whose rows belong to a privacy unit carries `record_key`, the
//! unit's secret cell-key in `[0, 2^32)` for disclosure control. Free text
//! (`toelichting`) and trade names (`handelsnaam`) are never stored.

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::Source;

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn date(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Date32, nullable)
}

fn int32(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Int32, nullable)
}

fn f64(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Float64, nullable)
}

fn area_columns() -> [Field; 3] {
    [
        utf8("buurtcode", false),
        utf8("wijkcode", false),
        utf8("gemeentecode", false),
    ]
}

fn record_key() -> Field {
    Field::new("record_key", DataType::Int64, false)
}

fn build(source: Source) -> Schema {
    let mut fields: Vec<Field> = match source {
        Source::Buurten => vec![
            utf8("buurtcode", false),
            utf8("buurtnaam", false),
            utf8("wijkcode", false),
            utf8("wijknaam", true),
            utf8("gemeentecode", false),
            utf8("gemeentenaam", false),
            f64("oppervlakte_m2", false),
        ],
        Source::Kerncijfers => vec![
            utf8("buurtcode", false),
            int32("inwoners", true),
            int32("huishoudens", true),
            int32("woningen", true),
        ],
        Source::Bag => vec![
            utf8("identificatie", false),
            utf8("postcode", true),
            int32("huisnummer", false),
            utf8("huisletter", true),
            utf8("huisnummertoevoeging", true),
            utf8("openbareruimtenaam", true),
            utf8("woonplaatsnaam", true),
            utf8("gebruiksdoel", false),
            Field::new("woonfunctie", DataType::Boolean, false),
            int32("oppervlakte", true),
            int32("bouwjaar", true),
            utf8("status", true),
            f64("x", false),
            f64("y", false),
        ],
        Source::Brp => vec![
            utf8("persoon_id", false),
            int32("geboortejaar", true),
            utf8("adresseerbaarobject_id", false),
            utf8("soort_adres", false),
            date("datum_inschrijving", false),
            date("datum_uitschrijving", true),
        ],
        Source::Kvk => vec![
            utf8("kvk_nummer", false),
            utf8("vestigingsnummer", false),
            utf8("sbi_code", false),
            utf8("rechtsvorm", true),
            date("datum_inschrijving", false),
            date("datum_opheffing", true),
            utf8("postcode", true),
            int32("huisnummer", true),
            utf8("huisletter", true),
            utf8("huisnummertoevoeging", true),
            utf8("adresseerbaarobject_id", true),
        ],
        Source::Meldingen => vec![
            utf8("melding_id", false),
            date("datum", false),
            utf8("categorie", false),
            f64("x", true),
            f64("y", true),
        ],
        Source::Energie => vec![
            utf8("adresseerbaarobject_id", false),
            int32("jaar", false),
            f64("verbruik_kwh", false),
            int32("aansluitingen", true),
        ],
        Source::Vastgoed => vec![
            utf8("transactie_id", false),
            utf8("adresseerbaarobject_id", false),
            date("transactiedatum", false),
            Field::new("koopsom", DataType::Decimal128(15, 2), false),
            utf8("koper_type", false),
            utf8("koper_kvk", true),
        ],
        Source::Handhaving => vec![
            utf8("zaak_id", false),
            utf8("adresseerbaarobject_id", false),
            utf8("soort", false),
            date("datum_start", false),
            date("datum_einde", true),
            utf8("uitkomst", true),
        ],
    };
    match source {
        Source::Buurten | Source::Kerncijfers => {}
        _ => {
            fields.extend(area_columns());
            fields.push(record_key());
        }
    }
    Schema::new(fields)
}

/// The Arrow schema of `source`'s dataset in the lake.
pub fn schema(source: Source) -> SchemaRef {
    static SCHEMAS: OnceLock<Vec<SchemaRef>> = OnceLock::new();
    let all = SCHEMAS.get_or_init(|| Source::ALL.iter().map(|s| Arc::new(build(*s))).collect());
    let index = Source::ALL.iter().position(|s| *s == source).unwrap_or(0);
    Arc::clone(&all[index])
}

/// Schema of quarantined rows: where and why, never the value itself.
pub fn quarantine_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| {
        Arc::new(Schema::new(vec![
            utf8("source", false),
            utf8("file", false),
            Field::new("line", DataType::Int64, false),
            utf8("column", true),
            utf8("rule", false),
        ]))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_schema_stores_raw_personal_or_free_text_columns() {
        for s in Source::ALL {
            let schema = schema(s);
            for banned in ["bsn", "toelichting", "handelsnaam"] {
                assert!(
                    schema.field_with_name(banned).is_err(),
                    "{s:?} has {banned}"
                );
            }
        }
    }

    #[test]
    fn linked_sources_carry_area_and_record_key() {
        for s in Source::ALL {
            let schema = schema(s);
            let linked = !matches!(s, Source::Buurten | Source::Kerncijfers);
            assert_eq!(
                schema.field_with_name("record_key").is_ok(),
                linked,
                "{s:?}"
            );
            assert!(schema.field_with_name("buurtcode").is_ok());
        }
    }
}
