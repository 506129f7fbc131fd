//! The release path and the audit log through the binary: `--release`
//! output against the exact table, repetition, one audit record per run
//! written before the output, `audit verify|sql`, and fail-closed refusal.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

use super::{Workdir, binary};

fn run(args: &[&str], lake: &Path, audit: &Path) -> Output {
    Command::new(binary())
        .args(args)
        .arg("--lake")
        .arg(lake)
        .arg("--audit-log")
        .arg(audit)
        .env_remove("KNOOPPUNT_AUDIT_KEY_FILE")
        .env_remove("KNOOPPUNT_AUDIT_LOG")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

type Key = (String, String, String);

/// Exact (numerator, denominator, numerator_support, denominator_support)
/// per (indicator, level, code) from `indicators --format json`.
fn exact(json: &str) -> HashMap<Key, [i64; 4]> {
    let doc: serde_json::Value = serde_json::from_str(json).unwrap();
    doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            let n = |k: &str| r[k].as_i64().unwrap();
            (
                (s("indicator"), s("level"), s("code")),
                [
                    n("numerator"),
                    n("denominator"),
                    n("numerator_support"),
                    n("denominator_support"),
                ],
            )
        })
        .collect()
}

#[test]
fn released_indicators_hide_small_cells_and_are_recorded_before_output() {
    let work = Workdir::new(0.05, 11, false);
    assert!(work.ingest(false).status.success());
    let lake = work.path("lake");
    let audit = work.path("audit");

    let exact = exact(&ok(&run(
        &["indicators", "--format", "json"],
        &lake,
        &audit,
    )));
    let released_text = ok(&run(
        &["indicators", "--release", "--format", "json"],
        &lake,
        &audit,
    ));
    let again = ok(&run(
        &["indicators", "--release", "--format", "json"],
        &lake,
        &audit,
    ));
    assert_eq!(
        released_text, again,
        "the same request gives the same bytes"
    );
    assert!(
        !released_text.contains("support"),
        "supports are never released"
    );
    assert!(
        !released_text.contains("_key"),
        "record keys are never released"
    );

    let doc: serde_json::Value = serde_json::from_str(&released_text).unwrap();
    let cells = doc["cells"].as_array().unwrap();
    assert_eq!(cells.len(), exact.len(), "one released cell per exact cell");
    let k = |indicator: &str, which: &str| -> i64 {
        match (indicator, which) {
            ("I04" | "I12", _) | ("I07", "denominator") => 10,
            _ => 3,
        }
    };
    let (mut suppressed, mut perturbed) = (0, 0);
    for c in cells {
        let key = (
            c["indicator"].as_str().unwrap().to_string(),
            c["level"].as_str().unwrap().to_string(),
            c["code"].as_str().unwrap().to_string(),
        );
        let [num, den, num_support, den_support] = exact[&key];
        let status = c["numerator_status"].as_str().unwrap();
        if status == "released" {
            let released = c["numerator"].as_i64().unwrap();
            assert!(
                num_support == 0 || num_support >= k(&key.0, "numerator"),
                "{key:?}: a numerator with support {num_support} was released"
            );
            assert!((released - num).abs() <= 2, "{key:?}: noise beyond ±2");
            assert_eq!(num == 0, released == 0, "{key:?}: zero stays zero");
            perturbed += usize::from(released != num);
        } else {
            assert!(c["numerator"].is_null(), "{key:?}: suppressed but shown");
            assert!(["threshold", "dominance", "secondary"].contains(&status));
            suppressed += 1;
        }
        if c["denominator_status"] == "released" {
            assert!(den_support >= k(&key.0, "denominator"), "{key:?}");
            assert!((c["denominator"].as_i64().unwrap() - den).abs() <= 2);
        } else {
            assert!(c["denominator"].is_null());
        }
    }
    assert!(suppressed > 0, "a small sample lake has small cells");
    assert!(perturbed > 0, "released counts are perturbed");

    // Released signals carry no supports and no numbers for suppressed cells.
    let signals = ok(&run(
        &["signals", "--release", "--format", "json"],
        &lake,
        &audit,
    ));
    assert!(!signals.contains("support"));

    // One record per run, each released, and the chain verifies.
    let verify = Command::new(binary())
        .args(["audit", "verify", "--log"])
        .arg(&audit)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", ok(&verify));
    let sql = ok(&Command::new(binary())
        .args(["audit", "sql", "--log"])
        .arg(&audit)
        .arg("SELECT command, count(*) AS n FROM audit_log WHERE kind = 'query' GROUP BY command ORDER BY command")
        .output()
        .unwrap());
    assert!(
        sql.contains("knooppunt indicators") && sql.contains("| 3 "),
        "{sql}"
    );
    assert!(
        sql.contains("knooppunt signals") && sql.contains("| 1 "),
        "{sql}"
    );
    // Tampering with a stored record is caught and named (exit code 1).
    let segment = audit.join("segment-000001.jsonl");
    let text = std::fs::read_to_string(&segment).unwrap();
    assert!(text.contains("\"purpose\":\"beheer\""), "{text}");
    std::fs::write(
        &segment,
        text.replacen("\"purpose\":\"beheer\"", "\"purpose\":\"bibob\"", 1),
    )
    .unwrap();
    let verify = Command::new(binary())
        .args(["audit", "verify", "--log"])
        .arg(&audit)
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(1));
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(report.contains("edited"), "{report}");
    std::fs::write(&segment, &text).unwrap();
    // No result value reaches the log: the released JSON's numbers are not
    // checked one by one (small integers occur everywhere), but no cell
    // code with its value and no support field appears.
    for entry in std::fs::read_dir(&audit).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        assert!(!text.contains("numerator\""), "a result field in the log");
        assert!(!text.contains("support"), "a result field in the log");
        // Results are per area; the log holds counts of cells, never an
        // area code with a value.
        assert!(!text.contains("\"BU0"), "an area code in the log");
        assert!(!text.contains("\"WK0"), "an area code in the log");
    }
}

#[test]
fn an_unwritable_audit_log_releases_nothing() {
    let work = Workdir::new(0.02, 5, true);
    assert!(work.ingest(false).status.success());
    let lake = work.path("lake");
    // A directory cannot be created under a regular file, even by root.
    let blocker = work.path("not-a-directory");
    std::fs::write(&blocker, "x").unwrap();
    let out_file = work.path("released.csv");
    let out = Command::new(binary())
        .args(["indicators", "--release", "--format", "csv", "--out"])
        .arg(&out_file)
        .arg("--lake")
        .arg(&lake)
        .arg("--audit-log")
        .arg(blocker.join("audit"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing is printed");
    assert!(!out_file.exists(), "nothing is written");
    assert!(String::from_utf8_lossy(&out.stderr).contains("audit log"));
}
