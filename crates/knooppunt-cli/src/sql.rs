//! `knooppunt sql`: analyst SQL against a local lake, through the same
//! service as `POST /v1/query` (the same gate, budget ledger, noise and
//! audit log; `budget/` and `audit/` beside the lake by default).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::NaiveDate;

use knooppunt_service::{Endpoint, Service, ServiceError};
use serde_json::Value;

use crate::query::{write_table, write_text};
use crate::serve::ServiceArgs;

/// Options of `knooppunt sql`.
#[derive(clap::Args, Debug)]
pub(crate) struct SqlArgs {
    #[command(flatten)]
    service: ServiceArgs,
    /// File holding the analyst's bearer token (never pass the token itself
    /// on the command line).
    #[arg(long, env = "KNOOPPUNT_TOKEN_FILE")]
    token_file: PathBuf,
    /// Reference date (default: the lake's latest date).
    #[arg(long)]
    peildatum: Option<NaiveDate>,
    /// Print the answer as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// One SELECT over the analyst tables.
    sql: String,
}

/// Runs one analyst query; exit code 0 answered, 3 refused (rule or
/// budget), 2 other errors.
pub(crate) fn run_sql(args: &SqlArgs) -> Result<ExitCode> {
    let token = std::fs::read_to_string(&args.token_file)
        .with_context(|| format!("reading the token file {}", args.token_file.display()))?;
    let token = token.trim().to_string();
    let (engine, audit, options) = args.service.open()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(async {
        let service = Service::new(engine, audit, options)?;
        let access = service
            .authorize(
                Some(&token),
                Some(args.service.audit.purpose()),
                Endpoint::Query,
            )
            .await?;
        let answer = service
            .query_from(&access, &args.sql, args.peildatum, "cli")
            .await;
        // Dropping the service flushes the audit log.
        drop(service);
        answer
    });
    match outcome {
        Ok(answer) => {
            // Through write_text, like every other command: a reader that
            // stops early (`| head`) ends the command quietly.
            write_text(None, |w| {
                if args.json {
                    serde_json::to_writer_pretty(&mut *w, &answer)?;
                    writeln!(w)?;
                    Ok(())
                } else {
                    table(w, &answer)
                }
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Err(
            e @ (ServiceError::QueryRefused { .. }
            | ServiceError::BudgetExhausted { .. }
            | ServiceError::RoleForbidden
            | ServiceError::PurposeMissing
            | ServiceError::PurposeForbidden
            | ServiceError::Unauthorized
            | ServiceError::BadRequest(_)),
        ) => {
            eprintln!("knooppunt: {e}");
            Ok(ExitCode::from(3))
        }
        Err(e) => Err(e.into()),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "NULL".to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() => format!("{f:.2}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// The answer as an aligned text table: keys, then `value ± half-width`
/// (an AVG: `value [lo, hi]`), then the budget line.
fn table(w: &mut dyn Write, answer: &Value) -> Result<()> {
    let columns: Vec<String> = answer["columns"]
        .as_array()
        .map(|c| c.iter().map(text).collect())
        .unwrap_or_default();
    let mut lines = Vec::new();
    for row in answer["rows"].as_array().into_iter().flatten() {
        let cells = columns
            .iter()
            .map(|c| {
                let v = &row[c.as_str()];
                if !v.is_object() {
                    return text(v);
                }
                match v["half_width_95"].as_u64() {
                    Some(h) => format!("{} ± {h}", text(&v["value"])),
                    None => match v["interval_95"].as_array() {
                        Some(i) if i.len() == 2 => {
                            format!("{} [{}, {}]", text(&v["value"]), text(&i[0]), text(&i[1]))
                        }
                        _ => format!("{} [no interval]", text(&v["value"])),
                    },
                }
            })
            .collect();
        lines.push(cells);
    }
    write_table(w, &columns, &lines, &[])?;
    let withheld = answer["withheld"].as_u64().unwrap_or(0);
    if withheld > 0 {
        writeln!(
            w,
            "{withheld} group(s) with private keys withheld (noisy count below the threshold)"
        )?;
    }
    writeln!(
        w,
        "95 % intervals; ε charged {}, ε left {}, δ charged {}, δ left {}{}; peildatum {}",
        text(&answer["epsilon_charged"]),
        text(&answer["budget_left"]),
        text(&answer["delta_charged"]),
        text(&answer["delta_left"]),
        if answer["cached"].as_bool() == Some(true) {
            " (cached answer)"
        } else {
            ""
        },
        text(&answer["peildatum"]),
    )?;
    Ok(())
}
