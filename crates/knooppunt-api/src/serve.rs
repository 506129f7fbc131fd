//! Serving the router on a listener, over plain HTTP or over TLS (rustls
//! with the ring provider) when a certificate and key are configured,
//! until a shutdown future completes; requests in flight then finish.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;

/// A PEM certificate chain and private key.
#[derive(Debug, Clone)]
pub struct Tls {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// Longest wait for requests in flight after shutdown was asked for.
const GRACE: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` (plain HTTP, or TLS with `tls`) until
/// `shutdown` completes; requests in flight get up to 30 s to finish.
pub async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<&Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let handle: Handle<std::net::SocketAddr> = Handle::new();
    let on_signal = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        on_signal.graceful_shutdown(Some(GRACE));
    });
    let service = app.into_make_service();
    match tls {
        None => {
            axum_server::from_tcp(listener)?
                .handle(handle)
                .serve(service)
                .await
        }
        Some(tls) => {
            let config = RustlsConfig::from_pem_file(&tls.cert, &tls.key)
                .await
                .map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!(
                            "TLS certificate {} / key {}: {e}",
                            tls.cert.display(),
                            tls.key.display()
                        ),
                    )
                })?;
            axum_server::tls_rustls::from_tcp_rustls(listener, config)?
                .handle(handle)
                .serve(service)
                .await
        }
    }
}
