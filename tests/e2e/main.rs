//! End-to-end tests of the `knooppunt` binary on generated exports:
//! the demo, synth ground truth against the ingest summary, crash safety
//! under SIGKILL, and the absence of raw BSNs in the lake and the logs.
//!
//! Run through `cargo test --workspace`, which builds the binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use knooppunt_core::Source;
use knooppunt_ingest::{Manifest, snapshot_dir};
use knooppunt_synth::{SynthConfig, SynthReport, generate};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rand::{Rng, SeedableRng};

mod analyst;
mod oracle;
mod release;
mod serve;

/// The `knooppunt` binary next to this test executable.
fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join(format!("knooppunt{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not built: run `cargo test --workspace`",
        bin.display()
    );
    bin
}

fn buurten() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-data/buurten_almere_2024.geojson")
}

struct Workdir {
    dir: tempfile::TempDir,
    report: SynthReport,
}

impl Workdir {
    fn new(scale: f64, seed: u64, clean: bool) -> Workdir {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SynthConfig {
            out: dir.path().join("exports"),
            scale,
            seed,
            clean,
            buurten: buurten(),
        };
        let report = generate(&cfg, &mut |_| {}).unwrap();
        std::fs::write(
            dir.path().join("key"),
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
        )
        .unwrap();
        Workdir { dir, report }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ingest_command(&self) -> Command {
        let mut cmd = Command::new(binary());
        cmd.arg("ingest")
            .arg("--exports")
            .arg(self.path("exports"))
            .arg("--lake")
            .arg(self.path("lake"))
            .arg("--key-file")
            .arg(self.path("key"))
            .env_remove("KNOOPPUNT_PSEUDONYM_KEY_FILE");
        cmd
    }

    fn ingest(&self, json: bool) -> Output {
        let mut cmd = self.ingest_command();
        if json {
            cmd.arg("--json");
        }
        cmd.output().unwrap()
    }
}

fn read_rows(path: &Path) -> usize {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    reader
        .map(|b: Result<RecordBatch, _>| b.unwrap().num_rows())
        .sum()
}

/// Every current snapshot in the manifest is complete: its files exist and
/// hold exactly the rows the manifest says.
fn assert_lake_consistent(lake: &Path) {
    if !lake.join("manifest.json").exists() {
        return;
    }
    let manifest = Manifest::load(lake).expect("manifest must always be valid");
    for source in Source::ALL {
        let Some(snap) = manifest.current(source) else {
            continue;
        };
        let dir = snapshot_dir(lake, source, &snap.id);
        let rows: usize = snap.files.iter().map(|f| read_rows(&dir.join(f))).sum();
        assert_eq!(
            rows as u64, snap.counts.rows_written,
            "{source:?} snapshot {}",
            snap.id
        );
        let quarantined = read_rows(&dir.join("quarantine/rows.parquet"));
        assert_eq!(
            quarantined as u64,
            snap.counts.quarantined_total(),
            "{source:?}"
        );
    }
}

#[test]
fn ingest_summary_matches_the_generators_ground_truth() {
    let w = Workdir::new(0.03, 7, false);
    let out = w.ingest(true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for s in summary["sources"].as_array().unwrap() {
        let name = s["source"].as_str().unwrap();
        let Some(plan) = w.report.sources.get(name) else {
            continue;
        };
        assert_eq!(s["status"]["status"], "written", "{name}");
        let counts = &s["counts"];
        assert_eq!(
            counts["rows_read"].as_u64().unwrap(),
            plan.rows,
            "{name} rows read"
        );
        let quarantined: std::collections::BTreeMap<String, u64> =
            serde_json::from_value(counts["quarantined"].clone()).unwrap();
        let planted: std::collections::BTreeMap<String, u64> = plan
            .invalid
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        assert_eq!(quarantined, planted, "{name} quarantine by rule");
        assert_eq!(
            counts["unlinked"].as_u64().unwrap(),
            plan.unlinked,
            "{name} unlinked"
        );
    }
    assert_lake_consistent(&w.path("lake"));
}

#[test]
fn clean_exports_quarantine_nothing() {
    let w = Workdir::new(0.02, 3, true);
    let out = w.ingest(true);
    assert!(out.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for s in summary["sources"].as_array().unwrap() {
        assert_eq!(
            s["counts"]["quarantined"],
            serde_json::json!({}),
            "{}",
            s["source"]
        );
    }
}

/// Collects every 9-digit value of the BSN column of the generated BRP export.
fn input_bsns(exports: &Path) -> Vec<String> {
    let bytes = std::fs::read(exports.join("brp_inschrijvingen.csv")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out: Vec<String> = reader
        .records()
        .filter_map(Result::ok)
        .filter_map(|r| r.get(0).map(|f| f.trim().to_string()))
        .filter(|f| f.len() == 9 && f.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn no_raw_bsn_reaches_the_lake_or_the_output() {
    let w = Workdir::new(0.02, 11, false);
    let bsns = input_bsns(&w.path("exports"));
    assert!(bsns.len() > 100, "too few BSNs to be a meaningful scan");
    let table = w.ingest(false);
    let json = w.ingest(true);
    for out in [&table, &json] {
        assert!(out.status.success());
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for b in &bsns {
            assert!(
                !text.contains(b.as_str()),
                "a raw BSN appeared in the output"
            );
        }
    }
    scan_dir_for(&w.path("lake"), &bsns);
}

fn scan_dir_for(dir: &Path, values: &[String]) {
    use arrow::array::{Array, AsArray};
    let mut stack = vec![dir.to_path_buf()];
    let mut parquet_files = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let raw = String::from_utf8_lossy(&bytes);
            if path.extension().is_some_and(|e| e == "parquet") {
                parquet_files += 1;
                let file = std::fs::File::open(&path).unwrap();
                for batch in ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .build()
                    .unwrap()
                {
                    for col in batch.unwrap().columns() {
                        let text =
                            arrow::compute::cast(col, &arrow::datatypes::DataType::Utf8).unwrap();
                        let strings = text.as_string::<i32>();
                        let joined: String = (0..strings.len())
                            .filter(|i| strings.is_valid(*i))
                            .map(|i| strings.value(i))
                            .collect::<Vec<_>>()
                            .join("\u{1}");
                        for v in values {
                            assert!(
                                !joined.contains(v.as_str()),
                                "raw BSN in values of {}",
                                path.display()
                            );
                        }
                    }
                }
            } else {
                for v in values {
                    assert!(!raw.contains(v.as_str()), "raw BSN in {}", path.display());
                }
            }
        }
    }
    assert!(
        parquet_files >= 9,
        "expected the whole lake, scanned {parquet_files} parquet files"
    );
}

#[test]
fn killed_ingests_never_leave_an_inconsistent_lake() {
    let w = Workdir::new(0.05, 5, false);
    let lake = w.path("lake");
    // A reference run measures how long a full ingest takes.
    let started = Instant::now();
    assert!(w.ingest(false).status.success());
    let full = started.elapsed();
    std::fs::remove_dir_all(&lake).unwrap();

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let mut kills = 0;
    for round in 0..12 {
        // Alternate between a fresh lake and one that already has snapshots.
        // Touching the boundaries (trailing whitespace keeps the GeoJSON
        // valid but changes its hash) makes every source run again.
        if round % 4 == 0 {
            let _ = std::fs::remove_dir_all(&lake);
        }
        let geojson = w.path("exports/buurten.geojson");
        let mut text = std::fs::read(&geojson).unwrap();
        text.push(b'\n');
        std::fs::write(&geojson, text).unwrap();

        let mut child = w
            .ingest_command()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let delay = Duration::from_secs_f64(full.as_secs_f64() * rng.random_range(0.0..0.9));
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        let _ = child.wait();
        assert_lake_consistent(&lake);
    }
    assert!(kills >= 5, "only {kills} of 12 runs were killed mid-way");
    // After all that, a normal run completes and the lake is whole.
    let out = w.ingest(true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_lake_consistent(&lake);
    let manifest = Manifest::load(&lake).unwrap();
    for source in Source::ALL {
        assert!(
            manifest.current(source).is_some(),
            "{source:?} has no snapshot after recovery"
        );
        // No staging directories survive a completed run.
        let dir = lake.join(source.name());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().to_string();
            assert!(!name.starts_with(".staging-"), "{name} left behind");
        }
    }
}

#[test]
fn ingest_without_key_refuses_and_bad_files_fail_with_the_file_named() {
    let w = Workdir::new(0.01, 2, true);
    let out = Command::new(binary())
        .args(["ingest", "--exports"])
        .arg(w.path("exports"))
        .arg("--lake")
        .arg(w.path("lake"))
        .env_remove("KNOOPPUNT_PSEUDONYM_KEY_FILE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pseudonym key"));
    assert!(
        !w.path("lake").exists(),
        "nothing may be written without a key"
    );

    // An unreadable workbook fails alone, naming the file, exit code 1.
    std::fs::write(w.path("exports/meldingen.xlsx"), b"not a workbook").unwrap();
    let out = w.ingest(false);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("error: meldingen.xlsx: unreadable"),
        "{stdout}"
    );
    let manifest = Manifest::load(&w.path("lake")).unwrap();
    assert!(manifest.current(Source::Meldingen).is_none());
    assert!(manifest.current(Source::Brp).is_some());
}

#[test]
fn demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(binary())
        .args(["demo", "--no-serve", "--scale", "0.02", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for source in Source::ALL {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(source.name()) && l.contains("written")),
            "{source:?}: {stdout}"
        );
    }
    assert!(dir.path().join("pseudonym.key").exists());
    // Running it again regenerates identical exports: every source unchanged.
    let again = Command::new(binary())
        .args(["demo", "--no-serve", "--scale", "0.02", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.contains("unchanged")).count(),
        Source::ALL.len(),
        "{stdout}"
    );
}

#[test]
fn committed_sample_set_is_what_the_generator_makes() {
    // sample-data/generated is `knooppunt synth --scale 0.02 --seed 1`; if the
    // generator changes, regenerate it (the diff then shows what changed).
    let dir = tempfile::tempdir().unwrap();
    let cfg = SynthConfig {
        out: dir.path().to_path_buf(),
        scale: 0.02,
        seed: 1,
        clean: false,
        buurten: buurten(),
    };
    generate(&cfg, &mut |_| {}).unwrap();
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-data/generated");
    for entry in std::fs::read_dir(&committed).unwrap() {
        let name = entry.unwrap().file_name();
        let fresh = std::fs::read(dir.path().join(&name)).unwrap();
        let kept = std::fs::read(committed.join(&name)).unwrap();
        assert!(
            fresh == kept,
            "{name:?} differs from a fresh `knooppunt synth --scale 0.02 --seed 1`"
        );
    }
}
