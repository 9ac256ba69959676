"""Prometheus metrics of an engine (prometheus-client).

Each engine has its own ``CollectorRegistry`` (pass one, or one is made), so
several engines in one process, or in one test session, never collide. Counts
come from committed events, so they never count work that was not durable.
Live figures (actors, mailbox depths, armed timers, breaker states) are read
when the registry is scraped. No metric has an execution id as a label.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from actors.observer import RuntimeObserver

if TYPE_CHECKING:
    from water.engine import Engine
    from water.interpreter.state import ExecState

# workflow durations span milliseconds to weeks
EXECUTION_BUCKETS = (
    0.01,
    0.05,
    0.1,
    0.5,
    1,
    5,
    10,
    30,
    60,
    300,
    900,
    3600,
    4 * 3600,
    86400,
    7 * 86400,
)
STEP_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


class EngineMetrics(RuntimeObserver):
    """The ``water_*`` series of one engine."""

    def __init__(self, engine: Engine, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.started = Counter(
            "water_executions_started_total", "Executions started.", ["flow"], registry=r
        )
        self.finished = Counter(
            "water_executions_finished_total",
            "Executions that reached a final status.",
            ["flow", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "water_execution_duration_seconds",
            "Time from start to final status.",
            ["flow"],
            buckets=EXECUTION_BUCKETS,
            registry=r,
        )
        self.steps = Counter(
            "water_steps_total",
            "Step attempts by outcome (completed, failed, retried, suspended).",
            ["flow", "task", "outcome"],
            registry=r,
        )
        self.step_duration = Histogram(
            "water_step_duration_seconds",
            "Duration of step attempts that completed.",
            ["task"],
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "water_step_retries_total",
            "Retries scheduled after a failed attempt.",
            ["task"],
            registry=r,
        )
        self.active = Gauge(
            "water_active_executions",
            "Executions started and not finished.",
            ["flow"],
            registry=r,
        )
        self.restarts = Counter(
            "water_actor_restarts_total",
            "Actors replaced after a crash or hang.",
            ["kind"],
            registry=r,
        )
        self.breaker_transitions = Counter(
            "water_circuit_breaker_transitions_total",
            "Circuit breaker state changes.",
            ["breaker", "state"],
            registry=r,
        )
        self.commit_seconds = Histogram(
            "water_journal_commit_seconds",
            "Duration of one group commit of the journal.",
            buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 1),
            registry=r,
        )
        self.batch_size = Histogram(
            "water_journal_batch_size",
            "Appends written by one group commit.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=r,
        )
        r.register(_LiveCollector(engine))
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # -- RuntimeObserver ---------------------------------------------------------------
    def journal_committed(self, batch_size: int, seconds: float) -> None:
        self.commit_seconds.observe(seconds)
        self.batch_size.observe(batch_size)

    def actor_restarted(self, kind: str) -> None:
        self.restarts.labels(kind).inc()

    def breaker_changed(self, name: str, old: str, new: str) -> None:
        self.breaker_transitions.labels(name, new).inc()

    # -- events ------------------------------------------------------------------------
    def events_committed(self, state: ExecState, events: list[Any]) -> None:
        flow = state.flow_id
        for event in events:
            kind = event.type
            if kind == "step_completed":
                step = state.steps.get(event.key)
                task = step.task_id if step is not None else "?"
                self._child(self.steps, flow, task, "completed").inc()
                if step is not None:
                    self._child(self.step_duration, task).observe(
                        max(0.0, event.ts - step.started_at)
                    )
            elif kind == "step_failed":
                step = state.steps.get(event.key)
                task = step.task_id if step is not None else "?"
                if event.retry_at is not None:
                    self.steps.labels(flow, task, "retried").inc()
                    self.retries.labels(task).inc()
                else:
                    self.steps.labels(flow, task, "failed").inc()
            elif kind == "step_suspended":
                step = state.steps.get(event.key)
                self.steps.labels(flow, step.task_id if step else "?", "suspended").inc()
            elif kind == "execution_started":
                self.started.labels(flow).inc()
                self.active.labels(flow).inc()
            elif kind in ("execution_completed", "execution_failed", "cancelled"):
                status = {"execution_completed": "completed", "execution_failed": "failed"}.get(
                    kind, "cancelled"
                )
                self.finished.labels(flow, status).inc()
                self.active.labels(flow).dec()
                if state.created_at:
                    self.duration.labels(flow).observe(max(0.0, event.ts - state.created_at))


class _LiveCollector(Collector):
    """Figures read from the running engine at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        engine = self._engine
        system = getattr(engine, "system", None)
        if system is None:
            return
        actors = GaugeMetricFamily("water_actors", "Live actors by kind.", labels=["kind"])
        actors.add_metric(["coordinator"], system.active_coordinators())
        actors.add_metric(["supervisor"], system.supervisor_count())
        yield actors
        depth = GaugeMetricFamily(
            "water_mailbox_depth", "Messages waiting in actor mailboxes.", labels=["kind"]
        )
        for kind, value in system.mailbox_depths().items():
            depth.add_metric([kind], value)
        yield depth
        yield GaugeMetricFamily(
            "water_timers_armed", "Durable timers armed in memory.", value=system.timers.armed
        )
        breakers = GaugeMetricFamily(
            "water_circuit_breaker_state",
            "Circuit breaker state (0 closed, 1 half-open, 2 open).",
            labels=["breaker"],
        )
        for name, machine in system.breakers().items():
            breakers.add_metric([name], BREAKER_STATES.get(str(machine.state), 0))
        yield breakers
