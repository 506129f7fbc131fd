//! One ingest run: the order of sources, parallelism, idempotency and the
//! per-source pipeline (read → validate → pseudonymise → link → write).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use knooppunt_core::{CONTRACT_VERSION, Rule, Source, TimeProvider, schema};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::IngestError;
use crate::batch::{BatchBuilder, ParquetSink, QuarantineSink};
use crate::input::{Encoding, Fingerprint, fingerprint, open_text};
use crate::key::PseudonymKey;
use crate::lake::{
    Counts, InputFile, LakeLock, Manifest, Snapshot, clean_unreferenced, publish, snapshot_dir,
    snapshot_id, staging_dir, write_synced,
};
use crate::link::{AddressIndex, Linker, load_geo};
use crate::parse::Cell;
use crate::rows::{Chunk, RowStream, stream_csv, stream_xlsx};
use crate::spec::{Col, Val, Violation, columns, finish, header_required, parse_value};
use arrow::record_batch::RecordBatch;

/// What an ingest run needs.
pub struct IngestOptions {
    /// Directory holding the departmental exports.
    pub exports: PathBuf,
    /// The lake directory (created when absent).
    pub lake: PathBuf,
    /// The pseudonym key.
    pub key: PseudonymKey,
    /// Clock for snapshot ids and times.
    pub clock: Arc<dyn TimeProvider>,
}

/// Receives progress while files are ingested. Implementations must be
/// cheap: `advance` is called once per chunk of rows.
pub trait Progress: Send + Sync {
    /// A file starts; `bytes` is its size.
    fn start(&self, source: Source, file: &str, bytes: u64);
    /// `bytes_read` bytes and `rows` rows of the file are done.
    fn advance(&self, source: Source, bytes_read: u64, rows: u64);
    /// The file is done.
    fn finish(&self, report: &SourceReport);
}

/// Progress that goes nowhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: Source, _: &str, _: u64) {}
    fn advance(&self, _: Source, _: u64, _: u64) {}
    fn finish(&self, _: &SourceReport) {}
}

/// What happened to one source.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// A new snapshot was written and made current.
    Written {
        /// The new snapshot.
        snapshot: String,
    },
    /// The input and its dependencies are unchanged: nothing written.
    Unchanged {
        /// The current snapshot.
        snapshot: String,
    },
    /// The export is not in the exports directory; the lake keeps what it had.
    Absent,
    /// The file could not be ingested; nothing was written for the source.
    Failed {
        /// One-line reason naming the file (never a value from it).
        reason: String,
    },
}

/// The outcome of one source.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    /// The source.
    pub source: Source,
    /// Its export file name.
    pub file: String,
    /// What happened.
    pub status: Status,
    /// Row counts (of the current snapshot when unchanged).
    pub counts: Counts,
    /// Input size.
    pub bytes: u64,
    /// Wall time.
    pub seconds: f64,
}

/// The outcome of a run.
#[derive(Debug, Clone, Serialize)]
pub struct IngestSummary {
    /// Per source, in ingestion order.
    pub sources: Vec<SourceReport>,
}

impl IngestSummary {
    /// True when no source failed.
    pub fn ok(&self) -> bool {
        !self
            .sources
            .iter()
            .any(|s| matches!(s.status, Status::Failed { .. }))
    }

    /// The report of one source.
    pub fn source(&self, source: Source) -> Option<&SourceReport> {
        self.sources.iter().find(|s| s.source == source)
    }

    /// A plain-text table: rows read, written, quarantined per rule, unlinked.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<11} {:<10} {:>10} {:>10} {:>11} {:>9} {:>9}  quarantined by rule",
            "source", "status", "read", "written", "quarantined", "unlinked", "MB/s"
        );
        for s in &self.sources {
            let status = match &s.status {
                Status::Written { .. } => "written",
                Status::Unchanged { .. } => "unchanged",
                Status::Absent => "absent",
                Status::Failed { .. } => "FAILED",
            };
            let c = &s.counts;
            let rules: Vec<String> = c
                .quarantined
                .iter()
                .map(|(r, n)| format!("{r}={n}"))
                .collect();
            let mbps = if matches!(s.status, Status::Written { .. }) && s.seconds > 0.0 {
                format!("{:.1}", s.bytes as f64 / 1e6 / s.seconds)
            } else {
                "-".into()
            };
            let _ = writeln!(
                out,
                "{:<11} {:<10} {:>10} {:>10} {:>11} {:>9} {:>9}  {}",
                s.source.name(),
                status,
                c.rows_read,
                c.rows_written,
                c.quarantined_total(),
                c.unlinked,
                mbps,
                rules.join(" ")
            );
        }
        for s in &self.sources {
            if s.source == Source::Kvk && s.counts.rows_written > 0 {
                let linked = s.counts.rows_written - s.counts.unlinked;
                let _ = writeln!(
                    out,
                    "kvk → BAG match rate: {:.2} % ({linked} of {})",
                    100.0 * linked as f64 / s.counts.rows_written as f64,
                    s.counts.rows_written
                );
            }
            if let Status::Failed { reason } = &s.status {
                let _ = writeln!(out, "error: {reason}");
            }
        }
        out
    }
}

/// Shared state of a run.
struct Run<'a> {
    opts: &'a IngestOptions,
    progress: &'a dyn Progress,
    manifest: Mutex<Manifest>,
}

/// What a source will do, decided before any heavy work.
enum Plan {
    Done(SourceReport),
    Work {
        source: Source,
        path: PathBuf,
        fp: Fingerprint,
        fingerprint: String,
        deps: BTreeMap<String, String>,
    },
}

/// Ingests every export found in `opts.exports` into `opts.lake`.
///
/// Sources run in dependency order (buurten; then bag, meldingen and
/// kerncijfers; then the address-linked sources), in parallel within a
/// stage. A source that fails is reported and leaves its previous snapshot
/// current; the run still returns the summary. Only problems with the lake
/// itself (lock, unreadable manifest) are errors of the run.
pub fn ingest(opts: &IngestOptions, progress: &dyn Progress) -> Result<IngestSummary, IngestError> {
    let _lock = LakeLock::acquire(&opts.lake)?;
    let manifest = Manifest::load(&opts.lake)?;
    clean_unreferenced(&opts.lake, &manifest)?;
    let run = Run {
        opts,
        progress,
        manifest: Mutex::new(manifest),
    };
    let stages: [&[Source]; 3] = [
        &[Source::Buurten],
        &[Source::Bag, Source::Meldingen, Source::Kerncijfers],
        &[
            Source::Brp,
            Source::Kvk,
            Source::Energie,
            Source::Vastgoed,
            Source::Handhaving,
        ],
    ];
    let mut reports: Vec<SourceReport> = Vec::new();
    for stage in stages {
        let plans: Vec<Plan> = stage.iter().map(|s| run.plan(*s)).collect();
        let mut linker_cache: Option<Arc<Linker>> = None;
        let mut work = Vec::new();
        for plan in plans {
            match plan {
                Plan::Done(report) => {
                    progress.finish(&report);
                    reports.push(report);
                }
                Plan::Work {
                    source,
                    path,
                    fp,
                    fingerprint,
                    deps,
                } => {
                    let linker = match run.linker(source, &mut linker_cache) {
                        Ok(l) => l,
                        Err(e) => {
                            let report = failed(source, &e, fp.bytes);
                            progress.finish(&report);
                            reports.push(report);
                            continue;
                        }
                    };
                    work.push((source, path, fp, fingerprint, deps, linker));
                }
            }
        }
        let done: Vec<SourceReport> = std::thread::scope(|scope| {
            let handles: Vec<_> = work
                .into_iter()
                .map(|(source, path, fp, fingerprint, deps, linker)| {
                    let run = &run;
                    scope
                        .spawn(move || run.execute(source, &path, &fp, &fingerprint, deps, &linker))
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        for report in done {
            progress.finish(&report);
            reports.push(report);
        }
    }
    reports.sort_by_key(|r| r.source);
    Ok(IngestSummary { sources: reports })
}

fn failed(source: Source, error: &IngestError, bytes: u64) -> SourceReport {
    SourceReport {
        source,
        file: source.file_name().into(),
        status: Status::Failed {
            reason: error.to_string(),
        },
        counts: Counts::default(),
        bytes,
        seconds: 0.0,
    }
}

fn lock(m: &Mutex<Manifest>) -> std::sync::MutexGuard<'_, Manifest> {
    // A panic while holding the lock cannot leave the manifest half-updated
    // on disk (it is replaced atomically), so a poisoned lock is usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Run<'_> {
    fn plan(&self, source: Source) -> Plan {
        let path = self.opts.exports.join(source.file_name());
        let done = |status, counts, bytes| {
            Plan::Done(SourceReport {
                source,
                file: source.file_name().into(),
                status,
                counts,
                bytes,
                seconds: 0.0,
            })
        };
        if !path.is_file() {
            return done(Status::Absent, Counts::default(), 0);
        }
        let text = !matches!(source, Source::Meldingen);
        let fp = match fingerprint(&path, text) {
            Ok(fp) => fp,
            Err(e) => return Plan::Done(failed(source, &e, 0)),
        };
        let manifest = lock(&self.manifest);
        let mut deps = BTreeMap::new();
        for dep in source.depends_on() {
            match manifest.current(*dep) {
                Some(s) => {
                    deps.insert(dep.name().to_string(), s.id.clone());
                }
                None => {
                    let e = IngestError::MissingDependency {
                        source_name: source.name().into(),
                        dependency: dep.name().into(),
                    };
                    return Plan::Done(failed(source, &e, fp.bytes));
                }
            }
        }
        let mut h = Sha256::new();
        for part in [
            CONTRACT_VERSION,
            source.name(),
            &fp.sha256,
            self.opts.key.key_id(),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        for (k, v) in &deps {
            h.update(format!("{k}={v}").as_bytes());
            h.update([0]);
        }
        let fingerprint = hex::encode(h.finalize());
        if let Some(current) = manifest.current(source)
            && current.fingerprint == fingerprint
        {
            return done(
                Status::Unchanged {
                    snapshot: current.id.clone(),
                },
                current.counts.clone(),
                fp.bytes,
            );
        }
        Plan::Work {
            source,
            path,
            fp,
            fingerprint,
            deps,
        }
    }

    /// The linker for a source, built once per stage.
    fn linker(
        &self,
        source: Source,
        cache: &mut Option<Arc<Linker>>,
    ) -> Result<Arc<Linker>, IngestError> {
        if source == Source::Buurten {
            return Ok(Arc::new(Linker::default()));
        }
        if let Some(l) = cache {
            return Ok(Arc::clone(l));
        }
        let manifest = lock(&self.manifest).clone();
        let lake = &self.opts.lake;
        let linker = if source.depends_on().contains(&Source::Buurten) {
            let snap = manifest
                .current(Source::Buurten)
                .ok_or(IngestError::MissingDependency {
                    source_name: source.name().into(),
                    dependency: "buurten".into(),
                })?;
            Linker::with_geo(Arc::new(load_geo(&snapshot_dir(
                lake,
                Source::Buurten,
                &snap.id,
            ))?))
        } else {
            let files = manifest.current_files(lake, Source::Bag).ok_or(
                IngestError::MissingDependency {
                    source_name: source.name().into(),
                    dependency: "bag".into(),
                },
            )?;
            Linker::with_addresses(Arc::new(AddressIndex::load(&files)?))
        };
        let linker = Arc::new(linker);
        *cache = Some(Arc::clone(&linker));
        Ok(linker)
    }

    fn execute(
        &self,
        source: Source,
        path: &Path,
        fp: &Fingerprint,
        fingerprint: &str,
        deps: BTreeMap<String, String>,
        linker: &Linker,
    ) -> SourceReport {
        let started = Instant::now();
        let created = self.opts.clock.now();
        let id = snapshot_id(created, fingerprint);
        let lake = &self.opts.lake;
        let staging = staging_dir(lake, source, &id);
        let result = (|| -> Result<(Counts, Vec<String>, Vec<String>), IngestError> {
            std::fs::create_dir_all(staging.join("quarantine"))
                .map_err(IngestError::io(&staging))?;
            self.progress.start(source, source.file_name(), fp.bytes);
            let counts = if source == Source::Buurten {
                write_buurten(path, &staging)?
            } else {
                convert(
                    source,
                    path,
                    fp,
                    &staging,
                    &self.opts.key,
                    linker,
                    self.progress,
                )?
            };
            Ok((
                counts,
                vec!["part-00000.parquet".into()],
                vec![
                    "quarantine/rows.parquet".into(),
                    "quarantine/summary.txt".into(),
                ],
            ))
        })();
        let (counts, files, quarantine_files) = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                return failed(source, &e, fp.bytes);
            }
        };
        let snapshot = Snapshot {
            id: id.clone(),
            created_at: created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            contract_version: CONTRACT_VERSION.into(),
            fingerprint: fingerprint.to_string(),
            key_id: self.opts.key.key_id().to_string(),
            inputs: vec![InputFile {
                file: source.file_name().into(),
                sha256: fp.sha256.clone(),
                bytes: fp.bytes,
                encoding: fp.encoding,
            }],
            depends_on: deps,
            files,
            quarantine_files,
            counts: counts.clone(),
        };
        let committed = (|| -> Result<(), IngestError> {
            publish(lake, source, &id)?;
            let mut manifest = lock(&self.manifest);
            let mut next = manifest.clone();
            let dropped = next.install(source, snapshot);
            next.store(lake)?;
            *manifest = next;
            drop(manifest);
            for old in dropped {
                let _ = std::fs::remove_dir_all(snapshot_dir(lake, source, &old));
            }
            Ok(())
        })();
        let status = match committed {
            Ok(()) => Status::Written { snapshot: id },
            Err(e) => return failed(source, &e, fp.bytes),
        };
        SourceReport {
            source,
            file: source.file_name().into(),
            status,
            counts,
            bytes: fp.bytes,
            seconds: started.elapsed().as_secs_f64(),
        }
    }
}

/// Validates and writes the buurt boundaries; keeps a copy of the GeoJSON in
/// the snapshot for linking and maps.
fn write_buurten(path: &Path, staging: &Path) -> Result<Counts, IngestError> {
    let file = Source::Buurten.file_name();
    let index = knooppunt_geo::BuurtIndex::from_path(path).map_err(|source| IngestError::Geo {
        file: file.to_string(),
        source,
    })?;
    let bytes = std::fs::read(path).map_err(IngestError::io(path))?;
    write_synced(&staging.join("buurten.geojson"), &bytes)?;
    let mut sink =
        ParquetSink::create(&staging.join("part-00000.parquet"), schema(Source::Buurten))?;
    for b in index.buurten() {
        sink.push(&[
            Val::Str(b.buurtcode.clone()),
            Val::Str(b.buurtnaam.clone()),
            Val::Str(b.wijkcode.clone()),
            b.wijknaam.clone().map_or(Val::Null, Val::Str),
            Val::Str(b.gemeentecode.clone()),
            Val::Str(b.gemeentenaam.clone()),
            Val::F64(b.area_m2),
        ])?;
    }
    let rows = sink.close()?;
    QuarantineSink::create(&staging.join("quarantine/rows.parquet"), "buurten", file)?.close()?;
    let counts = Counts {
        rows_read: rows,
        rows_written: rows,
        quarantined: BTreeMap::new(),
        unlinked: 0,
    };
    write_synced(
        &staging.join("quarantine/summary.txt"),
        quarantine_summary(Source::Buurten, &counts, &[]).as_bytes(),
    )?;
    Ok(counts)
}

/// Maps the contract columns of a source to header positions; fails naming
/// every required column that is missing.
fn map_header(source: Source, header: &[String]) -> Result<Vec<Option<usize>>, IngestError> {
    let cols = columns(source);
    let mapping: Vec<Option<usize>> = cols
        .iter()
        .map(|c| header.iter().position(|h| h == c.name))
        .collect();
    let mut missing: Vec<String> = cols
        .iter()
        .zip(&mapping)
        .filter(|(c, m)| m.is_none() && header_required(source, c))
        .map(|(c, _)| c.name.to_string())
        .collect();
    if source == Source::Meldingen {
        let has = |n: &str| header.iter().any(|h| h == n);
        if !((has("x") && has("y")) || (has("lat") && has("lon"))) {
            missing.push("x and y, or lat and lon".into());
        }
    }
    if missing.is_empty() {
        Ok(mapping)
    } else {
        Err(IngestError::MissingColumns {
            file: source.file_name().into(),
            columns: missing,
        })
    }
}

/// Validates one row's cells into values.
fn validate(cols: &[Col], cells: &[Cell<'_>]) -> Result<Vec<Val>, Violation> {
    cols.iter()
        .zip(cells)
        .map(|(c, cell)| parse_value(c, *cell))
        .collect()
}

/// What a worker made of one chunk of rows.
struct ChunkOut {
    batch: RecordBatch,
    quarantined: Vec<(u64, Option<&'static str>, Rule)>,
    rows_read: u64,
    unlinked: u64,
}

/// Everything a worker needs to convert chunks of one source.
struct Converter<'a> {
    source: Source,
    cols: &'static [Col],
    mapping: Vec<Option<usize>>,
    width: usize,
    key: &'a PseudonymKey,
    linker: &'a Linker,
}

impl Converter<'_> {
    /// Validates, pseudonymises and links one chunk into a batch.
    fn convert(&self, chunk: &Chunk) -> Result<ChunkOut, arrow::error::ArrowError> {
        let mut rows = BatchBuilder::new(schema(self.source));
        let mut out = ChunkOut {
            batch: RecordBatch::new_empty(schema(self.source)),
            quarantined: Vec::new(),
            rows_read: 0,
            unlinked: 0,
        };
        let mut handle = |line: u64, outcome: Result<Vec<Val>, Violation>| {
            out.rows_read += 1;
            match outcome.and_then(|vals| finish(self.source, vals, self.key, self.linker)) {
                Ok((row, linked)) => {
                    rows.push(&row);
                    out.unlinked += u64::from(!linked);
                }
                Err((column, rule)) => out.quarantined.push((line, column, rule)),
            }
        };
        match chunk {
            Chunk::Csv(records) => {
                let mut cells: Vec<Cell<'_>> = Vec::with_capacity(self.cols.len());
                for (line, record) in records {
                    let outcome =
                        csv_cells(record, self.width, &self.mapping, self.cols, &mut cells)
                            .and_then(|()| validate(self.cols, &cells));
                    handle(*line, outcome);
                    cells.clear();
                }
            }
            Chunk::Cells(sheet_rows) => {
                for (line, row) in sheet_rows {
                    handle(*line, validate(self.cols, &xlsx_cells(row, &self.mapping)));
                }
            }
        }
        out.batch = rows.finish()?;
        Ok(out)
    }
}

/// Worker threads per file. The reader and the Parquet writer each have a
/// thread of their own; conversion (validation, HMAC, linking, Arrow
/// building) is what splitting a large file speeds up.
fn workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
}

/// The streaming pipeline of a CSV or xlsx source: a reader thread cuts the
/// file into numbered chunks, workers convert chunks in parallel, and this
/// thread writes the results to Parquet in file order.
fn convert(
    source: Source,
    path: &Path,
    fp: &Fingerprint,
    staging: &Path,
    key: &PseudonymKey,
    linker: &Linker,
    progress: &dyn Progress,
) -> Result<Counts, IngestError> {
    let file = source.file_name();
    let bytes_read = Arc::new(AtomicU64::new(0));
    let stream: RowStream = if fp.encoding == Encoding::Binary {
        stream_xlsx(path, file, "Meldingen")?
    } else {
        stream_csv(file, open_text(path, fp.encoding, Arc::clone(&bytes_read))?)?
    };
    let converter = Converter {
        source,
        cols: columns(source),
        mapping: map_header(source, &stream.header)?,
        width: stream.header.len(),
        key,
        linker,
    };
    let data_path = staging.join("part-00000.parquet");
    let mut sink = ParquetSink::create(&data_path, schema(source))?;
    let mut quarantine = QuarantineSink::create(
        &staging.join("quarantine/rows.parquet"),
        source.name(),
        file,
    )?;
    let mut counts = Counts::default();
    let mut examples: Vec<(u64, Option<&'static str>, Rule)> = Vec::new();
    let n = workers();
    std::thread::scope(|scope| -> Result<(), IngestError> {
        let (out_tx, out_rx) =
            crossbeam_channel::bounded::<Result<(u64, ChunkOut), IngestError>>(2 * n);
        for _ in 0..n {
            let chunks = stream.chunks.clone();
            let out_tx = out_tx.clone();
            let converter = &converter;
            let data_path = &data_path;
            scope.spawn(move || {
                for item in chunks.iter() {
                    let result = item.and_then(|(seq, chunk)| {
                        converter
                            .convert(&chunk)
                            .map(|out| (seq, out))
                            .map_err(|e| IngestError::Parquet {
                                path: data_path.clone(),
                                message: e.to_string(),
                            })
                    });
                    if out_tx.send(result).is_err() {
                        return;
                    }
                }
            });
        }
        drop(out_tx);
        // Results arrive out of order; hold them until their turn so the
        // lake keeps the file's row order.
        let mut pending: BTreeMap<u64, ChunkOut> = BTreeMap::new();
        let mut next = 0u64;
        for result in out_rx.iter() {
            let (seq, out) = result?;
            pending.insert(seq, out);
            while let Some(out) = pending.remove(&next) {
                next += 1;
                sink.write(&out.batch)?;
                counts.rows_read += out.rows_read;
                counts.rows_written += out.batch.num_rows() as u64;
                counts.unlinked += out.unlinked;
                for (line, column, rule) in out.quarantined {
                    quarantine.push(line, column, rule)?;
                    *counts
                        .quarantined
                        .entry(rule.code().to_string())
                        .or_default() += 1;
                    if examples.len() < 20 {
                        examples.push((line, column, rule));
                    }
                }
                progress.advance(source, bytes_read.load(Ordering::Relaxed), counts.rows_read);
            }
        }
        Ok(())
    })?;
    // Returning early above drops the result channel, so the workers and the
    // reader stop at their next send instead of blocking the scope.
    sink.close()?;
    quarantine.close()?;
    write_synced(
        &staging.join("quarantine/summary.txt"),
        quarantine_summary(source, &counts, &examples).as_bytes(),
    )?;
    Ok(counts)
}

/// Splits a CSV record into the contract's cells, checking the field count
/// and UTF-8 of every field it uses.
fn csv_cells<'r>(
    record: &'r csv::ByteRecord,
    width: usize,
    mapping: &[Option<usize>],
    cols: &[Col],
    cells: &mut Vec<Cell<'r>>,
) -> Result<(), Violation> {
    // Extra trailing fields are tolerated when empty (a stray `;` at the end
    // of a line); missing fields are not.
    let extra_filled = record
        .iter()
        .skip(width)
        .any(|f| !f.iter().all(u8::is_ascii_whitespace));
    if record.len() < width || extra_filled {
        return Err((None, Rule::FieldCount));
    }
    for (col, m) in cols.iter().zip(mapping) {
        let cell = match m.and_then(|i| record.get(i)) {
            None => Cell::Empty,
            Some(raw) => match std::str::from_utf8(raw) {
                Ok(s) => Cell::text(s),
                Err(_) => return Err((Some(col.name), Rule::Encoding)),
            },
        };
        cells.push(cell);
    }
    Ok(())
}

fn xlsx_cells<'r>(row: &'r [crate::rows::OwnedCell], mapping: &[Option<usize>]) -> Vec<Cell<'r>> {
    mapping
        .iter()
        .map(|m| {
            m.and_then(|i| row.get(i))
                .map_or(Cell::Empty, |c| c.as_cell())
        })
        .collect()
}

/// The readable quarantine summary of a source.
fn quarantine_summary(
    source: Source,
    counts: &Counts,
    examples: &[(u64, Option<&'static str>, Rule)],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "quarantine of {} ({})",
        source.name(),
        source.file_name()
    );
    let _ = writeln!(
        out,
        "rows read: {}, written: {}, quarantined: {}, unlinked: {}",
        counts.rows_read,
        counts.rows_written,
        counts.quarantined_total(),
        counts.unlinked
    );
    for (rule, n) in &counts.quarantined {
        let _ = writeln!(out, "  {rule}: {n}");
    }
    if !examples.is_empty() {
        let _ = writeln!(
            out,
            "first entries (file:line column rule; values are never shown):"
        );
        for (line, column, rule) in examples {
            let _ = writeln!(
                out,
                "  {}:{} {} {}",
                source.file_name(),
                line,
                column.unwrap_or("-"),
                rule.code()
            );
        }
    }
    out
}
