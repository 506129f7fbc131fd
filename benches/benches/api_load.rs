//! Load test of the HTTP API on loopback: `GET /v1/released/signals` at
//! concurrency 64 with the audit log on (every answer is one fsynced,
//! hash-chained record before it is sent) and the rate limiter on (set
//! high enough not to refuse).
//!
//! The server is the real router on its own tokio runtime (2 workers); the
//! client is 64 keep-alive HTTP/1.1 connections on a second runtime, each
//! sending its next request when the previous answer is read. Reports
//! throughput and the p50/p90/p99/max latency of 200 answers.
//!
//! `cargo bench --workspace --profile dev --bench api_load -- [--seconds S]
//! [--concurrency C] [--scale X] [--limit N] [--server-threads N]
//! [--client-threads N]` (defaults: 10 s, 64, 0.2, 10, 2, 1)

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use knooppunt_audit::{AuditConfig, AuditLog};
use knooppunt_core::SystemClock;
use knooppunt_ingest::{IngestOptions, NoProgress, PseudonymKey, ingest};
use knooppunt_query::{Engine, EngineOptions};
use knooppunt_service::{Purposes, RateLimit, Role, Service, ServiceOptions, TokenStore};
use knooppunt_synth::{SynthConfig, generate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Args {
    seconds: u64,
    concurrency: usize,
    scale: f64,
    limit: usize,
    server_threads: usize,
    client_threads: usize,
}

fn args() -> Result<Args> {
    let mut out = Args {
        seconds: 10,
        concurrency: 64,
        scale: 0.2,
        limit: 10,
        server_threads: 2,
        client_threads: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().context("a value after the flag");
        match a.as_str() {
            "--seconds" => out.seconds = value()?.parse()?,
            "--concurrency" => out.concurrency = value()?.parse()?,
            "--scale" => out.scale = value()?.parse()?,
            "--limit" => out.limit = value()?.parse()?,
            "--server-threads" => out.server_threads = value()?.parse()?,
            "--client-threads" => out.client_threads = value()?.parse()?,
            // cargo bench passes --bench; criterion-style filters are ignored.
            _ => {}
        }
    }
    Ok(out)
}

/// One keep-alive connection: sends `request` and reads one answer
/// (headers, then a Content-Length body that is counted, not kept);
/// returns the status.
async fn exchange(stream: &mut TcpStream, request: &[u8], buf: &mut Vec<u8>) -> Result<u16> {
    stream.write_all(request).await?;
    buf.clear();
    let mut chunk = [0u8; 64 * 1024];
    let (status, mut remaining) = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed");
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..i])?;
            let length = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())
                        .flatten()
                })
                .context("content-length")?;
            let status: u16 = head.get(9..12).context("status line")?.parse()?;
            break (status, length.saturating_sub(buf.len() - (i + 4)));
        }
    };
    while remaining > 0 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed in a body");
        }
        remaining = remaining.saturating_sub(n);
    }
    Ok(status)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn build_lake(dir: &Path, scale: f64) -> Result<()> {
    let buurten =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-data/buurten_almere_2024.geojson");
    generate(
        &SynthConfig {
            out: dir.join("exports"),
            scale,
            seed: 1,
            clean: false,
            buurten,
        },
        &mut |_| {},
    )?;
    ingest(
        &IngestOptions {
            exports: dir.join("exports"),
            lake: dir.join("lake"),
            key: PseudonymKey::from_secret(&[1u8; 32]).map_err(anyhow::Error::msg)?,
            clock: Arc::new(SystemClock),
        },
        &NoProgress,
    )?;
    Ok(())
}

fn main() -> Result<()> {
    let args = args()?;
    let dir = tempfile::tempdir()?;
    eprintln!(
        "api_load: generating and ingesting a scale-{} lake",
        args.scale
    );
    build_lake(dir.path(), args.scale)?;
    let tokens = dir.path().join("tokens.json");
    let mut store = TokenStore::load(&tokens)?;
    let now = chrono::Utc::now();
    let (_, token) = store.create("load", Role::Dashboard, vec!["GM0034".into()], None, now)?;
    let (audit, _) = AuditLog::open(
        AuditConfig::new(dir.path().join("audit")),
        Arc::new(SystemClock),
    )?;
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.server_threads)
        .enable_all()
        .build()?;
    let engine = Engine::open(dir.path().join("lake"), EngineOptions::default())?;
    let service = Arc::new(Service::new(
        engine,
        audit,
        ServiceOptions {
            lake: dir.path().join("lake"),
            tokens,
            release: Default::default(),
            purposes: Purposes::default(),
            rate_limit: Some(RateLimit {
                per_second: 1_000_000.0,
                burst: 1_000_000,
            }),
            budget_dir: dir.path().join("budget"),
            budget: Default::default(),
        },
    )?);
    let addr = server_rt.block_on(async {
        service.warm(None).await?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let app = knooppunt_api::router(Arc::clone(&service));
        tokio::spawn(knooppunt_api::serve(
            listener,
            app,
            None,
            std::future::pending(),
        ));
        anyhow::Ok(addr)
    })?;
    eprintln!("api_load: serving on {addr}; audit log on; release cached");

    let request = format!(
        "GET /v1/released/signals?limit={} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nX-Purpose: gebiedsanalyse\r\n\r\n",
        args.limit
    )
    .into_bytes();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .enable_all()
        .build()?;
    let request = Arc::new(request);
    let run = |duration: Duration| {
        let request = Arc::clone(&request);
        let concurrency = args.concurrency;
        client_rt.block_on(async move {
            let deadline = Instant::now() + duration;
            let mut tasks = Vec::new();
            for _ in 0..concurrency {
                let request = Arc::clone(&request);
                tasks.push(tokio::spawn(async move {
                    let mut stream = TcpStream::connect(addr).await?;
                    stream.set_nodelay(true)?;
                    let mut buf = Vec::new();
                    let mut latencies = Vec::new();
                    let mut other = 0u64;
                    while Instant::now() < deadline {
                        let start = Instant::now();
                        let status = exchange(&mut stream, &request, &mut buf).await?;
                        if status == 200 {
                            latencies.push(start.elapsed());
                        } else {
                            other += 1;
                        }
                    }
                    anyhow::Ok((latencies, other))
                }));
            }
            let mut all = Vec::new();
            let mut other = 0;
            for t in tasks {
                let (l, o) = t.await??;
                all.extend(l);
                other += o;
            }
            anyhow::Ok((all, other))
        })
    };
    // Warm-up: connections, caches, the audit writer.
    run(Duration::from_secs(2))?;
    let started = Instant::now();
    let (mut latencies, other) = run(Duration::from_secs(args.seconds))?;
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let ok = latencies.len();
    println!(
        "api_load: GET /v1/released/signals?limit={} concurrency {} for {:.1} s (scale {}, audit on)",
        args.limit, args.concurrency, elapsed, args.scale
    );
    println!(
        "  {ok} answers 200 ({other} other), {:.0} requests/s",
        ok as f64 / elapsed
    );
    println!(
        "  latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.90).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        percentile(&latencies, 1.0).as_secs_f64() * 1e3,
    );
    let records = knooppunt_audit::read_records(&dir.path().join("audit"))?.len();
    println!("  audit records written: {records}");
    drop(service);
    server_rt.shutdown_timeout(Duration::from_secs(5));
    Ok(())
}
