//! An independent correctness oracle for the twelve indicators of
//! `../shared/contract/INDICATORS.md`: plain Rust over the rows of the
//! lake's current Parquet snapshots (arrow/parquet readers, hash maps and
//! sorting; no SQL, no DataFusion). Its output has the shape of
//! `knooppunt_query::IndicatorTable` so the engine can be compared with it
//! field by field.
//!
//! # Conventions shared with the SQL side
//! - One row per indicator for every buurt, wijk and gemeente of the
//!   `buurten` table (zeros included), plus `onbekend` at each level when
//!   its numerator or denominator is non-zero. Buurt rows carry the buurt's
//!   wijk and gemeente; wijk rows their own code as `wijkcode`; gemeente
//!   rows the gemeentecode as both `wijkcode` and `gemeentecode`; onbekend
//!   rows `onbekend` everywhere.
//! - A record's area is the buurt/wijk/gemeente stored in its own lake row
//!   (I05, I06 and I11 take the address's area from BAG).
//! - Counts add up over the hierarchy; supports are distinct units at each
//!   level, never sums of buurt supports.
//! - Window: `(peildatum − 12 months, peildatum]` with chrono's
//!   `checked_sub_months` (29 Feb 2024 − 12 months = 28 Feb 2023).
//!
//! # Decisions where the contract is silent (the SQL side must agree)
//! - **D1 (I06, several rows)**: several `energie` rows of one address in
//!   the latest `jaar` are *summed* per address: one value per address.
//! - **D2 (I06, floor area)**: an address with `oppervlakte` null drops out
//!   of I06 (numerator and denominator). Bands follow a `CASE` on
//!   `oppervlakte`: `< 50`, `< 100`, `< 150`, else (so a negative area would
//!   fall in the first band). The latest `jaar` is the maximum over the
//!   whole `energie` table (unlinked rows included). Threshold computed as
//!   `v[lo] + (p − lo) × (v[hi] − v[lo])` with `p = 0.99 × (n − 1)` in f64.
//! - **D3 (I08, previous sale)**: the previous sale of a sale is the one
//!   with the latest `transactiedatum` strictly before its own; same-day
//!   sales are never each other's previous sale. When several sales share
//!   that previous date, the resale counts when the ratio holds against any
//!   of them (i.e. against the lowest `koopsom`). "≤ 12 months earlier" is
//!   `previous date >= sale date − 12 months`. The ratio is compared exactly
//!   in cents (`100 × koopsom >= 130 × previous`); a previous `koopsom` of 0
//!   (or less) never qualifies.
//! - **D4 (I09, young company)**: counts when
//!   `sale − 12 months < registration <= sale`; a company registered after
//!   the sale does not count. `koper_type` must be exactly `rechtspersoon`;
//!   the registration date is the earliest `datum_inschrijving` over *all*
//!   of the kvk file's rows of that `kvk_nummer` (peildatum ignored).
//! - **D5 (I05)**: the inhabitants of an address are its current `W`
//!   registration rows (`COUNT(*)`, not distinct persons); BRP rows whose
//!   address is not in BAG drop out.
//! - **D6 (supports of reports and sales)**: distinct `melding_id`
//!   (I07 numerator) and distinct `transactie_id` (I08/I09 denominators);
//!   address supports are distinct `adresseerbaarobject_id`/`identificatie`;
//!   the I10/I11 denominators count BAG rows.
//! - **D7 (I03)**: an event is `datum_inschrijving` in the window (a start)
//!   or `datum_opheffing` in the window (an end); nothing else is required
//!   of the establishment.
//! - **D8 (default peildatum)**: the latest of every date column of brp,
//!   kvk, meldingen, vastgoed and handhaving (both ends of intervals).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, Decimal128Type, Float64Type, Int32Type, Int64Type};
use chrono::{Months, NaiveDate, TimeDelta};
use knooppunt_core::Source;
use knooppunt_ingest::Manifest;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

mod edge;
mod engine;

/// Code of records that could not be linked to a buurt.
pub const ONBEKEND: &str = "onbekend";

/// Cash-intensive SBI prefixes (I01).
pub const CASH_SBI: [&str; 14] = [
    "9602", "9604", "4511", "4519", "4520", "4777", "4742", "5610", "5630", "9200", "4771", "5510",
    "6612", "4941",
];

/// A level of the area hierarchy (the oracle's own copy of the engine's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lvl {
    Buurt,
    Wijk,
    Gemeente,
}

impl Lvl {
    pub const ALL: [Lvl; 3] = [Lvl::Buurt, Lvl::Wijk, Lvl::Gemeente];

    pub fn name(self) -> &'static str {
        match self {
            Lvl::Buurt => "buurt",
            Lvl::Wijk => "wijk",
            Lvl::Gemeente => "gemeente",
        }
    }
}

/// One indicator value, shaped like `knooppunt_query::IndicatorValue`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OracleValue {
    pub indicator: String,
    pub level: Lvl,
    pub code: String,
    pub wijkcode: String,
    pub gemeentecode: String,
    pub numerator: i64,
    pub denominator: i64,
    pub numerator_support: i64,
    pub denominator_support: i64,
    /// Σ record_key over the records counted in the numerator (the cell
    /// key of PRIVACY.md's perturbation); every record carries its unit's
    /// key, so a unit with two counted records adds its key twice.
    pub numerator_key: i64,
    pub denominator_key: i64,
}

/// The area columns of a lake row, and its record key (0 for buurten).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Area {
    pub buurt: String,
    pub wijk: String,
    pub gemeente: String,
    pub key: i64,
}

impl Area {
    fn code(&self, lvl: Lvl) -> &str {
        match lvl {
            Lvl::Buurt => &self.buurt,
            Lvl::Wijk => &self.wijk,
            Lvl::Gemeente => &self.gemeente,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Bag {
    pub id: String,
    pub woonfunctie: bool,
    pub oppervlakte: Option<i32>,
    pub area: Area,
}

#[derive(Debug, Clone)]
pub struct Brp {
    pub persoon: String,
    pub adres: String,
    pub soort: String,
    pub inschrijving: NaiveDate,
    pub uitschrijving: Option<NaiveDate>,
    pub area: Area,
}

#[derive(Debug, Clone)]
pub struct Kvk {
    pub kvk: String,
    pub vestiging: String,
    pub sbi: String,
    pub inschrijving: NaiveDate,
    pub opheffing: Option<NaiveDate>,
    pub adres: Option<String>,
    pub area: Area,
}

#[derive(Debug, Clone)]
pub struct Melding {
    pub id: String,
    pub datum: NaiveDate,
    pub categorie: String,
    pub area: Area,
}

#[derive(Debug, Clone)]
pub struct Energie {
    pub adres: String,
    pub jaar: i32,
    pub kwh: f64,
}

#[derive(Debug, Clone)]
pub struct Verkoop {
    pub id: String,
    pub adres: String,
    pub datum: NaiveDate,
    pub koopsom_cents: i128,
    pub koper_type: String,
    pub koper_kvk: Option<String>,
    pub area: Area,
}

#[derive(Debug, Clone)]
pub struct Zaak {
    pub adres: String,
    pub soort: String,
    pub start: NaiveDate,
    pub einde: Option<NaiveDate>,
    pub area: Area,
}

/// The rows of the lake's current snapshots that the indicators use.
#[derive(Debug, Clone, Default)]
pub struct LakeRows {
    /// (buurtcode, wijkcode, gemeentecode) of every buurt.
    pub buurten: Vec<Area>,
    pub bag: Vec<Bag>,
    pub brp: Vec<Brp>,
    pub kvk: Vec<Kvk>,
    pub meldingen: Vec<Melding>,
    pub energie: Vec<Energie>,
    pub vastgoed: Vec<Verkoop>,
    pub handhaving: Vec<Zaak>,
}

// ---------------------------------------------------------------- reading

fn batches(lake: &Path, manifest: &Manifest, source: Source) -> Vec<RecordBatch> {
    let Some(files) = manifest.current_files(lake, source) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for path in files {
        let file = std::fs::File::open(&path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            out.push(batch.unwrap());
        }
    }
    out
}

fn col<'a>(b: &'a RecordBatch, name: &str) -> &'a arrow::array::ArrayRef {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("lake column {name} missing"))
}

fn opt_strs(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    col(b, name)
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(String::from))
        .collect()
}

fn strs(b: &RecordBatch, name: &str) -> Vec<String> {
    opt_strs(b, name)
        .into_iter()
        .map(|v| v.unwrap_or_else(|| panic!("null in non-null column {name}")))
        .collect()
}

fn date_of(days: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + TimeDelta::days(i64::from(days))
}

fn opt_dates(b: &RecordBatch, name: &str) -> Vec<Option<NaiveDate>> {
    col(b, name)
        .as_primitive::<Date32Type>()
        .iter()
        .map(|v| v.map(date_of))
        .collect()
}

fn dates(b: &RecordBatch, name: &str) -> Vec<NaiveDate> {
    opt_dates(b, name)
        .into_iter()
        .map(|v| v.unwrap_or_else(|| panic!("null in non-null column {name}")))
        .collect()
}

fn opt_i32s(b: &RecordBatch, name: &str) -> Vec<Option<i32>> {
    col(b, name).as_primitive::<Int32Type>().iter().collect()
}

fn areas(b: &RecordBatch) -> Vec<Area> {
    let (bu, wk, gm) = (
        strs(b, "buurtcode"),
        strs(b, "wijkcode"),
        strs(b, "gemeentecode"),
    );
    let keys: Vec<i64> = match b.column_by_name("record_key") {
        Some(k) => k.as_primitive::<Int64Type>().values().to_vec(),
        None => vec![0; b.num_rows()],
    };
    bu.into_iter()
        .zip(wk)
        .zip(gm)
        .zip(keys)
        .map(|(((buurt, wijk), gemeente), key)| Area {
            buurt,
            wijk,
            gemeente,
            key,
        })
        .collect()
}

impl LakeRows {
    /// Reads the current snapshot of every source the indicators use.
    pub fn load(lake: &Path) -> LakeRows {
        let manifest = Manifest::load(lake).unwrap();
        let mut rows = LakeRows::default();
        for b in batches(lake, &manifest, Source::Buurten) {
            rows.buurten.extend(areas(&b));
        }
        for b in batches(lake, &manifest, Source::Bag) {
            let ids = strs(&b, "identificatie");
            let woon: Vec<bool> = col(&b, "woonfunctie")
                .as_boolean()
                .iter()
                .map(|v| v.unwrap())
                .collect();
            let opp = opt_i32s(&b, "oppervlakte");
            for (i, area) in areas(&b).into_iter().enumerate() {
                rows.bag.push(Bag {
                    id: ids[i].clone(),
                    woonfunctie: woon[i],
                    oppervlakte: opp[i],
                    area,
                });
            }
        }
        for b in batches(lake, &manifest, Source::Brp) {
            let (p, a, s) = (
                strs(&b, "persoon_id"),
                strs(&b, "adresseerbaarobject_id"),
                strs(&b, "soort_adres"),
            );
            let (ins, uit) = (
                dates(&b, "datum_inschrijving"),
                opt_dates(&b, "datum_uitschrijving"),
            );
            for (i, area) in areas(&b).into_iter().enumerate() {
                rows.brp.push(Brp {
                    persoon: p[i].clone(),
                    adres: a[i].clone(),
                    soort: s[i].clone(),
                    inschrijving: ins[i],
                    uitschrijving: uit[i],
                    area,
                });
            }
        }
        for b in batches(lake, &manifest, Source::Kvk) {
            let (k, v, s, a) = (
                strs(&b, "kvk_nummer"),
                strs(&b, "vestigingsnummer"),
                strs(&b, "sbi_code"),
                opt_strs(&b, "adresseerbaarobject_id"),
            );
            let (ins, oph) = (
                dates(&b, "datum_inschrijving"),
                opt_dates(&b, "datum_opheffing"),
            );
            for (i, area) in areas(&b).into_iter().enumerate() {
                rows.kvk.push(Kvk {
                    kvk: k[i].clone(),
                    vestiging: v[i].clone(),
                    sbi: s[i].clone(),
                    inschrijving: ins[i],
                    opheffing: oph[i],
                    adres: a[i].clone(),
                    area,
                });
            }
        }
        for b in batches(lake, &manifest, Source::Meldingen) {
            let (id, d, c) = (
                strs(&b, "melding_id"),
                dates(&b, "datum"),
                strs(&b, "categorie"),
            );
            for (i, area) in areas(&b).into_iter().enumerate() {
                rows.meldingen.push(Melding {
                    id: id[i].clone(),
                    datum: d[i],
                    categorie: c[i].clone(),
                    area,
                });
            }
        }
        for b in batches(lake, &manifest, Source::Energie) {
            let a = strs(&b, "adresseerbaarobject_id");
            let jaar = opt_i32s(&b, "jaar");
            let kwh = col(&b, "verbruik_kwh").as_primitive::<Float64Type>();
            for i in 0..b.num_rows() {
                assert!(kwh.is_valid(i), "null verbruik_kwh");
                rows.energie.push(Energie {
                    adres: a[i].clone(),
                    jaar: jaar[i].unwrap(),
                    kwh: kwh.value(i),
                });
            }
        }
        for b in batches(lake, &manifest, Source::Vastgoed) {
            let (id, a, d) = (
                strs(&b, "transactie_id"),
                strs(&b, "adresseerbaarobject_id"),
                dates(&b, "transactiedatum"),
            );
            let som = col(&b, "koopsom").as_primitive::<Decimal128Type>();
            assert_eq!(som.scale(), 2, "koopsom is stored in cents");
            let (kt, kk) = (strs(&b, "koper_type"), opt_strs(&b, "koper_kvk"));
            for (i, area) in areas(&b).into_iter().enumerate() {
                rows.vastgoed.push(Verkoop {
                    id: id[i].clone(),
                    adres: a[i].clone(),
                    datum: d[i],
                    koopsom_cents: som.value(i),
                    koper_type: kt[i].clone(),
                    koper_kvk: kk[i].clone(),
                    area,
                });
            }
        }
        for b in batches(lake, &manifest, Source::Handhaving) {
            let (a, s) = (strs(&b, "adresseerbaarobject_id"), strs(&b, "soort"));
            let (start, einde) = (dates(&b, "datum_start"), opt_dates(&b, "datum_einde"));
            for (i, area) in areas(&b).into_iter().enumerate() {
                rows.handhaving.push(Zaak {
                    adres: a[i].clone(),
                    soort: s[i].clone(),
                    start: start[i],
                    einde: einde[i],
                    area,
                });
            }
        }
        rows
    }

    /// D8: the latest date in any dated source.
    pub fn default_peildatum(&self) -> Option<NaiveDate> {
        let brp = self
            .brp
            .iter()
            .flat_map(|r| [Some(r.inschrijving), r.uitschrijving]);
        let kvk = self
            .kvk
            .iter()
            .flat_map(|r| [Some(r.inschrijving), r.opheffing]);
        let meldingen = self.meldingen.iter().map(|r| Some(r.datum));
        let vastgoed = self.vastgoed.iter().map(|r| Some(r.datum));
        let handhaving = self
            .handhaving
            .iter()
            .flat_map(|r| [Some(r.start), r.einde]);
        brp.chain(kvk)
            .chain(meldingen)
            .chain(vastgoed)
            .chain(handhaving)
            .flatten()
            .max()
    }
}

// ------------------------------------------------------------ accumulating

#[derive(Debug, Default)]
struct Cell {
    num: i64,
    den: i64,
    num_units: HashSet<String>,
    den_units: HashSet<String>,
    num_key: i64,
    den_key: i64,
}

/// Counts and distinct units per (level, code) of one indicator.
#[derive(Debug, Default)]
struct Acc {
    cells: HashMap<(Lvl, String), Cell>,
}

impl Acc {
    fn cell(&mut self, lvl: Lvl, area: &Area) -> &mut Cell {
        self.cells
            .entry((lvl, area.code(lvl).to_string()))
            .or_default()
    }

    /// One numerator item (counted once) with its privacy units and the
    /// sum of its records' keys.
    fn num(&mut self, area: &Area, units: &[&str], key: i64) {
        for lvl in Lvl::ALL {
            let c = self.cell(lvl, area);
            c.num += 1;
            c.num_units.extend(units.iter().map(|u| u.to_string()));
            c.num_key += key;
        }
    }

    /// One denominator item (counted once) with its privacy units and the
    /// sum of its records' keys.
    fn den(&mut self, area: &Area, units: &[&str], key: i64) {
        for lvl in Lvl::ALL {
            let c = self.cell(lvl, area);
            c.den += 1;
            c.den_units.extend(units.iter().map(|u| u.to_string()));
            c.den_key += key;
        }
    }

    /// Rows for every area of the buurten table plus `onbekend` when it has
    /// a non-zero numerator or denominator. `distinct_den`: the denominator
    /// is the number of distinct units (inhabitants).
    fn finish(mut self, id: &str, buurten: &[Area], distinct_den: bool) -> Vec<OracleValue> {
        let mut areas: BTreeMap<(Lvl, String), (String, String)> = BTreeMap::new();
        for b in buurten {
            areas.insert(
                (Lvl::Buurt, b.buurt.clone()),
                (b.wijk.clone(), b.gemeente.clone()),
            );
            areas.insert(
                (Lvl::Wijk, b.wijk.clone()),
                (b.wijk.clone(), b.gemeente.clone()),
            );
            areas.insert(
                (Lvl::Gemeente, b.gemeente.clone()),
                (b.gemeente.clone(), b.gemeente.clone()),
            );
        }
        for key in self.cells.keys() {
            if key.1 == ONBEKEND {
                areas.insert(key.clone(), (ONBEKEND.into(), ONBEKEND.into()));
            } else {
                assert!(
                    areas.contains_key(key),
                    "{id}: a lake row names {} {} which is not in the buurten table",
                    key.0.name(),
                    key.1
                );
            }
        }
        let mut out = Vec::new();
        for ((lvl, code), (wijkcode, gemeentecode)) in areas {
            let c = self.cells.remove(&(lvl, code.clone())).unwrap_or_default();
            let den = if distinct_den {
                c.den_units.len() as i64
            } else {
                c.den
            };
            if code == ONBEKEND && c.num == 0 && den == 0 {
                continue;
            }
            out.push(OracleValue {
                indicator: id.to_string(),
                level: lvl,
                code,
                wijkcode,
                gemeentecode,
                numerator: c.num,
                denominator: den,
                numerator_support: c.num_units.len() as i64,
                denominator_support: c.den_units.len() as i64,
                numerator_key: c.num_key,
                denominator_key: c.den_key,
            });
        }
        out
    }
}

// ------------------------------------------------------------- indicators

/// `(peildatum − 12 months, peildatum]`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start_exclusive: NaiveDate,
    pub end: NaiveDate,
}

impl Window {
    pub fn new(peildatum: NaiveDate) -> Window {
        Window {
            start_exclusive: minus_12_months(peildatum),
            end: peildatum,
        }
    }

    pub fn contains(&self, d: NaiveDate) -> bool {
        self.start_exclusive < d && d <= self.end
    }
}

pub fn minus_12_months(d: NaiveDate) -> NaiveDate {
    d.checked_sub_months(Months::new(12)).unwrap()
}

fn active(k: &Kvk, p: NaiveDate) -> bool {
    k.inschrijving <= p && k.opheffing.is_none_or(|o| o > p)
}

fn current(r: &Brp, p: NaiveDate) -> bool {
    r.inschrijving <= p && r.uitschrijving.is_none_or(|u| u > p)
}

fn is_cash(sbi: &str) -> bool {
    CASH_SBI.iter().any(|p| sbi.starts_with(p))
}

/// The floor-area band of I06 (D2).
fn band(oppervlakte: i32) -> u8 {
    match oppervlakte {
        o if o < 50 => 0,
        o if o < 100 => 1,
        o if o < 150 => 2,
        _ => 3,
    }
}

/// `percentile_cont(0.99)`: exact, with linear interpolation.
pub fn percentile_cont(values: &mut [f64], q: f64) -> f64 {
    assert!(!values.is_empty());
    values.sort_by(f64::total_cmp);
    let p = q * ((values.len() - 1) as f64);
    let (lo, hi) = (p.floor() as usize, p.ceil() as usize);
    values[lo] + (p - lo as f64) * (values[hi] - values[lo])
}

/// Every indicator at every level for `peildatum`, sorted by
/// (indicator, level, code).
pub fn indicators(rows: &LakeRows, peildatum: NaiveDate) -> Vec<OracleValue> {
    let p = peildatum;
    let w = Window::new(p);
    let mut out = Vec::new();
    let mut emit = |id: &str, acc: Acc, distinct_den: bool| {
        out.extend(acc.finish(id, &rows.buurten, distinct_den));
    };

    let active_kvk: Vec<&Kvk> = rows.kvk.iter().filter(|k| active(k, p)).collect();
    let current_brp: Vec<&Brp> = rows.brp.iter().filter(|r| current(r, p)).collect();
    // Inhabitants: distinct persons with a current W registration; a
    // person registered twice in one buurt is one inhabitant record there.
    let inhabitants = |acc: &mut Acc| {
        let mut seen: HashSet<(&str, &str)> = HashSet::new();
        for r in current_brp.iter().filter(|r| r.soort == "W") {
            if seen.insert((r.persoon.as_str(), r.area.buurt.as_str())) {
                acc.den(&r.area, &[&r.persoon], r.area.key);
            }
        }
    };

    // I01 cash-intensive businesses.
    let mut acc = Acc::default();
    for k in &active_kvk {
        acc.den(&k.area, &[&k.kvk], k.area.key);
        if is_cash(&k.sbi) {
            acc.num(&k.area, &[&k.kvk], k.area.key);
        }
    }
    emit("I01", acc, false);

    // I02 registration hotspots: addresses, unlinked establishments each
    // their own address.
    let mut acc = Acc::default();
    let mut by_address: BTreeMap<String, Vec<&Kvk>> = BTreeMap::new();
    for (i, k) in active_kvk.iter().enumerate() {
        let key = match &k.adres {
            Some(a) => format!("adres:{a}"),
            None => format!("unlinked:{i}"),
        };
        by_address.entry(key).or_default().push(k);
    }
    for (key, ks) in &by_address {
        let areas: BTreeSet<(&str, &str, &str)> = ks
            .iter()
            .map(|k| {
                (
                    k.area.buurt.as_str(),
                    k.area.wijk.as_str(),
                    k.area.gemeente.as_str(),
                )
            })
            .collect();
        assert_eq!(areas.len(), 1, "address {key} lies in several areas");
        let units: Vec<&str> = ks.iter().map(|k| k.kvk.as_str()).collect();
        let area = &ks[0].area;
        let key: i64 = ks.iter().map(|k| k.area.key).sum();
        acc.den(area, &units, key);
        if ks.len() >= 5 {
            acc.num(area, &units, key);
        }
    }
    emit("I02", acc, false);

    // I03 business churn: events.
    let mut acc = Acc::default();
    for k in &active_kvk {
        acc.den(&k.area, &[&k.kvk], k.area.key);
    }
    for k in &rows.kvk {
        if w.contains(k.inschrijving) {
            acc.num(&k.area, &[&k.kvk], k.area.key);
        }
        if k.opheffing.is_some_and(|o| w.contains(o)) {
            acc.num(&k.area, &[&k.kvk], k.area.key);
        }
    }
    emit("I03", acc, false);

    // I04 short registrations.
    let mut acc = Acc::default();
    inhabitants(&mut acc);
    for r in &rows.brp {
        if let Some(u) = r.uitschrijving
            && w.contains(u)
            && (u - r.inschrijving).num_days() < 183
        {
            acc.num(&r.area, &[&r.persoon], r.area.key);
        }
    }
    emit("I04", acc, true);

    // I05 overcrowding (D5).
    let mut acc = Acc::default();
    let mut w_count: HashMap<&str, i64> = HashMap::new();
    for r in current_brp.iter().filter(|r| r.soort == "W") {
        *w_count.entry(r.adres.as_str()).or_default() += 1;
    }
    for a in rows.bag.iter().filter(|a| a.woonfunctie) {
        let n = w_count.get(a.id.as_str()).copied().unwrap_or(0);
        if n == 0 {
            continue;
        }
        acc.den(&a.area, &[&a.id], a.area.key);
        if n >= 4 && a.oppervlakte.is_some_and(|o| i64::from(o) < 12 * n) {
            acc.num(&a.area, &[&a.id], a.area.key);
        }
    }
    emit("I05", acc, false);

    // I06 energy anomalies (D1, D2).
    let mut acc = Acc::default();
    if let Some(latest) = rows.energie.iter().map(|e| e.jaar).max() {
        let mut kwh: HashMap<&str, f64> = HashMap::new();
        for e in rows.energie.iter().filter(|e| e.jaar == latest) {
            *kwh.entry(e.adres.as_str()).or_default() += e.kwh;
        }
        let mut partitions: BTreeMap<(&str, u8), Vec<(&Bag, f64)>> = BTreeMap::new();
        for a in rows.bag.iter().filter(|a| a.woonfunctie) {
            let (Some(opp), Some(v)) = (a.oppervlakte, kwh.get(a.id.as_str())) else {
                continue;
            };
            partitions
                .entry((a.area.gemeente.as_str(), band(opp)))
                .or_default()
                .push((a, *v));
        }
        for members in partitions.values() {
            let mut values: Vec<f64> = members.iter().map(|m| m.1).collect();
            let threshold = percentile_cont(&mut values, 0.99);
            for (a, v) in members {
                acc.den(&a.area, &[&a.id], a.area.key);
                if *v > threshold {
                    acc.num(&a.area, &[&a.id], a.area.key);
                }
            }
        }
    }
    emit("I06", acc, false);

    // I07 drug nuisance.
    let mut acc = Acc::default();
    inhabitants(&mut acc);
    for m in &rows.meldingen {
        if m.categorie == "Drugsoverlast" && w.contains(m.datum) {
            acc.num(&m.area, &[&m.id], m.area.key);
        }
    }
    emit("I07", acc, true);

    // I08 quick resales (D3).
    let mut acc = Acc::default();
    let mut sales_of: HashMap<&str, Vec<&Verkoop>> = HashMap::new();
    for s in &rows.vastgoed {
        sales_of.entry(s.adres.as_str()).or_default().push(s);
    }
    for s in rows.vastgoed.iter().filter(|s| w.contains(s.datum)) {
        acc.den(&s.area, &[&s.id], s.area.key);
        let earlier = sales_of[s.adres.as_str()]
            .iter()
            .filter(|o| o.datum < s.datum);
        let Some(prev_date) = earlier.clone().map(|o| o.datum).max() else {
            continue;
        };
        if prev_date < minus_12_months(s.datum) {
            continue;
        }
        let quick = earlier
            .filter(|o| o.datum == prev_date)
            .any(|o| o.koopsom_cents > 0 && s.koopsom_cents * 100 >= o.koopsom_cents * 130);
        if quick {
            acc.num(&s.area, &[&s.adres], s.area.key);
        }
    }
    emit("I08", acc, false);

    // I09 young-company buyers (D4).
    let mut acc = Acc::default();
    let mut registered: HashMap<&str, NaiveDate> = HashMap::new();
    for k in &rows.kvk {
        let e = registered.entry(k.kvk.as_str()).or_insert(k.inschrijving);
        *e = (*e).min(k.inschrijving);
    }
    for s in rows.vastgoed.iter().filter(|s| w.contains(s.datum)) {
        acc.den(&s.area, &[&s.id], s.area.key);
        if s.koper_type != "rechtspersoon" {
            continue;
        }
        let Some(kvk) = &s.koper_kvk else { continue };
        let Some(reg) = registered.get(kvk.as_str()) else {
            continue;
        };
        if minus_12_months(s.datum) < *reg && *reg <= s.datum {
            acc.num(&s.area, &[kvk], s.area.key);
        }
    }
    emit("I09", acc, false);

    // I10 enforcement.
    let mut acc = Acc::default();
    for a in &rows.bag {
        acc.den(&a.area, &[&a.id], a.area.key);
    }
    for z in &rows.handhaving {
        if z.soort != "Bibob-toets" && w.contains(z.start) {
            acc.num(&z.area, &[&z.adres], z.area.key);
        }
    }
    emit("I10", acc, false);

    // I11 vacancy.
    let mut acc = Acc::default();
    let mut in_use: HashSet<&str> = current_brp.iter().map(|r| r.adres.as_str()).collect();
    in_use.extend(active_kvk.iter().filter_map(|k| k.adres.as_deref()));
    for a in &rows.bag {
        acc.den(&a.area, &[&a.id], a.area.key);
        if !in_use.contains(a.id.as_str()) {
            acc.num(&a.area, &[&a.id], a.area.key);
        }
    }
    emit("I11", acc, false);

    // I12 mailbox addresses.
    let mut acc = Acc::default();
    for r in &current_brp {
        acc.den(&r.area, &[&r.persoon], r.area.key);
        if r.soort == "B" {
            acc.num(&r.area, &[&r.persoon], r.area.key);
        }
    }
    emit("I12", acc, false);

    out.sort();
    out
}

/// The value of one cell (panics when the row does not exist).
pub fn find<'a>(values: &'a [OracleValue], id: &str, lvl: Lvl, code: &str) -> &'a OracleValue {
    values
        .iter()
        .find(|v| v.indicator == id && v.level == lvl && v.code == code)
        .unwrap_or_else(|| panic!("no {id} row for {} {code}", lvl.name()))
}

/// `(numerator, denominator, numerator_support, denominator_support)`.
pub type Counts = (i64, i64, i64, i64);

/// The [`Counts`] of one cell (panics when the row does not exist).
pub fn counts(values: &[OracleValue], id: &str, lvl: Lvl, code: &str) -> Counts {
    let v = find(values, id, lvl, code);
    (
        v.numerator,
        v.denominator,
        v.numerator_support,
        v.denominator_support,
    )
}
