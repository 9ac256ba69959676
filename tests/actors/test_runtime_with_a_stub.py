"""The runtime on its own: a coordinator, the journal and passivation, driving a stub.

Nothing here imports ``water``: a tiny counter interpreter and an in-memory store
stand in for the flow interpreter and the storage, so what is tested is the
runtime's own promises (events durable before their effects and answers, idle
executions stopped and rebuilt, failed appends rebuilt from what is durable,
forwarded messages, reports re-sent to a parent that starts a child again).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

import pytest

from actors.effects import Effect, Forward, Phase, Route, Status
from actors.messages import CommandRejected, GetStatus, Start
from actors.protocols import Interpreter, Stored
from actors.system import ActorSystem


# -- a counter interpreter -------------------------------------------------------------
@dataclass(frozen=True)
class Add:
    amount: int


@dataclass(frozen=True)
class Hold:
    """Go idle (the execution only waits) until the next Add."""


@dataclass(frozen=True)
class Finish:
    pass


@dataclass(frozen=True)
class Relay:
    """Handled by another execution."""

    target: str
    message: Any


@dataclass
class Counter:
    execution_id: str
    total: int = 0
    label: str = "pending"
    idle: bool = False
    parent: str | None = None
    seq: int = 0


@dataclass
class Event:
    kind: str
    amount: int = 0
    parent: str | None = None


STATUSES = {
    ("pending", False): Status("pending", Phase.NEW),
    ("running", False): Status("running", Phase.ACTIVE),
    ("running", True): Status("waiting", Phase.IDLE),
    ("done", False): Status("done", Phase.DONE),
}


class CounterInterpreter:
    def __init__(self) -> None:
        self.restored: list[str] = []

    def restore(self, execution_id: str, stored: Stored | None) -> Counter:
        state = Counter(execution_id)
        if stored is not None:
            self.restored.append(execution_id)
            for event in stored.events:
                self._fold(state, event)
        return state

    def handle(self, state: Counter, message: Any, now: float) -> list[Any] | Forward:
        if isinstance(message, Relay):
            return Forward(message.target, message.message)
        if isinstance(message, Start):
            if state.label != "pending":
                return []
            events = [Event("started", parent=message.parent_id)]
        elif isinstance(message, Add):
            if state.label == "done":
                raise CommandRejected("finished")
            events = [Event("added", message.amount)]
        elif isinstance(message, Hold):
            events = [Event("held")]
        elif isinstance(message, Finish):
            events = [Event("finished")]
        else:
            events = []
        for event in events:
            self._fold(state, event)
        return events

    @staticmethod
    def _fold(state: Counter, event: Event) -> None:
        state.seq += 1
        if event.kind == "started":
            state.label, state.parent = "running", event.parent
        elif event.kind == "added":
            state.total += event.amount
            state.idle = False
        elif event.kind == "held":
            state.idle = True
        elif event.kind == "finished":
            state.label, state.idle = "done", False

    def effects(self, state: Counter, performed: Set[Hashable]) -> Sequence[Effect]:
        out: list[Effect] = []
        if state.parent is not None:
            report = Route(("report", state.label), state.parent, Add(0), report=True)
            if report.ident not in performed:
                out.append(report)
        return out

    def status(self, state: Counter) -> Status:
        return STATUSES[(state.label, state.idle)]

    def view(self, state: Counter, detail: bool) -> dict[str, Any]:
        return {"id": state.execution_id, "total": state.total, "status": state.label}


# -- an in-memory store, whose commits a test can hold -------------------------------------
@dataclass
class Request:
    execution_id: str
    expected_seq: int
    events: list[Any]


class Writer:
    def __init__(self, execution_id: str, seq: int) -> None:
        self.execution_id = execution_id
        self.seq = seq

    def encode(self, state: Any, events: list[Any], *, settle: bool, status: Status) -> Request:
        request = Request(self.execution_id, self.seq, list(events))
        self.seq += len(events)
        return request


@dataclass
class MemoryStore:
    streams: dict[str, list[Any]] = field(default_factory=dict)
    gate: threading.Event = field(default_factory=threading.Event)
    fail_next: BaseException | None = None
    loads: int = 0

    committed: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self.gate.set()

    async def commit(self, batch: Sequence[Request]) -> list[BaseException | None]:
        if not self.gate.is_set():  # a slow disk: the coordinator must wait for it
            await asyncio.get_running_loop().run_in_executor(None, self.gate.wait)
        with self.committed:
            results = self._apply(batch)
            self.committed.notify_all()
        return results

    def wait_for(self, predicate: Any, timeout: float = 5) -> bool:
        with self.committed:
            return bool(self.committed.wait_for(predicate, timeout))

    def _apply(self, batch: Sequence[Request]) -> list[BaseException | None]:
        results: list[BaseException | None] = []
        for request in batch:
            if self.fail_next is not None:
                results.append(self.fail_next)
                self.fail_next = None
                continue
            stream = self.streams.setdefault(request.execution_id, [])
            if len(stream) != request.expected_seq:
                results.append(RuntimeError("conflict"))
                continue
            stream.extend(request.events)
            results.append(None)
        return results

    async def load(self, execution_id: str) -> Stored | None:
        self.loads += 1
        events = self.streams.get(execution_id)
        if not events:
            return None
        return Stored("counter", None, list(events), len(events))

    def writer(
        self, execution_id: str, interpreter: Interpreter, state: Any, stored: Stored | None
    ) -> Writer:
        return Writer(execution_id, stored.seq if stored is not None else 0)

    def is_transient(self, error: BaseException) -> bool:
        return False


class Interpreters:
    def __init__(self) -> None:
        self.counter = CounterInterpreter()

    def interpreter(self, definition: str) -> CounterInterpreter:
        if definition != "counter":
            raise LookupError(definition)
        return self.counter


@pytest.fixture
def runtime():
    store = MemoryStore()
    interpreters = Interpreters()
    system = ActorSystem(interpreters, store)
    try:
        yield system, store, interpreters.counter
    finally:
        system.shutdown()


def test_an_answer_comes_only_once_its_events_are_durable(runtime):
    system, store, _ = runtime
    assert system.ask("c1", Start("counter"), timeout=5)["status"] == "running"
    store.gate.clear()
    answered = []
    asker = threading.Thread(
        target=lambda: answered.append(system.ask("c1", Add(2), timeout=5)), daemon=True
    )
    asker.start()
    asker.join(0.2)
    assert answered == [] and store.streams["c1"][-1].kind == "started"
    store.gate.set()
    asker.join(5)
    assert answered == [{"id": "c1", "total": 2, "status": "running"}]
    assert [e.kind for e in store.streams["c1"]] == ["started", "added"]


def test_an_idle_execution_is_passivated_and_rebuilt_by_its_next_message(runtime):
    system, _store, counter = runtime
    system.ask("c1", Start("counter"), timeout=5)
    system.ask("c1", Add(3), timeout=5)
    assert system.ask("c1", Hold(), timeout=5)["total"] == 3
    assert not system.is_live("c1")  # waiting costs no coordinator
    assert counter.restored == []
    assert system.ask("c1", Add(4), timeout=5)["total"] == 7
    assert counter.restored == ["c1"]  # rebuilt from its events


def test_a_failed_append_is_rebuilt_from_what_is_durable(runtime):
    system, store, counter = runtime
    system.ask("c1", Start("counter"), timeout=5)
    store.fail_next = RuntimeError("disk on fire")
    with pytest.raises(RuntimeError, match="disk on fire"):
        system.ask("c1", Add(5), timeout=5)
    # the failed event was never durable: the rebuilt execution does not have it
    assert system.ask("c1", GetStatus(), timeout=5)["total"] == 0
    assert counter.restored == ["c1"]
    assert system.ask("c1", Add(1), timeout=5)["total"] == 1
    assert [e.kind for e in store.streams["c1"]] == ["started", "added"]


def test_a_rejected_command_changes_nothing(runtime):
    system, store, _ = runtime
    system.ask("c1", Start("counter"), timeout=5)
    system.ask("c1", Finish(), timeout=5)  # finished: the coordinator stops
    with pytest.raises(CommandRejected):
        system.ask("c1", Add(1), timeout=5)
    assert [e.kind for e in store.streams["c1"]] == ["started", "finished"]


def test_a_forwarded_message_is_handled_by_its_target(runtime):
    system, store, _ = runtime
    system.ask("a", Start("counter"), timeout=5)
    system.ask("b", Start("counter"), timeout=5)
    future = system.waiters.watch("b", frozenset({"done"}))
    system.tell("a", Relay("b", Finish()))
    assert future.result(5) == "done"
    assert [e.kind for e in store.streams["a"]] == ["started"]


def test_a_report_to_the_parent_is_sent_again_when_the_parent_starts_the_child_again(runtime):
    system, store, _ = runtime
    system.ask("parent", Start("counter"), timeout=5)
    system.ask("parent/child", Start("counter", parent_id="parent"), timeout=5)

    def reports() -> int:
        return len([e for e in store.streams["parent"] if e.kind == "added"])

    assert store.wait_for(lambda: reports() == 1)
    system.ask("parent/child", Start("counter", parent_id="parent"), timeout=5)
    assert store.wait_for(lambda: reports() == 2)


def test_finished_executions_answer_result_waiters_from_memory(runtime):
    system, store, _ = runtime
    system.ask("c1", Start("counter"), timeout=5)
    waiting = system.waiters.result("c1")
    system.tell("c1", Finish())
    assert waiting.result(5)["status"] == "done"
    loads = store.loads
    assert system.waiters.result("c1").result(0)["status"] == "done"
    assert store.loads == loads


class Elsewhere:
    """A placement that owns nothing but ``local``: every other ask goes to the store."""

    def __init__(self, local: str) -> None:
        self.local = local
        self.asked: list[tuple[str, Any]] = []

    def is_local(self, execution_id: str) -> bool:
        return execution_id == self.local

    def forward(self, execution_id: str, message: Any) -> None:
        raise AssertionError("no tell in this test")

    def ask(self, execution_id: str, message: Any, timeout: float | None, detail: bool) -> Any:
        self.asked.append((execution_id, message))
        return {"id": execution_id, "answered": "by its owner"}

    def lost(self, execution_id: str) -> None:
        pass

    def finished(self, execution_id: str) -> None:
        pass


def test_asks_for_an_execution_owned_elsewhere_go_to_the_placement_sync_or_async(runtime):
    system, _store, _ = runtime
    placement = Elsewhere(local="mine")
    system.placement = placement
    assert system.ask("mine", Start("counter"), timeout=5)["status"] == "running"
    assert system.ask("theirs", Add(1), timeout=5) == {"id": "theirs", "answered": "by its owner"}

    async def from_a_coroutine() -> Any:
        return await system.ask_async("theirs", Add(2), timeout=5)

    assert asyncio.run(from_a_coroutine()) == {"id": "theirs", "answered": "by its owner"}
    assert placement.asked == [("theirs", Add(1)), ("theirs", Add(2))]
    assert not system.is_live("theirs")  # never run here
