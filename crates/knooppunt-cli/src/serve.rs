//! `knooppunt serve`: the HTTP API over a lake, until Ctrl-C or SIGTERM;
//! requests in flight finish and the audit log is flushed before exit.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use knooppunt_query::{Engine, EngineOptions};
use knooppunt_service::{Purposes, RateLimit, Role, Service, ServiceOptions, TokenStore};

use crate::audit::AuditOpts;

/// What `knooppunt serve` and `knooppunt sql` both open: the lake, the
/// tokens, the purposes, the budget ledger and the audit log.
#[derive(clap::Args, Debug)]
pub(crate) struct ServiceArgs {
    /// Lake directory (as written by `knooppunt ingest`).
    #[arg(long, env = "KNOOPPUNT_LAKE")]
    lake: PathBuf,
    /// The token file (see `knooppunt token`).
    #[arg(long, env = "KNOOPPUNT_TOKENS")]
    tokens: PathBuf,
    /// Purposes and the roles allowed to state them (JSON array of
    /// `{"name": …, "roles": […]}`); default: gebiedsanalyse, bibob,
    /// handhaving, toezicht.
    #[arg(long)]
    purposes: Option<PathBuf>,
    /// Privacy-budget ledger directory; default: `budget/` beside the lake.
    #[arg(long, env = "KNOOPPUNT_BUDGET_DIR")]
    budget_dir: Option<PathBuf>,
    /// Budget configuration (JSON: `epsilon_per_period`, `period`,
    /// `overrides`, `query`); default: ε 3.0 per month per analyst.
    #[arg(long)]
    budget_config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) audit: AuditOpts,
}

/// The default of `--rate-limit`.
const DEFAULT_RATE_LIMIT: &str = "20/s,burst=100";

/// Options of `knooppunt serve`.
#[derive(clap::Args, Debug)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    service: ServiceArgs,
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Release configuration (JSON; every field optional, defaults from
    /// PRIVACY.md).
    #[arg(long)]
    release_config: Option<PathBuf>,
    /// Requests allowed per token: `N/s` or `N/s,burst=B`, or `off`.
    #[arg(long, default_value = DEFAULT_RATE_LIMIT)]
    rate_limit: String,
    /// Origins allowed to call the API from a browser (CORS), comma
    /// separated; none by default (no CORS headers).
    #[arg(long, value_delimiter = ',')]
    cors_origin: Vec<String>,
    /// TLS certificate chain (PEM); with `--tls-key` the API is served over
    /// HTTPS only.
    #[arg(long, requires = "tls_key", env = "KNOOPPUNT_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert", env = "KNOOPPUNT_TLS_KEY")]
    tls_key: Option<PathBuf>,
}

impl ServiceArgs {
    /// The engine over the lake, the audit log and the service's options:
    /// the purposes and budget configuration files (defaults when absent),
    /// the ledger's directory (`budget/` beside the lake by default),
    /// default release parameters and no rate limit.
    pub(crate) fn open(&self) -> Result<(Engine, knooppunt_audit::AuditLog, ServiceOptions)> {
        let options = self.options()?;
        let engine = Engine::open(&self.lake, EngineOptions::default())?;
        let audit = self.audit.open(&self.lake)?;
        Ok((engine, audit, options))
    }

    fn options(&self) -> Result<ServiceOptions> {
        let (lake, tokens) = (self.lake.as_path(), self.tokens.as_path());
        let read = |path: &Path| {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
        };
        let purposes = match &self.purposes {
            Some(path) => Purposes::from_json(&read(path)?)
                .with_context(|| format!("purposes {}", path.display()))?,
            None => Purposes::default(),
        };
        let budget = match &self.budget_config {
            Some(path) => knooppunt_service::BudgetConfig::from_json(&read(path)?)
                .with_context(|| format!("budget configuration {}", path.display()))?,
            None => Default::default(),
        };
        Ok(ServiceOptions {
            lake: lake.to_path_buf(),
            tokens: tokens.to_path_buf(),
            release: Default::default(),
            purposes,
            rate_limit: None,
            budget_dir: self
                .budget_dir
                .clone()
                .unwrap_or_else(|| lake.parent().unwrap_or(Path::new(".")).join("budget")),
            budget,
        })
    }
}

/// Runs the server until interrupted.
pub(crate) fn run_serve(args: &ServeArgs) -> Result<()> {
    let (engine, audit, mut options) = args.service.open()?;
    options.release = knooppunt_service::release::load_config(args.release_config.as_deref())?;
    options.rate_limit = match args.rate_limit.as_str() {
        "off" => None,
        text => Some(RateLimit::parse(text).map_err(anyhow::Error::msg)?),
    };
    let tls = args
        .tls_cert
        .clone()
        .zip(args.tls_key.clone())
        .map(|(cert, key)| knooppunt_api::Tls { cert, key });
    let config = knooppunt_api::ApiConfig {
        cors_origins: args.cors_origin.clone(),
        hsts: tls.is_some(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let service = Arc::new(Service::new(engine, audit, options)?);
        let peildatum = service.warm(None).await?;
        let listener = std::net::TcpListener::bind(args.bind)
            .with_context(|| format!("listening on {}", args.bind))?;
        let addr = listener.local_addr()?;
        let app = knooppunt_api::router_with(Arc::clone(&service), &config)
            .map_err(anyhow::Error::msg)?;
        println!("knooppunt: released tables at peildatum {peildatum} ready");
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!("knooppunt: listening on {scheme}://{addr}");
        use std::io::Write;
        std::io::stdout().flush()?;
        knooppunt_api::serve(listener, app, tls.as_ref(), shutdown_signal())
            .await
            .context("serving")?;
        // The router's clones are gone once serve returns; dropping the
        // last service stops the audit writer after its queue is written.
        drop(service);
        eprintln!("knooppunt: stopped; audit log flushed");
        anyhow::Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    eprintln!("knooppunt: shutting down; requests in flight finish");
}

/// The end of `knooppunt demo`: a fresh token file with one token per role
/// (scope: the gemeenten of the demo's buurten), `curl` lines, and the
/// server on `bind` until interrupted.
pub(crate) fn demo_serve(dir: &Path, lake: &Path, bind: SocketAddr, buurten: &str) -> Result<()> {
    let tokens = dir.join("tokens.json");
    // Tokens of an earlier demo run stop working.
    match std::fs::remove_file(&tokens) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", tokens.display())),
    }
    let scope = demo_scope(buurten)?;
    let mut store = TokenStore::load(&tokens)?;
    let now = chrono::Utc::now();
    println!();
    println!(
        "demo tokens (scope {}, valid 1 day, file {}):",
        scope.join(","),
        tokens.display()
    );
    let mut lines = Vec::new();
    for role in Role::ALL {
        let (record, token) = store.create(
            &format!("demo {role}"),
            role,
            scope.clone(),
            Some(now + chrono::Duration::days(1)),
            now,
        )?;
        if role == Role::Analyst {
            store.set_subject(&record.id, "demo-analyst")?;
        }
        println!("  {:<16} {token}", role.as_str());
        let (path, purpose) = match role {
            Role::PrivacyOfficer => ("/v1/audit?limit=5", "toezicht"),
            Role::Analyst => ("/v1/released/signals?limit=3", "bibob"),
            Role::Admin => ("/v1/indicators", "gebiedsanalyse"),
            Role::Dashboard => (
                "/v1/released/indicators?level=wijk&limit=5",
                "gebiedsanalyse",
            ),
        };
        lines.push(format!(
            "curl -s -H 'Authorization: Bearer {token}' -H 'X-Purpose: {purpose}' 'http://{bind}{path}'"
        ));
        if role == Role::Analyst {
            // Analyst SQL, answered with differential privacy.
            lines.push(format!(
                "curl -s -X POST -H 'Authorization: Bearer {token}' -H 'X-Purpose: {purpose}' \
                 -H 'Content-Type: application/json' -d '{{\"sql\": \"SELECT buurtcode, COUNT(*) AS n FROM inwoners GROUP BY buurtcode\"}}' \
                 'http://{bind}/v1/query'"
            ));
        }
    }
    println!();
    println!("try (Ctrl-C stops the server):");
    for line in lines {
        println!("  {line}");
    }
    println!();
    // Built here, not parsed: no environment variable (a TLS certificate,
    // another ledger) changes what the lines above promise.
    run_serve(&ServeArgs {
        service: ServiceArgs {
            lake: lake.to_path_buf(),
            tokens,
            purposes: None,
            budget_dir: None,
            budget_config: None,
            audit: AuditOpts::at(dir.join("audit")),
        },
        bind,
        release_config: None,
        rate_limit: DEFAULT_RATE_LIMIT.to_string(),
        cors_origin: Vec::new(),
        tls_cert: None,
        tls_key: None,
    })
}

/// The gemeenten of the demo's buurten (GeoJSON), sorted.
fn demo_scope(buurten: &str) -> Result<Vec<String>> {
    let index = knooppunt_geo::BuurtIndex::from_geojson_str(buurten)?;
    let scope: std::collections::BTreeSet<String> = index
        .buurten()
        .iter()
        .map(|b| b.gemeentecode.clone())
        .collect();
    Ok(scope.into_iter().collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_scope_is_the_gemeenten_of_its_buurten() {
        let scope = super::demo_scope(crate::DEFAULT_BUURTEN).expect("scope");
        assert_eq!(scope, ["GM0034"]);
    }
}
