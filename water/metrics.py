"""Prometheus metrics of an engine (prometheus-client).

Each engine has its own ``CollectorRegistry`` (pass one, or one is made), so
several engines in one process, or in one test session, never collide. Counts
come from committed events, so they never count work that was not durable.
Live figures (actors, mailbox depths, armed timers, breaker states) are read
when the registry is scraped. No metric has an execution id as a label.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from actors.observer import RuntimeObserver

if TYPE_CHECKING:
    from water.engine import Engine

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
COMMIT_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
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
        self.storage_available = Gauge(
            "water_storage_available",
            "1 while the storage takes the journal's writes; 0 during an outage (writes "
            "held and retried, new executions refused).",
            registry=r,
        )
        self.storage_available.set(1)
        self.breaker_transitions = Counter(
            "water_circuit_breaker_transitions_total",
            "Circuit breaker state changes.",
            ["breaker", "state"],
            registry=r,
        )
        # per-step series are counted in plain structures (one writer: the reactor
        # loop) and turned into metric families at scrape time by a collector
        self.steps: dict[tuple[str, str, str], int] = {}
        self.step_duration: dict[str, FastHistogram] = {}
        self.commit_seconds = FastHistogram(COMMIT_BUCKETS)
        self.batch_size = FastHistogram(BATCH_BUCKETS)
        self._flows: dict[str, _FlowSeries] = {}
        r.register(_LiveCollector(engine))
        r.register(_StepCollector(self))

    def _flow(self, flow: str) -> _FlowSeries:
        """The series of one flow, looked up once (``labels`` costs a lock and a dict)."""
        series = self._flows.get(flow)
        if series is None:
            series = self._flows[flow] = _FlowSeries(
                self.started.labels(flow), self.active.labels(flow), self.duration.labels(flow)
            )
        return series

    def _step(self, flow: str, task: str, outcome: str) -> None:
        key = (flow, task, outcome)
        self.steps[key] = self.steps.get(key, 0) + 1

    # -- RuntimeObserver ---------------------------------------------------------------
    def journal_committed(self, batch_size: int, seconds: float) -> None:
        self.commit_seconds.observe(seconds)
        self.batch_size.observe(batch_size)

    def actor_restarted(self, kind: str) -> None:
        self.restarts.labels(kind).inc()

    def breaker_changed(self, name: str, old: str, new: str) -> None:
        self.breaker_transitions.labels(name, new).inc()

    def storage_changed(self, available: bool) -> None:
        self.storage_available.set(1 if available else 0)

    # -- events ------------------------------------------------------------------------
    def events_committed(self, state: Any, events: Sequence[Any]) -> None:
        flow = state.flow_id
        for event in events:
            kind = event.type
            if kind == "step_completed":
                step = state.steps.get(event.key)
                task = step.task_id if step is not None else "?"
                self._step(flow, task, "completed")
                if step is not None:
                    hist = self.step_duration.get(task)
                    if hist is None:
                        hist = self.step_duration[task] = FastHistogram(STEP_BUCKETS)
                    hist.observe(max(0.0, event.ts - step.started_at))
            elif kind == "step_failed":
                step = state.steps.get(event.key)
                task = step.task_id if step is not None else "?"
                if event.retry_at is not None:
                    self._step(flow, task, "retried")
                    self.retries.labels(task).inc()
                else:
                    self._step(flow, task, "failed")
            elif kind == "step_suspended":
                step = state.steps.get(event.key)
                self._step(flow, step.task_id if step else "?", "suspended")
            elif kind == "execution_started":
                series = self._flow(flow)
                series.started.inc()
                series.active.inc()
            elif kind == "execution_retried":  # finished, and going on again
                self._flow(flow).active.inc()
            elif kind in ("execution_completed", "execution_failed", "cancelled"):
                status = {"execution_completed": "completed", "execution_failed": "failed"}.get(
                    kind, "cancelled"
                )
                series = self._flow(flow)
                finished = series.finished.get(status)
                if finished is None:
                    finished = series.finished[status] = self.finished.labels(flow, status)
                finished.inc()
                series.active.dec()
                if state.created_at:
                    series.duration.observe(max(0.0, event.ts - state.created_at))


@dataclass(slots=True)
class _FlowSeries:
    """The labelled children of one flow's series."""

    started: Counter
    active: Gauge
    duration: Histogram
    finished: dict[str, Counter] = field(default_factory=dict)


class FastHistogram:
    """Bucket counts for a histogram written by one thread, read at scrape time."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def family(
        self,
        name: str,
        doc: str,
        labels: list[str],
        values: list[str],
        into: HistogramMetricFamily | None = None,
    ) -> HistogramMetricFamily:
        family = into or HistogramMetricFamily(name, doc, labels=labels)
        cumulative, buckets = 0, []
        for bound, n in zip(self.bounds, self.counts, strict=False):
            cumulative += n
            buckets.append((floatToGoString(bound), cumulative))  # type: ignore[no-untyped-call]
        buckets.append(("+Inf", cumulative + self.counts[-1]))
        family.add_metric(values, buckets, self.sum)
        return family


class _StepCollector(Collector):
    """The per-step series, from the engine's plain counters."""

    def __init__(self, metrics: EngineMetrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Any]:
        m = self._m
        steps = CounterMetricFamily(
            "water_steps",
            "Step attempts by outcome (completed, failed, retried, suspended).",
            labels=["flow", "task", "outcome"],
        )
        for (flow, task, outcome), n in list(m.steps.items()):
            steps.add_metric([flow, task, outcome], n)
        yield steps
        duration = HistogramMetricFamily(
            "water_step_duration_seconds",
            "Duration of step attempts that completed.",
            labels=["task"],
        )
        for task, hist in list(m.step_duration.items()):
            hist.family("", "", [], [task], into=duration)
        yield duration
        yield m.commit_seconds.family(
            "water_journal_commit_seconds", "Duration of one group commit of the journal.", [], []
        )
        yield m.batch_size.family(
            "water_journal_batch_size", "Appends written by one group commit.", [], []
        )


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
        actors.add_metric(["supervisor"], system.supervisors.count())
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
        for name, machine in system.supervisors.breakers().items():
            breakers.add_metric([name], BREAKER_STATES.get(str(machine.state), 0))
        yield breakers
        node = getattr(engine, "node", None)
        if node is None:
            return
        info = node.info()
        labels = ["node"]
        ident = [str(info["node_id"])]
        for name, doc, key in (
            ("water_node_lease_held", "1 while this node's lease is renewed in time.", None),
            ("water_node_owned_executions", "Unfinished executions this node runs.", "owned"),
            ("water_node_claimed", "Executions this node claimed since it started.", "claimed"),
            ("water_node_lost", "Executions another node claimed from this one.", "lost"),
        ):
            value = (
                float(bool(info["lease_held"]))
                if key is None
                else float(info["owned_executions" if key == "owned" else key])
            )
            family = GaugeMetricFamily(name, doc, labels=labels)
            family.add_metric(ident, value)
            yield family
