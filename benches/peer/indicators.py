#!/usr/bin/env python3
"""Indicators: knooppunt against DuckDB, same SQL, same Parquet, same run.

What it does (see README.md beside this file):

1. Creates benches/peer/.venv with the pinned DuckDB 1.5.5 wheels (shared
   with run.py) and re-runs itself inside it.
2. Builds knooppunt once (`cargo build --workspace --release`; `--skip-build`
   reuses `$CARGO_TARGET_DIR/release`).
3. For each scale: generates exports (`knooppunt synth --seed 1`) and
   ingests them into a lake, unless both are already there.
4. Times, alternating which goes first, N repetitions each:
   - knooppunt: `knooppunt indicators --lake L --peildatum P --format
     parquet --out F` (the twelve indicators of queries/, every buurt, wijk
     and gemeente), as a process: start-up, manifest, planning, execution
     and writing the result;
   - DuckDB: a child Python process that opens DuckDB, registers every
     source as a view over the *same Parquet files* the manifest names,
     creates the same derived views from queries/views/ and runs the same
     twelve indicator files from queries/ (placeholders rendered exactly as
     knooppunt renders them), fetching every result;
   - knooppunt signals (indicators at P and a year earlier, plus the
     signal computation) on its own, for reference (DuckDB has no
     equivalent).
   Peak RSS of each process comes from wait4(). Both engines get the same
   threads and memory budget (knooppunt --memory-limit, DuckDB
   memory_limit); neither runs under an rlimit.
5. Checks that DuckDB's numbers equal knooppunt's, cell by cell.
6. Writes benches/peer/results-indicators-<timestamp>.json and prints a
   Markdown table with medians and ratios (time knooppunt / time DuckDB; < 1
   means knooppunt is faster).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = HERE / ".venv"
DUCKDB_VERSION = "1.5.5"
PINS = [f"duckdb=={DUCKDB_VERSION}"]
VIEWS = ["gebieden", "adressen", "actuele_inschrijvingen", "inwoners", "actieve_vestigingen"]
PEILDATUM = "2026-09-30"  # the generator's peildatum


def log(msg: str) -> None:
    print(msg, flush=True)


def ensure_venv() -> None:
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    python = VENV / "bin" / "python"
    if not python.exists():
        log(f"creating {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = f"import duckdb; assert duckdb.__version__ == '{DUCKDB_VERSION}'"
    if subprocess.run([str(python), "-c", probe], capture_output=True).returncode != 0:
        log("installing " + " ".join(PINS))
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PINS], check=True)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


def window_start(peildatum: str) -> str:
    """peildatum minus 12 months, the day clamped to the month's end (as chrono)."""
    d = dt.date.fromisoformat(peildatum)
    y = d.year - 1
    day = d.day
    while True:
        try:
            return dt.date(y, d.month, day).isoformat()
        except ValueError:
            day -= 1


def render(text: str, peildatum: str) -> str:
    return (text.replace("{{peildatum}}", f"DATE '{peildatum}'")
            .replace("{{window_start}}", f"DATE '{window_start(peildatum)}'"))


def run_timed(cmd: list[str], timeout: float) -> dict:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            raise SystemExit(f"timeout after {timeout}s: {' '.join(cmd)}")
        time.sleep(0.005)
    seconds = time.perf_counter() - started
    stdout = proc.stdout.read().decode("utf-8", "replace") if proc.stdout else ""
    stderr = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"failed ({code}): {' '.join(cmd)}\n{stderr[-3000:]}")
    return {"stdout": stdout, "seconds": seconds, "max_rss_mb": usage.ru_maxrss / 1024}


# --------------------------------------------------------------------------
# DuckDB child: `indicators.py --duck-child LAKE PEILDATUM OUT THREADS MEM_GB`
# --------------------------------------------------------------------------

def duck_child(lake: Path, peildatum: str, out: Path, threads: int, mem_gb: float) -> None:
    import duckdb

    started = time.perf_counter()
    manifest = json.loads((lake / "manifest.json").read_text())
    con = duckdb.connect(":memory:", config={
        "threads": threads,
        "memory_limit": f"{mem_gb}GB",
        "preserve_insertion_order": False,
        "temp_directory": str(out.parent / "duckdb-tmp"),
    })
    for name, entry in manifest["sources"].items():
        snap = next(s for s in entry["snapshots"] if s["id"] == entry["current"])
        files = [str(lake / name / snap["id"] / f) for f in snap["files"] if f.endswith(".parquet")]
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({files!r})")
    for view in VIEWS:
        con.execute(render((ROOT / "queries" / "views" / f"{view}.sql").read_text(), peildatum))
    rows = []
    per_query = {}
    for path in sorted((ROOT / "queries").glob("i[0-9][0-9]_*.sql")):
        t = time.perf_counter()
        result = con.execute(render(path.read_text(), peildatum)).fetchall()
        per_query[path.name[:3].upper()] = time.perf_counter() - t
        ind = path.name[:3].upper()
        rows.extend([ind, *r] for r in result)
    seconds = time.perf_counter() - started
    out.write_text(json.dumps(rows, default=str))
    print(json.dumps({"seconds_inside": seconds, "per_query": per_query}))


# --------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------

def knooppunt_rows(path: Path) -> list:
    import duckdb

    con = duckdb.connect(":memory:")
    return con.execute(
        "SELECT indicator, level, code, wijkcode, gemeentecode, numerator, denominator, "
        f"numerator_support, denominator_support FROM read_parquet('{path}')").fetchall()


def compare(kp_out: Path, duck_out: Path) -> dict:
    kp = {(r[0], r[1], r[2]): tuple(int(x) for x in r[5:9]) for r in knooppunt_rows(kp_out)}
    duck = {}
    for r in json.loads(duck_out.read_text()):
        ind, level, code, _wijk, _gem, num, den, ns, ds = r[:9]
        duck[(ind, level, code)] = (int(num), int(den), int(ns), int(ds))
    # An indicator file returns only the areas holding records; knooppunt
    # adds zero rows for the other areas of the buurten table.
    zero = (0, 0, 0, 0)
    diffs = [k for k in set(kp) | set(duck) if kp.get(k, zero) != duck.get(k, zero)]
    return {"cells": len(kp), "duckdb_cells": len(duck), "differences": len(diffs),
            "first_differences": [list(k) for k in sorted(diffs)[:5]]}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--duck-child":
        ensure_venv()
        _, _, lake, peil, out, threads, mem = sys.argv
        duck_child(Path(lake), peil, Path(out), int(threads), float(mem))
        return

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 10.0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--memory-limit-gb", type=float, default=8.0)
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--bin", type=Path, help="the knooppunt binary to time (default: "
                    "$CARGO_TARGET_DIR/release/knooppunt); implies --skip-build")
    ap.add_argument("--no-signals", action="store_true", help="do not time knooppunt signals")
    ap.add_argument("--work", type=Path, default=HERE / "work")
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args()
    ensure_venv()

    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = args.bin or target / "release" / "knooppunt"
    if not args.skip_build and not args.bin:
        log("building: cargo build --workspace --release")
        subprocess.run(["cargo", "build", "--workspace", "--release"], cwd=ROOT, check=True)
    if not binary.exists():
        raise SystemExit(f"missing binary {binary}")
    key = args.work / "pseudonym.key"
    args.work.mkdir(parents=True, exist_ok=True)
    if not key.exists():
        key.write_text(os.urandom(32).hex() + "\n")

    results = {
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "git": subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(), "threads": args.threads, "memory_limit_gb": args.memory_limit_gb,
        "duckdb": DUCKDB_VERSION, "peildatum": PEILDATUM, "binary": str(binary),
        "load_at_start": os.getloadavg()[0], "scales": {},
    }
    mem = f"{int(args.memory_limit_gb * 1024)}MiB"
    for scale in args.scales:
        base = args.work / f"scale-{scale:g}"
        exports, lake = base / "exports", base / "lake-indicators"
        report = exports / "synth_report.json"
        if not (report.exists() and json.loads(report.read_text()).get("scale") == scale):
            log(f"knooppunt synth --scale {scale:g}")
            subprocess.run([str(binary), "synth", "--out", str(exports), "--scale", str(scale),
                            "--seed", str(args.seed)], check=True, stderr=subprocess.DEVNULL)
        if not (lake / "manifest.json").exists():
            log(f"knooppunt ingest (scale {scale:g})")
            run_timed([str(binary), "ingest", "--exports", str(exports), "--lake", str(lake),
                       "--key-file", str(key), "--json"], args.timeout)
        lake_mb = sum(p.stat().st_size for p in lake.rglob("*.parquet")) / 1e6
        kp_out, duck_out = base / "knooppunt-indicators.parquet", base / "duckdb-indicators.json"
        kp_cmd = [str(binary), "indicators", "--lake", str(lake), "--peildatum", PEILDATUM,
                  "--format", "parquet", "--out", str(kp_out), "--memory-limit", mem]
        duck_cmd = [sys.executable, str(Path(__file__).resolve()), "--duck-child", str(lake),
                    PEILDATUM, str(duck_out), str(args.threads), str(args.memory_limit_gb)]
        sig_cmd = [str(binary), "signals", "--lake", str(lake), "--peildatum", PEILDATUM,
                   "--format", "parquet", "--out", str(base / "knooppunt-signals.parquet"),
                   "--memory-limit", mem]
        kp, duck, sig = [], [], []
        for rep in range(args.reps):
            order = [("knooppunt", kp_cmd, kp), ("duckdb", duck_cmd, duck)]
            if rep % 2:
                order.reverse()
            for name, cmd, into in order:
                r = run_timed(cmd, args.timeout)
                if name == "duckdb":
                    r["inside"] = json.loads(r["stdout"])
                r.pop("stdout")
                into.append(r)
                log(f"scale {scale:g} rep {rep + 1} {name}: {r['seconds']:.2f} s, "
                    f"peak RSS {r['max_rss_mb']:.0f} MB")
            if not args.no_signals:
                r = run_timed(sig_cmd, args.timeout)
                r.pop("stdout")
                sig.append(r)
                log(f"scale {scale:g} rep {rep + 1} knooppunt signals: {r['seconds']:.2f} s")
        check = compare(kp_out, duck_out)
        med = lambda xs, k: statistics.median(x[k] for x in xs) if xs else float("nan")  # noqa: E731
        entry = {
            "lake_parquet_mb": lake_mb,
            "knooppunt": kp, "duckdb": duck, "signals": sig, "check": check,
            "knooppunt_median_s": med(kp, "seconds"), "duckdb_median_s": med(duck, "seconds"),
            "duckdb_inside_median_s": statistics.median(d["inside"]["seconds_inside"] for d in duck),
            "knooppunt_peak_rss_mb": max(x["max_rss_mb"] for x in kp),
            "duckdb_peak_rss_mb": max(x["max_rss_mb"] for x in duck),
            "signals_median_s": med(sig, "seconds"),
            "signals_peak_rss_mb": max((x["max_rss_mb"] for x in sig), default=float("nan")),
            "ratios": [k["seconds"] / d["seconds"] for k, d in zip(kp, duck)],
        }
        entry["ratio_median"] = entry["knooppunt_median_s"] / entry["duckdb_median_s"]
        results["scales"][f"{scale:g}"] = entry
        log(f"scale {scale:g}: ratio {entry['ratio_median']:.2f}, check {check}")
    results["load_at_end"] = os.getloadavg()[0]
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = HERE / f"results-indicators-{stamp}.json"
    out.write_text(json.dumps(results, indent=2))
    log(f"\nwrote {out}\n")
    log(markdown(results))


def markdown(results: dict) -> str:
    lines = [
        f"Run {results['started']}, git `{results['git']}`, {results['cores']} × {results['cpu']}, "
        f"binary `{results.get('binary', '')}`, threads {results['threads']}, memory budget {results['memory_limit_gb']:g} GB, "
        f"DuckDB {results['duckdb']}, load average at start {results['load_at_start']:.1f}, "
        f"at end {results.get('load_at_end', float('nan')):.1f}.",
        "",
        "| scale | lake MB | cells | knooppunt s | DuckDB s (process) | DuckDB s (inside) | "
        "ratio (median) | per-rep ratios | knooppunt peak RSS MB | DuckDB peak RSS MB | "
        "knooppunt signals s | signals peak RSS MB | same numbers |",
        "|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|---|",
    ]
    for scale, e in results["scales"].items():
        same = "yes" if e["check"]["differences"] == 0 and e["check"]["cells"] else \
            f"NO ({e['check']['differences']})"
        lines.append(
            f"| {scale} | {e['lake_parquet_mb']:.0f} | {e['check']['cells']:,} | "
            f"{e['knooppunt_median_s']:.2f} | {e['duckdb_median_s']:.2f} | "
            f"{e['duckdb_inside_median_s']:.2f} | {e['ratio_median']:.2f} | "
            f"{', '.join(f'{r:.2f}' for r in e['ratios'])} | {e['knooppunt_peak_rss_mb']:.0f} | "
            f"{e['duckdb_peak_rss_mb']:.0f} | {e['signals_median_s']:.2f} | "
            f"{e['signals_peak_rss_mb']:.0f} | {same} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
