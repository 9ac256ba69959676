"""Chaos: SIGKILL a process running many executions, again and again; count what broke.

Child process number ``k`` recovers what the previous ones left running and starts a
new batch of executions of ``chaosflows.chaos_flow`` (a ``for_`` with retries, a
``parallel``, a ``while_``) on one SQLite database; it is killed at a random moment.
Between two children, while no process runs, the journal is read: which steps are
durably completed. After the last kill, an engine in this process recovers everything
and waits for every execution. The figures:

- lost: an execution whose start was acknowledged that is missing, failed, or
  answered anything but the exact expected output;
- re-runs of durably completed steps: step bodies that ran (per the run log the
  bodies append to) after their ``step_completed`` event was in the journal, or
  twice in one process; there must be none;
- stuck: executions not finished when the final engine's deadline passed.

Used by ``test_chaos.py`` (a few kills) and ``tests/soak/chaos.py`` (as many as asked).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import chaosflows  # noqa: E402

from water import Engine, ExecutionFailedError, ExecutionNotFoundError  # noqa: E402
from water.storage import SQLiteStorage  # noqa: E402

Step = tuple[str, str]  # (execution id, step key)
Run = tuple[str, str, int]  # (execution id, step key, attempt)


@dataclass
class ChaosReport:
    kills: int = 0
    executions: int = 0
    lost: int = 0
    reruns_of_completed: int = 0
    stuck: int = 0
    duration: float = 0.0
    kills_mid_work: int = 0  # kills that left work unfinished (the others hit an idle child)
    step_runs: int = 0
    reruns_in_flight: int = 0  # steps in flight at a kill that ran again: allowed
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.reruns_of_completed or self.stuck or self.problems)

    def table(self) -> str:
        rows = [
            ("kills", f"{self.kills} ({self.kills_mid_work} with work in flight)"),
            ("executions", str(self.executions)),
            ("lost", str(self.lost)),
            ("re-runs of durably completed steps", str(self.reruns_of_completed)),
            ("stuck", str(self.stuck)),
            ("duration", f"{self.duration:.1f} s"),
            ("step runs", str(self.step_runs)),
            ("re-runs of steps in flight at a kill", str(self.reruns_in_flight)),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"{name:<{width}}  {value}" for name, value in rows]
        lines += [f"problem: {p}" for p in self.problems[:20]]
        return "\n".join(lines)


class Child:
    """A child process whose stdout lines are read by a thread (so waits have deadlines)."""

    def __init__(self, args: list[str], stderr_path: Path) -> None:
        with stderr_path.open("a") as err:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, word: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the child did not print {word!r} in {timeout}s") from None
            if line is None:
                raise AssertionError(
                    f"the child exited ({self.proc.poll()}) before printing {word!r}"
                )
            self.seen.append(line)
            if line == word:
                return

    def kill(self) -> None:
        """SIGKILL it if it still runs, reap it, and keep what it printed."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        while (line := self.lines.get(timeout=30)) is not None:
            self.seen.append(line)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@contextlib.contextmanager
def child_process(args: list[str], stderr_path: Path) -> Iterator[Child]:
    child = Child(args, stderr_path)
    try:
        yield child
    finally:
        child.kill()  # whatever happened: no process is left behind


class Durable:
    """What the journal holds, read while no process writes to it."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.completed: set[Step] = set()
        self.finished: set[str] = set()
        self.duplicates: dict[Step, int] = {}

    def refresh(self, execution_ids: list[str]) -> None:
        todo = [e for e in execution_ids if e not in self.finished]
        asyncio.run(self._read(todo))

    async def _read(self, execution_ids: list[str]) -> None:
        storage = SQLiteStorage(self.db)
        await storage.initialize()
        try:
            for execution_id in execution_ids:
                counts: dict[str, int] = {}
                for event in await storage.load_events(execution_id):
                    if event.type == "step_completed":
                        counts[event.key] = counts.get(event.key, 0) + 1
                    elif event.type in ("execution_completed", "execution_failed"):
                        self.finished.add(execution_id)
                for key, count in counts.items():
                    self.completed.add((execution_id, key))
                    if count > 1:
                        self.duplicates[(execution_id, key)] = count
        finally:
            await storage.close()


class RunLog:
    """The lines the step bodies appended, read one process lifetime at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.ran: set[Step] = set()
        self.runs: set[Run] = set()

    def new_runs(self) -> list[Run]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # a torn last line (never seen so far) waits
        self.offset += end
        runs = []
        for line in data[:end].decode().splitlines():
            execution_id, key, attempt = line.split()
            runs.append((execution_id, key, int(attempt)))
        return runs


def account(report: ChaosReport, log: RunLog, durable: Durable, life: str) -> None:
    """Check the runs of one process lifetime against what was durable when it began."""
    this_life: set[Run] = set()
    for run in log.new_runs():
        report.step_runs += 1
        step = run[:2]
        if step in durable.completed:
            report.reruns_of_completed += 1
            report.problems.append(f"{life}: {step[0]} {step[1]} ran again after it completed")
        elif run in this_life:
            report.reruns_of_completed += 1
            report.problems.append(f"{life}: {step[0]} {step[1]} ran twice in one process")
        elif run in log.runs:
            report.reruns_in_flight += 1
        this_life.add(run)
        log.runs.add(run)
        log.ran.add(step)


def run_chaos(
    workdir: Path,
    *,
    kills: int,
    seed: int = 1,
    batch_size: int = 6,
    max_delay: float = 0.6,
    finish_timeout: float = 60.0,
    progress: bool = False,
) -> ChaosReport:
    """Kill ``kills`` children at random moments, recover, and report (see the module)."""
    rng = random.Random(seed)
    db, run_log, stderr = workdir / "chaos.db", workdir / "runs.log", workdir / "children.err"
    report = ChaosReport()
    durable, log = Durable(db), RunLog(run_log)
    acknowledged: set[int] = set()
    started = time.monotonic()

    def executions(upto: int) -> list[tuple[str, int]]:
        return [e for b in range(upto) for e in chaosflows.batch(b, batch_size)]

    for k in range(kills):
        batches = [b for b in range(k + 1) if b not in acknowledged]
        args = [sys.executable, str(HERE / "chaos_child.py"), str(db), str(run_log)]
        args += [str(batch_size), ",".join(map(str, batches))]
        with child_process(args, stderr) as child:
            child.expect("READY", timeout=60)
            time.sleep(rng.uniform(0.0, max_delay))  # the kill lands at a random moment
        report.kills += 1
        acknowledged |= {int(line.split()[1]) for line in child.seen if line.startswith("STARTED")}
        account(report, log, durable, f"process {k + 1}")
        ids = [e for e, _ in executions(k + 1)]
        durable.refresh(ids)
        if any(e not in durable.finished for e in ids):
            report.kills_mid_work += 1
        if progress:
            print(f"kill {k + 1}/{kills}: {len(durable.finished)}/{len(ids)} finished", flush=True)

    # recovery in this process: start what was never acknowledged, then wait for all
    previous, chaosflows.RUN_LOG = chaosflows.RUN_LOG, str(run_log)
    everything = executions(kills)
    report.executions = len(everything)
    try:
        flow = chaosflows.chaos_flow()
        with Engine(f"sqlite:///{db}", flows=[flow]) as engine:
            for b in range(kills):
                if b not in acknowledged:
                    for execution_id, n in chaosflows.batch(b, batch_size):
                        engine.start(flow, chaosflows.Num(value=n), execution_id=execution_id)
            deadline = time.monotonic() + finish_timeout
            for execution_id, n in everything:
                try:
                    left = max(0.1, deadline - time.monotonic())
                    output = engine.ref(execution_id).result(timeout=left)
                except TimeoutError:
                    report.stuck += 1
                    report.problems.append(f"{execution_id} did not finish")
                except (ExecutionFailedError, ExecutionNotFoundError) as exc:
                    report.lost += 1
                    report.problems.append(f"{execution_id}: {exc}")
                else:
                    if output != chaosflows.expected(n):
                        report.lost += 1
                        report.problems.append(f"{execution_id}: wrong output {output!r}")
    finally:
        chaosflows.RUN_LOG = previous
    account(report, log, durable, "recovery")
    durable.refresh([e for e, _ in everything])
    report.duration = time.monotonic() - started

    for step, count in sorted(durable.duplicates.items()):
        report.problems.append(f"{step[0]} {step[1]} completed {count} times in the journal")
    never_ran = sorted(durable.completed - log.ran)
    if never_ran:  # the run log missed a completed step: the figures above would mean little
        report.problems.append(f"completed without a logged run: {never_ran[:5]}")
    return report
