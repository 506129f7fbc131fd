//! `knooppunt serve`: the HTTP API over a lake, until Ctrl-C or SIGTERM;
//! requests in flight finish and the audit log is flushed before exit.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use knooppunt_query::{Engine, EngineOptions};
use knooppunt_service::{Purposes, Service, ServiceOptions};

use crate::audit::AuditOpts;

/// Options of `knooppunt serve`.
#[derive(clap::Args, Debug)]
pub(crate) struct ServeArgs {
    /// Lake directory (as written by `knooppunt ingest`).
    #[arg(long, env = "KNOOPPUNT_LAKE")]
    lake: PathBuf,
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// The token file (see `knooppunt token`).
    #[arg(long, env = "KNOOPPUNT_TOKENS")]
    tokens: PathBuf,
    /// Release configuration (JSON; every field optional, defaults from
    /// PRIVACY.md).
    #[arg(long)]
    release_config: Option<PathBuf>,
    /// Purposes and the roles allowed to state them (JSON array of
    /// `{"name": …, "roles": […]}`); default: gebiedsanalyse, bibob,
    /// handhaving, toezicht.
    #[arg(long)]
    purposes: Option<PathBuf>,
    #[command(flatten)]
    audit: AuditOpts,
}

/// Runs the server until interrupted.
pub(crate) fn run_serve(args: &ServeArgs) -> Result<()> {
    let purposes = match &args.purposes {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Purposes::from_json(&text).with_context(|| format!("purposes {}", path.display()))?
        }
        None => Purposes::default(),
    };
    let options = ServiceOptions {
        lake: args.lake.clone(),
        tokens: args.tokens.clone(),
        release: knooppunt_service::release::load_config(args.release_config.as_deref())?,
        purposes,
    };
    let engine = Engine::open(&args.lake, EngineOptions::default())?;
    let audit = args.audit.open(&args.lake)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let service = Arc::new(Service::new(engine, audit, options)?);
        let peildatum = service.warm(None).await?;
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("listening on {}", args.bind))?;
        let addr = listener.local_addr()?;
        println!("knooppunt: released tables at peildatum {peildatum} ready");
        println!("knooppunt: listening on http://{addr}");
        use std::io::Write;
        std::io::stdout().flush()?;
        axum::serve(listener, knooppunt_api::router(Arc::clone(&service)))
            .with_graceful_shutdown(shutdown_signal())
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
