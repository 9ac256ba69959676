"""bench.py's tables beyond step overhead: starts, memory, HTTP, DBOS, the targets,
and the regression guard (ratios to the raw floor, compared with a saved run).

``meds`` maps (system, workload) to the median line of its runs (``error`` set when
every run failed); ``http`` maps a store to its median HTTP run.
"""

from __future__ import annotations

import json
from typing import Any

import tables

FLOOR = "raw-sqlite-group256"
WATER = ["water-memory", "water-sqlite", "water-pg"]
STORE_OF = {"water-memory": "memory", "water-sqlite": "sqlite", "water-pg": "pg"}
DBOS_OF = {"water-sqlite": "dbos-sqlite", "water-pg": "dbos-pg"}

# Issue 12's targets for Water on SQLite: (label, measure, limit, higher is better)
TARGET_RATIOS = {"W1": 4.0, "W2": 8.0, "W3": 2.5}
TARGET_START = 8.0  # p50 of one caller / p50 of one commit
TARGET_RSS_MB = 200.0
TARGET_HTTP_RPS = 1500.0
TARGET_HTTP_P99_MS = 100.0

Meds = dict[tuple[str, str], dict[str, Any]]


def ok(m: dict[str, Any] | None) -> bool:
    return m is not None and "error" not in m


def ratio(meds: Meds, system: str, workload: str) -> float | None:
    """seconds / the raw floor's seconds (same run)."""
    m, f = meds.get((system, workload)), meds.get((FLOOR, workload))
    if not ok(m) or not ok(f):
        return None
    assert m is not None and f is not None
    return float(m["seconds"]) / float(f["seconds"])


def start_ratio(meds: Meds, system: str) -> float | None:
    m, f = meds.get((system, "START")), meds.get((FLOOR, "START"))
    if not ok(m) or not ok(f):
        return None
    assert m is not None and f is not None
    return float(m["p50_us"]) / float(f["p50_us"])


def fx(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}x" if x >= 100 else f"{x:.1f}x" if x >= 10 else f"{x:.2f}x"


def starts_table(meds: Meds, systems: list[str], style: str) -> None:
    rows = []
    for system in systems:
        m = meds.get((system, "START"))
        if m is None:
            continue
        if "error" in m:
            rows.append([system, "FAILED", "", "", "", ""])
            continue
        rows.append(
            [
                system,
                f"{m['p50_us']:,.0f}",
                f"{m['p99_us']:,.0f}",
                fx(start_ratio(meds, system)),
                f"{m['concurrent_per_s']:,.0f}",
                f"{m['peak_rss_mb']:.0f}",
            ]
        )
    if rows:
        tables.render(
            "Durable starts: engine.start() of a 1-step flow, one caller (400 starts) then "
            "8 threads at once (1,600); floor: one awaited row commit (raw-sqlite-group256)",
            ["system", "p50 us", "p99 us", "p50 vs floor", "8 callers starts/s", "RSS MB"],
            rows,
            style,
        )


def rss_table(meds: Meds, systems: list[str], style: str) -> None:
    rows = []
    for system in systems:
        m = meds.get((system, "RSS"))
        if m is None:
            continue
        if "error" in m:
            rows.append([system, "FAILED", "", ""])
            continue
        met = ""
        if system.startswith("water-") and system != "water-memory":
            met = "YES" if m["peak_rss_mb"] <= TARGET_RSS_MB else "no"
        rows.append(
            [system, f"{m['seconds']:.2f}", f"{m['peak_rss_mb']:.0f}", met or "(holds all)"]
        )
    if rows:
        tables.render(
            "Memory: 1 execution, for_(step, concurrency=50) over 50,000 items "
            "(peak RSS of the process; memory:// keeps every event in RAM)",
            ["system", "seconds", "peak RSS MB", f"<= {TARGET_RSS_MB:.0f} MB"],
            rows,
            style,
        )


def http_table(http: dict[str, dict[str, Any]], skipped: str | None, style: str) -> None:
    if skipped:
        print(f"\nHTTP row skipped: {skipped}")
        return
    rows = []
    for store, m in http.items():
        if "error" in m:
            rows.append([store, "FAILED", m["error"].splitlines()[0][:60], "", "", ""])
            continue
        rows.append(
            [
                store,
                f"{m['requests_per_s']:,.0f}",
                f"{m['p50_ms']:.1f}",
                f"{m['p99_ms']:.1f}",
                str(m.get("non_2xx", 0)),
                ", ".join(f"{r:,.0f}" for r in m.get("runs_rps", [])),
            ]
        )
    if rows:
        first = next(iter(http.values()))
        tables.render(
            f"HTTP: POST /flows/one/execute against water dev on loopback, wrk "
            f"{first.get('wrk', '')} (50 in flight), fresh server and database per run",
            ["store", "requests/s", "p50 ms", "p99 ms", "non-2xx", "runs req/s"],
            rows,
            style,
        )


def dbos_table(meds: Meds, workloads: list[str], style: str) -> None:
    rows = []
    for wl in workloads:
        if wl not in ("W1", "W2", "W3"):
            continue
        for water, dbos in DBOS_OF.items():
            w, d = meds.get((water, wl)), meds.get((dbos, wl))
            if w is None and d is None:
                continue
            cell_w = f"{w['us_per_step']:,.0f}" if ok(w) and w is not None else "-"
            cell_d = f"{d['us_per_step']:,.0f}" if ok(d) and d is not None else "-"
            speed = (
                f"{d['seconds'] / w['seconds']:,.0f}x faster"
                if ok(w) and ok(d) and w is not None and d is not None
                else "-"
            )
            rows.append([wl, STORE_OF[water], cell_w, cell_d, fx(ratio(meds, dbos, wl)), speed])
    if rows:
        tables.render(
            "Water vs DBOS 3.4 on the same store (us per step or item, same run; DBOS on "
            "SQLite with WAL + synchronous=NORMAL, on PostgreSQL its home store; W3 DBOS: "
            "gather inside a workflow)",
            ["workload", "store", "Water", "DBOS", "DBOS vs raw floor", "Water vs DBOS"],
            rows,
            style,
        )


def targets_table(meds: Meds, http: dict[str, dict[str, Any]], style: str) -> None:
    rows: list[list[str]] = []
    for wl, limit in TARGET_RATIOS.items():
        r = ratio(meds, "water-sqlite", wl)
        if (("water-sqlite", wl)) not in meds:
            continue
        pg = ratio(meds, "water-pg", wl)
        rows.append(
            [
                f"{wl} on SQLite / raw floor",
                f"<= {limit:g}x",
                fx(r),
                "-" if r is None else ("YES" if r <= limit else "no"),
                fx(pg),
            ]
        )
    if ("water-sqlite", "START") in meds:
        r = start_ratio(meds, "water-sqlite")
        rows.append(
            [
                "start() p50 / one commit",
                f"<= {TARGET_START:g}x",
                fx(r),
                "-" if r is None else ("YES" if r <= TARGET_START else "no"),
                fx(start_ratio(meds, "water-pg")),
            ]
        )
    m = meds.get(("water-sqlite", "RSS"))
    if m is not None:
        pg = meds.get(("water-pg", "RSS"))
        rows.append(
            [
                "for_ 50,000 items, peak RSS",
                f"<= {TARGET_RSS_MB:.0f} MB",
                "FAILED" if not ok(m) else f"{m['peak_rss_mb']:.0f} MB",
                "no" if not ok(m) else ("YES" if m["peak_rss_mb"] <= TARGET_RSS_MB else "no"),
                f"{pg['peak_rss_mb']:.0f} MB" if pg is not None and ok(pg) else "-",
            ]
        )
    h = http.get("sqlite")
    if h is not None:
        good = "error" not in h
        hp = http.get("pg")
        rows.append(
            [
                "HTTP execute, 50 in flight",
                f">= {TARGET_HTTP_RPS:,.0f} req/s, p99 <= {TARGET_HTTP_P99_MS:.0f} ms",
                f"{h['requests_per_s']:,.0f} req/s, p99 {h['p99_ms']:.0f} ms" if good else "FAILED",
                "YES"
                if good
                and h["requests_per_s"] >= TARGET_HTTP_RPS
                and h["p99_ms"] <= TARGET_HTTP_P99_MS
                else "no",
                f"{hp['requests_per_s']:,.0f} req/s, p99 {hp['p99_ms']:.0f} ms"
                if hp is not None and "error" not in hp
                else "-",
            ]
        )
    if rows:
        tables.render(
            "Targets (issue 12: Water on SQLite; ratios to the raw floor of the same run)",
            ["measure", "target", "SQLite", "met?", "PostgreSQL (same measure)"],
            rows,
            style,
        )


# --------------------------------------------------------------------------- guard
def guard_ratios(meds: Meds) -> dict[str, float]:
    """The ratios the regression guard watches: Water / the raw floor, same run."""
    out: dict[str, float] = {}
    for system in WATER:
        for wl in ("W1", "W2", "W3"):
            r = ratio(meds, system, wl)
            if r is not None:
                out[f"{system} {wl} / floor"] = round(r, 3)
        r = start_ratio(meds, system)
        if r is not None:
            out[f"{system} start p50 / floor"] = round(r, 3)
        m, f = meds.get((system, "RSS")), meds.get((FLOOR, "RSS"))
        if ok(m) and ok(f) and m is not None and f is not None:
            out[f"{system} RSS / floor"] = round(m["peak_rss_mb"] / f["peak_rss_mb"], 3)
    return out


def check_guard(meds: Meds, path: str, tolerance: float) -> list[str]:
    """The ratios now worse than ``tolerance`` x those saved in ``path``."""
    with open(path) as f:
        saved: dict[str, float] = json.load(f)["ratios"]
    now = guard_ratios(meds)
    worse = []
    for key, before in saved.items():
        current = now.get(key)
        if current is not None and current > before * tolerance:
            worse.append(f"{key}: {current:.2f}x, saved {before:.2f}x (> {tolerance:g} x saved)")
    return worse


def save_guard(meds: Meds, path: str, note: str) -> None:
    with open(path, "w") as f:
        json.dump({"note": note, "ratios": guard_ratios(meds)}, f, indent=2, sort_keys=True)
        f.write("\n")
