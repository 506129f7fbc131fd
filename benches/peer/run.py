#!/usr/bin/env python3
"""knooppunt against DuckDB on the same files, in the same run.

What it does (see README.md beside this file):

1. Creates benches/peer/.venv and installs the pinned DuckDB 1.5.5 wheels
   (duckdb + the spatial, excel and encodings extensions), then re-runs
   itself inside that venv.
2. Builds knooppunt once: `cargo build --workspace --release`.
3. For each scale: generates exports with `knooppunt synth --seed 1`, then
   for N repetitions, alternating which goes first, times
   - knooppunt: one full `knooppunt ingest --json` into a fresh lake (wall
     time of the process), and every source on its own (a fresh copy of a
     lake that already holds the source's dependencies, and an exports
     directory holding only that source's file);
   - DuckDB: for every source a `COPY (...) TO '...parquet' (FORMAT parquet,
     COMPRESSION zstd)`, in two variants: `raw` (all_varchar, the least
     work DuckDB can do) and `typed` (the contract's types, both date
     formats, decimal commas and thousands dots, normalised postcodes and
     a sha256 of the BSN; no quarantine, no linking).
   Prints medians, rows/s, MB/s and the time ratio knooppunt / DuckDB
   (< 1 means knooppunt is faster), and checks that DuckDB reads the lake.
4. Point-in-polygon: writes N seeded points (Parquet, x/y Float64) with
   the `pip_points` binary, then alternates `pip_points locate` (knooppunt,
   all cores, points already in memory; only the assignment is timed) and
   a DuckDB spatial join (`ST_Contains`, planned as SPATIAL_JOIN; points
   and polygons already materialised in DuckDB memory; only the join is
   timed).
5. Writes everything to benches/peer/results-<timestamp>.json.

Both sides get the same thread count (all cores) and the same memory
bound: DuckDB `memory_limit`, knooppunt an address-space rlimit
(RLIMIT_AS), which is stricter.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = HERE / ".venv"
WORK_DEFAULT = HERE / "work"
DUCKDB_VERSION = "1.5.5"
PINS = [
    f"duckdb=={DUCKDB_VERSION}",
    f"duckdb-extension-spatial=={DUCKDB_VERSION}",
    f"duckdb-extension-excel=={DUCKDB_VERSION}",
    f"duckdb-extension-encodings=={DUCKDB_VERSION}",
]
EXTENSIONS = ["spatial", "excel", "encodings"]

# Source name -> export file, in knooppunt's ingestion order.
SOURCES = {
    "buurten": "buurten.geojson",
    "kerncijfers": "kerncijfers_buurten.csv",
    "bag": "bag_verblijfsobjecten.csv",
    "brp": "brp_inschrijvingen.csv",
    "kvk": "kvk_vestigingen.csv",
    "meldingen": "meldingen.xlsx",
    "energie": "energie_verbruik.csv",
    "vastgoed": "vastgoedtransacties.csv",
    "handhaving": "handhaving_zaken.csv",
}
DEPENDS_ON = {
    "buurten": [],
    "kerncijfers": ["buurten"],
    "bag": ["buurten"],
    "meldingen": ["buurten"],
    "brp": ["buurten", "bag"],
    "kvk": ["buurten", "bag"],
    "energie": ["buurten", "bag"],
    "vastgoed": ["buurten", "bag"],
    "handhaving": ["buurten", "bag"],
}

# The typed DuckDB variant: the contract's output columns and types
# (knooppunt-core's schemas, minus linking and record keys). Kinds:
# str, int, num (decimal comma, optional thousands dots), dec (DECIMAL(15,2)),
# date (dd-mm-yyyy or yyyy-mm-dd), postcode, pseudonym (sha256 of key||bsn).
TYPED = {
    "kerncijfers": [("buurtcode", "str"), ("inwoners", "int"), ("huishoudens", "int"),
                    ("woningen", "int")],
    "bag": [("identificatie", "str"), ("postcode", "postcode"), ("huisnummer", "int"),
            ("huisletter", "str"), ("huisnummertoevoeging", "str"),
            ("openbareruimtenaam", "str"), ("woonplaatsnaam", "str"), ("gebruiksdoel", "str"),
            ("woonfunctie", "woonfunctie"), ("oppervlakte", "int"), ("bouwjaar", "int"),
            ("status", "str"), ("x", "num"), ("y", "num")],
    "brp": [("bsn", "pseudonym"), ("geboortejaar", "int"), ("adresseerbaarobject_id", "str"),
            ("soort_adres", "str"), ("datum_inschrijving", "date"),
            ("datum_uitschrijving", "date")],
    "kvk": [("kvk_nummer", "str"), ("vestigingsnummer", "str"), ("sbi_code", "str"),
            ("rechtsvorm", "str"), ("datum_inschrijving", "date"), ("datum_opheffing", "date"),
            ("postcode", "postcode"), ("huisnummer", "int"), ("huisletter", "str"),
            ("huisnummertoevoeging", "str")],
    "energie": [("adresseerbaarobject_id", "str"), ("jaar", "int"), ("verbruik_kwh", "num"),
                ("aansluitingen", "int")],
    "vastgoed": [("transactie_id", "str"), ("adresseerbaarobject_id", "str"),
                 ("transactiedatum", "date"), ("koopsom", "dec"), ("koper_type", "str"),
                 ("koper_kvk", "str")],
    "handhaving": [("zaak_id", "str"), ("adresseerbaarobject_id", "str"), ("soort", "str"),
                   ("datum_start", "date"), ("datum_einde", "date"), ("uitkomst", "str")],
}


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------
# venv
# --------------------------------------------------------------------------

def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure_venv() -> None:
    """Creates the venv with the pinned wheels and re-executes inside it."""
    if in_venv():
        return
    python = VENV / "bin" / "python"
    if not python.exists():
        log(f"creating {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = ("import duckdb, duckdb_extension_spatial, duckdb_extension_excel, "
             f"duckdb_extension_encodings; assert duckdb.__version__ == '{DUCKDB_VERSION}'")
    if subprocess.run([str(python), "-c", probe], capture_output=True).returncode != 0:
        log("installing " + " ".join(PINS))
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PINS], check=True)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


def extension_path(name: str) -> Path:
    import importlib

    module = importlib.import_module(f"duckdb_extension_{name}")
    base = Path(module.__file__).resolve().parent
    path = base / "extensions" / f"v{DUCKDB_VERSION}" / f"{name}.duckdb_extension"
    if not path.exists():
        found = sorted(base.rglob(f"{name}.duckdb_extension"))
        if not found:
            raise SystemExit(f"extension {name} not found under {base}")
        path = found[0]
    return path


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def run_child(cmd: list[str], mem_bytes: int, timeout: float) -> dict:
    """Runs a child under RLIMIT_AS; returns stdout, wall seconds, peak RSS."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, preexec_fn=limit)
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
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{stderr[-2000:]}")
    return {"stdout": stdout, "seconds": seconds, "max_rss_mb": usage.ru_maxrss / 1024}


def detect_encoding(path: Path) -> str:
    """Like knooppunt: a BOM or valid UTF-8 throughout means UTF-8, else cp1252."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1252"


def link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def sql_str(path: Path | str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


# --------------------------------------------------------------------------
# knooppunt
# --------------------------------------------------------------------------

class Knooppunt:
    def __init__(self, args: argparse.Namespace, work: Path):
        self.args = args
        self.work = work
        target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        self.bin = target / "release" / "knooppunt"
        self.pip_bin = target / "release" / "pip_points"
        self.mem = int(args.memory_limit_gb * 2**30)
        self.key = work / "pseudonym.key"
        if not self.key.exists():
            self.key.write_text(os.urandom(32).hex() + "\n")

    def build(self) -> None:
        if self.args.skip_build:
            log("skipping cargo build (--skip-build)")
        else:
            log("building: cargo build --workspace --release")
            subprocess.run(["cargo", "build", "--workspace", "--release"], cwd=ROOT, check=True)
        for b in (self.bin, self.pip_bin):
            if not b.exists():
                raise SystemExit(f"missing binary {b}")

    def synth(self, scale: float, out: Path) -> None:
        report = out / "synth_report.json"
        if report.exists():
            r = json.loads(report.read_text())
            if r.get("scale") == scale and r.get("seed") == self.args.seed and not r.get("clean"):
                log(f"exports for scale {scale} already in {out}")
                return
        log(f"knooppunt synth --scale {scale} --seed {self.args.seed} --out {out}")
        fresh_dir(out)
        subprocess.run([str(self.bin), "synth", "--out", str(out), "--scale", str(scale),
                        "--seed", str(self.args.seed)], check=True, stderr=subprocess.DEVNULL)

    def ingest(self, exports: Path, lake: Path) -> dict:
        res = run_child([str(self.bin), "ingest", "--exports", str(exports), "--lake", str(lake),
                         "--key-file", str(self.key), "--json"], self.mem, self.args.timeout)
        summary = json.loads(res["stdout"])
        for s in summary["sources"]:
            status = s["status"]["status"]
            if status == "failed":
                raise SystemExit(f"knooppunt ingest failed for {s['source']}: {s['status']}")
        return {"summary": summary, "seconds": res["seconds"], "max_rss_mb": res["max_rss_mb"]}


# --------------------------------------------------------------------------
# DuckDB
# --------------------------------------------------------------------------

def duck_connect(args: argparse.Namespace, work: Path):
    import duckdb

    con = duckdb.connect(":memory:", config={
        "threads": args.threads,
        "memory_limit": f"{args.memory_limit_gb}GB",
        "preserve_insertion_order": False,
        "temp_directory": str(fresh_dir(work / "duckdb-tmp")),
    })
    for ext in EXTENSIONS:
        con.execute(f"LOAD {sql_str(extension_path(ext))}")
    return con


def typed_expr(col: str, kind: str, key_hex: str) -> str:
    c = f"trim({col})"
    num = f"replace(replace({c}, '.', ''), ',', '.')"
    return {
        "str": f"NULLIF({c}, '') AS {col}",
        "int": f"TRY_CAST(replace({c}, '.', '') AS INTEGER) AS {col}",
        "num": f"TRY_CAST({num} AS DOUBLE) AS {col}",
        "dec": f"TRY_CAST({num} AS DECIMAL(15,2)) AS {col}",
        "date": (f"COALESCE(TRY_STRPTIME({c}, '%d-%m-%Y'), TRY_STRPTIME({c}, '%Y-%m-%d'))::DATE"
                 f" AS {col}"),
        "postcode": f"upper(replace({c}, ' ', '')) AS {col}",
        "pseudonym": f"sha256('{key_hex}' || {c}) AS persoon_id",
        "woonfunctie": ("list_contains(string_split(lower(trim(gebruiksdoel)), ','), "
                        "'woonfunctie') AS woonfunctie"),
    }[kind]


def duck_query(source: str, path: Path, encoding: str, variant: str, key_hex: str) -> str:
    if source == "buurten":
        return (f"SELECT * EXCLUDE (geom), ST_Area(geom) AS oppervlakte_m2 "
                f"FROM ST_Read({sql_str(path)})")
    if source == "meldingen":
        if variant == "raw":
            return (f"SELECT * FROM read_xlsx({sql_str(path)}, sheet='Meldingen', "
                    f"all_varchar=true)")
        return (f"SELECT melding_id::VARCHAR AS melding_id, datum, categorie, x, y, lat, lon "
                f"FROM read_xlsx({sql_str(path)}, sheet='Meldingen', ignore_errors=true)")
    reader = (f"read_csv({sql_str(path)}, delim=';', header=true, quote='\"', escape='\"', "
              f"all_varchar=true, normalize_names=true, encoding='{encoding}')")
    if variant == "raw":
        return f"SELECT * FROM {reader}"
    cols = ", ".join(typed_expr(c, k, key_hex) for c, k in TYPED[source])
    return f"SELECT {cols} FROM {reader}"


def duck_copy(con, query: str, out: Path) -> tuple[int, float]:
    started = time.perf_counter()
    rows = con.execute(
        f"COPY ({query}) TO {sql_str(out)} (FORMAT parquet, COMPRESSION zstd)").fetchone()[0]
    return int(rows), time.perf_counter() - started


# --------------------------------------------------------------------------
# ingest comparison
# --------------------------------------------------------------------------

def bench_scale(args, kp: Knooppunt, scale: float, work: Path) -> dict:
    sdir = work / f"scale-{scale:g}"
    exports = sdir / "exports"
    kp.synth(scale, exports)
    present = [s for s, f in SOURCES.items() if (exports / f).exists()]
    sizes = {s: (exports / SOURCES[s]).stat().st_size for s in present}
    encodings = {s: detect_encoding(exports / SOURCES[s]) for s in present
                 if SOURCES[s].endswith(".csv")}
    log(f"scale {scale:g}: {sum(sizes.values()) / 1e6:.1f} MB in {len(present)} files; "
        f"cp1252: {[s for s, e in encodings.items() if e == 'cp1252']}")

    # Per-source exports directories and base lakes holding the dependencies
    # (prepared once, untimed).
    only = {}
    for s in present:
        only[s] = fresh_dir(sdir / "only" / s)
        link_or_copy(exports / SOURCES[s], only[s] / SOURCES[s])
    bases = {}
    for deps in {tuple(DEPENDS_ON[s]) for s in present}:
        name = "-".join(deps) or "empty"
        base = fresh_dir(sdir / "base" / name)
        if deps:
            dep_exports = fresh_dir(sdir / "base-exports" / name)
            for d in deps:
                link_or_copy(exports / SOURCES[d], dep_exports / SOURCES[d])
            kp.ingest(dep_exports, base)
        bases[deps] = base

    key_hex = kp.key.read_text().strip()
    con = duck_connect(args, sdir)
    duck_out = sdir / "duckdb-out"
    runs = []
    for rep in range(args.reps):
        run = {"rep": rep, "knooppunt_first": rep % 2 == 0}

        def knooppunt_side() -> None:
            lake = sdir / "lake"
            shutil.rmtree(lake, ignore_errors=True)
            full = kp.ingest(exports, lake)
            run["kp_full"] = {"seconds": full["seconds"], "max_rss_mb": full["max_rss_mb"],
                              "sources": {x["source"]: x for x in full["summary"]["sources"]}}
            run["kp_iso"] = {}
            for s in present:
                iso_lake = sdir / "iso-lake"
                shutil.rmtree(iso_lake, ignore_errors=True)
                shutil.copytree(bases[tuple(DEPENDS_ON[s])], iso_lake)
                res = kp.ingest(only[s], iso_lake)
                rep_s = next(x for x in res["summary"]["sources"] if x["source"] == s)
                if rep_s["status"]["status"] != "written":
                    raise SystemExit(f"isolated {s}: not written: {rep_s['status']}")
                run["kp_iso"][s] = {"seconds": res["seconds"], "max_rss_mb": res["max_rss_mb"],
                                    "pipeline_seconds": rep_s["seconds"],
                                    "counts": rep_s["counts"]}
            log(f"  rep {rep + 1}: knooppunt full ingest {full['seconds']:.2f} s, isolated sum "
                f"{sum(v['seconds'] for v in run['kp_iso'].values()):.2f} s")

        def duckdb_side() -> None:
            for variant in ("raw", "typed"):
                fresh_dir(duck_out)
                res = {}
                for s in present:
                    q = duck_query(s, exports / SOURCES[s], encodings.get(s, ""), variant,
                                   key_hex)
                    rows, secs = duck_copy(con, q, duck_out / f"{s}.parquet")
                    res[s] = {"rows": rows, "seconds": secs}
                run[f"duck_{variant}"] = res
                log(f"  rep {rep + 1}: duckdb {variant} sum "
                    f"{sum(v['seconds'] for v in res.values()):.2f} s")

        sides = [knooppunt_side, duckdb_side]
        if not run["knooppunt_first"]:
            sides.reverse()
        for side in sides:
            side()
        runs.append(run)

    # The lake is readable by DuckDB.
    manifest = json.loads((sdir / "lake" / "manifest.json").read_text())
    bag_id = manifest["sources"]["bag"]["current"]
    lake_rows = con.execute(
        f"SELECT count(*) FROM read_parquet("
        f"{sql_str(sdir / 'lake' / 'bag' / bag_id / 'part-*.parquet')})").fetchone()[0]
    bag_written = runs[-1]["kp_full"]["sources"]["bag"]["counts"]["rows_written"]
    lake_check = {"duckdb_count": int(lake_rows), "knooppunt_rows_written": bag_written,
                  "equal": int(lake_rows) == bag_written}
    con.close()

    table = []
    for s in present:
        kp_iso = median([r["kp_iso"][s]["seconds"] for r in runs])
        kp_pipe = median([r["kp_iso"][s]["pipeline_seconds"] for r in runs])
        raw = median([r["duck_raw"][s]["seconds"] for r in runs])
        typed = median([r["duck_typed"][s]["seconds"] for r in runs])
        counts = runs[-1]["kp_iso"][s]["counts"]
        rows = counts["rows_read"]
        mb = sizes[s] / 1e6
        table.append({
            "source": s, "rows": rows, "rows_written": counts["rows_written"],
            "quarantined": sum(counts["quarantined"].values()), "unlinked": counts["unlinked"],
            "duck_rows": runs[-1]["duck_raw"][s]["rows"], "mb": mb,
            "encoding": encodings.get(s, "-"),
            "kp_s": kp_iso, "kp_pipeline_s": kp_pipe, "duck_raw_s": raw, "duck_typed_s": typed,
            "kp_rows_per_s": rows / kp_iso, "kp_mb_per_s": mb / kp_iso,
            "duck_raw_rows_per_s": rows / raw, "duck_raw_mb_per_s": mb / raw,
            "ratio_raw": kp_iso / raw, "ratio_typed": kp_iso / typed,
        })
    total_rows = sum(t["rows"] for t in table)
    total_mb = sum(t["mb"] for t in table)
    kp_full = median([r["kp_full"]["seconds"] for r in runs])
    raw_total = median([sum(v["seconds"] for v in r["duck_raw"].values()) for r in runs])
    typed_total = median([sum(v["seconds"] for v in r["duck_typed"].values()) for r in runs])
    total = {
        "rows": total_rows, "mb": total_mb, "kp_full_s": kp_full,
        "kp_iso_sum_s": median([sum(v["seconds"] for v in r["kp_iso"].values()) for r in runs]),
        "duck_raw_s": raw_total, "duck_typed_s": typed_total,
        "kp_rows_per_s": total_rows / kp_full, "kp_mb_per_s": total_mb / kp_full,
        "duck_raw_rows_per_s": total_rows / raw_total, "duck_raw_mb_per_s": total_mb / raw_total,
        "ratio_raw": kp_full / raw_total, "ratio_typed": kp_full / typed_total,
        "kp_full_max_rss_mb": max(r["kp_full"]["max_rss_mb"] for r in runs),
    }
    print_ingest(scale, args.reps, table, total, lake_check)
    return {"scale": scale, "reps": args.reps, "table": table, "total": total,
            "lake_check": lake_check, "runs": runs}


def print_ingest(scale, reps, table, total, lake_check) -> None:
    log("")
    log(f"== ingest, scale {scale:g}: medians of {reps} runs; ratio = time knooppunt / time "
        "DuckDB (< 1: knooppunt faster)")
    hdr = (f"{'source':<11} {'rows':>9} {'MB':>7} {'kp s':>7} {'raw s':>7} {'typed s':>7} "
           f"{'kp rows/s':>10} {'kp MB/s':>8} {'raw MB/s':>8} {'kp/raw':>7} {'kp/typed':>8}")
    log(hdr)
    for t in table:
        flag = "" if t["duck_rows"] == t["rows"] else f"  (DuckDB rows {t['duck_rows']})"
        log(f"{t['source']:<11} {t['rows']:>9} {t['mb']:>7.2f} {t['kp_s']:>7.3f} "
            f"{t['duck_raw_s']:>7.3f} {t['duck_typed_s']:>7.3f} {t['kp_rows_per_s']:>10.0f} "
            f"{t['kp_mb_per_s']:>8.1f} {t['duck_raw_mb_per_s']:>8.1f} {t['ratio_raw']:>7.2f} "
            f"{t['ratio_typed']:>8.2f}{flag}")
    log(f"{'TOTAL':<11} {total['rows']:>9} {total['mb']:>7.2f} {total['kp_full_s']:>7.3f} "
        f"{total['duck_raw_s']:>7.3f} {total['duck_typed_s']:>7.3f} "
        f"{total['kp_rows_per_s']:>10.0f} {total['kp_mb_per_s']:>8.1f} "
        f"{total['duck_raw_mb_per_s']:>8.1f} {total['ratio_raw']:>7.2f} "
        f"{total['ratio_typed']:>8.2f}")
    log(f"(per source: knooppunt alone on that file, process wall time; TOTAL: one full "
        f"`knooppunt ingest` vs the sum of DuckDB's COPYs; isolated knooppunt sum "
        f"{total['kp_iso_sum_s']:.2f} s; knooppunt peak RSS {total['kp_full_max_rss_mb']:.0f} MB)")
    log(f"lake check: DuckDB counts {lake_check['duckdb_count']} bag rows in the lake, "
        f"knooppunt wrote {lake_check['knooppunt_rows_written']}: "
        f"{'OK' if lake_check['equal'] else 'MISMATCH'}")


# --------------------------------------------------------------------------
# point in polygon
# --------------------------------------------------------------------------

def bench_pip(args, kp: Knooppunt, work: Path) -> dict:
    points = work / f"points-{args.pip_points}-seed{args.seed}.parquet"
    buurten = ROOT / "sample-data" / "buurten_almere_2024.geojson"
    log("")
    log(f"writing {args.pip_points} points to {points}")
    subprocess.run([str(kp.pip_bin), "write", "--out", str(points), "--points",
                    str(args.pip_points), "--seed", str(args.seed), "--buurten", str(buurten)],
                   check=True, stdout=subprocess.DEVNULL)

    con = duck_connect(args, work)
    started = time.perf_counter()
    con.execute(f"CREATE TABLE points AS SELECT x, y, ST_Point(x, y) AS geom "
                f"FROM read_parquet({sql_str(points)})")
    con.execute(f"CREATE TABLE buurten AS SELECT buurtcode, geom FROM ST_Read({sql_str(buurten)})")
    load_s = time.perf_counter() - started
    n_buurten = con.execute("SELECT count(*) FROM buurten").fetchone()[0]
    join = ("SELECT count(*) FROM points p JOIN buurten b ON ST_Contains(b.geom, p.geom)")
    join_xy = ("SELECT count(*) FROM points p JOIN buurten b "
               "ON ST_Contains(b.geom, ST_Point(p.x, p.y))")
    plans = {}
    for name, q in (("geom", join), ("xy", join_xy)):
        plan = "\n".join(r[1] for r in con.execute(f"EXPLAIN {q}").fetchall())
        plans[name] = "SPATIAL_JOIN" in plan
    log(f"DuckDB: {n_buurten} buurten, points loaded in {load_s:.1f} s; EXPLAIN shows "
        f"SPATIAL_JOIN: {plans}")

    runs = []
    for rep in range(args.pip_reps):
        run = {}

        def kp_side() -> None:
            res = run_child([str(kp.pip_bin), "locate", "--input", str(points), "--buurten",
                             str(buurten)], kp.mem, args.timeout)
            run["knooppunt"] = json.loads(res["stdout"])
            run["knooppunt"]["max_rss_mb"] = res["max_rss_mb"]

        def duck_side() -> None:
            for name, q in (("duck", join), ("duck_xy", join_xy)):
                started = time.perf_counter()
                matched = con.execute(q).fetchone()[0]
                run[name] = {"seconds": time.perf_counter() - started, "matched": int(matched)}

        sides = [kp_side, duck_side] if rep % 2 == 0 else [duck_side, kp_side]
        for side in sides:
            side()
        log(f"  rep {rep + 1}: knooppunt {run['knooppunt']['seconds']:.3f} s, DuckDB "
            f"{run['duck']['seconds']:.3f} s (with ST_Point in the join "
            f"{run['duck_xy']['seconds']:.3f} s)")
        runs.append(run)
    con.close()

    n = args.pip_points
    kp_s = median([r["knooppunt"]["seconds"] for r in runs])
    duck_s = median([r["duck"]["seconds"] for r in runs])
    duck_xy_s = median([r["duck_xy"]["seconds"] for r in runs])
    res = {
        "points": n, "buurten": int(n_buurten), "explain_spatial_join": plans,
        "kp_s": kp_s, "duck_s": duck_s, "duck_xy_s": duck_xy_s,
        "kp_points_per_s": n / kp_s, "duck_points_per_s": n / duck_s,
        "duck_xy_points_per_s": n / duck_xy_s,
        "speedup": duck_s / kp_s, "speedup_xy": duck_xy_s / kp_s,
        "ratio_time": kp_s / duck_s,
        "kp_matched": runs[-1]["knooppunt"]["matched"], "duck_matched": runs[-1]["duck"]["matched"],
        "kp_threads": runs[-1]["knooppunt"]["threads"], "runs": runs,
    }
    log("")
    log(f"== point in polygon, {n} points, {n_buurten} Almere buurten: medians of "
        f"{args.pip_reps} runs")
    log(f"{'engine':<36} {'seconds':>8} {'points/s':>12} {'matched':>9}")
    log(f"{'knooppunt BuurtIndex::locate':<36} {kp_s:>8.3f} {n / kp_s:>12.0f} "
        f"{res['kp_matched']:>9}")
    log(f"{'DuckDB ST_Contains (geom column)':<36} {duck_s:>8.3f} {n / duck_s:>12.0f} "
        f"{res['duck_matched']:>9}")
    log(f"{'DuckDB ST_Contains (ST_Point(x,y))':<36} {duck_xy_s:>8.3f} {n / duck_xy_s:>12.0f} "
        f"{runs[-1]['duck_xy']['matched']:>9}")
    log(f"knooppunt is {res['speedup']:.2f}x DuckDB (time ratio knooppunt/DuckDB "
        f"{res['ratio_time']:.2f}); matched differ by {res['kp_matched'] - res['duck_matched']}")
    return res


# --------------------------------------------------------------------------
# markdown report of a results file (for BENCHMARKS.md)
# --------------------------------------------------------------------------

def markdown(results: dict) -> str:
    out = []
    m = results["meta"]
    out.append(f"Run {m['started']} – {m.get('finished', '?')}, git `{m['git']}`, "
               f"{m['cpu_count']} × {m['cpu']}, threads {m['threads']}, memory bound "
               f"{m['memory_limit_gb']:g} GB, DuckDB {m['duckdb']}, load average at start "
               f"{m['loadavg_start'][0]:.1f}, at end {m.get('loadavg_end', ['?'])[0]:.1f}.")
    for sc in results["ingest"]:
        out.append("")
        out.append(f"**Ingest, scale {sc['scale']:g}** (medians of {sc['reps']} runs; ratio = "
                   "time knooppunt / time DuckDB, < 1 means knooppunt is faster)")
        out.append("")
        out.append("| source | rows | MB | enc | knooppunt s | DuckDB raw s | DuckDB typed s | "
                   "knooppunt rows/s | knooppunt MB/s | DuckDB raw rows/s | DuckDB raw MB/s | "
                   "ratio vs raw | ratio vs typed |")
        out.append("|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        for t in sc["table"]:
            out.append(f"| {t['source']} | {t['rows']:,} | {t['mb']:.2f} | {t['encoding']} | "
                       f"{t['kp_s']:.3f} | {t['duck_raw_s']:.3f} | {t['duck_typed_s']:.3f} | "
                       f"{t['kp_rows_per_s']:,.0f} | {t['kp_mb_per_s']:.1f} | "
                       f"{t['duck_raw_rows_per_s']:,.0f} | {t['duck_raw_mb_per_s']:.1f} | "
                       f"{t['ratio_raw']:.2f} | {t['ratio_typed']:.2f} |")
        tt = sc["total"]
        out.append(f"| **total** (one full ingest vs sum of COPYs) | {tt['rows']:,} | "
                   f"{tt['mb']:.2f} | | {tt['kp_full_s']:.3f} | {tt['duck_raw_s']:.3f} | "
                   f"{tt['duck_typed_s']:.3f} | {tt['kp_rows_per_s']:,.0f} | "
                   f"{tt['kp_mb_per_s']:.1f} | {tt['duck_raw_rows_per_s']:,.0f} | "
                   f"{tt['duck_raw_mb_per_s']:.1f} | **{tt['ratio_raw']:.2f}** | "
                   f"**{tt['ratio_typed']:.2f}** |")
        out.append("")
        fulls = ", ".join(f"{r['kp_full']['seconds']:.2f}" for r in sc["runs"])
        raws = ", ".join(f"{sum(v['seconds'] for v in r['duck_raw'].values()):.2f}"
                         for r in sc["runs"])
        typeds = ", ".join(f"{sum(v['seconds'] for v in r['duck_typed'].values()):.2f}"
                           for r in sc["runs"])
        lc = sc["lake_check"]
        paired = {}
        for variant in ("raw", "typed"):
            paired[variant] = [r["kp_full"]["seconds"]
                               / sum(v["seconds"] for v in r[f"duck_{variant}"].values())
                               for r in sc["runs"]]
        out.append(f"Every run (s): knooppunt full {fulls}; DuckDB raw {raws}; DuckDB typed "
                   f"{typeds}. Total ratio within each repetition: vs raw "
                   f"{', '.join(f'{x:.2f}' for x in paired['raw'])} (median "
                   f"{median(paired['raw']):.2f}), vs typed "
                   f"{', '.join(f'{x:.2f}' for x in paired['typed'])} (median "
                   f"{median(paired['typed']):.2f}). "
                   f"Sum of the isolated knooppunt runs {tt['kp_iso_sum_s']:.2f} s; "
                   f"knooppunt peak RSS {tt['kp_full_max_rss_mb']:.0f} MB. Lake check: DuckDB "
                   f"counts {lc['duckdb_count']:,} bag rows, knooppunt wrote "
                   f"{lc['knooppunt_rows_written']:,} ({'equal' if lc['equal'] else 'DIFFERENT'}).")
    p = results.get("pip")
    if p:
        out.append("")
        out.append(f"**Point in polygon**, {p['points']:,} points, {p['buurten']} buurten "
                   f"(medians of {len(p['runs'])} runs; EXPLAIN shows SPATIAL_JOIN: "
                   f"{p['explain_spatial_join']['geom']})")
        out.append("")
        out.append("| engine | seconds | points/s | matched | every run (s) |")
        out.append("|---|--:|--:|--:|---|")
        for label, key, matched in (
            (f"knooppunt `BuurtIndex::locate`, rayon, {p['kp_threads']} threads", "knooppunt",
             p["kp_matched"]),
            ("DuckDB `ST_Contains` join, geometry column", "duck", p["duck_matched"]),
            ("DuckDB `ST_Contains` join, `ST_Point(x, y)` in the join", "duck_xy",
             p["runs"][-1]["duck_xy"]["matched"]),
        ):
            secs = median([r[key]["seconds"] for r in p["runs"]])
            every = ", ".join(f"{r[key]['seconds']:.3f}" for r in p["runs"])
            out.append(f"| {label} | {secs:.3f} | {p['points'] / secs:,.0f} | {matched:,} | "
                       f"{every} |")
        out.append("")
        out.append(f"knooppunt / DuckDB: **{p['speedup']:.2f}× faster** (time ratio "
                   f"{p['ratio_time']:.3f}); {p['speedup_xy']:.2f}× against the `ST_Point` "
                   f"variant.")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 10.0])
    ap.add_argument("--reps", type=int, default=3, help="repetitions per scale (ingest)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pip-points", type=int, default=10_000_000)
    ap.add_argument("--pip-reps", type=int, default=3)
    ap.add_argument("--no-pip", action="store_true", help="skip point-in-polygon")
    ap.add_argument("--no-ingest", action="store_true", help="skip the ingest comparison")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--memory-limit-gb", type=float, default=8.0,
                    help="DuckDB memory_limit and knooppunt RLIMIT_AS (default 8)")
    ap.add_argument("--timeout", type=float, default=1800.0,
                    help="seconds after which a knooppunt child is killed")
    ap.add_argument("--work", type=Path, default=WORK_DEFAULT)
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--report", type=Path, metavar="RESULTS_JSON",
                    help="only print a results file as Markdown tables (no venv, no runs)")
    args = ap.parse_args()
    if args.report:
        print(markdown(json.loads(args.report.read_text())))
        return

    ensure_venv()
    import duckdb

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    kp = Knooppunt(args, work)
    kp.build()
    git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                         capture_output=True, text=True).stdout.strip()
    meta = {
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([sys.argv[0], *sys.argv[1:]]),
        "git": git, "cpu_count": os.cpu_count(), "threads": args.threads,
        "memory_limit_gb": args.memory_limit_gb, "platform": platform.platform(),
        "cpu": next((ln.split(":", 1)[1].strip() for ln in
                     Path("/proc/cpuinfo").read_text().splitlines()
                     if ln.startswith("model name")), "?"),
        "duckdb": duckdb.__version__, "profile": "release",
        "loadavg_start": os.getloadavg(),
    }
    log(f"git {git}; {meta['cpu']}; threads {args.threads}; memory bound "
        f"{args.memory_limit_gb} GB; DuckDB {duckdb.__version__}")
    results = {"meta": meta, "ingest": [], "pip": None}
    if not args.no_ingest:
        for scale in args.scales:
            results["ingest"].append(bench_scale(args, kp, scale, work))
    if not args.no_pip:
        results["pip"] = bench_pip(args, kp, work)
    results["meta"]["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    results["meta"]["loadavg_end"] = os.getloadavg()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = HERE / f"results-{stamp}.json"
    out.write_text(json.dumps(results, indent=2))
    log("")
    log(f"results written to {out}")


if __name__ == "__main__":
    main()
