//! `knooppunt token` and `knooppunt serve` through the binary: a real
//! server on a free port, one request per role, graceful shutdown.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{Workdir, binary};

/// `knooppunt token create` for `role` in `scope` (with the person behind
/// it, when given); the printed token.
pub(super) fn create_token(
    tokens: &Path,
    role: &str,
    scope: &str,
    subject: Option<&str>,
) -> String {
    let mut command = Command::new(binary());
    command
        .args([
            "token", "create", "--role", role, "--scope", scope, "--name",
        ])
        .arg(format!("e2e {role}"))
        .arg("--tokens")
        .arg(tokens)
        .env_remove("KNOOPPUNT_TOKENS");
    if let Some(subject) = subject {
        command.args(["--subject", subject]);
    }
    let out = command.output().expect("token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// One HTTP/1.1 request with a bearer token, optional purpose and
/// optional JSON body, on a fresh connection; the status code and the body.
pub(super) fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    purpose: Option<&str>,
    json: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n"
    );
    if let Some(p) = purpose {
        request.push_str(&format!("X-Purpose: {p}\r\n"));
    }
    if let Some(body) = json {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(json.unwrap_or_default());
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// One HTTP/1.1 GET; the status code and the body.
fn get(addr: &str, path: &str, token: &str, purpose: Option<&str>) -> (u16, String) {
    request(addr, "GET", path, token, purpose, None)
}

/// Starts `knooppunt serve` on a free port with `extra` arguments; the
/// child and the address it printed after `listening on {scheme}://`.
pub(super) fn start_serve(
    work: &Workdir,
    tokens: &Path,
    audit: &Path,
    extra: &[&std::ffi::OsStr],
    scheme: &str,
) -> (std::process::Child, String) {
    let mut child = Command::new(binary())
        .args(["serve", "--bind", "127.0.0.1:0", "--lake"])
        .arg(work.path("lake"))
        .arg("--tokens")
        .arg(tokens)
        .arg("--audit-log")
        .arg(audit)
        .args(extra)
        .env_remove("KNOOPPUNT_AUDIT_KEY_FILE")
        .env_remove("KNOOPPUNT_BUDGET_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let marker = format!("listening on {scheme}://");
    let addr = loop {
        let line = lines
            .next()
            .expect("serve printed its address")
            .expect("line");
        if let Some(rest) = line.split(&marker).nth(1) {
            break rest.trim().to_string();
        }
    };
    (child, addr)
}

#[test]
fn serve_answers_each_role_and_stops_gracefully() {
    let work = Workdir::new(0.02, 11, false);
    let ingest = work.ingest(false);
    assert!(ingest.status.success());
    let tokens = work.path("tokens.json");
    let dashboard = create_token(&tokens, "dashboard", "GM0034", None);
    let analyst = create_token(&tokens, "analyst", "GM0034", None);
    let officer = create_token(&tokens, "privacy_officer", "GM0034", None);
    let admin = create_token(&tokens, "admin", "GM0034", None);
    let stored = std::fs::read_to_string(&tokens).expect("token file");
    for t in [&dashboard, &analyst, &officer, &admin] {
        assert!(t.starts_with("kp_") && t.len() == 67, "{t}");
        assert!(!stored.contains(&t[3..]), "only hashes are stored");
    }
    let list = Command::new(binary())
        .args(["token", "list", "--tokens"])
        .arg(&tokens)
        .output()
        .expect("token list");
    let listed = String::from_utf8_lossy(&list.stdout);
    assert_eq!(listed.lines().filter(|l| l.ends_with("active")).count(), 4);

    let audit = work.path("audit");
    let (mut child, addr) = start_serve(&work, &tokens, &audit, &[], "http");

    let (s, body) = get(
        &addr,
        "/v1/released/indicators?level=gemeente",
        &dashboard,
        Some("gebiedsanalyse"),
    );
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("\"cells\""));
    let (s, body) = get(
        &addr,
        "/v1/released/signals?limit=3",
        &analyst,
        Some("bibob"),
    );
    assert_eq!(s, 200, "{body}");
    let (s, body) = get(&addr, "/v1/audit/verify", &officer, Some("toezicht"));
    assert_eq!(s, 200, "{body}");
    let (s, body) = get(&addr, "/v1/indicators", &admin, None);
    assert_eq!(s, 200, "{body}");
    let (s, body) = get(&addr, "/v1/released/signals", &officer, Some("toezicht"));
    assert_eq!(s, 403, "{body}");
    let (s, _) = get(&addr, "/v1/released/signals", "kp_nope", Some("bibob"));
    assert_eq!(s, 401);

    // A revocation takes effect on the next request.
    let admin_id = {
        let list = Command::new(binary())
            .args(["token", "list", "--tokens"])
            .arg(&tokens)
            .output()
            .expect("token list");
        String::from_utf8_lossy(&list.stdout)
            .lines()
            .find(|l| l.contains("\tadmin\t"))
            .and_then(|l| l.split('\t').next())
            .expect("admin id")
            .to_string()
    };
    let revoke = Command::new(binary())
        .args(["token", "revoke", &admin_id, "--tokens"])
        .arg(&tokens)
        .output()
        .expect("revoke");
    assert!(revoke.status.success());
    let (s, _) = get(&addr, "/v1/indicators", &admin, None);
    assert_eq!(s, 401);

    // SIGTERM: graceful shutdown, exit 0, the audit chain intact with the
    // two data reads, the officer's verification and the refusal.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("wait");
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("audit log flushed"), "{stderr}");
    let verify = Command::new(binary())
        .args(["audit", "verify", "--log"])
        .arg(&audit)
        .output()
        .expect("verify");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let text = audit_text(&audit);
    // Three answers and the officer's refused data read.
    assert_eq!(text.matches("\"client\":\"http\"").count(), 4, "{text}");
    assert_eq!(
        text.matches("\"outcome\":{\"status\":\"released\"}")
            .count(),
        3,
        "{text}"
    );
    assert_eq!(text.matches("\"rule\":\"forbidden\"").count(), 1, "{text}");
}

#[test]
fn serve_speaks_tls_when_given_a_certificate() {
    use tokio_rustls::rustls;

    let work = Workdir::new(0.02, 12, false);
    let ingest = work.ingest(false);
    assert!(ingest.status.success());
    let tokens = work.path("tokens.json");
    let dashboard = create_token(&tokens, "dashboard", "GM0034", None);
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("self-signed certificate");
    let cert = work.path("cert.pem");
    let key = work.path("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("cert");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("key");

    let tls_args = [
        std::ffi::OsStr::new("--tls-cert"),
        cert.as_os_str(),
        std::ffi::OsStr::new("--tls-key"),
        key.as_os_str(),
    ];
    let (mut child, addr) = start_serve(&work, &tokens, &work.path("audit"), &tls_args, "https");

    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).expect("root");
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connection = rustls::ClientConnection::new(
        std::sync::Arc::new(config),
        "localhost".try_into().expect("server name"),
    )
    .expect("client");
    let socket = TcpStream::connect(&addr).expect("connect");
    let mut tls = rustls::StreamOwned::new(connection, socket);
    let request = format!(
        "GET /v1/released/signals?limit=2 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {dashboard}\r\nX-Purpose: gebiedsanalyse\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(request.as_bytes()).expect("write");
    let mut response = Vec::new();
    // A peer closing without close_notify is reported as an error after
    // the data; the bytes read so far are the answer.
    let _ = tls.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).to_string();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("strict-transport-security: max-age=31536000"),
        "{response}"
    );
    assert!(response.contains("\"signals\""));

    // Plain HTTP on the TLS port gets no answer.
    let mut plain = TcpStream::connect(&addr).expect("connect");
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    let _ = plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut answer = String::new();
    let _ = plain.read_to_string(&mut answer);
    assert!(!answer.contains("\"ok\""), "{answer}");

    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
}

/// The text of every segment of the audit log in `dir` (JSON lines).
pub(super) fn audit_text(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .expect("audit dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .map(|e| std::fs::read_to_string(e.path()).expect("segment"))
        .collect()
}
