#!/usr/bin/env python3
"""Step-overhead benchmark of Water against physical-limit baselines.

Workloads (the same as the peers benchmark in /work/shared/peers-bench):
  W1  1 execution of 1,000 sequential steps
  W2  500 executions x 5 sequential steps, all started at once (``start_many``)
  W3  1 execution running the step over 2,000 items, ``for_(step, concurrency=50)``
The step is an ``async def`` no-op taking and returning a pydantic ``Num(value: int)``.

Systems:
  water-memory, water-sqlite    Water on ``memory://`` / on a fresh SQLite file
  water-code-memory, water-code-sqlite
                                the same workloads as code-first ``@workflow`` functions
  raw-asyncio                   plain asyncio calls of the same step, no persistence
  raw-sqlite-group256           + the same rows as Water's journal, awaited group commit
  raw-sqlite-batch256           + the same rows, write-behind batches of 256 (no waiting)
  raw-sqlite-commit1            + the same rows, one commit per row
(see raw_baseline.py; the baselines never import Water).

Every (system, workload) cell runs ``--reps`` times, each in a fresh subprocess with
a fresh database, after an untimed warm-up; repetitions are interleaved across the
cells (rep 1 of every cell, then rep 2, ...) so that machine noise spreads evenly.
The median run is reported; ratios compare medians measured in this same run.

Also, in the same run: START (engine.start() latency, p50/p99 of one caller, and
starts/s of 8 callers at once), RSS (peak RSS of a 50,000-item for_), HTTP (wrk
against ``water dev``), Water on PostgreSQL (``water-pg``: $WATER_TEST_PG or
postgresql://postgres@127.0.0.1:5432/postgres, a fresh database per run) and DBOS
3.4 on SQLite and on PostgreSQL (``dbos-sqlite``, ``dbos-pg``: the peers bench's
scripts in the peers' venv). A column that cannot run here is skipped with the reason.

Usage:
  .venv/bin/python bench/bench.py [--quick] [--reps N] [--only W1,W2,W3,START,RSS,HTTP]
                                  [--systems water-sqlite,raw-asyncio,...] [--json out.jsonl]
                                  [--guard bench/guard.json] [--save-guard bench/guard.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for p in (HERE, ROOT):
    if p not in sys.path:
        sys.path.insert(0, p)

import peers  # noqa: E402  (bench/ is on sys.path now)
import report  # noqa: E402
import tables  # noqa: E402

WORKLOADS = ["W1", "W2", "W3", "START", "RSS"]
N = {"W1": 1000, "W2": 500, "W3": 2000, "START": 400, "RSS": 50_000}
UNIT = {"W1": "step", "W2": "step", "W3": "item", "START": "start", "RSS": "item"}
SYSTEMS = [
    "water-memory",
    "water-sqlite",
    "water-pg",
    "water-code-memory",
    "water-code-sqlite",
    "raw-asyncio",
    "raw-sqlite-group256",
    "raw-sqlite-batch256",
    "raw-sqlite-commit1",
    "dbos-sqlite",
    "dbos-pg",
]
STEP_WORKLOADS = ["W1", "W2", "W3"]
# which systems run which workloads (START and RSS: the flows and the group-commit floor)
RUNS = {
    "START": {"water-memory", "water-sqlite", "water-pg", "raw-sqlite-group256"},
    "RSS": {"water-sqlite", "water-pg", "raw-sqlite-group256"},
}
HTTP = "HTTP"  # not a cell: wrk against water dev (see http_load.py)
BASE_ASYNCIO = "raw-asyncio"
BASE_GROUP = "raw-sqlite-group256"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


# --------------------------------------------------------------------------- one run
def run_one(system: str, workload: str, profile: str | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="waterbench-") as tmp:
        if system.startswith("water-"):
            import water_workloads

            out = water_workloads.run(system.split("-", 1)[1], workload, tmp, profile)
        else:
            import raw_baseline

            out = raw_baseline.run(system, workload, os.path.join(tmp, "journal.sqlite"))
        rss = peak_rss_mb()
    seconds, steps = out.pop("seconds"), out.pop("steps")
    line: dict[str, Any] = {
        "system": system,
        "workload": workload,
        "n": N[workload],
        "steps": steps,
        "seconds": round(seconds, 6),
        "us_per_step": round(seconds / steps * 1e6, 3),
        "steps_per_s": round(steps / seconds, 1),
        "peak_rss_mb": round(rss, 1),
    }
    if workload == "W2":
        line["executions_per_s"] = round(N["W2"] / seconds, 1)
    line.update(out)
    return line


def spawn(system: str, workload: str, timeout: float, env: dict[str, str]) -> dict[str, Any]:
    if system.startswith("dbos-"):
        return peers.run_dbos(system, workload, env["python"], env["peers_dir"], timeout)
    cmd = [sys.executable, os.path.abspath(__file__), "--one", system, workload]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return {"system": system, "workload": workload, "error": f"timeout {timeout}s\n{err}"}
    lines = p.stdout.strip().splitlines()
    if p.returncode != 0 or not lines:
        return {
            "system": system,
            "workload": workload,
            "error": f"exit {p.returncode}\n{p.stderr[-4000:]}",
        }
    return dict(json.loads(lines[-1]))


def median_line(runs: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in runs if "error" not in r]
    if not good:
        return dict(runs[-1])
    good.sort(key=lambda r: r["seconds"])
    med = dict(good[len(good) // 2])
    med["runs_seconds"] = [r["seconds"] for r in good]
    med["peak_rss_mb"] = statistics.median(r["peak_rss_mb"] for r in good)
    med["reps"] = len(good)
    if len(good) < len(runs):
        med["failed_runs"] = len(runs) - len(good)
    return med


# --------------------------------------------------------------------------- output
def fmt_num(x: float, digits: int = 3) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.{digits}g}" if x < 1 else f"{x:.2f}"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}x" if x >= 100 else f"{x:.1f}x" if x >= 10 else f"{x:.2f}x"


def results_table(
    meds: dict[tuple[str, str], dict[str, Any]],
    workloads: list[str],
    systems: list[str],
    style: str,
) -> None:
    headers = [
        "workload",
        "system",
        "seconds",
        "us/step",
        "steps/s",
        "vs raw-asyncio",
        "vs raw-sqlite-group",
        "RSS MB",
        "runs (s)",
        "journal",
    ]
    rows = []
    for wl in [w for w in workloads if w in STEP_WORKLOADS]:
        base_a = meds.get((BASE_ASYNCIO, wl))
        base_g = meds.get((BASE_GROUP, wl))
        for system in systems:
            m = meds.get((system, wl))
            if m is None:
                continue
            label = f"{wl} ({N[wl]} {'execs' if wl == 'W2' else UNIT[wl] + 's'})"
            if "error" in m:
                first = m["error"].strip().splitlines()
                rows.append([label, system, "FAILED", first[0] if first else "", *[""] * 6])
                continue
            ra = (m["seconds"] / base_a["seconds"]) if base_a and "error" not in base_a else None
            rg = (m["seconds"] / base_g["seconds"]) if base_g and "error" not in base_g else None
            runs = m.get("runs_seconds", [m["seconds"]])
            journal = ""
            if "db_rows" in m:
                db = m["db_rows"]
                journal = (
                    f"{db['events']} ev + {db['task_results']} res, {m['journal_commits']} commits"
                )
                fb = m.get("commit_fallbacks") or {}
                if fb.get("checked_batches") or fb.get("single_request_txns"):
                    journal += (
                        f" ({fb['checked_batches']} fell back; "
                        f"{fb['single_request_txns']} one-request txns)"
                    )
            elif "journal_commits" in m:
                journal = f"{m['journal_commits']} commits"
            elif "rows" in m:
                journal = f"{m['rows']} rows, {m['commits']} commits"
            rows.append(
                [
                    label,
                    system,
                    f"{m['seconds']:.4f}",
                    fmt_num(m["us_per_step"]),
                    f"{m['steps_per_s']:,.0f}",
                    fmt_ratio(ra),
                    fmt_ratio(rg),
                    f"{m['peak_rss_mb']:.0f}",
                    f"{min(runs):.4f}-{max(runs):.4f}" if len(runs) > 1 else f"{runs[0]:.4f}",
                    journal,
                ]
            )
    tables.render(
        "Step overhead (medians; ratios = seconds / baseline seconds, same run)",
        headers,
        rows,
        style,
        left=2,
    )


def code_first_table(
    meds: dict[tuple[str, str], dict[str, Any]],
    workloads: list[str],
    systems: list[str],
    style: str,
) -> None:
    """Each code-first row next to the flow row on the same storage: seconds / seconds."""
    rows = []
    for wl in [w for w in workloads if w in STEP_WORKLOADS]:
        for system in systems:
            storage = system.removeprefix("water-code-")
            if storage == system:
                continue
            code, flow = meds.get((system, wl)), meds.get((f"water-{storage}", wl))
            if code is None or flow is None or "error" in code or "error" in flow:
                continue
            rows.append(
                [
                    wl,
                    storage,
                    f"{flow['us_per_step']:,.0f}",
                    f"{code['us_per_step']:,.0f}",
                    fmt_ratio(code["seconds"] / flow["seconds"]),
                ]
            )
    if rows:
        tables.render(
            "Code-first workflows vs flows (medians, same run)",
            ["workload", "storage", "flow us/step", "code-first us/step", "code-first / flow"],
            rows,
            style,
            left=2,
        )


# --------------------------------------------------------------------------- main
def supports(system: str, workload: str) -> bool:
    if workload in RUNS:
        return system in RUNS[workload]
    return True


def run_http(
    stores: list[str], reps: int, duration: int, timeout: float
) -> dict[str, dict[str, Any]]:
    """Median (by requests/s) of ``reps`` fresh servers per store."""
    import http_load

    http_load.DURATION = duration
    out: dict[str, dict[str, Any]] = {}
    for store in stores:
        results: list[dict[str, Any]] = []
        for rep in range(reps):
            fresh = None
            try:
                if store == "pg":
                    import water_workloads

                    fresh = water_workloads.FreshDatabase(peers.pg_url())
                result = http_load.run(store, fresh.url if fresh else None)
            except Exception as exc:
                result = {"error": f"{type(exc).__name__}: {exc}"}
            finally:
                if fresh is not None:
                    fresh.drop()
            results.append(result)
            status = result.get("error") or (
                f"{result['requests_per_s']:,.0f} req/s, p99 {result['p99_ms']:.0f} ms"
            )
            print(f"[http] rep {rep + 1} {store}: {status}", file=sys.stderr, flush=True)
        good = sorted((r for r in results if "error" not in r), key=lambda r: r["requests_per_s"])
        if not good:
            out[store] = results[-1]
            continue
        med = dict(good[len(good) // 2])
        med["runs_rps"] = [r["requests_per_s"] for r in good]
        out[store] = med
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--reps", type=int, default=None, help="runs per cell (default 3; --quick 1)")
    ap.add_argument("--quick", action="store_true", help="1 run per cell, 5 s of HTTP load")
    ap.add_argument(
        "--only",
        default=",".join([*WORKLOADS, HTTP]),
        help=f"workloads, e.g. W1,W3 (of {','.join([*WORKLOADS, HTTP])})",
    )
    ap.add_argument("--systems", default=None, help=f"comma list of {','.join(SYSTEMS)}")
    ap.add_argument("--json", metavar="OUT", help="append one JSON line per cell (median)")
    ap.add_argument("--format", choices=["rich", "plain", "markdown"], default="rich")
    ap.add_argument("--peers-dir", default=peers.PEERS_DIR, help="the peers bench's scripts")
    ap.add_argument("--peers-venv", default=None, help="the peers' venv (DBOS installed)")
    ap.add_argument("--http-seconds", type=int, default=None, help="wrk duration (default 10)")
    ap.add_argument(
        "--guard",
        metavar="FILE",
        help="fail (exit 3) if a ratio to the floor "
        "is worse than --tolerance x the one saved in FILE",
    )
    ap.add_argument("--tolerance", type=float, default=1.5, help="for --guard (default 1.5)")
    ap.add_argument("--save-guard", metavar="FILE", help="save this run's ratios for --guard")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per subprocess")
    ap.add_argument("--one", nargs=2, metavar=("SYSTEM", "WORKLOAD"), help=argparse.SUPPRESS)
    ap.add_argument("--profile", metavar="OUT.pstat", help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.one:
        print(json.dumps(run_one(a.one[0], a.one[1], a.profile)), flush=True)
        return 0

    workloads = [w.strip().upper() for w in a.only.split(",") if w.strip()]
    bad = [w for w in workloads if w not in [*WORKLOADS, HTTP]]
    if bad:
        ap.error(f"unknown workload(s) {bad}; choose from {[*WORKLOADS, HTTP]}")
    if a.systems:
        systems = [s.strip() for s in a.systems.split(",") if s.strip()]
        bad = [s for s in systems if s not in SYSTEMS]
        if bad:
            ap.error(f"unknown system(s) {bad}; choose from {SYSTEMS}")
    else:
        systems = list(SYSTEMS)
    reps = a.reps if a.reps is not None else (1 if a.quick else 3)

    skipped: dict[str, str] = {}
    if any(s in systems for s in ("water-pg", "dbos-pg")):
        reason = peers.pg_missing(peers.pg_url())
        if reason:
            skipped.update({s: reason for s in ("water-pg", "dbos-pg") if s in systems})
    python = peers.find_venv(a.peers_venv)
    if any(s.startswith("dbos-") for s in systems):
        reason = peers.dbos_missing(python, a.peers_dir)
        if reason:
            skipped.update({s: reason for s in systems if s.startswith("dbos-")})
    for system, reason in skipped.items():
        print(f"skipping {system}: {reason}", file=sys.stderr)
    systems = [s for s in systems if s not in skipped]
    env = {"python": python or "", "peers_dir": a.peers_dir}

    cells = [
        (s, w)
        for w in workloads
        if w != HTTP
        for s in systems
        if supports(s, w) and not (s.startswith("dbos-") and w not in STEP_WORKLOADS)
    ]
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {c: [] for c in cells}
    started = time.perf_counter()
    total = len(cells) * reps
    done = 0
    for rep in range(reps):
        for system, wl in cells:
            line = spawn(system, wl, a.timeout, env)
            done += 1
            runs[(system, wl)].append(line)
            status = (
                f"ERROR {line['error'].splitlines()[0]}"
                if "error" in line
                else f"{line['seconds']:.4f} s"
            )
            print(
                f"[{done}/{total}] rep {rep + 1} {wl} {system}: {status}",
                file=sys.stderr,
                flush=True,
            )
    meds = {c: median_line(r) for c, r in runs.items()}

    http: dict[str, dict[str, Any]] = {}
    http_skipped: str | None = None
    if HTTP in workloads:
        import http_load

        http_skipped = http_load.wrk_missing()
        stores = [report.STORE_OF[s] for s in ("water-sqlite", "water-pg") if s in systems]
        if http_skipped is None and stores:
            seconds = a.http_seconds or (5 if a.quick else 10)
            http = run_http(stores, reps, seconds, a.timeout)
    elapsed = time.perf_counter() - started

    print(
        f"\nWater bench: reps={reps}, {len(cells)} cells, {elapsed:.0f} s wall, "
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f} at the end"
    )
    for system, reason in skipped.items():
        print(f"skipped {system}: {reason}")
    results_table(meds, workloads, systems, a.format)
    code_first_table(meds, workloads, systems, a.format)
    report.dbos_table(meds, workloads, a.format)
    report.starts_table(meds, systems, a.format)
    report.rss_table(meds, systems, a.format)
    if HTTP in workloads:
        report.http_table(http, http_skipped, a.format)
    report.targets_table(meds, http, a.format)

    failures = [m for m in meds.values() if "error" in m]
    failures += [
        {"system": f"http-{k}", "workload": HTTP, **v} for k, v in http.items() if "error" in v
    ]
    for m in failures:
        print(f"\nFAILED {m['system']} {m['workload']}:\n{m['error']}", file=sys.stderr)
    if a.json:
        with open(a.json, "a") as f:
            for c in cells:
                f.write(json.dumps(meds[c]) + "\n")
            for store, m in http.items():
                f.write(json.dumps({"system": f"water-{store}", "workload": HTTP, **m}) + "\n")
    if a.save_guard:
        note = f"bench.py ratios to {report.FLOOR}, reps={reps}, {time.strftime('%Y-%m-%d')}"
        report.save_guard(meds, a.save_guard, note)
    if a.guard:
        worse = report.check_guard(meds, a.guard, a.tolerance)
        if worse:
            print("\nREGRESSION (ratios to the raw floor worse than saved):", *worse, sep="\n  ")
            return 3
        print(f"\nguard: every ratio within {a.tolerance:g}x of {a.guard}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
