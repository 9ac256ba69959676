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

Usage:
  .venv/bin/python bench/bench.py [--quick] [--reps N] [--only W1,W2,W3]
                                  [--systems water-sqlite,raw-asyncio,...] [--json out.jsonl]
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

import tables  # noqa: E402  (bench/ is on sys.path now)

WORKLOADS = ["W1", "W2", "W3", "START", "RSS"]
N = {"W1": 1000, "W2": 500, "W3": 2000, "START": 400, "RSS": 50_000}
UNIT = {"W1": "step", "W2": "step", "W3": "item", "START": "start", "RSS": "item"}
SYSTEMS = [
    "water-memory",
    "water-sqlite",
    "water-code-memory",
    "water-code-sqlite",
    "raw-asyncio",
    "raw-sqlite-group256",
    "raw-sqlite-batch256",
    "raw-sqlite-commit1",
]
BASE_ASYNCIO = "raw-asyncio"
BASE_GROUP = "raw-sqlite-group256"

# The targets for Water on SQLite.
TARGETS = {
    "W1": ("<= 150 us/step", lambda r: r["us_per_step"] <= 150),
    "W2": (">= 10,000 steps/s", lambda r: r["steps_per_s"] >= 10_000),
    "W3": ("<= 100 us/item", lambda r: r["us_per_step"] <= 100),
}

PEERS_DIR = "/work/shared/peers-bench/results-2026-11-22"
# DBOS 3.4 on SQLite, medians of 3 (peers-bench results-2026-11-22/dbos.jsonl); used
# when that directory is not there. (system, workload, mode): (seconds, us/step, steps/s)
DBOS_FALLBACK = {
    ("dbos-default", "W1", "async"): (2.993631, 2993.631, 334.0),
    ("dbos-default", "W2", "async"): (11.320006, 4528.003, 220.8),
    ("dbos-default", "W3", "gather"): (6.516979, 3258.49, 306.9),
    ("dbos-default", "W3", "queue"): (30.004347, 15002.173, 66.7),
    ("dbos-wal", "W1", "async"): (1.828886, 1828.886, 546.8),
    ("dbos-wal", "W2", "async"): (7.838671, 3135.468, 318.9),
    ("dbos-wal", "W3", "gather"): (4.85476, 2427.38, 412.0),
    ("dbos-wal", "W3", "queue"): (22.354883, 11177.442, 89.5),
}
DBOS_MODES = {"W1": ["async"], "W2": ["async"], "W3": ["gather", "queue"]}


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


def spawn(system: str, workload: str, timeout: float) -> dict[str, Any]:
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


# --------------------------------------------------------------------------- peers
def load_dbos(peers_dir: str) -> dict[tuple[str, str, str], tuple[float, float, float]]:
    path = os.path.join(peers_dir, "dbos.jsonl")
    if not os.path.exists(path):
        return dict(DBOS_FALLBACK)
    out = {}
    with open(path) as f:
        for raw in f:
            if raw.strip():
                d = json.loads(raw)
                key = (d["system"], d["workload"], d.get("mode", ""))
                out[key] = (d["seconds"], d["us_per_step"], d["steps_per_s"])
    return out


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
    for wl in workloads:
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
    for wl in workloads:
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


def targets_table(
    meds: dict[tuple[str, str], dict[str, Any]],
    workloads: list[str],
    dbos: dict[tuple[str, str, str], tuple[float, float, float]],
    style: str,
) -> None:
    headers = [
        "workload",
        "target (water-sqlite)",
        "measured",
        "met?",
        "DBOS default (rollback journal)",
        "DBOS wal",
        "water vs DBOS wal",
    ]
    rows = []
    for wl in workloads:
        m = meds.get(("water-sqlite", wl))
        text, ok = TARGETS[wl]
        if m is None:
            continue
        failed = "error" in m
        if wl == "W2":
            measured = "FAILED" if failed else f"{m['steps_per_s']:,.0f} steps/s"
        else:
            measured = "FAILED" if failed else f"{m['us_per_step']:.1f} us/{UNIT[wl]}"
        met = "no" if failed else ("YES" if ok(m) else "no")
        cells = []
        speedups = []
        for system in ("dbos-default", "dbos-wal"):
            parts = []
            for mode in DBOS_MODES[wl]:
                d = dbos.get((system, wl, mode))
                if d is None:
                    continue
                value = f"{d[2]:,.0f} steps/s" if wl == "W2" else f"{d[1]:,.0f} us/{UNIT[wl]}"
                parts.append(f"{value} ({mode})" if len(DBOS_MODES[wl]) > 1 else value)
                if system == "dbos-wal" and not failed:
                    speedups.append(
                        f"{d[0] / m['seconds']:,.0f}x faster ({mode})"
                        if len(DBOS_MODES[wl]) > 1
                        else f"{d[0] / m['seconds']:,.0f}x faster"
                    )
            cells.append("; ".join(parts) or "-")
        rows.append([wl, text, measured, met, *cells, "; ".join(speedups) or "-"])
    tables.render(
        "Targets (Water on SQLite) and DBOS 3.4 on SQLite (peers bench, 2026-11-22)",
        headers,
        rows,
        style,
        left=2,
    )


# --------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--reps", type=int, default=None, help="runs per cell (default 3; --quick 1)")
    ap.add_argument("--quick", action="store_true", help="1 run per cell (same sizes)")
    ap.add_argument("--only", default=",".join(WORKLOADS), help="workloads, e.g. W1,W3")
    ap.add_argument("--systems", default=None, help=f"comma list of {','.join(SYSTEMS)}")
    ap.add_argument("--json", metavar="OUT", help="append one JSON line per cell (median)")
    ap.add_argument("--format", choices=["rich", "plain", "markdown"], default="rich")
    ap.add_argument("--peers-dir", default=PEERS_DIR, help="peers-bench results (DBOS numbers)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per subprocess")
    ap.add_argument("--one", nargs=2, metavar=("SYSTEM", "WORKLOAD"), help=argparse.SUPPRESS)
    ap.add_argument("--profile", metavar="OUT.pstat", help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.one:
        print(json.dumps(run_one(a.one[0], a.one[1], a.profile)), flush=True)
        return 0

    workloads = [w.strip().upper() for w in a.only.split(",") if w.strip()]
    bad = [w for w in workloads if w not in WORKLOADS]
    if bad:
        ap.error(f"unknown workload(s) {bad}; choose from {WORKLOADS}")
    if a.systems:
        systems = [s.strip() for s in a.systems.split(",") if s.strip()]
        bad = [s for s in systems if s not in SYSTEMS]
        if bad:
            ap.error(f"unknown system(s) {bad}; choose from {SYSTEMS}")
    else:
        systems = list(SYSTEMS)
    reps = a.reps if a.reps is not None else (1 if a.quick else 3)

    cells = [(s, w) for w in workloads for s in systems]
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {c: [] for c in cells}
    started = time.perf_counter()
    total = len(cells) * reps
    done = 0
    for rep in range(reps):
        for system, wl in cells:
            line = spawn(system, wl, a.timeout)
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
    elapsed = time.perf_counter() - started

    print(
        f"\nWater bench: reps={reps}, {len(cells)} cells, {elapsed:.0f} s wall, "
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f} at the end"
    )
    results_table(meds, workloads, systems, a.format)
    code_first_table(meds, workloads, systems, a.format)
    if "water-sqlite" in systems:
        targets_table(meds, workloads, load_dbos(a.peers_dir), a.format)

    failures = [m for m in meds.values() if "error" in m]
    for m in failures:
        print(f"\nFAILED {m['system']} {m['workload']}:\n{m['error']}", file=sys.stderr)
    if a.json:
        with open(a.json, "a") as f:
            for c in cells:
                f.write(json.dumps(meds[c]) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
