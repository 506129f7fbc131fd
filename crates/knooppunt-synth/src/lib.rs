//! Seeded generator of contract-conformant departmental exports, quirks
//! included (`../shared/contract/EXPORTS.md`).
//!
//! # Brief overview
//! [`generate`] takes a [`SynthConfig`] (output directory, scale, seed,
//! clean or quirky, a `buurten.geojson`) and writes one complete export
//! set plus `synth_report.json`, the [`SynthReport`]: for every source the
//! rows written, the invalid rows planted per rule and the valid rows that
//! cannot be linked ([`SourcePlan`]), and the planted hotspot buurten. The
//! report is the ground truth the ingest tests check against.
//!
//! # Layout
//! - `world`: the municipality plan: buurt characters, address counts per
//!   buurt, 3–5 hotspot buurten, and a compact record per address (the
//!   only thing held in memory; everything else is streamed).
//! - `addresses` → `bag_verblijfsobjecten.csv` (fills the world),
//!   `persons` → `brp_inschrijvingen.csv`, `businesses` →
//!   `kvk_vestigingen.csv`, `meldingen` → `meldingen.xlsx`, `energy` →
//!   `energie_verbruik.csv`, `property` → `vastgoedtransacties.csv`,
//!   `enforcement` → `handhaving_zaken.csv`, `kerncijfers` →
//!   `kerncijfers_buurten.csv`. Each module's docs list its quirks.
//! - `invalid`: planting invalid rows, one rule in one column each, and
//!   tallying them. `writer`: encoding-, line-ending- and header-aware CSV
//!   writing with atomic renames. `fmt`: dates, Dutch numbers, postcodes.
//!   `random`: one ChaCha stream per source.
//!
//! # Guarantees
//! - **Determinism**: the same seed, scale, clean flag and buurten file
//!   give byte-identical files (no clocks, no hash-map order; the xlsx has
//!   a fixed creation date).
//! - **Exact counts**: every invalid row is an extra row that violates
//!   exactly one [`knooppunt_core::Rule`] in exactly one column, so the
//!   expected quarantine count per rule is [`SourcePlan::invalid`]. Valid
//!   rows that cannot be linked are counted in [`SourcePlan::unlinked`]:
//!   BAG points outside every buurt; BRP, energie, vastgoed and handhaving
//!   rows whose `adresseerbaarobject_id` is well-formed but not in BAG
//!   (nothing ever references an invalid BAG row); KvK rows whose postcode
//!   exists but whose house number does not; rows of any of these sources
//!   at a BAG address outside every buurt (linked to the address, but to
//!   buurt `onbekend`); meldingen without a location
//!   or outside every buurt. Generated points keep a metre from every buurt
//!   boundary, so rounding and coordinate conversion cannot move them.
//!   Every linked source has at least one unlinked row, and (unless clean)
//!   every rule that applies to a source is planted at least once, even
//!   at scale 0.001.
//! - **Peildatum**: every date is on or before 2026-09-30
//!   ([`SynthReport::peildatum`]), and that day always has a report.
//! - **Clean mode** (`clean = true`): UTF-8 without BOM, `\n`, plain
//!   lower-case headers, `dd-mm-yyyy` dates, no thousands separators, no
//!   invalid rows. Decimal commas stay (they are the contract's format, not
//!   a quirk) and so do the unlinkable rows (real data has them too).
//! - **Bounded memory**: about 20 bytes per address; scale 100 (the whole
//!   country) needs roughly 200 MB.

mod addresses;
mod businesses;
mod energy;
mod enforcement;
mod error;
mod fmt;
mod invalid;
mod kerncijfers;
mod meldingen;
mod persons;
mod property;
mod random;
mod world;
mod writer;

use std::collections::BTreeMap;
use std::path::PathBuf;

use knooppunt_core::{Rule, Source};
use knooppunt_geo::BuurtIndex;
use serde::{Deserialize, Serialize};

pub use error::SynthError;

/// File name of the report written next to the exports.
pub const REPORT_FILE: &str = "synth_report.json";

/// Smallest accepted scale.
pub const MIN_SCALE: f64 = 0.001;

/// Largest accepted scale (about twice the country; beyond it the
/// synthetic BSN and postcode spaces run out).
pub const MAX_SCALE: f64 = 200.0;

/// What to generate, and where.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SynthConfig {
    /// Output directory (created if missing; files in it are replaced).
    pub out: PathBuf,
    /// Size: 1 is a municipality of ~150,000 inhabitants (~75,000
    /// addresses), 100 about the whole country. From [`MIN_SCALE`] to
    /// [`MAX_SCALE`].
    pub scale: f64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Write clean exports: no quirks, no invalid rows (see the crate docs).
    pub clean: bool,
    /// The `buurten.geojson` whose polygons hold the addresses; copied to
    /// the output unchanged. Larger scales put more addresses in the same
    /// buurten.
    pub buurten: PathBuf,
}

/// The ground truth of one generated set, written as `synth_report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthReport {
    /// The seed used.
    pub seed: u64,
    /// The scale used.
    pub scale: f64,
    /// Whether the set is clean.
    pub clean: bool,
    /// The latest date in any dated source (`yyyy-mm-dd`).
    pub peildatum: String,
    /// Per source (by [`Source::name`]): what was written.
    pub sources: BTreeMap<String, SourcePlan>,
    /// Buurtcodes of the planted hotspots, where most indicators run high.
    pub hotspots: Vec<String>,
}

/// What was written for one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePlan {
    /// File name in the output directory.
    pub file: String,
    /// Data rows written (header excluded), valid and invalid.
    pub rows: u64,
    /// Invalid rows planted, per [`Rule::code`]; every rule is listed.
    pub invalid: BTreeMap<String, u64>,
    /// Valid rows that cannot be linked to a buurt.
    pub unlinked: u64,
}

/// The settings every source generator reads.
pub(crate) struct Ctx {
    pub(crate) out: PathBuf,
    pub(crate) seed: u64,
    pub(crate) scale: f64,
    pub(crate) clean: bool,
}

fn validate(cfg: &SynthConfig) -> Result<(), SynthError> {
    if !cfg.scale.is_finite() || !(MIN_SCALE..=MAX_SCALE).contains(&cfg.scale) {
        return Err(SynthError::config(format!(
            "scale must be between {MIN_SCALE} and {MAX_SCALE}"
        )));
    }
    Ok(())
}

/// Generates a complete export set into `cfg.out` and returns (and writes)
/// its report. `progress` receives one line per finished file.
pub fn generate(
    cfg: &SynthConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<SynthReport, SynthError> {
    validate(cfg)?;
    std::fs::create_dir_all(&cfg.out).map_err(SynthError::io(&cfg.out))?;
    let index = BuurtIndex::from_path(&cfg.buurten)?;
    let geojson = std::fs::read(&cfg.buurten).map_err(SynthError::io(&cfg.buurten))?;
    writer::write_atomic(&cfg.out.join(Source::Buurten.file_name()), &geojson)?;
    let ctx = Ctx {
        out: cfg.out.clone(),
        seed: cfg.seed,
        scale: cfg.scale,
        clean: cfg.clean,
    };
    let mut sources = BTreeMap::new();
    let mut done =
        |source: Source, plan: SourcePlan, sources: &mut BTreeMap<String, SourcePlan>| {
            let invalid: u64 = plan.invalid.values().sum();
            progress(&format!(
                "{}: {} rows ({} invalid, {} unlinked)",
                plan.file, plan.rows, invalid, plan.unlinked
            ));
            sources.insert(source.name().to_owned(), plan);
        };
    done(
        Source::Buurten,
        SourcePlan {
            file: Source::Buurten.file_name().to_owned(),
            rows: index.buurten().len() as u64,
            invalid: Rule::ALL.iter().map(|r| (r.code().to_owned(), 0)).collect(),
            unlinked: 0,
        },
        &mut sources,
    );
    let mut world = world::World::plan(&index, cfg.scale, cfg.seed)?;
    done(
        Source::Bag,
        addresses::generate(&ctx, &mut world)?,
        &mut sources,
    );
    let (brp, population) = persons::generate(&ctx, &world)?;
    done(Source::Brp, brp, &mut sources);
    let (kvk, companies) = businesses::generate(&ctx, &world)?;
    done(Source::Kvk, kvk, &mut sources);
    done(
        Source::Meldingen,
        meldingen::generate(&ctx, &world)?,
        &mut sources,
    );
    done(
        Source::Energie,
        energy::generate(&ctx, &world)?,
        &mut sources,
    );
    done(
        Source::Vastgoed,
        property::generate(&ctx, &world, &companies)?,
        &mut sources,
    );
    done(
        Source::Handhaving,
        enforcement::generate(&ctx, &world)?,
        &mut sources,
    );
    done(
        Source::Kerncijfers,
        kerncijfers::generate(&ctx, &world, &population)?,
        &mut sources,
    );
    let (y, m, d) = fmt::PEILDATUM;
    let report = SynthReport {
        seed: cfg.seed,
        scale: cfg.scale,
        clean: cfg.clean,
        peildatum: format!("{y:04}-{m:02}-{d:02}"),
        sources,
        hotspots: world
            .hotspots
            .iter()
            .map(|&b| index.buurten()[b].buurtcode.clone())
            .collect(),
    };
    let path = cfg.out.join(REPORT_FILE);
    let mut json = serde_json::to_vec_pretty(&report).map_err(|source| SynthError::Json {
        path: path.clone(),
        source,
    })?;
    json.push(b'\n');
    writer::write_atomic(&path, &json)?;
    Ok(report)
}

#[cfg(test)]
mod tests;
