//! Whole-set tests: determinism, counts against the files, clean mode,
//! quirks, and the unlinked counts recomputed the way an ingest would.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use calamine::{Data, Reader, Xlsx, open_workbook};
use knooppunt_core::{Source, bsn_passes_eleven_check};

use super::*;

mod validate;

fn sample_buurten() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample-data/buurten_almere_2024.geojson")
}

fn run(scale: f64, seed: u64, clean: bool) -> (tempfile::TempDir, SynthReport) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = SynthConfig {
        out: dir.path().to_path_buf(),
        scale,
        seed,
        clean,
        buurten: sample_buurten(),
    };
    let report = generate(&cfg, &mut |_| {}).expect("generate");
    (dir, report)
}

/// A decoded CSV file: header (trimmed, lower case) and records.
struct Table {
    bom: bool,
    windows_1252: bool,
    crlf: bool,
    header: Vec<String>,
    records: Vec<csv::StringRecord>,
}

impl Table {
    fn read(path: &Path) -> Table {
        let bytes = std::fs::read(path).expect("read");
        let bom = bytes.starts_with(writer::BOM);
        let body = if bom { &bytes[3..] } else { &bytes[..] };
        let (text, windows_1252) = match std::str::from_utf8(body) {
            Ok(s) => (s.to_owned(), false),
            Err(_) => (encoding_rs::WINDOWS_1252.decode(body).0.into_owned(), true),
        };
        let crlf = text.contains("\r\n");
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(b';')
            .from_reader(text.as_bytes());
        let header = reader
            .headers()
            .expect("header")
            .iter()
            .map(|h| h.trim().to_lowercase())
            .collect();
        let records = reader.records().map(|r| r.expect("record")).collect();
        Table {
            bom,
            windows_1252,
            crlf,
            header,
            records,
        }
    }

    fn col(&self, name: &str) -> usize {
        self.header.iter().position(|h| h == name).expect("column")
    }
}

fn sheet_rows(path: &Path) -> Vec<Vec<Data>> {
    let mut workbook: Xlsx<_> = open_workbook(path).expect("open xlsx");
    let range = workbook.worksheet_range("Meldingen").expect("sheet");
    range.rows().skip(1).map(|r| r.to_vec()).collect()
}

const CSV_SOURCES: [Source; 7] = [
    Source::Kerncijfers,
    Source::Bag,
    Source::Brp,
    Source::Kvk,
    Source::Energie,
    Source::Vastgoed,
    Source::Handhaving,
];

#[test]
fn same_seed_gives_identical_bytes() {
    let (a, ra) = run(0.01, 42, false);
    let (b, rb) = run(0.01, 42, false);
    assert_eq!(ra, rb);
    let mut names: Vec<String> = Source::ALL
        .iter()
        .map(|s| s.file_name().to_owned())
        .collect();
    names.push(REPORT_FILE.to_owned());
    for name in names {
        let x = std::fs::read(a.path().join(&name)).expect("read a");
        let y = std::fs::read(b.path().join(&name)).expect("read b");
        assert!(x == y, "{name} differs between runs");
    }
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(a.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty());
    let (_c, rc) = run(0.01, 43, false);
    assert_ne!(ra.sources["brp"].rows, rc.sources["brp"].rows);
}

#[test]
fn report_counts_match_the_files_and_quirks_are_present() {
    let (dir, report) = run(0.01, 7, false);
    let mut boms = 0;
    let mut windows = 0;
    let mut crlf = 0;
    for source in CSV_SOURCES {
        let table = Table::read(&dir.path().join(source.file_name()));
        let plan = &report.sources[source.name()];
        assert_eq!(table.records.len() as u64, plan.rows, "{source:?}");
        boms += usize::from(table.bom);
        windows += usize::from(table.windows_1252);
        crlf += usize::from(table.crlf);
    }
    assert!(boms >= 1 && windows >= 1 && crlf >= 1);
    let rows = sheet_rows(&dir.path().join(Source::Meldingen.file_name()));
    assert_eq!(rows.len() as u64, report.sources["meldingen"].rows);
    assert!(rows.iter().any(|r| matches!(r[1], Data::DateTime(_))));
    assert!(rows.iter().any(|r| matches!(r[1], Data::String(_))));

    // Every rule of every source is planted at least once.
    for (name, rules) in [
        (
            "bag",
            &[
                "missing_required",
                "invalid_number",
                "invalid_code",
                "invalid_value",
            ][..],
        ),
        (
            "brp",
            &[
                "missing_required",
                "bsn_checksum",
                "invalid_date",
                "invalid_number",
                "invalid_code",
                "invalid_value",
            ][..],
        ),
        (
            "kvk",
            &[
                "missing_required",
                "invalid_date",
                "invalid_number",
                "invalid_code",
            ][..],
        ),
        (
            "meldingen",
            &["missing_required", "invalid_date", "invalid_number"][..],
        ),
        (
            "energie",
            &["missing_required", "invalid_number", "invalid_code"][..],
        ),
        (
            "vastgoed",
            &[
                "missing_required",
                "invalid_date",
                "invalid_number",
                "invalid_code",
                "invalid_value",
            ][..],
        ),
        (
            "handhaving",
            &[
                "missing_required",
                "invalid_date",
                "invalid_code",
                "invalid_value",
            ][..],
        ),
    ] {
        for rule in rules {
            assert!(report.sources[name].invalid[*rule] >= 1, "{name} {rule}");
        }
    }

    // The quirky spellings are there.
    let kvk = Table::read(&dir.path().join(Source::Kvk.file_name()));
    let name = kvk.col("handelsnaam");
    assert!(kvk.records.iter().any(|r| &r[name] == "Café Zoë"));
    assert!(
        kvk.records
            .iter()
            .any(|r| r[name].contains(';') && r[name].contains('\n'))
    );
    assert!(kvk.header.contains(&"postcode".to_owned()));
    let bag_text = std::fs::read(dir.path().join(Source::Bag.file_name())).expect("bag");
    assert!(String::from_utf8_lossy(&bag_text).contains("Curaçaostraat"));

    // BRP: the bsn_checksum and invalid_value tallies match the file.
    let brp = Table::read(&dir.path().join(Source::Brp.file_name()));
    let (bsn, soort) = (brp.col("bsn"), brp.col("soort_adres"));
    let failing = brp
        .records
        .iter()
        .filter(|r| !bsn_passes_eleven_check(&r[bsn]))
        .count() as u64;
    assert_eq!(failing, report.sources["brp"].invalid["bsn_checksum"]);
    let bad_soort = brp
        .records
        .iter()
        .filter(|r| !matches!(&r[soort], "W" | "B"))
        .count() as u64;
    assert_eq!(bad_soort, report.sources["brp"].invalid["invalid_value"]);
}

#[test]
fn clean_mode_is_clean_and_unlinked_counts_are_exact() {
    let (dir, report) = run(0.02, 11, true);
    check_clean(dir.path(), &report);
}

/// The clean and invalid-count checks on a larger set: `SYNTH_SCALE=0.5
/// cargo test -p knooppunt-synth -- --ignored checks_at_scale`.
#[test]
#[ignore = "slow: larger set"]
fn checks_at_scale() {
    let scale = std::env::var("SYNTH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.5);
    let (dir, report) = run(scale, 3, true);
    check_clean(dir.path(), &report);
    drop(dir);
    let (dir, report) = run(scale, 4, false);
    check_invalid(dir.path(), &report);
}

/// Clean-mode properties, and every unlinked count recomputed the way an
/// ingest links: point-in-polygon, identificatie lookup, address key.
fn check_clean(dir: &Path, report: &SynthReport) {
    assert!(report.clean);
    for (name, plan) in &report.sources {
        let linked = !matches!(name.as_str(), "buurten" | "kerncijfers");
        assert_eq!(plan.unlinked > 0, linked, "{name}");
    }
    for (name, plan) in &report.sources {
        assert_eq!(plan.invalid.values().sum::<u64>(), 0, "{name}");
    }
    for source in CSV_SOURCES {
        let table = Table::read(&dir.join(source.file_name()));
        assert!(
            !table.bom && !table.windows_1252 && !table.crlf,
            "{source:?}"
        );
        assert_eq!(
            table.records.len() as u64,
            report.sources[source.name()].rows
        );
    }
    let index = BuurtIndex::from_path(&dir.join(Source::Buurten.file_name())).expect("buurten");
    let number = |s: &str| {
        s.replace('.', "")
            .replace(',', ".")
            .parse::<f64>()
            .expect("number")
    };

    // BAG: unlinked = points outside every buurt; collect ids and address keys.
    let bag = Table::read(&dir.join(Source::Bag.file_name()));
    let (id, x, y) = (bag.col("identificatie"), bag.col("x"), bag.col("y"));
    let (pc, nr, letter, toev) = (
        bag.col("postcode"),
        bag.col("huisnummer"),
        bag.col("huisletter"),
        bag.col("huisnummertoevoeging"),
    );
    let mut ids = BTreeSet::new();
    let mut keys = BTreeSet::new();
    let mut outside = 0;
    let mut inside_ids = BTreeSet::new();
    let mut inside_keys = BTreeSet::new();
    for r in &bag.records {
        assert!(ids.insert(r[id].to_owned()), "duplicate identificatie");
        let key = (
            r[pc].to_owned(),
            r[nr].to_owned(),
            r[letter].to_owned(),
            r[toev].to_owned(),
        );
        assert!(keys.insert(key.clone()), "duplicate address");
        if index.locate(number(&r[x]), number(&r[y])).is_none() {
            outside += 1;
        } else {
            // Only addresses inside a buurt link a record to a buurt.
            inside_ids.insert(r[id].to_owned());
            inside_keys.insert(key);
        }
    }
    assert_eq!(outside, report.sources["bag"].unlinked);
    assert!(outside > 0);

    // Sources linked by identificatie.
    for (source, column) in [
        (Source::Brp, "adresseerbaarobject_id"),
        (Source::Energie, "adresseerbaarobject_id"),
        (Source::Vastgoed, "adresseerbaarobject_id"),
        (Source::Handhaving, "adresseerbaarobject_id"),
    ] {
        let table = Table::read(&dir.join(source.file_name()));
        let c = table.col(column);
        let dangling = table
            .records
            .iter()
            .filter(|r| !inside_ids.contains(&r[c]))
            .count() as u64;
        assert_eq!(
            dangling,
            report.sources[source.name()].unlinked,
            "{source:?}"
        );
    }

    // KvK links on the address key.
    let kvk = Table::read(&dir.join(Source::Kvk.file_name()));
    let (kpc, knr, kl, kt) = (
        kvk.col("postcode"),
        kvk.col("huisnummer"),
        kvk.col("huisletter"),
        kvk.col("huisnummertoevoeging"),
    );
    let unmatched = kvk
        .records
        .iter()
        .filter(|r| {
            let key = (
                r[kpc].to_owned(),
                r[knr].to_owned(),
                r[kl].to_owned(),
                r[kt].to_owned(),
            );
            !inside_keys.contains(&key)
        })
        .count() as u64;
    assert_eq!(unmatched, report.sources["kvk"].unlinked);
    assert!(unmatched > 0);

    // Meldingen link by their own coordinates.
    let rows = sheet_rows(&dir.join(Source::Meldingen.file_name()));
    let float = |d: &Data| match d {
        Data::Float(v) => Some(*v),
        Data::Int(v) => Some(*v as f64),
        _ => None,
    };
    let mut unlinked = 0;
    let mut latest = 0.0f64;
    for r in &rows {
        let point = match (float(&r[4]), float(&r[5]), float(&r[6]), float(&r[7])) {
            (Some(x), Some(y), _, _) => Some((x, y)),
            (_, _, Some(lat), Some(lon)) => Some(knooppunt_geo::wgs84_to_rd(lat, lon)),
            _ => None,
        };
        if point.and_then(|(x, y)| index.locate(x, y)).is_none() {
            unlinked += 1;
        }
        if let Data::DateTime(d) = &r[1] {
            latest = latest.max(d.as_f64());
        }
    }
    assert_eq!(unlinked, report.sources["meldingen"].unlinked);
    // 2026-09-30 is Excel serial 46295.
    assert_eq!(latest, 46295.0);
    assert_eq!(report.peildatum, "2026-09-30");

    // Every BSN passes the 11-check; no date lies after the peildatum.
    let brp = Table::read(&dir.join(Source::Brp.file_name()));
    let bsn = brp.col("bsn");
    assert!(brp.records.iter().all(|r| bsn_passes_eleven_check(&r[bsn])));
    let peil = fmt::peildatum();
    let parse = |s: &str| -> Option<fmt::Day> {
        let p: Vec<&str> = s.split('-').collect();
        (p.len() == 3).then(|| {
            fmt::day(
                p[2].parse().expect("y"),
                p[1].parse().expect("m"),
                p[0].parse().expect("d"),
            )
        })
    };
    for (source, cols) in [
        (
            Source::Brp,
            &["datum_inschrijving", "datum_uitschrijving"][..],
        ),
        (Source::Kvk, &["datum_inschrijving", "datum_opheffing"][..]),
        (Source::Vastgoed, &["transactiedatum"][..]),
        (Source::Handhaving, &["datum_start", "datum_einde"][..]),
    ] {
        let table = Table::read(&dir.join(source.file_name()));
        for c in cols {
            let c = table.col(c);
            for r in &table.records {
                if let Some(d) = parse(&r[c]) {
                    assert!(d <= peil, "{source:?} has a date after the peildatum");
                }
            }
        }
    }
}

#[test]
fn invalid_counts_match_an_independent_validator() {
    let (dir, report) = run(0.05, 9, false);
    check_invalid(dir.path(), &report);
}

/// Re-validates every file with `validate` and compares the per-rule
/// counts with the report; also asserts no row breaks two rules.
fn check_invalid(dir: &Path, report: &SynthReport) {
    for source in [
        Source::Bag,
        Source::Brp,
        Source::Kvk,
        Source::Energie,
        Source::Vastgoed,
        Source::Handhaving,
    ] {
        let table = Table::read(&dir.join(source.file_name()));
        let spec = validate::spec(source);
        let columns: Vec<usize> = spec.iter().map(|(name, _, _)| table.col(name)).collect();
        let counted = validate::tally(table.records.iter().map(|r| {
            spec.iter()
                .zip(&columns)
                .map(|((_, kind, required), c)| validate::check(&r[*c], *kind, *required))
                .collect()
        }));
        assert_eq!(counted, report.sources[source.name()].invalid, "{source:?}");
    }
    let rows = sheet_rows(&dir.join(Source::Meldingen.file_name()));
    let counted = validate::tally(rows.iter().map(|r| {
        let text = |d: &Data| match d {
            Data::String(s) if !s.is_empty() => None,
            Data::Empty => Some(knooppunt_core::Rule::MissingRequired),
            _ => Some(knooppunt_core::Rule::InvalidValue),
        };
        let datum = match &r[1] {
            Data::DateTime(_) => None,
            Data::String(s) if validate::date(s) => None,
            Data::Empty => Some(knooppunt_core::Rule::MissingRequired),
            _ => Some(knooppunt_core::Rule::InvalidDate),
        };
        let mut out = vec![text(&r[0]), datum, text(&r[2])];
        for d in &r[4..8] {
            out.push(match d {
                Data::Float(_) | Data::Int(_) | Data::Empty => None,
                Data::String(s) if validate::dutch_decimal(s) => None,
                _ => Some(knooppunt_core::Rule::InvalidNumber),
            });
        }
        out
    }));
    assert_eq!(counted, report.sources["meldingen"].invalid);
}

#[test]
fn hotspots_stand_out() {
    let (dir, report) = run(0.05, 5, true);
    assert!((3..=5).contains(&report.hotspots.len()));
    let hot: BTreeSet<&str> = report.hotspots.iter().map(String::as_str).collect();
    let index = BuurtIndex::from_path(&sample_buurten()).expect("buurten");
    // Drug nuisance share of reports: hotspots vs the rest.
    let rows = sheet_rows(&dir.path().join(Source::Meldingen.file_name()));
    let (mut hot_drugs, mut hot_all, mut cold_drugs, mut cold_all) = (0.0, 0.0, 0.0, 0.0);
    for r in &rows {
        let (Data::Float(x), Data::Float(y)) = (&r[4], &r[5]) else {
            continue;
        };
        let Some(b) = index.locate(*x, *y) else {
            continue;
        };
        let drugs = matches!(&r[2], Data::String(c) if c == "Drugsoverlast");
        if hot.contains(index.buurten()[b].buurtcode.as_str()) {
            hot_all += 1.0;
            hot_drugs += f64::from(u8::from(drugs));
        } else {
            cold_all += 1.0;
            cold_drugs += f64::from(u8::from(drugs));
        }
    }
    assert!(hot_drugs / hot_all > 2.0 * cold_drugs / cold_all);
}

#[test]
fn bad_config_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = SynthConfig {
        out: dir.path().to_path_buf(),
        scale: 0.0,
        seed: 1,
        clean: false,
        buurten: sample_buurten(),
    };
    let err = generate(&cfg, &mut |_| {}).expect_err("scale 0");
    assert!(matches!(err, SynthError::InvalidConfig { .. }));
    assert_eq!(err.kind(), knooppunt_core::ErrorKind::BadInput);
    let missing = SynthConfig {
        scale: 0.01,
        buurten: dir.path().join("nope.geojson"),
        ..cfg
    };
    assert!(matches!(
        generate(&missing, &mut |_| {}),
        Err(SynthError::Geo(_))
    ));
}

/// Timing at scale 1: `cargo test -p knooppunt-synth -- --ignored --nocapture`;
/// `SYNTH_SCALE`, `SYNTH_CLEAN=1` and `SYNTH_OUT=dir` change the run.
#[test]
#[ignore = "slow: generates a full municipality"]
fn time_scale_one() {
    let scale = std::env::var("SYNTH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let clean = std::env::var("SYNTH_CLEAN").is_ok_and(|v| v == "1");
    let dir = tempfile::tempdir().expect("tempdir");
    // SYNTH_OUT keeps the set for inspection; otherwise it is removed.
    let out = std::env::var("SYNTH_OUT").map_or_else(|_| dir.path().to_path_buf(), PathBuf::from);
    let cfg = SynthConfig {
        out,
        scale,
        seed: 1,
        clean,
        buurten: sample_buurten(),
    };
    let started = std::time::Instant::now();
    let report = generate(&cfg, &mut |line| {
        eprintln!("{:>7.1}s {line}", started.elapsed().as_secs_f64())
    })
    .expect("generate");
    eprintln!(
        "scale {scale}: {:.1}s, hotspots {:?}",
        started.elapsed().as_secs_f64(),
        report.hotspots
    );
}
