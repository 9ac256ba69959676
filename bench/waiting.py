#!/usr/bin/env python3
"""Durable-waiting scale check: many executions parked on a signal, on SQLite.

1. Scale: one engine holds N executions (default 10,000; ``--quick`` 1,000) of
   ``Flow("approval").then(prepare).wait_for_signal("approve").then(finish)``,
   started with ``start_many`` in chunks. Reported: time to start them (starts
   durable) and until all are ``waiting``, the process thread count (before the
   engine, with the idle engine, after all are waiting), RSS, and the number of
   live coordinators (waiting executions are passivated, so ~0). The same is run
   for N/10 in another fresh process: the thread count must not grow with N.
2. Latency (in both runs): for 200 random waiting executions,
   ``tell(Signal("approve", payload))`` then ``result()``, one at a time; and
   ``ask(GetStatus())`` on 200 other passivated executions (rehydration cost).
3. Long history: one execution runs a ``while_`` loop of 5,000 iterations
   (~10,000 events) and then waits for a signal (so it is passivated). Reported:
   its events, the checkpoint rehydration loads, the time to rehydrate it
   (``ask(GetStatus())``), and, for comparison, folding all its events from
   scratch with ``FlowMachine.recover(id, StoredStream(None, events))``.

Each part runs in a fresh subprocess with a fresh database.

Usage: .venv/bin/python bench/waiting.py [--quick] [--n N] [--json out.jsonl]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for p in (HERE, ROOT):
    if p not in sys.path:
        sys.path.insert(0, p)

import tables  # noqa: E402  (bench/ is on sys.path now)

TIMEOUT = 60.0


def threads() -> tuple[int, int]:
    """(Python threads, OS threads of this process)."""
    return threading.active_count(), len(os.listdir("/proc/self/task"))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def ms_stats(seconds: list[float]) -> dict[str, float]:
    ms = [x * 1000 for x in seconds]
    return {
        "p50_ms": round(pct(ms, 50), 3),
        "p99_ms": round(pct(ms, 99), 3),
        "max_ms": round(max(ms), 3),
        "n": len(ms),
    }


# --------------------------------------------------------------------------- flows
def _flows() -> dict[str, Any]:
    from pydantic import BaseModel

    from water import task

    class Num(BaseModel):
        value: int

    @task
    async def prepare(n: Num) -> Num:
        return Num(value=n.value + 1)

    @task
    async def finish(n: Num) -> Num:
        return Num(value=n.value * 2)

    @task
    async def inc(n: Num) -> Num:
        return Num(value=n.value + 1)

    return {"Num": Num, "prepare": prepare, "finish": finish, "inc": inc}


# --------------------------------------------------------------------------- phase: scale
def phase_scale(n: int, chunk: int, samples: int, seed: int) -> dict[str, Any]:
    from water import Engine, Flow, GetStatus, Signal

    f = _flows()
    Num = f["Num"]
    flow = Flow("approval").then(f["prepare"]).wait_for_signal("approve").then(f["finish"])
    out: dict[str, Any] = {"phase": "scale", "n": n, "chunk": chunk}
    out["threads_before_engine"] = threads()
    with tempfile.TemporaryDirectory(prefix="waterwait-") as tmp:
        engine = Engine(f"sqlite:///{tmp}/bench.db", flows=[flow])
        try:
            # untimed warm-up: one execution through the whole flow
            warm = engine.start(flow, Num(value=0))
            warm.wait_for_status("waiting", timeout=TIMEOUT)
            warm.tell(Signal("approve", {"value": 0}))
            warm.result(TIMEOUT)
            out["threads_engine_idle"] = threads()
            out["rss_engine_idle_mb"] = round(current_rss_mb(), 1)

            refs = []
            max_threads = threads()
            chunk_seconds = []
            t0 = time.perf_counter()
            for start in range(0, n, chunk):
                c0 = time.perf_counter()
                values = [Num(value=k) for k in range(start, min(n, start + chunk))]
                refs += engine.start_many(flow, values, timeout=300)
                chunk_seconds.append(time.perf_counter() - c0)
                now = threads()
                max_threads = (max(max_threads[0], now[0]), max(max_threads[1], now[1]))
            started = time.perf_counter() - t0
            while True:
                waiting = engine.count_executions("approval", "waiting")
                if waiting >= n:
                    break
                if time.perf_counter() - t0 > 600:
                    raise TimeoutError(f"only {waiting} of {n} executions reached 'waiting'")
                now = threads()
                max_threads = (max(max_threads[0], now[0]), max(max_threads[1], now[1]))
                time.sleep(0.005)
            all_waiting = time.perf_counter() - t0
            time.sleep(0.05)  # let the last coordinators finish passivating
            out.update(
                start_seconds=round(started, 3),
                start_per_s=round(n / started, 1),
                all_waiting_seconds=round(all_waiting, 3),
                chunk_seconds_first_last=[round(chunk_seconds[0], 3), round(chunk_seconds[-1], 3)],
                threads_max_while_starting=max_threads,
                threads_all_waiting=threads(),
                rss_all_waiting_mb=round(current_rss_mb(), 1),
                peak_rss_mb=round(peak_rss_mb(), 1),
                live_coordinators_all_waiting=engine.system.active_coordinators(),
            )

            rng = random.Random(seed)
            picked = rng.sample(range(n), min(n, 2 * samples))
            status_ids, signal_ids = picked[:samples], picked[samples:]

            # GetStatus on passivated executions: each ask rehydrates a coordinator
            lat, live_before = [], 0
            for k in status_ids:
                live_before += engine.system.active_coordinators()
                ref = refs[k]
                t = time.perf_counter()
                snap = ref.ask(GetStatus(), timeout=TIMEOUT)
                lat.append(time.perf_counter() - t)
                assert str(snap.status) == "waiting", snap.status
            out["getstatus"] = ms_stats(lat)
            out["getstatus_live_coordinators_seen"] = live_before

            # signal -> completion, one execution at a time
            lat = []
            for k in signal_ids:
                ref = refs[k]
                t = time.perf_counter()
                ref.tell(Signal("approve", {"value": k}))
                result = ref.result(TIMEOUT)
                lat.append(time.perf_counter() - t)
                assert result == Num(value=2 * k), (k, result)
            out["signal_to_result"] = ms_stats(lat)
            time.sleep(0.05)
            out["live_coordinators_end"] = engine.system.active_coordinators()
            out["completed"] = engine.count_executions("approval", "completed")
            out["still_waiting"] = engine.count_executions("approval", "waiting")
            out["threads_end"] = threads()
        finally:
            t = time.perf_counter()
            engine.shutdown()
            out["shutdown_seconds"] = round(time.perf_counter() - t, 3)
    return out


# --------------------------------------------------------------------------- phase: history
def phase_history(iterations: int, reps: int) -> dict[str, Any]:
    from water import Engine, Flow, GetStatus, RetryPolicy, Signal
    from water.interpreter import FlowMachine, StoredStream

    f = _flows()
    Num = f["Num"]
    flow = (
        Flow("long")
        .while_(lambda v: v.value < iterations, f["inc"], max_iterations=iterations + 1)
        .wait_for_signal("go")
        .then(f["inc"])
    )
    out: dict[str, Any] = {"phase": "history", "iterations": iterations, "reps": reps}
    with tempfile.TemporaryDirectory(prefix="waterhist-") as tmp:
        engine = Engine(f"sqlite:///{tmp}/bench.db", flows=[flow])
        try:
            t = time.perf_counter()
            ref = engine.start(flow, Num(value=0))
            ref.wait_for_status("waiting", timeout=600)
            out["run_to_waiting_seconds"] = round(time.perf_counter() - t, 3)
            eid = ref.execution_id
            deadline = time.perf_counter() + 10
            while engine.system.active_coordinators() and time.perf_counter() < deadline:
                time.sleep(0.005)
            out["passivated"] = engine.system.active_coordinators() == 0

            def timed(fn: Any) -> tuple[list[float], Any]:
                ts, res = [], None
                for _ in range(reps):
                    t = time.perf_counter()
                    res = fn()
                    ts.append(time.perf_counter() - t)
                return ts, res

            # what a rehydrating coordinator loads: the latest checkpoint + events after it
            store = engine.system.store
            ts, stream = timed(lambda: engine.system.reactor.run(store.load_stream(eid)))
            out["load_checkpoint_and_tail"] = ms_stats(ts)
            out["checkpoint_seq"] = stream.checkpoint.seq if stream.checkpoint else None
            out["events_after_checkpoint"] = len(stream.events)
            out["checkpoint_state_json_chars"] = (
                len(json.dumps(stream.checkpoint.state)) if (stream.checkpoint) else 0
            )

            # rehydration through the public API (answer = full view, one row per step)
            live = 0

            def ask_full() -> Any:
                nonlocal live
                live += engine.system.active_coordinators()
                return ref.ask(GetStatus(), timeout=TIMEOUT)

            ts, snap = timed(ask_full)
            out["rehydrate_getstatus"] = ms_stats(ts)
            out["rehydrate_live_coordinators_seen"] = live
            out["view_steps"] = len(snap.steps)
            # the same with the summary answer (what start/start_many ask for)
            ts, _ = timed(lambda: engine.system.ask(eid, GetStatus(), TIMEOUT, brief=True))
            out["rehydrate_getstatus_brief"] = ms_stats(ts)

            # from scratch: all events loaded, then folded with no checkpoint
            ts, events = timed(lambda: engine.events(eid))
            out["events"] = len(events)
            out["load_all_events"] = ms_stats(ts)
            machine = FlowMachine(
                flow, default_retry=RetryPolicy.none(), spec_for=engine.catalog.spec_for
            )
            ts, state = timed(lambda: machine.recover(eid, StoredStream(None, events)))
            out["fold_all_events"] = ms_stats(ts)
            out["fold_state_seq"] = state.seq
            ts, cp_state = timed(lambda: machine.recover(eid, stream))
            out["recover_from_checkpoint"] = ms_stats(ts)
            ts, _ = timed(lambda: machine.view(cp_state))
            out["build_full_view"] = ms_stats(ts)
            assert cp_state.seq == state.seq == out["events"], (cp_state.seq, state.seq)

            ref.tell(Signal("go", {"value": 1}))
            out["final_output"] = ref.result(TIMEOUT).model_dump()
        finally:
            engine.shutdown()
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return out


# --------------------------------------------------------------------------- harness
def spawn(args: list[str], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), *args]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return {"error": f"timeout after {timeout}s: {' '.join(args)}\n{err[-4000:]}"}
    lines = p.stdout.strip().splitlines()
    if p.returncode != 0 or not lines:
        return {"error": f"exit {p.returncode}: {' '.join(args)}\n{p.stderr[-4000:]}"}
    return dict(json.loads(lines[-1]))


def _t(pair: Any) -> str:
    return f"{pair[0]} / {pair[1]}" if isinstance(pair, (list, tuple)) else str(pair)


def _lat(d: dict[str, Any]) -> str:
    return f"{d['p50_ms']:.2f} / {d['p99_ms']:.2f}"


def scale_tables(runs: list[dict[str, Any]], style: str) -> None:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return
    headers = ["metric", *(f"N = {r['n']:,}" for r in ok)]
    spec = [
        ("time to start all (start_many, durable) s", lambda r: f"{r['start_seconds']:.2f}"),
        ("  starts/s", lambda r: f"{r['start_per_s']:,.0f}"),
        ("  first / last chunk s", lambda r: _t(r["chunk_seconds_first_last"])),
        ("time until all are 'waiting' s", lambda r: f"{r['all_waiting_seconds']:.2f}"),
        ("threads (py / OS) before the engine", lambda r: _t(r["threads_before_engine"])),
        ("threads (py / OS), idle engine", lambda r: _t(r["threads_engine_idle"])),
        ("threads (py / OS), max while starting", lambda r: _t(r["threads_max_while_starting"])),
        ("threads (py / OS), all waiting", lambda r: _t(r["threads_all_waiting"])),
        ("RSS idle engine MB", lambda r: f"{r['rss_engine_idle_mb']:.0f}"),
        (
            "RSS all waiting MB (current / peak)",
            lambda r: f"{r['rss_all_waiting_mb']:.0f} / {r['peak_rss_mb']:.0f}",
        ),
        (
            "  RSS growth over the idle engine MB",
            lambda r: f"{r['rss_all_waiting_mb'] - r['rss_engine_idle_mb']:.0f}",
        ),
        ("live coordinators, all waiting", lambda r: str(r["live_coordinators_all_waiting"])),
        ("GetStatus on passivated p50 / p99 ms", lambda r: _lat(r["getstatus"])),
        (
            "  live coordinators seen before each ask (sum)",
            lambda r: str(r["getstatus_live_coordinators_seen"]),
        ),
        ("Signal -> result() p50 / p99 ms", lambda r: _lat(r["signal_to_result"])),
        (
            "completed / still waiting at the end",
            lambda r: f"{r['completed']:,} / {r['still_waiting']:,}",
        ),
        ("live coordinators at the end", lambda r: str(r["live_coordinators_end"])),
        ("shutdown s", lambda r: f"{r['shutdown_seconds']:.2f}"),
    ]
    rows = [[name, *(fn(r) for r in ok)] for name, fn in spec]
    tables.render(
        "Durable waiting on SQLite (each column: a fresh process and database)",
        headers,
        rows,
        style,
    )
    if len(ok) == 2:
        small, big = ok
        grows = big["threads_all_waiting"][1] > small["threads_all_waiting"][1]
        print(
            f"thread count grows with N: {'YES' if grows else 'no'} "
            f"(OS threads all waiting: {small['threads_all_waiting'][1]} at N={small['n']:,}, "
            f"{big['threads_all_waiting'][1]} at N={big['n']:,}); "
            f"live coordinators while all wait: {big['live_coordinators_all_waiting']}"
        )
        if big["n"] > small["n"]:
            kb = (
                (big["rss_all_waiting_mb"] - small["rss_all_waiting_mb"])
                * 1024
                / (big["n"] - small["n"])
            )
            print(
                f"RSS per additional waiting execution (N={small['n']:,} -> N={big['n']:,}): "
                f"{kb:.1f} KB"
            )


def history_table(h: dict[str, Any], style: str) -> None:
    if "error" in h:
        return
    rows = [
        ["while_ iterations / events in the journal", f"{h['iterations']:,} / {h['events']:,}"],
        ["time to run it until it waits s", f"{h['run_to_waiting_seconds']:.2f}"],
        ["passivated while waiting", "yes" if h["passivated"] else "NO"],
        [
            "rehydration loads: checkpoint at seq / events after it",
            f"{h['checkpoint_seq']:,} / {h['events_after_checkpoint']:,}",
        ],
        ["  checkpoint state size (JSON chars)", f"{h['checkpoint_state_json_chars']:,}"],
        ["rehydrate: ask(GetStatus()) p50 / p99 ms (full view)", _lat(h["rehydrate_getstatus"])],
        ["  view rows (steps) in the answer", f"{h['view_steps']:,}"],
        ["rehydrate: GetStatus, summary answer p50 / p99 ms", _lat(h["rehydrate_getstatus_brief"])],
        ["  part: load checkpoint + tail from SQLite", _lat(h["load_checkpoint_and_tail"])],
        ["  part: recover state from the checkpoint", _lat(h["recover_from_checkpoint"])],
        ["  part: build the full view", _lat(h["build_full_view"])],
        ["from scratch: load all events from SQLite", _lat(h["load_all_events"])],
        ["from scratch: fold all events (FlowMachine.recover)", _lat(h["fold_all_events"])],
    ]
    tables.render(
        f"Rehydrating a long history (p50 / p99 over {h['reps']} runs, ms)",
        ["measure", "value"],
        rows,
        style,
    )


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="N=1,000 and fewer repetitions")
    ap.add_argument("--n", type=int, default=None, help="waiting executions (default 10,000)")
    ap.add_argument("--chunk", type=int, default=1000, help="executions per start_many call")
    ap.add_argument("--samples", type=int, default=200, help="signals / GetStatus asks")
    ap.add_argument("--iterations", type=int, default=5000, help="while_ iterations (history)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions of each history timing")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", metavar="OUT", help="append the raw results as JSON lines")
    ap.add_argument("--format", choices=["rich", "plain", "markdown"], default="rich")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per subprocess")
    ap.add_argument("--phase", choices=["scale", "history"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    n = a.n if a.n is not None else (1000 if a.quick else 10_000)
    reps = a.reps if a.reps is not None else (5 if a.quick else 15)

    if a.phase == "scale":
        print(json.dumps(phase_scale(n, a.chunk, a.samples, a.seed)), flush=True)
        return 0
    if a.phase == "history":
        print(json.dumps(phase_history(a.iterations, reps)), flush=True)
        return 0

    t0 = time.perf_counter()
    runs = []
    for size in (max(1, n // 10), n):
        print(f"scale run N={size:,} ...", file=sys.stderr, flush=True)
        samples = min(a.samples, size // 2)
        runs.append(
            spawn(
                [
                    "--phase",
                    "scale",
                    "--n",
                    str(size),
                    "--chunk",
                    str(a.chunk),
                    "--samples",
                    str(samples),
                    "--seed",
                    str(a.seed),
                ],
                a.timeout,
            )
        )
    print(f"history run ({a.iterations:,} iterations) ...", file=sys.stderr, flush=True)
    hist = spawn(
        ["--phase", "history", "--iterations", str(a.iterations), "--reps", str(reps)], a.timeout
    )
    elapsed = time.perf_counter() - t0

    print(
        f"\nWater waiting bench: N={n:,}, {elapsed:.0f} s wall, python "
        f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
    )
    scale_tables(runs, a.format)
    history_table(hist, a.format)
    failures = [r for r in [*runs, hist] if "error" in r]
    for r in failures:
        print(f"\nFAILED:\n{r['error']}", file=sys.stderr)
    if a.json:
        with open(a.json, "a") as f:
            for r in [*runs, hist]:
                f.write(json.dumps(r) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
