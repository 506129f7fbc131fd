//! The privacy-budget ledger: durability, exact arithmetic, periods,
//! serialisability across ledgers on one directory, crash and corruption
//! handling, overrides and the answer cache.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Barrier};

use chrono::{DateTime, TimeZone, Utc};
use knooppunt_service::budget::{Cost, Delta, LEDGER_FILE, Period};
use knooppunt_service::{
    BudgetConfig, BudgetError, CacheKey, Charge, Ledger, LedgerEntry, MicroEpsilon,
};
use serde_json::json;

fn eps(text: &str) -> MicroEpsilon {
    MicroEpsilon::parse(text).expect("valid amount")
}

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0)
        .single()
        .expect("valid date")
}

fn key(n: usize) -> CacheKey {
    CacheKey::new(format!("plan-{n}"), "snapshot-1")
}

fn ledger_lines(dir: &Path) -> Vec<LedgerEntry> {
    let text = std::fs::read_to_string(dir.join(LEDGER_FILE)).expect("ledger file");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("ledger line"))
        .collect()
}

fn debited(charge: Charge) -> (MicroEpsilon, MicroEpsilon, u64) {
    match charge {
        Charge::Debited {
            charged, left, seq, ..
        } => (charged, left, seq),
        Charge::Cached { .. } => panic!("expected a debit, got a cached answer"),
    }
}

#[test]
fn budget_amounts_parse_and_print_exactly() {
    assert_eq!(eps("1.0").micros(), 1_000_000);
    assert_eq!(eps("0.25").micros(), 250_000);
    assert_eq!(eps("3").micros(), 3_000_000);
    assert_eq!(eps(".5").micros(), 500_000);
    assert_eq!(eps("0.333333").micros(), 333_333);
    assert_eq!(eps("0.1000000").micros(), 100_000);
    assert_eq!(eps("0.000001").micros(), 1);
    for bad in [
        "",
        ".",
        "-1",
        "+1",
        "1e3",
        "0.1234567",
        "1,5",
        "abc",
        "1.2.3",
    ] {
        assert!(
            matches!(MicroEpsilon::parse(bad), Err(BudgetError::Config(_))),
            "{bad:?} must be refused"
        );
    }
    assert!(MicroEpsilon::parse("99999999999999999999").is_err());
    for (micros, text) in [
        (3_000_000, "3.0"),
        (250_000, "0.25"),
        (333_333, "0.333333"),
        (1, "0.000001"),
        (0, "0.0"),
    ] {
        let amount = MicroEpsilon::from_micros(micros);
        assert_eq!(amount.to_string(), text);
        assert_eq!(eps(text), amount);
        assert_eq!(
            amount.to_f64().to_string().parse::<f64>().ok(),
            Some(amount.to_f64())
        );
    }
    assert_eq!(MicroEpsilon::from_micros(100_000).to_f64(), 0.1);
}

#[test]
fn budget_config_reads_json_exactly() {
    let config = BudgetConfig::from_json(
        r#"{"epsilon_per_period": "0.3", "period": "week",
            "overrides": {"a.jansen": 2, "b.bakker": 0.1, "c.visser": "1.25"}}"#,
    )
    .expect("valid config");
    assert_eq!(config.epsilon_per_period.micros(), 300_000);
    assert_eq!(config.period, Period::Week);
    assert_eq!(config.limit_for("a.jansen").micros(), 2_000_000);
    assert_eq!(config.limit_for("b.bakker").micros(), 100_000);
    assert_eq!(config.limit_for("c.visser").micros(), 1_250_000);
    assert_eq!(config.limit_for("d.de.vries").micros(), 300_000);

    let default = BudgetConfig::from_json("{}").expect("defaults");
    assert_eq!(default, BudgetConfig::default());
    assert_eq!(default.epsilon_per_period, eps("3.0"));
    assert_eq!(default.period, Period::Month);

    let text = serde_json::to_string(&config).expect("serialise");
    assert!(text.contains(r#""epsilon_per_period":"0.3""#), "{text}");
    assert_eq!(BudgetConfig::from_json(&text).expect("round trip"), config);

    for bad in [
        r#"{"epsilon_per_period": "0.1234567"}"#,
        r#"{"epsilon_per_period": 0.1234567}"#,
        r#"{"epsilon_per_period": -1}"#,
        r#"{"period": "fortnight"}"#,
        r#"{"epsilon": "1.0"}"#,
    ] {
        assert!(
            matches!(BudgetConfig::from_json(bad), Err(BudgetError::Config(_))),
            "{bad} must be refused"
        );
    }
}

#[test]
fn budget_period_keys_are_calendar_periods_in_utc() {
    let t = at(2026, 11, 28);
    assert_eq!(Period::Day.key(t), "2026-11-28");
    assert_eq!(Period::Week.key(t), "2026-W48");
    assert_eq!(Period::Month.key(t), "2026-11");
    assert_eq!(Period::Quarter.key(t), "2026-Q4");
    assert_eq!(Period::Year.key(t), "2026");
    // ISO weeks belong to their week-year.
    assert_eq!(Period::Week.key(at(2027, 1, 1)), "2026-W53");
    assert_eq!(Period::Week.key(at(2024, 12, 30)), "2025-W01");
    assert_eq!(Period::Quarter.key(at(2026, 3, 31)), "2026-Q1");
    assert_eq!(Period::Quarter.key(at(2026, 4, 1)), "2026-Q2");
    // Ends: when the next budget starts.
    let midnight = |y, m, d| {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
            .single()
            .expect("valid date")
    };
    assert_eq!(Period::Day.end(t), midnight(2026, 11, 29));
    assert_eq!(Period::Week.end(t), midnight(2026, 11, 30));
    assert_eq!(Period::Month.end(t), midnight(2026, 12, 1));
    assert_eq!(Period::Quarter.end(t), midnight(2027, 1, 1));
    assert_eq!(Period::Year.end(t), midnight(2027, 1, 1));
    assert_eq!(Period::Week.start(t), midnight(2026, 11, 23));
}

#[test]
fn budget_debit_and_cached_answer_survive_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = BudgetConfig::new(eps("1.0"), Period::Month);
    let now = at(2026, 11, 28);
    {
        let ledger = Ledger::open(dir.path(), config.clone()).expect("open");
        let (charged, left, seq) = debited(
            ledger
                .charge("a.jansen", eps("0.25"), &key(1), "trace-1", now)
                .expect("charge"),
        );
        assert_eq!((charged, left, seq), (eps("0.25"), eps("0.75"), 1));
        ledger
            .store_answer(&key(1), &json!({"count": 1234, "noise_scale": 2.0}))
            .expect("store");
    }
    let ledger = Ledger::open(dir.path(), config).expect("reopen");
    let balance = ledger.balance("a.jansen", now).expect("balance");
    assert_eq!(balance.period, "2026-11");
    assert_eq!(balance.limit, eps("1.0"));
    assert_eq!(balance.spent, eps("0.25"));
    assert_eq!(balance.left, eps("0.75"));

    // The identical plan on the same snapshot: the stored answer, free, for
    // any analyst.
    for analyst in ["a.jansen", "b.bakker"] {
        let charge = ledger
            .charge(analyst, eps("0.5"), &key(1), "trace-2", now)
            .expect("charge");
        assert_eq!(
            charge,
            Charge::Cached {
                answer: json!({"count": 1234, "noise_scale": 2.0})
            }
        );
    }
    assert_eq!(ledger.entries(None).expect("entries").len(), 1);
    assert_eq!(
        ledger.balance("a.jansen", now).expect("balance").spent,
        eps("0.25")
    );

    // A re-worded plan, or the same plan on a new snapshot, pays again; so
    // does one whose answer was never stored (its query failed).
    let (_, left, seq) = debited(
        ledger
            .charge("a.jansen", eps("0.25"), &key(2), "trace-3", now)
            .expect("charge"),
    );
    assert_eq!((left, seq), (eps("0.5"), 2));
    let (_, left, seq) = debited(
        ledger
            .charge(
                "a.jansen",
                eps("0.25"),
                &CacheKey::new("plan-1", "snapshot-2"),
                "trace-4",
                now,
            )
            .expect("charge"),
    );
    assert_eq!((left, seq), (eps("0.25"), 3));
    let (_, left, _) = debited(
        ledger
            .charge("a.jansen", eps("0.25"), &key(2), "trace-5", now)
            .expect("charge"),
    );
    assert_eq!(left, MicroEpsilon::ZERO);

    let lines = ledger_lines(dir.path());
    assert_eq!(lines, ledger.entries(Some("a.jansen")).expect("entries"));
    assert_eq!(lines[0].trace_id, "trace-1");
    assert_eq!(lines[0].plan_fingerprint, "plan-1");
    assert_eq!(lines[0].snapshot, "snapshot-1");
    assert_eq!(lines[0].period, "2026-11");
    assert!(
        ledger
            .entries(Some("b.bakker"))
            .expect("entries")
            .is_empty()
    );
    let raw = std::fs::read_to_string(dir.path().join(LEDGER_FILE)).expect("read");
    assert!(raw.contains(r#""charged":"0.25""#), "{raw}");
}

#[test]
fn budget_exhaustion_is_refused_with_exact_arithmetic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger =
        Ledger::open(dir.path(), BudgetConfig::new(eps("1.0"), Period::Month)).expect("open");
    let now = at(2026, 11, 28);
    for i in 0..3 {
        ledger
            .charge("a.jansen", eps("0.333333"), &key(i), "t", now)
            .expect("a third fits");
    }
    let (_, left, seq) = debited(
        ledger
            .charge("a.jansen", eps("0.000001"), &key(3), "t", now)
            .expect("the last micro fits"),
    );
    assert_eq!((left, seq), (MicroEpsilon::ZERO, 4));
    let refused = ledger.charge("a.jansen", MicroEpsilon::from_micros(1), &key(4), "t", now);
    match refused {
        Err(BudgetError::Exhausted { left, cost }) => {
            assert_eq!(left, MicroEpsilon::ZERO);
            assert_eq!(cost, MicroEpsilon::from_micros(1));
        }
        other => panic!("expected exhaustion, got {other:?}"),
    }
    assert_eq!(
        ledger_lines(dir.path()).len(),
        4,
        "a refusal debits nothing"
    );

    // A cost larger than what is left is refused whole, not partly debited.
    let other = ledger
        .charge("b.bakker", eps("0.6"), &key(5), "t", now)
        .expect("fits");
    assert_eq!(debited(other).1, eps("0.4"));
    let err = ledger
        .charge("b.bakker", eps("0.400001"), &key(6), "t", now)
        .expect_err("over by one micro");
    assert_eq!(
        err.to_string(),
        "privacy budget exhausted: the query costs ε 0.400001, ε 0.4 is left in this period"
    );
    let balance = ledger.balance("b.bakker", now).expect("balance");
    assert_eq!((balance.spent, balance.left), (eps("0.6"), eps("0.4")));
}

#[test]
fn budget_period_rollover_gives_a_fresh_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger =
        Ledger::open(dir.path(), BudgetConfig::new(eps("1.0"), Period::Month)).expect("open");
    let november = Utc
        .with_ymd_and_hms(2026, 11, 30, 23, 59, 59)
        .single()
        .expect("date");
    let december = Utc
        .with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
        .single()
        .expect("date");
    ledger
        .charge("a.jansen", eps("1.0"), &key(1), "t", november)
        .expect("whole budget");
    assert!(matches!(
        ledger.charge("a.jansen", eps("0.1"), &key(2), "t", november),
        Err(BudgetError::Exhausted { .. })
    ));
    let (_, left, _) = debited(
        ledger
            .charge("a.jansen", eps("0.1"), &key(2), "t", december)
            .expect("fresh budget"),
    );
    assert_eq!(left, eps("0.9"));
    let balance = ledger.balance("a.jansen", december).expect("balance");
    assert_eq!(balance.period, "2026-12");
    assert_eq!(balance.spent, eps("0.1"));
    assert_eq!(
        ledger.balance("a.jansen", november).expect("balance").left,
        MicroEpsilon::ZERO
    );
    let periods: Vec<String> = ledger_lines(dir.path())
        .into_iter()
        .map(|e| e.period)
        .collect();
    assert_eq!(periods, ["2026-11", "2026-12"]);
}

#[test]
fn budget_race_between_two_ledgers_never_overspends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cost = eps("0.1");
    let config = BudgetConfig::new(eps("1.0"), Period::Month);
    let now = at(2026, 11, 28);
    let (ledgers, handles) = race(dir.path(), config, cost.into(), now);
    let mut ok = 0;
    let mut seqs = Vec::new();
    for handle in handles {
        match handle.join().expect("thread") {
            Ok(Charge::Debited { seq, .. }) => {
                ok += 1;
                seqs.push(seq);
            }
            Ok(Charge::Cached { .. }) => panic!("nothing was cached"),
            Err(BudgetError::Exhausted { left, .. }) => assert_eq!(left, MicroEpsilon::ZERO),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(ok, 10, "exactly ten charges of 0.1 fit in 1.0");
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=10).collect::<Vec<u64>>());

    let lines = ledger_lines(dir.path());
    assert_eq!(lines.len(), 10);
    let on_file = lines
        .iter()
        .fold(MicroEpsilon::ZERO, |sum, e| sum.saturating_add(e.charged));
    assert_eq!(on_file, eps("1.0"));
    for ledger in &ledgers {
        let balance = ledger.balance("a.jansen", now).expect("balance");
        assert_eq!(balance.spent, on_file);
        assert_eq!(balance.left, MicroEpsilon::ZERO);
        assert_eq!(ledger.entries(None).expect("entries"), lines);
    }
}

/// Set in child processes of [`budget_race_between_processes_never_overspends`].
const CHILD_ENV: &str = "KNOOPPUNT_BUDGET_RACE_DIR";

/// Ten threads charging ε 0.1 each against ε 1.0 on the ledger in `dir`.
fn charge_from_ten_threads(dir: &Path) {
    let ledger =
        Arc::new(Ledger::open(dir, BudgetConfig::new(eps("1.0"), Period::Month)).expect("open"));
    let handles: Vec<_> = (0..10)
        .map(|i| {
            let ledger = Arc::clone(&ledger);
            std::thread::spawn(move || {
                let key = CacheKey::new(format!("plan-{}-{i}", std::process::id()), "s");
                match ledger.charge("a.jansen", eps("0.1"), &key, "t", at(2026, 11, 28)) {
                    Ok(Charge::Debited { .. }) | Err(BudgetError::Exhausted { .. }) => {}
                    other => panic!("unexpected: {other:?}"),
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("thread");
    }
}

/// The child side of the process race; does nothing in a normal test run.
#[test]
fn budget_race_child_process() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        charge_from_ten_threads(Path::new(&dir));
    }
}

#[test]
fn budget_race_between_processes_never_overspends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(&exe)
                .args(["--exact", "budget_race_child_process", "--test-threads=1"])
                .env(CHILD_ENV, dir.path())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn a child")
        })
        .collect();
    charge_from_ten_threads(dir.path());
    for mut child in children {
        assert!(child.wait().expect("wait").success(), "a child failed");
    }
    let lines = ledger_lines(dir.path());
    assert_eq!(
        lines.len(),
        10,
        "50 charges of 0.1 from five processes, 1.0 to spend"
    );
    let seqs: Vec<u64> = lines.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<u64>>());
    let ledger =
        Ledger::open(dir.path(), BudgetConfig::new(eps("1.0"), Period::Month)).expect("reopen");
    let balance = ledger
        .balance("a.jansen", at(2026, 11, 28))
        .expect("balance");
    assert_eq!(
        (balance.spent, balance.left),
        (eps("1.0"), MicroEpsilon::ZERO)
    );
}

#[test]
fn budget_torn_tail_is_moved_aside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = BudgetConfig::new(eps("1.0"), Period::Month);
    let now = at(2026, 11, 28);
    {
        let ledger = Ledger::open(dir.path(), config.clone()).expect("open");
        for i in 0..2 {
            ledger
                .charge("a.jansen", eps("0.25"), &key(i), "t", now)
                .expect("charge");
        }
    }
    let path = dir.path().join(LEDGER_FILE);
    let whole = std::fs::read(&path).expect("read");
    let torn = br#"{"seq":3,"time":"2026-11-28T12:00:00Z","analyst":"a.jan"#;
    let mut damaged = whole.clone();
    damaged.extend_from_slice(torn);
    std::fs::write(&path, &damaged).expect("tear");

    let ledger = Ledger::open(dir.path(), config.clone()).expect("a torn tail still opens");
    assert_eq!(std::fs::read(&path).expect("read"), whole);
    assert_eq!(
        std::fs::read(dir.path().join("torn-1.bin")).expect("moved aside"),
        torn
    );
    assert_eq!(
        ledger.balance("a.jansen", now).expect("balance").spent,
        eps("0.5")
    );
    let (_, _, seq) = debited(
        ledger
            .charge("a.jansen", eps("0.25"), &key(9), "t", now)
            .expect("charge"),
    );
    assert_eq!(seq, 3);

    // A tear left by another process is found by the next charge here.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    std::io::Write::write_all(&mut file, b"{\"seq\":4").expect("tear again");
    drop(file);
    let (_, left, seq) = debited(
        ledger
            .charge("a.jansen", eps("0.25"), &key(10), "t", now)
            .expect("charge"),
    );
    assert_eq!((left, seq), (MicroEpsilon::ZERO, 4));
    assert_eq!(
        std::fs::read(dir.path().join("torn-2.bin")).expect("moved aside"),
        b"{\"seq\":4"
    );
    assert_eq!(ledger_lines(dir.path()).len(), 4);
    drop(ledger);
    let reopened = Ledger::open(dir.path(), config).expect("reopen");
    assert_eq!(reopened.entries(None).expect("entries").len(), 4);
}

#[test]
fn budget_corrupt_middle_line_names_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = BudgetConfig::new(eps("1.0"), Period::Month);
    let now = at(2026, 11, 28);
    {
        let ledger = Ledger::open(dir.path(), config.clone()).expect("open");
        for i in 0..3 {
            ledger
                .charge("a.jansen", eps("0.1"), &key(i), "t", now)
                .expect("charge");
        }
    }
    let path = dir.path().join(LEDGER_FILE);
    let text = std::fs::read_to_string(&path).expect("read");
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1] = "{\"seq\":2,\"garbage\"";
    std::fs::write(&path, lines.join("\n") + "\n").expect("corrupt");
    match Ledger::open(dir.path(), config.clone()) {
        Err(BudgetError::Corrupt { file, line, .. }) => {
            assert_eq!(file, path);
            assert_eq!(line, 2);
        }
        other => panic!("expected corruption, got {other:?}"),
    }

    // A removed line shows as a gap in the sequence.
    let text_lines: Vec<&str> = text.lines().collect();
    std::fs::write(&path, format!("{}\n{}\n", text_lines[0], text_lines[2])).expect("cut");
    let err = Ledger::open(dir.path(), config).expect_err("gap");
    assert!(
        matches!(err, BudgetError::Corrupt { line: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("ledger.jsonl, line 2"), "{err}");
}

#[test]
fn budget_overrides_per_analyst() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = BudgetConfig::new(eps("0.5"), Period::Week)
        .with_override("onderzoeker", eps("2.0"))
        .with_override("geblokkeerd", MicroEpsilon::ZERO);
    let ledger = Ledger::open(dir.path(), config).expect("open");
    let now = at(2026, 11, 28);
    let (_, left, _) = debited(
        ledger
            .charge("onderzoeker", eps("1.5"), &key(1), "t", now)
            .expect("override allows 2.0"),
    );
    assert_eq!(left, eps("0.5"));
    assert!(matches!(
        ledger.charge("gewoon", eps("1.5"), &key(2), "t", now),
        Err(BudgetError::Exhausted { .. })
    ));
    assert!(matches!(
        ledger.charge(
            "geblokkeerd",
            MicroEpsilon::from_micros(1),
            &key(3),
            "t",
            now
        ),
        Err(BudgetError::Exhausted { .. })
    ));
    assert_eq!(
        ledger.analysts().expect("analysts"),
        ["geblokkeerd", "onderzoeker"]
    );
    let balances = ledger.balances(now).expect("balances");
    assert_eq!(balances.len(), 2);
    assert_eq!(balances[1].limit, eps("2.0"));
    assert_eq!(balances[1].spent, eps("1.5"));
    assert_eq!(balances[1].period, "2026-W48");
    assert_eq!(
        ledger.balance("gewoon", now).expect("balance").limit,
        eps("0.5")
    );
}

fn delta(text: &str) -> Delta {
    Delta::parse(text).expect("valid δ")
}

fn cost(epsilon: &str, d: &str) -> Cost {
    Cost {
        epsilon: eps(epsilon),
        delta: delta(d),
    }
}

#[test]
fn budget_delta_amounts_parse_print_and_round_safely() {
    assert_eq!(delta("0.00001").units(), 10_000_000_000_000);
    assert_eq!(delta("1/100000"), delta("0.00001"));
    assert_eq!(delta("0").units(), 0);
    assert_eq!(delta("0.000000000000000001").units(), 1);
    assert_eq!(delta("1").units(), 1_000_000_000_000_000_000);
    // A fraction that 10⁻¹⁸ cannot hold: rounded down as a budget.
    assert_eq!(delta("1/3").units(), 333_333_333_333_333_333);
    let third: knooppunt_privacy::dp::Rational = "1/3".parse().expect("rational");
    // …and up as a cost.
    assert_eq!(
        Delta::at_least(third).map(Delta::units),
        Some(333_333_333_333_333_334)
    );
    assert_eq!(
        Delta::at_most(third).map(Delta::units),
        Some(333_333_333_333_333_333)
    );
    for (units, text) in [
        (0, "0.0"),
        (10_000_000_000_000, "0.00001"),
        (50_000_000_000, "0.00000005"),
        (1, "0.000000000000000001"),
        (1_500_000_000_000_000_000, "1.5"),
    ] {
        assert_eq!(Delta::from_units(units).to_string(), text);
        assert_eq!(delta(text).units(), units);
    }
    for bad in [
        "",
        "-1",
        "1e-5",
        "0.0000000000000000001",
        "abc",
        "1/0",
        "0/5",
        "20",
    ] {
        assert!(Delta::parse(bad).is_err(), "{bad:?} must be refused");
    }

    let config = BudgetConfig::from_json(r#"{"delta_per_period": "1/100000"}"#).expect("config");
    assert_eq!(config.delta_per_period, delta("0.00001"));
    assert_eq!(
        BudgetConfig::from_json(r#"{"delta_per_period": 0.000001}"#)
            .expect("config")
            .delta_per_period,
        delta("0.000001")
    );
    assert_eq!(
        BudgetConfig::default().delta_per_period,
        delta("0.00001"),
        "default 1e-5"
    );
    let text = serde_json::to_string(&config).expect("serialise");
    assert!(text.contains(r#""delta_per_period":"0.00001""#), "{text}");
    assert!(BudgetConfig::from_json(r#"{"delta_per_period": "-0.1"}"#).is_err());
    // Bounds of 0 would release unbounded rows (one-row plan) or nothing.
    for zero in [
        r#"{"query": {"max_groups": 0}}"#,
        r#"{"query": {"max_contribution": 0}}"#,
    ] {
        let err = BudgetConfig::from_json(zero).expect_err(zero);
        assert!(err.to_string().contains("at least 1"), "{err}");
    }
}

#[test]
fn budget_delta_exhaustion_refuses_while_epsilon_is_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger =
        Ledger::open(dir.path(), BudgetConfig::new(eps("10.0"), Period::Month)).expect("open");
    let now = at(2026, 11, 28);
    for i in 0..2 {
        match ledger
            .charge("a.jansen", cost("0.1", "0.000004"), &key(i), "t", now)
            .expect("fits")
        {
            Charge::Debited {
                delta_charged,
                delta_left,
                ..
            } => {
                assert_eq!(delta_charged, delta("0.000004"));
                assert_eq!(
                    delta_left,
                    delta(if i == 0 { "0.000006" } else { "0.000002" })
                );
            }
            other => panic!("expected a debit, got {other:?}"),
        }
    }
    let err = ledger
        .charge("a.jansen", cost("0.1", "0.000004"), &key(2), "t", now)
        .expect_err("δ exhausted");
    match &err {
        BudgetError::DeltaExhausted { left, cost } => {
            assert_eq!((*left, *cost), (delta("0.000002"), delta("0.000004")));
        }
        other => panic!("expected δ exhaustion, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "privacy budget exhausted: the query costs δ 0.000004, δ 0.000002 is left in this period"
    );
    assert_eq!(
        ledger_lines(dir.path()).len(),
        2,
        "a refusal debits nothing"
    );
    // ε was left all along: a query without δ, and one with the last δ, fit.
    ledger
        .charge("a.jansen", eps("0.1"), &key(3), "t", now)
        .expect("pure ε fits");
    ledger
        .charge("a.jansen", cost("0.1", "0.000002"), &key(4), "t", now)
        .expect("the last δ fits");
    assert!(matches!(
        ledger.charge(
            "a.jansen",
            Cost {
                epsilon: eps("0.1"),
                delta: Delta::from_units(1)
            },
            &key(5),
            "t",
            now
        ),
        Err(BudgetError::DeltaExhausted { .. })
    ));
    // ε is checked too, and named when it is the one that is short.
    let err = ledger
        .charge("a.jansen", cost("9.7", "0"), &key(6), "t", now)
        .expect_err("ε exhausted");
    assert!(matches!(err, BudgetError::Exhausted { .. }), "{err:?}");
    assert!(err.to_string().contains("ε 9.7"), "{err}");

    let balance = ledger.balance("a.jansen", now).expect("balance");
    assert_eq!((balance.spent, balance.left), (eps("0.4"), eps("9.6")));
    assert_eq!(
        (balance.delta_limit, balance.delta_spent, balance.delta_left),
        (delta("0.00001"), delta("0.00001"), Delta::ZERO)
    );
    let shown = serde_json::to_value(&balance).expect("json");
    assert_eq!(shown["delta_spent"], "0.00001");
    assert_eq!(shown["delta_left"], "0.0");
    assert_eq!(shown["delta_limit"], "0.00001");
    let on_file: Vec<Delta> = ledger_lines(dir.path())
        .iter()
        .map(|e| e.delta_charged)
        .collect();
    assert_eq!(
        on_file,
        [
            delta("0.000004"),
            delta("0.000004"),
            Delta::ZERO,
            delta("0.000002")
        ]
    );
    // Another analyst, and the next period, have their own δ.
    ledger
        .charge("b.bakker", cost("0.1", "0.00001"), &key(7), "t", now)
        .expect("fresh δ");
    ledger
        .charge(
            "a.jansen",
            cost("0.1", "0.00001"),
            &key(8),
            "t",
            at(2026, 12, 1),
        )
        .expect("next period");
}

#[test]
fn budget_old_lines_without_delta_read_as_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = concat!(
        r#"{"seq":1,"time":"2026-11-28T12:00:00Z","analyst":"a.jansen","period":"2026-11","charged":"0.25","plan_fingerprint":"plan-1","snapshot":"snapshot-1","trace_id":"trace-1"}"#,
        "\n",
        r#"{"seq":2,"time":"2026-11-28T12:00:01Z","analyst":"a.jansen","period":"2026-11","charged":"0.5","plan_fingerprint":"plan-2","snapshot":"snapshot-1","trace_id":"trace-2"}"#,
        "\n",
    );
    std::fs::write(dir.path().join(LEDGER_FILE), old).expect("write an old ledger");
    let config = BudgetConfig::new(eps("1.0"), Period::Month);
    let ledger = Ledger::open(dir.path(), config.clone()).expect("an old ledger opens");
    let now = at(2026, 11, 28);
    let balance = ledger.balance("a.jansen", now).expect("balance");
    assert_eq!(
        (balance.spent, balance.delta_spent),
        (eps("0.75"), Delta::ZERO)
    );
    assert_eq!(balance.delta_left, delta("0.00001"));
    let entries = ledger.entries(None).expect("entries");
    assert!(entries.iter().all(|e| e.delta_charged == Delta::ZERO));
    ledger
        .charge(
            "a.jansen",
            cost("0.25", "0.0000001"),
            &key(3),
            "trace-3",
            now,
        )
        .expect("charge");
    drop(ledger);
    let raw = std::fs::read_to_string(dir.path().join(LEDGER_FILE)).expect("read");
    assert!(raw.starts_with(old), "old lines are kept as they were");
    assert!(raw.contains(r#""delta_charged":"0.0000001""#), "{raw}");
    let reopened = Ledger::open(dir.path(), config).expect("reopen");
    let balance = reopened.balance("a.jansen", now).expect("balance");
    assert_eq!(
        (balance.spent, balance.left),
        (eps("1.0"), MicroEpsilon::ZERO)
    );
    assert_eq!(balance.delta_spent, delta("0.0000001"));
}

#[test]
fn budget_delta_race_between_two_ledgers_never_overspends() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Plenty of ε (ε 0.01 of 10.0 each): only δ (10⁻⁶ of 10⁻⁵ each) binds.
    let config = BudgetConfig::new(eps("10.0"), Period::Month);
    let now = at(2026, 11, 28);
    let (ledgers, handles) = race(dir.path(), config, cost("0.01", "0.000001"), now);
    let mut ok = 0;
    for handle in handles {
        match handle.join().expect("thread") {
            Ok(Charge::Debited { .. }) => ok += 1,
            Ok(Charge::Cached { .. }) => panic!("nothing was cached"),
            Err(BudgetError::DeltaExhausted { left, .. }) => assert_eq!(left, Delta::ZERO),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(ok, 10, "exactly ten charges of δ 10⁻⁶ fit in 10⁻⁵");
    let lines = ledger_lines(dir.path());
    assert_eq!(lines.len(), 10);
    let on_file = lines
        .iter()
        .fold(Delta::ZERO, |sum, e| sum.saturating_add(e.delta_charged));
    assert_eq!(on_file, delta("0.00001"));
    for ledger in &ledgers {
        let balance = ledger.balance("a.jansen", now).expect("balance");
        assert_eq!(balance.delta_spent, on_file);
        assert_eq!(balance.delta_left, Delta::ZERO);
        assert_eq!(balance.left, eps("9.9"));
    }
}

type RaceHandle = std::thread::JoinHandle<Result<Charge, BudgetError>>;

/// Two ledgers on `dir`, as the CLI and the server would have, and 100
/// threads released together, each charging `cost` to `a.jansen` under its
/// own cache key, alternating between the ledgers.
fn race(
    dir: &Path,
    config: BudgetConfig,
    cost: Cost,
    now: DateTime<Utc>,
) -> ([Arc<Ledger>; 2], Vec<RaceHandle>) {
    let ledgers = [
        Arc::new(Ledger::open(dir, config.clone()).expect("open a")),
        Arc::new(Ledger::open(dir, config).expect("open b")),
    ];
    let barrier = Arc::new(Barrier::new(100));
    let handles = (0..100)
        .map(|i| {
            let ledger = Arc::clone(&ledgers[i % 2]);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                ledger.charge("a.jansen", cost, &key(i), &format!("trace-{i}"), now)
            })
        })
        .collect();
    (ledgers, handles)
}

#[test]
fn delta_overrides_grant_one_analyst_more_delta() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = BudgetConfig::from_json(
        r#"{"epsilon_per_period": "10.0", "delta_overrides": {"b.bakker": "0.00002"}}"#,
    )
    .expect("config");
    assert_eq!(config.delta_limit_for("b.bakker"), delta("0.00002"));
    assert_eq!(config.delta_limit_for("a.jansen"), delta("0.00001"));
    let ledger = Ledger::open(dir.path(), config).expect("open");
    let now = at(2026, 11, 28);
    let mut answered = BTreeMap::new();
    for (i, analyst) in ["a.jansen", "b.bakker"].iter().cycle().take(20).enumerate() {
        if ledger
            .charge(analyst, cost("0.1", "0.000004"), &key(i), "t", now)
            .is_ok()
        {
            *answered.entry(*analyst).or_insert(0) += 1;
        }
    }
    assert_eq!(answered["a.jansen"], 2, "{answered:?}");
    assert_eq!(answered["b.bakker"], 5, "{answered:?}");
    let balance = ledger.balance("b.bakker", now).expect("balance");
    assert_eq!(balance.delta_limit, delta("0.00002"));
    assert_eq!(balance.delta_left, Delta::ZERO);
}
