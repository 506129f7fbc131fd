//! The audit log on the command line: every command that reads data
//! appends a record (durably, before anything is printed or written), and
//! `knooppunt audit …` is the privacy officer's view of the log.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use knooppunt_audit::{
    Actor, AuditConfig, AuditLog, Outcome, RecordDraft, RecordKind, ReviewConfig, VerifyOptions,
    generate_signing_key, public_key_of, read_records, records_to_batch, review, verify_with,
};
use knooppunt_core::SystemClock;

/// Where a data-reading command records itself.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct AuditOpts {
    /// Audit log directory; default: `audit/` beside the lake directory.
    #[arg(long, env = "KNOOPPUNT_AUDIT_LOG")]
    audit_log: Option<PathBuf>,
    /// Ed25519 key file that signs the log's checkpoints (create it with
    /// `knooppunt audit keygen`; keep it outside the log directory).
    /// Without one no checkpoints are written.
    #[arg(long, env = "KNOOPPUNT_AUDIT_KEY_FILE")]
    audit_key: Option<PathBuf>,
    /// The purpose (doelbinding) of this access, recorded in the audit log.
    #[arg(long, default_value = "beheer")]
    purpose: String,
}

impl AuditOpts {
    /// The log in `dir`, unsigned, for the purpose `beheer` (the demo).
    pub(crate) fn at(dir: PathBuf) -> AuditOpts {
        AuditOpts {
            audit_log: Some(dir),
            audit_key: None,
            purpose: "beheer".to_string(),
        }
    }

    /// The log directory for a lake.
    pub(crate) fn dir(&self, lake: &Path) -> PathBuf {
        match &self.audit_log {
            Some(dir) => dir.clone(),
            None => lake.parent().unwrap_or(Path::new(".")).join("audit"),
        }
    }

    /// Opens (creating when absent) the audit log for a lake.
    pub(crate) fn open(&self, lake: &Path) -> Result<AuditLog> {
        open_log(&self.dir(lake), self.audit_key.as_deref())
    }

    /// The stated purpose.
    pub(crate) fn purpose(&self) -> &str {
        &self.purpose
    }
}

fn open_log(dir: &Path, key: Option<&Path>) -> Result<AuditLog> {
    let mut config = AuditConfig::new(dir);
    if let Some(key) = key {
        config = config.with_signing_key(key);
    }
    let (log, report) = AuditLog::open(config, Arc::new(SystemClock)).with_context(|| {
        format!(
            "opening the audit log {} (nothing is released without it)",
            dir.display()
        )
    })?;
    if let Some(torn) = &report.torn_tail {
        eprintln!(
            "audit: a record cut short by a crash ({} bytes at {} line {}) was moved to {}; see `knooppunt audit verify`",
            torn.bytes,
            torn.segment.display(),
            torn.line,
            torn.moved_to.display()
        );
    }
    Ok(log)
}

/// The local user as the actor of a command-line access.
pub(crate) fn local_actor() -> Actor {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".to_string());
    Actor::LocalUser(user)
}

/// A record in progress for one command run.
pub(crate) struct Recorder {
    log: AuditLog,
    draft: RecordDraft,
    started: Instant,
}

impl Recorder {
    /// Starts a record of `command`, run by the local user as `role`.
    pub(crate) fn start(opts: &AuditOpts, lake: &Path, role: &str, command: &str) -> Result<Self> {
        let log = opts.open(lake)?;
        let mut draft = RecordDraft::new(
            RecordKind::Query,
            local_actor(),
            role,
            opts.purpose(),
            command,
        );
        draft.client = "cli".to_string();
        draft.trace_id = trace_id();
        Ok(Recorder {
            log,
            draft,
            started: Instant::now(),
        })
    }

    /// The draft, to fill in what the command did.
    pub(crate) fn draft(&mut self) -> &mut RecordDraft {
        &mut self.draft
    }

    /// Appends the record and waits until it is on disk. Only then may the
    /// caller print or write its result; an error means nothing is
    /// released.
    pub(crate) fn commit(mut self) -> Result<()> {
        self.draft.duration_ms =
            u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.log.append(self.draft).map(|_| ()).map_err(|e| {
            anyhow!("the audit record could not be written, so nothing is released: {e}")
        })
    }

    /// Records a refusal or failure (best effort: the command fails
    /// anyway) under `rule`.
    pub(crate) fn refuse(mut self, rule: &str) {
        self.draft.outcome = Outcome::Refused {
            rule: rule.to_string(),
        };
        self.draft.duration_ms =
            u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if let Err(e) = self.log.append(self.draft) {
            eprintln!("audit: the refusal could not be recorded either: {e}");
        }
    }
}

/// A random trace id (128 bits, hex).
fn trace_id() -> String {
    let mut bytes = [0u8; 16];
    // A trace id only joins log lines; without randomness it stays empty
    // rather than failing the command.
    if getrandom::fill(&mut bytes).is_err() {
        return String::new();
    }
    hex::encode(bytes)
}

/// `knooppunt audit …`.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum AuditCommand {
    /// Create an Ed25519 key that signs checkpoints; prints its public key.
    /// Keep the file outside the log directory (0600).
    Keygen {
        /// Where to write the key (refused if it exists).
        #[arg(long)]
        key: PathBuf,
    },
    /// Check every segment, the hash chain and the signed checkpoints.
    /// Exit code 0 only when all is well; otherwise the first bad record is
    /// named with what is wrong (edited, removed, reordered, inserted,
    /// truncated, signature invalid). Does not write to the log, so it runs
    /// on copies and read-only media too.
    Verify {
        /// The log directory.
        #[arg(long)]
        log: PathBuf,
        /// Checkpoints kept outside the system (lines printed by `audit
        /// checkpoint`); their keys become the only trusted ones.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign a checkpoint of the current head now and print it: keep the
    /// line somewhere outside this system.
    Checkpoint {
        /// The log directory.
        #[arg(long)]
        log: PathBuf,
        /// The signing key (from `audit keygen`).
        #[arg(long, env = "KNOOPPUNT_AUDIT_KEY_FILE")]
        key: PathBuf,
    },
    /// Query the log with SQL: one table, `audit_log` (seq, kind, time,
    /// actor, role, purpose, client, command, sql, tables, outcome, rule,
    /// cells_returned, cells_suppressed, budget_charged, …). Reading the log
    /// is itself recorded.
    Sql {
        /// The log directory.
        #[arg(long)]
        log: PathBuf,
        /// The query, e.g. `SELECT role, count(*) FROM audit_log GROUP BY role`.
        sql: String,
        /// Purpose of this reading of the log.
        #[arg(long, default_value = "toezicht")]
        purpose: String,
    },
    /// Review aids: near-duplicate queries, pairs of queries that differ by
    /// one narrow condition, request rates per actor and hour, budget burn.
    /// Reading the log is itself recorded.
    Review {
        /// The log directory.
        #[arg(long)]
        log: PathBuf,
        /// Flag an actor's hour with more requests than this.
        #[arg(long, default_value_t = 60)]
        max_per_hour: u64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Purpose of this reading of the log.
        #[arg(long, default_value = "toezicht")]
        purpose: String,
    },
}

/// Runs an `audit` subcommand.
pub(crate) fn run_audit(command: &AuditCommand) -> Result<ExitCode> {
    match command {
        AuditCommand::Keygen { key } => {
            let info = generate_signing_key(key)?;
            println!("key_id {}", info.key_id);
            println!("public_key {}", info.public_key);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify {
            log,
            checkpoint,
            json,
        } => {
            if !log.is_dir() {
                bail!("audit log {} does not exist", log.display());
            }
            let options = VerifyOptions {
                external_checkpoints: checkpoint.clone(),
                ..VerifyOptions::default()
            };
            let report = verify_with(log, &options);
            if *json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
            Ok(if report.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        AuditCommand::Checkpoint { log, key } => {
            public_key_of(key)?;
            let audit = open_log(log, Some(key))?;
            let checkpoint = audit.checkpoint()?;
            println!("{}", checkpoint.to_json_line());
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Sql { log, sql, purpose } => {
            let records = read_existing(log)?;
            let batch = records_to_batch(&records)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let result = runtime.block_on(knooppunt_query::sql_over_table("audit_log", batch, sql));
            let audit = open_log(log, None)?;
            let mut draft = RecordDraft::log_read(local_actor(), purpose, "knooppunt audit sql");
            draft.client = "cli".to_string();
            draft.sql = Some(sql.clone());
            draft.trace_id = trace_id();
            let batches = match result {
                Ok(b) => b,
                Err(e) => {
                    draft.outcome = Outcome::Refused {
                        rule: "invalid_query".to_string(),
                    };
                    audit.append(draft)?;
                    return Err(e.into());
                }
            };
            draft.cells_returned = batches.iter().map(|b| b.num_rows() as u64).sum();
            audit
                .append(draft)
                .map_err(|e| anyhow!("the audit record could not be written: {e}"))?;
            println!("{}", arrow::util::pretty::pretty_format_batches(&batches)?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Review {
            log,
            max_per_hour,
            json,
            purpose,
        } => {
            let records = read_existing(log)?;
            let config = ReviewConfig {
                max_requests_per_hour: *max_per_hour,
                ..ReviewConfig::default()
            };
            let found = review(&records, &config);
            let audit = open_log(log, None)?;
            let mut draft = RecordDraft::log_read(local_actor(), purpose, "knooppunt audit review");
            draft.client = "cli".to_string();
            draft.trace_id = trace_id();
            draft.cells_returned = records.len() as u64;
            audit
                .append(draft)
                .map_err(|e| anyhow!("the audit record could not be written: {e}"))?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&found)?);
            } else {
                print!("{found}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn read_existing(log: &Path) -> Result<Vec<knooppunt_audit::AuditRecord>> {
    if !log.is_dir() {
        bail!("audit log {} does not exist", log.display());
    }
    Ok(read_records(log)?)
}
