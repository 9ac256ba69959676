"""``water inspect --follow``: an execution's progress, read from its database while
another process runs it, until it finishes.

It only reads, every ``interval`` seconds: the index row, the events after the last
one read, and the last checkpoint (see ``reading``); readers never block the engine
that writes (SQLite in WAL mode, PostgreSQL). On a terminal the status and the steps
are redrawn in place (rich ``Live``); anywhere else (a pipe, a log file) one plain
line is printed whenever something changed. The full view is printed at the end.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from water.cli.reading import Reading, read_execution
from water.cli.render import count, execution_head, local_time, steps_table, styled
from water.status import TERMINAL
from water.storage import Storage, TaskResult

LIVE_STEPS = 15
"""Steps shown while following (the latest ones); the final view shows all."""


class Interrupted(Exception):
    """Ctrl-C while following: ``reading`` is the execution as last read."""

    def __init__(self, reading: Reading) -> None:
        super().__init__(reading.record.execution_id)
        self.reading = reading


def follow(
    console: Console, storage: Storage, execution_id: str, interval: float
) -> Reading | None:
    """Show the execution's progress until it finishes; return it as read last.

    None when there is no such execution; ``Interrupted`` on Ctrl-C.
    """
    last: Reading | None = None

    async def watch() -> Reading | None:
        nonlocal last
        await storage.initialize()
        try:
            last = await read_execution(storage, execution_id)
            if last is None or last.record.status in TERMINAL:
                return last
            with _Display(console) as display:
                while True:
                    display.show(last)
                    if last.record.status in TERMINAL:
                        return last
                    await asyncio.sleep(interval)
                    last = await read_execution(storage, execution_id, last) or last
        finally:
            await storage.close()

    try:
        return asyncio.run(watch())
    except KeyboardInterrupt:
        if last is None:
            raise
        raise Interrupted(last) from None


def current(reading: Reading) -> Reading:
    """The reading with its checkpoint's view only if no event came after it."""
    snapshot = reading.snapshot
    if snapshot is not None and snapshot.seq != reading.seq:
        snapshot = None
    return Reading(reading.record, snapshot, reading.rows, reading.events)


def summary(reading: Reading, steps: list[TaskResult]) -> str:
    """One line: status, steps done, running, failed, what it waits for, the last event."""
    parts = [styled(str(reading.record.status))]
    done, total = sum(s.status == "completed" for s in steps), len(steps)
    parts.append(
        f"{count(done, 'step')} done" if done == total else f"{done} of {total} steps done"
    )
    for status in ("running", "backoff", "suspended", "failed"):
        keys = [s.key for s in steps if s.status == status]
        if keys:
            shown = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
            parts.append(f"{status} {escape(shown)}")
    snapshot = current(reading).snapshot
    if snapshot is not None and snapshot.waiting_for:
        parts.append("waiting for " + escape(", ".join(snapshot.waiting_for)))
    if reading.events:
        parts.append(f"event {reading.seq}: {escape(reading.events[-1].type)}")
    return " · ".join(parts)


class _Display:
    """Live on a terminal; elsewhere, a line per change."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live: Live | None = None
        self.said = ""

    def __enter__(self) -> _Display:
        if self.console.is_terminal:
            self.live = Live(console=self.console, auto_refresh=False, transient=True)
            self.live.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.live is not None:
            self.live.__exit__(kind, error, trace)

    def show(self, reading: Reading) -> None:
        steps = reading.steps
        line = summary(reading, steps)
        if self.live is not None:
            self.live.update(self._view(reading, steps, line), refresh=True)
        elif line != self.said:
            self.console.print(f"{local_time(reading.record.updated_at)} {line}")
        self.said = line

    @staticmethod
    def _view(reading: Reading, steps: list[TaskResult], line: str) -> RenderableType:
        now = current(reading)
        latest = steps[-LIVE_STEPS:]
        title = "Steps" if len(latest) == len(steps) else f"Steps (the last {len(latest)})"
        parts: list[RenderableType] = [execution_head(now.record, now.snapshot)]
        if steps:
            parts.append(steps_table(latest, title))
        parts.append(Text.from_markup(line))
        return Group(*parts)
