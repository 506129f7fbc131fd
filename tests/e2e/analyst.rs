//! Analyst SQL through the binary: `knooppunt sql` and `POST /v1/query`
//! on the same lake share the budget ledger, the answer cache and the
//! audit log; refusals name the rule.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use super::{Workdir, binary};

const SQL: &str = "SELECT buurtcode, COUNT(*) AS n FROM brp GROUP BY buurtcode";

fn token(tokens: &Path, role: &str, subject: &str) -> String {
    super::serve::create_token(tokens, role, "GM0034", Some(subject))
}

fn sql(work: &Workdir, token_file: &Path, json: bool, query: &str) -> Output {
    let mut cmd = Command::new(binary());
    cmd.arg("sql")
        .arg("--lake")
        .arg(work.path("lake"))
        .arg("--tokens")
        .arg(work.path("tokens.json"))
        .arg("--token-file")
        .arg(token_file)
        .args(["--purpose", "bibob"])
        .env_remove("KNOOPPUNT_AUDIT_LOG")
        .env_remove("KNOOPPUNT_BUDGET_DIR")
        .env_remove("KNOOPPUNT_AUDIT_KEY_FILE");
    if json {
        cmd.arg("--json");
    }
    cmd.arg(query).output().expect("knooppunt sql")
}

/// One HTTP/1.1 POST of a JSON body to `/v1/query`; the status code and
/// the body.
fn post(addr: &str, token: &str, body: &str) -> (u16, String) {
    super::serve::request(addr, "POST", "/v1/query", token, Some("bibob"), Some(body))
}

/// Pass: the CLI answers with `value ± half-width` and charges ε 0.1; the
/// same question again (CLI, JSON) and over HTTP is the cached answer at no
/// cost; a MIN is refused with its rule (exit 3, HTTP 422); a dashboard
/// token gets 403; a malformed body 400; the audit log holds the CLI's and
/// the API's query records and verifies.
#[test]
fn sql_and_post_query_share_ledger_cache_and_audit_log() {
    let work = Workdir::new(0.02, 21, false);
    assert!(work.ingest(false).status.success());
    let tokens = work.path("tokens.json");
    let analyst = token(&tokens, "analyst", "a.jansen");
    let dashboard = token(&tokens, "dashboard", "d.de.vries");
    let token_file = work.path("analyst.token");
    std::fs::write(&token_file, format!("{analyst}\n")).expect("token file");

    let first = sql(&work, &token_file, false, SQL);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(stdout.contains(" ± "), "{stdout}");
    assert!(stdout.contains("ε charged 0.1, ε left 2.9"), "{stdout}");
    let again = sql(&work, &token_file, true, SQL);
    assert!(again.status.success());
    let cached: Value = serde_json::from_slice(&again.stdout).expect("json answer");
    assert_eq!(cached["cached"], true);
    assert_eq!(cached["epsilon_charged"], "0.0");
    let refused = sql(
        &work,
        &token_file,
        false,
        "SELECT MIN(geboortejaar) FROM brp",
    );
    assert_eq!(refused.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("aggregate_not_allowed"));

    let audit = work.path("audit");
    let (mut child, addr) = super::serve::start_serve(&work, &tokens, &audit, &[], "http");
    let body = serde_json::json!({ "sql": SQL }).to_string();
    let (s, text) = post(&addr, &analyst, &body);
    assert_eq!(s, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        answer["cached"], true,
        "the CLI's answer, from the shared cache"
    );
    assert_eq!(answer["rows"], cached["rows"]);
    assert_eq!(answer["budget_left"], "2.9");
    let (s, text) = post(
        &addr,
        &analyst,
        &serde_json::json!({ "sql": "SELECT COUNT(*) AS n FROM brp", "peildatum": "2025-01-01" })
            .to_string(),
    );
    assert_eq!(s, 200, "{text}");
    let (s, text) = post(
        &addr,
        &analyst,
        r#"{"sql": "SELECT buurtcode, MAX(geboortejaar) FROM brp GROUP BY buurtcode"}"#,
    );
    assert_eq!(s, 422, "{text}");
    assert!(text.contains("aggregate_not_allowed"), "{text}");
    let (s, _) = post(&addr, &dashboard, &body);
    assert_eq!(s, 403);
    let (s, text) = post(&addr, &analyst, "{\"sql\": 1}");
    assert_eq!(s, 400, "{text}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    assert!(child.wait().expect("wait").success());
    let verify = Command::new(binary())
        .args(["audit", "verify", "--log"])
        .arg(&audit)
        .output()
        .expect("verify");
    assert!(verify.status.success());
    let text = super::serve::audit_text(&audit);
    let queries: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["kind"] == "query" && r["command"] == "POST /v1/query")
        .collect();
    let by = |client: &str, status: &str| {
        queries
            .iter()
            .filter(|r| r["client"] == client && r["outcome"]["status"] == status)
            .count()
    };
    assert_eq!(by("cli", "released"), 2);
    assert_eq!(by("cli", "refused"), 1);
    assert_eq!(by("http", "released"), 2);
    // The MAX refusal, the dashboard's role refusal and the bad body.
    assert_eq!(by("http", "refused"), 3, "{queries:?}");
}
