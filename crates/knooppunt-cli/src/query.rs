//! `knooppunt indicators` and `knooppunt signals`: run the query engine and
//! print exact values as a table, CSV, JSON or Parquet.
//!
//! These commands print exact, unprotected counts for the people who run
//! the lake (admins, the privacy officer's test runs). Released tables for
//! dashboards go through disclosure control, which is not part of them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{ArrayRef, BooleanBuilder, Float64Builder, Int64Array, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use chrono::{Months, NaiveDate};
use knooppunt_query::{
    Engine, EngineOptions, Execution, IndicatorValue, Level, Registry, SignalConfig,
    compute_signals,
};
use serde::Serialize;
use std::ffi::OsStr;

use crate::audit::{AuditOpts, Recorder};
use knooppunt_privacy::{CSV_HEADER, Release};
use knooppunt_service::release;

/// Options shared by `indicators` and `signals`.
#[derive(clap::Args, Debug)]
pub(crate) struct QueryArgs {
    /// Lake directory (as written by `knooppunt ingest`).
    #[arg(long, env = "KNOOPPUNT_LAKE")]
    lake: PathBuf,
    /// Reference date, YYYY-MM-DD; default: the latest date in any dated
    /// source of the lake.
    #[arg(long, value_parser = parse_peildatum)]
    peildatum: Option<NaiveDate>,
    /// Only rows of this level (buurt, wijk or gemeente); default: all.
    #[arg(long, value_parser = parse_level)]
    level: Option<Level>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Output file; default: standard output (not for parquet).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Memory budget of the query engine: bytes, or with a suffix such as
    /// 512MiB, 8GiB, 2GB. Sorts, joins and aggregations spill to disk
    /// beyond it.
    #[arg(long, env = "KNOOPPUNT_MEMORY_LIMIT", default_value = "8GiB", value_parser = parse_bytes)]
    memory_limit: usize,
    /// Directory for spill files; default: a temporary directory.
    #[arg(long)]
    spill_dir: Option<PathBuf>,
    /// A directory of indicator files (`*.sql` with the header of
    /// `queries/`) used instead of the built-in catalogue; copy `queries/`
    /// and add your own to extend it.
    #[arg(long)]
    queries: Option<PathBuf>,
    /// Where queries run: `local` (this process), `ballista://HOST:PORT`
    /// (an Apache DataFusion Ballista scheduler whose executors read the
    /// lake at the same paths) or `ballista-standalone` (an in-process
    /// scheduler and executor).
    #[arg(long, default_value = "local", value_parser = Execution::parse)]
    engine: Execution,
    /// Apply disclosure control (threshold, dominance, secondary
    /// suppression, cell-key perturbation; PRIVACY.md "Released tables")
    /// and print only what may be released.
    #[arg(long)]
    release: bool,
    /// Release configuration (JSON; every field optional, defaults from
    /// PRIVACY.md): k per privacy unit, dominance, perturbation table.
    #[arg(long, requires = "release")]
    release_config: Option<PathBuf>,
    #[command(flatten)]
    audit: AuditOpts,
}

/// Output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Aligned columns for reading.
    Table,
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON document.
    Json,
    /// A Parquet file (needs --out).
    Parquet,
}

fn parse_peildatum(s: &str) -> Result<NaiveDate, String> {
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| "expected a date as YYYY-MM-DD".to_string())?;
    if s.len() != 10 {
        return Err("expected a date as YYYY-MM-DD".into());
    }
    Ok(date)
}

fn parse_level(s: &str) -> Result<Level, String> {
    Level::from_name(s).ok_or_else(|| "expected buurt, wijk or gemeente".to_string())
}

/// Parses a byte count: digits with an optional unit (B, KB, MB, GB, TB in
/// powers of 1000; KiB, MiB, GiB, TiB in powers of 1024; K, M, G, T are
/// read as the binary units), case-insensitive.
pub(crate) fn parse_bytes(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    if digits.is_empty() {
        return Err("expected a number of bytes, e.g. 8GiB or 500000000".into());
    }
    let n: u128 = digits
        .parse()
        .map_err(|_| "number of bytes too large".to_string())?;
    let factor: u128 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        _ => return Err("unknown unit (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)".into()),
    };
    let bytes = n
        .checked_mul(factor)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| "number of bytes too large".to_string())?;
    if bytes == 0 {
        return Err("the memory limit must be positive".into());
    }
    Ok(bytes)
}

/// Checks the options that do not depend on the lake and opens the engine.
fn open_engine(args: &QueryArgs) -> Result<Engine> {
    if args.format == Format::Parquet && args.out.is_none() {
        bail!("--format parquet needs --out FILE");
    }
    let options = EngineOptions {
        memory_limit: args.memory_limit,
        spill_dir: args.spill_dir.clone(),
        threads: None,
        execution: args.engine.clone(),
    };
    let mut engine = Engine::open(&args.lake, options)?;
    if let Some(dir) = &args.queries {
        let registry = Registry::from_dir(dir)?;
        if registry.is_empty() {
            bail!("{} holds no indicator files (*.sql)", dir.display());
        }
        engine = engine.with_registry(registry);
    }
    Ok(engine)
}

/// A current-thread runtime for the CLI's main task: it only awaits, the
/// engine runs the queries on its own runtime.
fn main_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Starts the audit record of a run: the lake's snapshots and the tables
/// the indicators read.
fn start_record(args: &QueryArgs, engine: &Engine, command: &str) -> Result<Recorder> {
    let mut recorder = Recorder::start(&args.audit, &args.lake, "admin", command)?;
    let draft = recorder.draft();
    knooppunt_service::release::record_sources(engine, draft);
    draft.policy_version = "exact (no disclosure control)".to_string();
    Ok(recorder)
}

/// Runs `work`; records a refusal when it fails.
fn recorded<T>(recorder: Recorder, work: impl FnOnce() -> Result<T>) -> Result<(Recorder, T)> {
    match work() {
        Ok(v) => Ok((recorder, v)),
        Err(e) => {
            recorder.refuse("error");
            Err(e)
        }
    }
}

/// `knooppunt indicators`.
pub(crate) fn run_indicators(args: &QueryArgs) -> Result<()> {
    let engine = open_engine(args)?;
    let recorder = start_record(args, &engine, "knooppunt indicators")?;
    let (mut recorder, table) = recorded(recorder, || {
        main_runtime()?.block_on(async {
            let peildatum = match args.peildatum {
                Some(p) => p,
                None => engine.default_peildatum().await?,
            };
            anyhow::Ok(engine.indicators(peildatum).await?)
        })
    })?;
    eprintln!("indicators: peildatum {}", table.peildatum);
    let rows: Vec<&IndicatorValue> = table
        .values
        .iter()
        .filter(|v| args.level.is_none_or(|l| v.level == l))
        .collect();
    if args.release {
        return write_release(args, &engine, &table, recorder);
    }
    recorder.draft().cells_returned = rows.len() as u64;
    recorder.commit()?;
    match args.format {
        Format::Json => {
            #[derive(Serialize)]
            struct Doc<'a> {
                peildatum: NaiveDate,
                rows: Vec<JsonRow<'a>>,
            }
            let doc = Doc {
                peildatum: table.peildatum,
                rows: rows.iter().map(|v| JsonRow::from(*v)).collect(),
            };
            write_text(args.out.as_deref(), |w| {
                serde_json::to_writer_pretty(&mut *w, &doc)?;
                writeln!(w)?;
                Ok(())
            })
        }
        Format::Csv | Format::Table => {
            let cells: Vec<Vec<String>> = rows.iter().map(|v| text_row(v)).collect();
            let header: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
            write_text(args.out.as_deref(), |w| {
                if args.format == Format::Csv {
                    write_csv(w, &header, &cells)
                } else {
                    write_table(w, &header, &cells, &NUMERIC_COLUMNS)
                }
            })
        }
        Format::Parquet => write_parquet(args.out.as_deref(), indicator_batch(&rows)?),
    }
}

/// `knooppunt signals`: signals at the peildatum, with the trend against
/// the indicators twelve months earlier (the same quarter a year before).
pub(crate) fn run_signals(args: &QueryArgs) -> Result<()> {
    if args.level.is_some_and(|l| l != Level::Buurt) {
        bail!("signals are computed per buurt; --level can only be buurt");
    }
    let engine = open_engine(args)?;
    let recorder = start_record(args, &engine, "knooppunt signals")?;
    let (mut recorder, (current, previous)) = recorded(recorder, || {
        main_runtime()?.block_on(async {
            let peildatum = match args.peildatum {
                Some(p) => p,
                None => engine.default_peildatum().await?,
            };
            let current = engine.indicators(peildatum).await?;
            let previous = match peildatum.checked_sub_months(Months::new(12)) {
                Some(p) => Some(engine.indicators(p).await?),
                None => None,
            };
            anyhow::Ok((current, previous))
        })
    })?;
    if args.release {
        return write_released_signals(args, &engine, &current, previous.as_ref(), recorder);
    }
    let signals = compute_signals(&current, previous.as_ref(), &SignalConfig::default());
    recorder.draft().cells_returned = signals.len() as u64;
    recorder.commit()?;
    eprintln!(
        "signals: peildatum {}, compared with {}",
        current.peildatum,
        previous
            .as_ref()
            .map_or_else(|| "nothing".to_string(), |p| p.peildatum.to_string())
    );
    match args.format {
        Format::Json => {
            #[derive(Serialize)]
            struct Doc<'a, T: Serialize> {
                peildatum: NaiveDate,
                previous_peildatum: Option<NaiveDate>,
                signals: &'a [T],
            }
            let doc = Doc {
                peildatum: current.peildatum,
                previous_peildatum: previous.as_ref().map(|p| p.peildatum),
                signals: &signals,
            };
            write_text(args.out.as_deref(), |w| {
                serde_json::to_writer_pretty(&mut *w, &doc)?;
                writeln!(w)?;
                Ok(())
            })
        }
        format => write_flat_signals(args, format, &signals),
    }
}

/// Column order of every indicator output.
const COLUMNS: [&str; 10] = [
    "indicator",
    "level",
    "code",
    "wijkcode",
    "gemeentecode",
    "numerator",
    "denominator",
    "rate",
    "numerator_support",
    "denominator_support",
];

/// Columns right-aligned in the table format.
const NUMERIC_COLUMNS: [usize; 5] = [5, 6, 7, 8, 9];

/// One indicator row in JSON: the rate is the exact quotient (per 1,000),
/// null when the denominator is 0.
#[derive(Serialize)]
struct JsonRow<'a> {
    indicator: &'a str,
    level: Level,
    code: &'a str,
    wijkcode: &'a str,
    gemeentecode: &'a str,
    numerator: i64,
    denominator: i64,
    rate: Option<f64>,
    numerator_support: i64,
    denominator_support: i64,
}

impl<'a> From<&'a IndicatorValue> for JsonRow<'a> {
    fn from(v: &'a IndicatorValue) -> Self {
        JsonRow {
            indicator: &v.indicator,
            level: v.level,
            code: &v.code,
            wijkcode: &v.wijkcode,
            gemeentecode: &v.gemeentecode,
            numerator: v.numerator,
            denominator: v.denominator,
            rate: v.rate(),
            numerator_support: v.numerator_support,
            denominator_support: v.denominator_support,
        }
    }
}

/// One indicator row as text; the rate per 1,000 with 3 decimals, empty
/// when the denominator is 0.
fn text_row(v: &IndicatorValue) -> Vec<String> {
    vec![
        v.indicator.clone(),
        v.level.name().to_string(),
        v.code.clone(),
        v.wijkcode.clone(),
        v.gemeentecode.clone(),
        v.numerator.to_string(),
        v.denominator.to_string(),
        v.rate().map_or_else(String::new, |r| format!("{r:.3}")),
        v.numerator_support.to_string(),
        v.denominator_support.to_string(),
    ]
}

fn indicator_batch(rows: &[&IndicatorValue]) -> Result<RecordBatch> {
    let text = |f: fn(&IndicatorValue) -> &str| -> ArrayRef {
        let mut b = StringBuilder::new();
        for v in rows {
            b.append_value(f(v));
        }
        Arc::new(b.finish())
    };
    let int = |f: fn(&IndicatorValue) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|v| f(v))))
    };
    let mut rate = Float64Builder::new();
    for v in rows {
        rate.append_option(v.rate());
    }
    let schema = Schema::new(vec![
        Field::new("indicator", DataType::Utf8, false),
        Field::new("level", DataType::Utf8, false),
        Field::new("code", DataType::Utf8, false),
        Field::new("wijkcode", DataType::Utf8, false),
        Field::new("gemeentecode", DataType::Utf8, false),
        Field::new("numerator", DataType::Int64, false),
        Field::new("denominator", DataType::Int64, false),
        Field::new("rate", DataType::Float64, true),
        Field::new("numerator_support", DataType::Int64, false),
        Field::new("denominator_support", DataType::Int64, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        text(|v| &v.indicator),
        text(|v| v.level.name()),
        text(|v| &v.code),
        text(|v| &v.wijkcode),
        text(|v| &v.gemeentecode),
        int(|v| v.numerator),
        int(|v| v.denominator),
        Arc::new(rate.finish()),
        int(|v| v.numerator_support),
        int(|v| v.denominator_support),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

/// Signal rows flattened to columns, whatever fields `SignalRow` has:
/// nested objects become `outer.inner`, a list of per-indicator objects
/// becomes `<list>.<indicator>.<field>` columns (or is left out), other
/// lists are joined with `|`.
struct Flattened {
    columns: Vec<String>,
    rows: Vec<Vec<serde_json::Value>>,
}

impl Flattened {
    fn of<T: Serialize>(items: &[T], per_indicator: bool, skip: &[&str]) -> Result<Flattened> {
        let mut columns: Vec<String> = Vec::new();
        let mut maps: Vec<Vec<(String, serde_json::Value)>> = Vec::new();
        for item in items {
            let mut out = Vec::new();
            let mut value = serde_json::to_value(item)?;
            if let Some(map) = value.as_object_mut() {
                for key in skip {
                    map.remove(*key);
                }
            }
            flatten("", &value, per_indicator, &mut out);
            for (k, _) in &out {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
            maps.push(out);
        }
        // serde_json orders object keys alphabetically; the area codes go
        // first so each line starts with the buurt it describes.
        for lead in ["gemeentecode", "wijkcode", "buurtcode"] {
            if let Some(i) = columns.iter().position(|c| c == lead) {
                let c = columns.remove(i);
                columns.insert(0, c);
            }
        }
        let rows = maps
            .into_iter()
            .map(|m| {
                columns
                    .iter()
                    .map(|c| {
                        m.iter()
                            .find(|(k, _)| k == c)
                            .map_or(serde_json::Value::Null, |(_, v)| v.clone())
                    })
                    .collect()
            })
            .collect();
        Ok(Flattened { columns, rows })
    }

    fn text_rows(&self) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|r| r.iter().map(value_text).collect())
            .collect()
    }

    /// Columns typed by their values: all numbers → Float64, all booleans
    /// → Boolean, anything else → text.
    fn batch(&self) -> Result<RecordBatch> {
        let mut fields = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for (i, name) in self.columns.iter().enumerate() {
            let values: Vec<&serde_json::Value> = self.rows.iter().map(|r| &r[i]).collect();
            let non_null = || values.iter().filter(|v| !v.is_null());
            if non_null().count() > 0 && non_null().all(|v| v.is_number()) {
                let mut b = Float64Builder::new();
                for v in &values {
                    b.append_option(v.as_f64());
                }
                fields.push(Field::new(name, DataType::Float64, true));
                arrays.push(Arc::new(b.finish()));
            } else if non_null().count() > 0 && non_null().all(|v| v.is_boolean()) {
                let mut b = BooleanBuilder::new();
                for v in &values {
                    b.append_option(v.as_bool());
                }
                fields.push(Field::new(name, DataType::Boolean, true));
                arrays.push(Arc::new(b.finish()));
            } else {
                let mut b = StringBuilder::new();
                for v in &values {
                    if v.is_null() {
                        b.append_null();
                    } else {
                        b.append_value(value_text(v));
                    }
                }
                fields.push(Field::new(name, DataType::Utf8, true));
                arrays.push(Arc::new(b.finish()));
            }
        }
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
    }
}

fn flatten(
    prefix: &str,
    value: &serde_json::Value,
    per_indicator: bool,
    out: &mut Vec<(String, serde_json::Value)>,
) {
    use serde_json::Value;
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&key(k), v, per_indicator, out);
            }
        }
        Value::Array(items)
            if !items.is_empty()
                && items
                    .iter()
                    .all(|i| i.get("indicator").is_some_and(Value::is_string)) =>
        {
            if !per_indicator {
                return;
            }
            for item in items {
                let id = item.get("indicator").and_then(Value::as_str).unwrap_or("");
                let inner = if prefix.is_empty() {
                    id.to_string()
                } else {
                    format!("{prefix}.{id}")
                };
                if let Value::Object(map) = item {
                    for (k, v) in map.iter().filter(|(k, _)| *k != "indicator") {
                        flatten(&format!("{inner}.{k}"), v, per_indicator, out);
                    }
                }
            }
        }
        Value::Array(items) => {
            let joined = items.iter().map(value_text).collect::<Vec<_>>().join("|");
            out.push((prefix.to_string(), Value::String(joined)));
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.3}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Writes text output to `out` or standard output. The output is built in
/// memory first (tens of megabytes for the whole country), so an error of
/// the destination is one `std::io::Error` and a reader that stops early
/// (`| head`) ends the command quietly.
pub(crate) fn write_text(
    out: Option<&Path>,
    body: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let mut buf = Vec::new();
    body(&mut buf)?;
    match out {
        Some(path) => {
            std::fs::write(path, &buf).with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(&buf).and_then(|()| stdout.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.context("writing to standard output")?,
            }
        }
    }
    Ok(())
}

fn write_csv(w: &mut dyn Write, header: &[String], rows: &[Vec<String>]) -> Result<()> {
    let mut csv = csv::Writer::from_writer(w);
    csv.write_record(header)?;
    for r in rows {
        csv.write_record(r)?;
    }
    csv.flush()?;
    Ok(())
}

pub(crate) fn write_table(
    w: &mut dyn Write,
    header: &[String],
    rows: &[Vec<String>],
    right_aligned: &[usize],
) -> Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |w: &mut dyn Write, cells: &[String]| -> std::io::Result<()> {
        let mut parts = Vec::with_capacity(cells.len());
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(c.chars().count());
            let last = i + 1 == cells.len();
            if right_aligned.contains(&i) {
                parts.push(format!("{}{c}", " ".repeat(pad)));
            } else if last {
                parts.push(c.clone());
            } else {
                parts.push(format!("{c}{}", " ".repeat(pad)));
            }
        }
        writeln!(w, "{}", parts.join("  "))
    };
    line(w, header)?;
    for r in rows {
        line(w, r)?;
    }
    Ok(())
}

fn write_parquet(out: Option<&Path>, batch: RecordBatch) -> Result<()> {
    let path = out.context("--format parquet needs --out FILE")?;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(())
}

/// Signals as table, csv or parquet. The table shows the composite per
/// buurt; csv and parquet add every per-indicator figure
/// (`indicators.<id>.<field>`). The drivers repeat figures of `indicators`
/// and are left out.
fn write_flat_signals<T: Serialize>(args: &QueryArgs, format: Format, signals: &[T]) -> Result<()> {
    let flat = Flattened::of(signals, format != Format::Table, &["drivers"])?;
    match format {
        Format::Parquet => write_parquet(args.out.as_deref(), flat.batch()?),
        _ => {
            let cells = flat.text_rows();
            write_text(args.out.as_deref(), |w| {
                if format == Format::Csv {
                    write_csv(w, &flat.columns, &cells)
                } else {
                    write_table(w, &flat.columns, &cells, &[])
                }
            })
        }
    }
}

/// The demo's last step: the released indicators and signals of `lake`
/// as JSON files in `out_dir`, through exactly the path of
/// `knooppunt indicators|signals --release` (audit record included).
pub(crate) fn demo_release(lake: &Path, out_dir: &Path) -> Result<()> {
    #[derive(clap::Parser)]
    struct Wrap {
        #[command(flatten)]
        query: QueryArgs,
    }
    use clap::Parser;
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    for (command, file) in [
        ("indicators", "indicators.json"),
        ("signals", "signals.json"),
    ] {
        let out = out_dir.join(file);
        let args = Wrap::try_parse_from([
            OsStr::new("knooppunt"),
            OsStr::new("--lake"),
            lake.as_os_str(),
            OsStr::new("--release"),
            OsStr::new("--format"),
            OsStr::new("json"),
            OsStr::new("--purpose"),
            OsStr::new("demo"),
            OsStr::new("--out"),
            out.as_os_str(),
        ])?;
        match command {
            "indicators" => run_indicators(&args.query)?,
            _ => run_signals(&args.query)?,
        }
        println!("released {command}: {}", out.display());
    }
    Ok(())
}

/// Fills the audit draft with what a release applied.
fn record_release(recorder: &mut Recorder, released: &Release, cells: usize) {
    let draft = recorder.draft();
    draft.cells_returned = cells as u64;
    draft.cells_suppressed = release::suppressed_counts(&released.cells);
    draft.noise_scale = release::noise_scale(released);
    draft.policy_version = release::policy_version(released);
}

/// `knooppunt indicators --release`: disclosure control over every level at
/// once, then the requested level.
fn write_release(
    args: &QueryArgs,
    engine: &Engine,
    table: &knooppunt_query::IndicatorTable,
    recorder: Recorder,
) -> Result<()> {
    if args.format == Format::Parquet {
        bail!("--release prints table, csv or json; parquet is not available for released tables");
    }
    let config = release::load_config(args.release_config.as_deref())?;
    let (mut recorder, mut released) = recorded(recorder, || {
        release::release_table(table, engine.registry(), &config)
    })?;
    released
        .cells
        .retain(|c| args.level.is_none_or(|l| c.level == l));
    record_release(&mut recorder, &released, released.cells.len());
    recorder.commit()?;
    eprintln!(
        "indicators: peildatum {}, released under {} ({})",
        table.peildatum,
        released.parameters.config().policy_version,
        released.parameters_fingerprint
    );
    match args.format {
        Format::Json => {
            let text = released.to_json()?;
            write_text(args.out.as_deref(), |w| {
                w.write_all(text.as_bytes())?;
                writeln!(w)?;
                Ok(())
            })
        }
        Format::Csv => write_text(args.out.as_deref(), |w| Ok(released.write_csv(w)?)),
        _ => {
            let header: Vec<String> = CSV_HEADER.iter().map(|c| c.to_string()).collect();
            let show = |v: Option<String>, status: &str| v.unwrap_or_else(|| status.to_string());
            let cells: Vec<Vec<String>> = released
                .cells
                .iter()
                .map(|c| {
                    vec![
                        c.indicator.clone(),
                        c.level.name().to_string(),
                        c.code.clone(),
                        c.wijkcode.clone(),
                        c.gemeentecode.clone(),
                        show(c.numerator.value().map(|v| v.to_string()), "."),
                        c.numerator.status().to_string(),
                        show(c.denominator.value().map(|v| v.to_string()), "."),
                        c.denominator.status().to_string(),
                        show(c.rate.value().map(|v| format!("{v:.2}")), "."),
                        c.rate.status().to_string(),
                    ]
                })
                .collect();
            write_text(args.out.as_deref(), |w| {
                write_table(w, &header, &cells, &[5, 7, 9])
            })
        }
    }
}

/// `knooppunt signals --release`: signals computed from released numbers
/// only (suppressed cells enter no statistic and are marked), without the
/// supports, which are never released.
fn write_released_signals(
    args: &QueryArgs,
    engine: &Engine,
    current: &knooppunt_query::IndicatorTable,
    previous: Option<&knooppunt_query::IndicatorTable>,
    recorder: Recorder,
) -> Result<()> {
    let config = release::load_config(args.release_config.as_deref())?;
    let (mut recorder, (released_now, released_before)) = recorded(recorder, || {
        let now = release::release_table(current, engine.registry(), &config)?;
        let before = match previous {
            Some(p) => Some(release::release_table(p, engine.registry(), &config)?),
            None => None,
        };
        Ok((now, before))
    })?;
    let values = release::released_signals(
        &released_now,
        current.peildatum,
        released_before.as_ref().zip(previous.map(|p| p.peildatum)),
    )?;
    record_release(&mut recorder, &released_now, values.len());
    recorder.commit()?;
    eprintln!(
        "signals: peildatum {}, from released numbers ({})",
        current.peildatum, released_now.parameters_fingerprint
    );
    match args.format {
        Format::Json => write_text(args.out.as_deref(), |w| {
            let doc = serde_json::json!({
                "peildatum": current.peildatum,
                "previous_peildatum": previous.map(|p| p.peildatum),
                "parameters_fingerprint": released_now.parameters_fingerprint,
                "signals": values,
            });
            serde_json::to_writer_pretty(&mut *w, &doc)?;
            writeln!(w)?;
            Ok(())
        }),
        format => write_flat_signals(args, format, &values),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_parse_with_units() {
        assert_eq!(parse_bytes("8GiB"), Ok(8 << 30));
        assert_eq!(parse_bytes("512mib"), Ok(512 << 20));
        assert_eq!(parse_bytes("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("4 G"), Ok(4 << 30));
        assert!(parse_bytes("GiB").is_err());
        assert!(parse_bytes("8 parsecs").is_err());
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("99999999999999999999999999TiB").is_err());
    }

    #[test]
    fn peildatum_must_be_iso() {
        assert!(parse_peildatum("2024-08-01").is_ok());
        assert!(parse_peildatum("01-08-2024").is_err());
        assert!(parse_peildatum("2024-8-1").is_err());
    }

    #[test]
    fn signal_rows_flatten_per_indicator() {
        let v = serde_json::json!({
            "buurtcode": "BU1",
            "flag": true,
            "above_p90": ["I01", "I07"],
            "indicators": [
                {"indicator": "I01", "rate": 1.5, "suppressed": false},
                {"indicator": "I07", "rate": 2.0, "suppressed": true}
            ]
        });
        let flat = Flattened::of(std::slice::from_ref(&v), true, &["drivers"]).unwrap();
        assert_eq!(
            flat.columns,
            [
                "buurtcode",
                "above_p90",
                "flag",
                "indicators.I01.rate",
                "indicators.I01.suppressed",
                "indicators.I07.rate",
                "indicators.I07.suppressed"
            ]
        );
        assert_eq!(
            flat.text_rows()[0],
            ["BU1", "I01|I07", "true", "1.500", "false", "2.000", "true"]
        );
        let batch = flat.batch().unwrap();
        assert_eq!(batch.schema().field(3).data_type(), &DataType::Float64);
        assert_eq!(batch.schema().field(2).data_type(), &DataType::Boolean);
        let composite = Flattened::of(&[v], false, &[]).unwrap();
        assert_eq!(composite.columns, ["buurtcode", "above_p90", "flag"]);
    }
}
