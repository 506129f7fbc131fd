//! `knooppunt`: the command-line front end. It parses arguments, reads key
//! files and shows progress; all work happens in the library crates.

mod audit;
mod progress;
mod query;
mod serve;
mod sql;
mod token;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use knooppunt_core::SystemClock;
use knooppunt_ingest::{IngestOptions, IngestSummary, PseudonymKey, ingest};
use knooppunt_synth::{SynthConfig, generate};

/// The CBS buurt boundaries of Almere (2024), the default geography of
/// `synth` and `demo`. Bron: CBS / PDOK, via github.com/cartomap/nl.
const DEFAULT_BUURTEN: &str = include_str!("../../../sample-data/buurten_almere_2024.geojson");

/// Knooppunt: neighbourhood-level indicator signals from municipal exports,
/// without singling anyone out.
#[derive(Parser, Debug)]
#[command(name = "knooppunt", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate, pseudonymise and link departmental exports into the lake.
    Ingest(IngestArgs),
    /// Generate synthetic, contract-conformant exports (quirks included).
    Synth(SynthArgs),
    /// Run the whole pipeline on generated sample data: synth → ingest →
    /// released indicators and signals (with their audit records).
    Demo(DemoArgs),
    /// Compute the indicator catalogue (exact counts, before disclosure
    /// control) per buurt, wijk and gemeente.
    Indicators(query::QueryArgs),
    /// Compute per-buurt signals from the indicators, with the trend
    /// against twelve months earlier.
    Signals(query::QueryArgs),
    /// The audit log: verify, checkpoint, query and review it.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// API tokens: create (shown once), list, revoke.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Serve the released tables over HTTP (bearer tokens, purposes,
    /// scope, audit) until Ctrl-C.
    Serve(serve::ServeArgs),
    /// Analyst SQL with differential privacy against a local lake (the
    /// same gate, budget ledger, noise and audit log as POST /v1/query).
    Sql(sql::SqlArgs),
}

#[derive(clap::Args, Debug)]
struct IngestArgs {
    /// Directory with the departmental exports.
    #[arg(long)]
    exports: PathBuf,
    /// Lake directory (created when absent).
    #[arg(long)]
    lake: PathBuf,
    /// File holding the pseudonym key (at least 32 bytes). Never pass the
    /// key itself on the command line.
    #[arg(long, env = "KNOOPPUNT_PSEUDONYM_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct SynthArgs {
    /// Output directory for the exports.
    #[arg(long)]
    out: PathBuf,
    /// Size: 1 ≈ a municipality of 150,000 inhabitants, 100 ≈ the country.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Random seed; the same seed gives byte-identical files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// No quirks and no invalid rows.
    #[arg(long)]
    clean: bool,
    /// Buurt boundaries (GeoJSON); default: Almere 2024, built in.
    #[arg(long)]
    buurten: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct DemoArgs {
    /// Working directory: exports/, lake/ and pseudonym.key go here.
    #[arg(long, default_value = "demo")]
    dir: PathBuf,
    /// Size of the generated municipality.
    #[arg(long, default_value_t = 0.2)]
    scale: f64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop after the release instead of creating one token per role and
    /// serving the API.
    #[arg(long)]
    no_serve: bool,
    /// Address the demo serves on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: std::net::SocketAddr,
}

fn main() -> ExitCode {
    // Diagnostics of the libraries (DataFusion, Ballista) on stderr, only
    // when asked for: `KNOOPPUNT_LOG=info` (an env-filter directive).
    if let Ok(filter) = std::env::var("KNOOPPUNT_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("knooppunt: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Ingest(args) => {
            // The refusal text lives with the error type, not repeated here.
            let key_file = args.key_file.ok_or(knooppunt_ingest::IngestError::NoKey)?;
            let summary = run_ingest(&args.exports, &args.lake, &key_file)?;
            print_summary(&summary, args.json)?;
            Ok(exit_for(&summary))
        }
        Command::Synth(args) => {
            run_synth(
                &args.out,
                args.scale,
                args.seed,
                args.clean,
                args.buurten.as_deref(),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => {
            let exports = args.dir.join("exports");
            let lake = args.dir.join("lake");
            run_synth(&exports, args.scale, args.seed, false, None)?;
            let key_file = args.dir.join("pseudonym.key");
            ensure_key_file(&key_file)?;
            let summary = run_ingest(&exports, &lake, &key_file)?;
            print_summary(&summary, false)?;
            println!("lake: {}", lake.display());
            if !summary.ok() {
                return Ok(exit_for(&summary));
            }
            query::demo_release(&lake, &args.dir.join("release"))?;
            println!("audit log: {}", args.dir.join("audit").display());
            if !args.no_serve {
                serve::demo_serve(&args.dir, &lake, args.bind, DEFAULT_BUURTEN)?;
            }
            Ok(exit_for(&summary))
        }
        Command::Indicators(args) => {
            query::run_indicators(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Signals(args) => {
            query::run_signals(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(command) => audit::run_audit(&command),
        Command::Token(command) => {
            token::run_token(&command)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => {
            serve::run_serve(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sql(args) => sql::run_sql(&args),
    }
}

fn exit_for(summary: &IngestSummary) -> ExitCode {
    if summary.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_summary(summary: &IngestSummary, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(summary)?);
    } else {
        print!("{}", summary.render());
    }
    Ok(())
}

fn run_ingest(exports: &Path, lake: &Path, key_file: &Path) -> Result<IngestSummary> {
    if !exports.is_dir() {
        bail!("exports directory {} does not exist", exports.display());
    }
    let key = PseudonymKey::from_file(key_file)?;
    let opts = IngestOptions {
        exports: exports.to_path_buf(),
        lake: lake.to_path_buf(),
        key,
        clock: Arc::new(SystemClock),
    };
    let progress = progress::for_terminal(std::io::stderr().is_terminal());
    Ok(ingest(&opts, progress.as_ref())?)
}

fn run_synth(out: &Path, scale: f64, seed: u64, clean: bool, buurten: Option<&Path>) -> Result<()> {
    let default_path;
    let buurten = match buurten {
        Some(p) => p.to_path_buf(),
        None => {
            default_path = std::env::temp_dir()
                .join(format!("knooppunt-buurten-{}.geojson", std::process::id()));
            std::fs::write(&default_path, DEFAULT_BUURTEN)
                .with_context(|| format!("writing {}", default_path.display()))?;
            default_path.clone()
        }
    };
    let cfg = SynthConfig {
        out: out.to_path_buf(),
        scale,
        seed,
        clean,
        buurten: buurten.clone(),
    };
    let report = generate(&cfg, &mut |msg| eprintln!("synth: {msg}"));
    if buurten.starts_with(std::env::temp_dir()) {
        let _ = std::fs::remove_file(&buurten);
    }
    let report = report?;
    let rows: u64 = report.sources.values().map(|s| s.rows).sum();
    eprintln!(
        "synth: {rows} rows in {} files written to {}",
        report.sources.len(),
        out.display()
    );
    Ok(())
}

/// Creates a random 32-byte key file (hex, mode 0600) unless one exists.
fn ensure_key_file(path: &Path) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(f, "{}", hex::encode(key))?;
    f.sync_all()?;
    eprintln!("demo: created pseudonym key {}", path.display());
    Ok(())
}
