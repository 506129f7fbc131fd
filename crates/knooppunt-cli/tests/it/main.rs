//! Smoke tests of the `knooppunt` binary's command line. Having an
//! integration test here also makes `cargo test --workspace` build the
//! binary that the end-to-end tests in `tests/` run.

#![allow(clippy::unwrap_used, missing_docs)]

use std::process::Command;

fn knooppunt() -> Command {
    Command::new(env!("CARGO_BIN_EXE_knooppunt"))
}

#[test]
fn help_lists_the_commands() {
    let out = knooppunt().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for command in ["ingest", "synth", "demo", "indicators", "signals"] {
        assert!(text.contains(command), "--help lacks {command}: {text}");
    }
}

#[test]
fn ingest_without_a_key_file_refuses_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = knooppunt()
        .args(["ingest", "--exports"])
        .arg(dir.path())
        .arg("--lake")
        .arg(dir.path().join("lake"))
        .env_remove("KNOOPPUNT_PSEUDONYM_KEY_FILE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KNOOPPUNT_PSEUDONYM_KEY_FILE"));
}
