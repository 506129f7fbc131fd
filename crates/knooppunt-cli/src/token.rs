//! `knooppunt token create|list|revoke`: the token file of `knooppunt serve`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use chrono::Utc;
use knooppunt_service::{Role, TokenStore, parse_lifetime};

/// Manage API tokens.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum TokenCommand {
    /// Create a token and print it once (only its hash is stored).
    Create(CreateArgs),
    /// List the tokens (never their secrets).
    List(FileArgs),
    /// Revoke a token by id.
    Revoke(RevokeArgs),
}

/// Where the tokens are kept.
#[derive(clap::Args, Debug)]
pub(crate) struct FileArgs {
    /// The token file (JSON; holds only hashes).
    #[arg(long, env = "KNOOPPUNT_TOKENS")]
    tokens: PathBuf,
}

#[derive(clap::Args, Debug)]
pub(crate) struct CreateArgs {
    /// dashboard, analyst, privacy_officer or admin.
    #[arg(long, value_parser = parse_role)]
    role: Role,
    /// Gemeentecodes the token may see, comma-separated (GM0034,GM0363).
    #[arg(long, value_delimiter = ',', required = true)]
    scope: Vec<String>,
    /// What the token is for.
    #[arg(long)]
    name: String,
    /// The natural person behind the token. Analysts' privacy budgets are
    /// per person: tokens with the same subject share one budget; an
    /// analyst token without a subject has a budget of its own.
    #[arg(long)]
    subject: Option<String>,
    /// Lifetime, e.g. 90d, 12h or 30m; default: 90d.
    #[arg(long, default_value = "90d", value_parser = parse_lifetime)]
    expires: chrono::Duration,
    #[command(flatten)]
    file: FileArgs,
}

#[derive(clap::Args, Debug)]
pub(crate) struct RevokeArgs {
    /// The token id (see `token list`).
    id: String,
    #[command(flatten)]
    file: FileArgs,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::from_name(s)
        .ok_or_else(|| "expected dashboard, analyst, privacy_officer or admin".to_string())
}

/// Runs a token command.
pub(crate) fn run_token(command: &TokenCommand) -> Result<()> {
    let now = Utc::now();
    match command {
        TokenCommand::Create(args) => {
            let mut store = TokenStore::load(&args.file.tokens)?;
            let (record, token) = store.create(
                &args.name,
                args.role,
                args.scope.clone(),
                Some(now + args.expires),
                now,
            )?;
            if let Some(subject) = &args.subject {
                store.set_subject(&record.id, subject)?;
            }
            eprintln!(
                "token {} ({}, scope {}) created; it is shown only once:",
                record.id,
                record.role,
                record.scope.join(",")
            );
            println!("{token}");
        }
        TokenCommand::List(args) => {
            let store = TokenStore::load(&args.tokens)?;
            println!("id\trole\tscope\tname\tsubject\tcreated\texpires\tstatus");
            for t in store.list() {
                let status = if t.revoked.is_some() {
                    "revoked"
                } else if t.is_active(now) {
                    "active"
                } else {
                    "expired"
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{status}",
                    t.id,
                    t.role,
                    t.scope.join(","),
                    t.name,
                    t.subject.as_deref().unwrap_or("-"),
                    t.created.format("%Y-%m-%d"),
                    t.expires
                        .map_or_else(|| "never".to_string(), |e| e.format("%Y-%m-%d").to_string())
                );
            }
        }
        TokenCommand::Revoke(args) => {
            let mut store = TokenStore::load(&args.file.tokens)?;
            if !store.revoke(&args.id, now)? {
                bail!("no token with id {}", args.id);
            }
            eprintln!("token {} revoked", args.id);
        }
    }
    Ok(())
}
