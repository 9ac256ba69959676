"""A Dag in the decider: each task starts once its dependencies completed."""

from __future__ import annotations

from pydantic import BaseModel

from actors.messages import ChildUpdate
from water import Dag, Flow, RetryPolicy, TaskContext, task


class Num(BaseModel):
    value: int


class Pair(BaseModel):
    left: int
    right: int


@task
def extract(n: Num) -> Num:
    return Num(value=n.value + 1)


@task
def clean(n: Num) -> Num:
    return Num(value=n.value * 2)


@task
def enrich(n: Num) -> Num:
    return Num(value=n.value * 10)


@task
def report(clean: Num, enrich: Num, ctx: TaskContext) -> Pair:
    return Pair(left=clean.value, right=enrich.value)


def diamond(**options: object) -> Dag:
    return (
        Dag("diamond", **options)  # type: ignore[arg-type]
        .add(extract)
        .add(clean, depends_on=["extract"])
        .add(enrich, depends_on=["extract"])
        .add(report, depends_on=["clean", "enrich"])
    )


def test_a_diamond_runs_each_task_once_its_dependencies_completed(sim_of):
    sim = sim_of(diamond())
    sim.start({"value": 1})
    assert sim.running == ["0.extract"]
    sim.run("0.extract")
    assert sim.running == ["0.clean", "0.enrich"]
    assert sim.step("0.clean").input == sim.step("0.enrich").input == {"value": 2}
    sim.run("0.enrich")
    assert sim.running == ["0.clean"]  # report waits for clean too
    sim.run("0.clean")
    assert sim.running == ["0.report"]
    assert sim.step("0.report").input == {"clean": {"value": 4}, "enrich": {"value": 20}}
    sim.run("0.report")
    view = sim.view()
    assert view.status == "completed"
    assert view.output == {"report": {"left": 4, "right": 20}}
    assert view.completed_steps == ["0.extract", "0.enrich", "0.clean", "0.report"]
    sim.assert_replay_matches()


def test_a_task_starts_when_its_own_dependencies_are_done_not_level_by_level(sim_of):
    dag = (
        Dag("lanes")
        .add(extract, depends_on=[])
        .add(clean, depends_on=["extract"])
        .add(enrich)  # a second root, slow
        .add(report, depends_on=["clean", "enrich"])
    )
    sim = sim_of(dag)
    sim.start({"value": 1})
    assert sim.running == ["0.extract", "0.enrich"]
    sim.run("0.extract")
    assert sim.running == ["0.enrich", "0.clean"]  # clean does not wait for enrich's level
    sim.run("0.clean")
    assert sim.running == ["0.enrich"]
    sim.run("0.enrich")
    assert sim.view().output is None and sim.running == ["0.report"]
    sim.run("0.report")
    assert sim.view().output == {"report": {"left": 4, "right": 10}}
    sim.assert_replay_matches()


def test_the_output_holds_every_task_nothing_depends_on(sim_of):
    dag = Dag("fan").add(extract).add(clean, ["extract"]).add(enrich, ["extract"])
    sim = sim_of(dag)
    sim.start({"value": 0})
    sim.run_all()
    assert sim.view().output == {"clean": {"value": 2}, "enrich": {"value": 10}}


def test_concurrency_bounds_the_tasks_in_flight_and_they_start_in_declared_order(sim_of):
    @task
    def a(n: Num) -> Num:
        return n

    @task
    def b(n: Num) -> Num:
        return n

    @task
    def c(n: Num) -> Num:
        return n

    @task
    def d(n: Num) -> Num:
        return n

    sim = sim_of(Dag("bounded", concurrency=2).add(a).add(b).add(c).add(d, depends_on=["a"]))
    sim.start({"value": 1})
    assert sim.running == ["0.a", "0.b"]
    sim.run("0.b")
    assert sim.running == ["0.a", "0.c"]  # d still waits for a
    sim.run("0.a")
    assert sim.running == ["0.c", "0.d"]
    sim.run_all()
    assert sim.view().status == "completed"
    assert sim.keys == ["0.a", "0.b", "0.c", "0.d"]
    sim.assert_replay_matches()


def test_ready_tasks_waiting_for_a_free_slot_start_in_declared_order(sim_of):
    @task
    def first(n: Num) -> Num:
        return n

    @task
    def after_first(n: Num) -> Num:
        return n

    @task
    def root(n: Num) -> Num:
        return n

    dag = Dag("one_at_a_time", concurrency=1).add(first).add(after_first, ["first"]).add(root)
    sim = sim_of(dag)
    sim.start({"value": 1})
    assert sim.running == ["0.first"]  # root is ready too, but waits for the slot
    sim.run("0.first")
    assert sim.running == ["0.after_first"]  # declared before root
    sim.run_all()
    assert sim.keys == ["0.first", "0.after_first", "0.root"]
    sim.assert_replay_matches()


def test_a_failed_middle_task_is_retried_and_its_dependents_wait_for_it(sim_of):
    retry = RetryPolicy(max_attempts=3, backoff="fixed", delay="5s")
    sim = sim_of(diamond(retry=retry))
    sim.start({"value": 1})
    sim.run("0.extract")
    sim.fail("0.clean", ConnectionError("database away"))
    assert sim.step("0.clean").status == "backoff"
    sim.run("0.enrich")
    assert sim.running == [] and sim.view().status == "running"
    assert sim.idle  # only the retry's timer moves it on
    sim.fire("retry:0.clean")
    assert sim.running == ["0.clean"] and sim.step("0.clean").attempt == 2
    sim.run("0.clean")
    sim.run("0.report")
    assert sim.view().output == {"report": {"left": 4, "right": 20}}
    sim.assert_replay_matches()


def test_a_task_that_fails_for_good_fails_the_dag_and_stops_the_others(sim_of):
    sim = sim_of(diamond())
    sim.start({"value": 1})
    sim.run("0.extract")
    sim.fail("0.clean", ValueError("bad rows"))
    view = sim.view()
    assert view.status == "failed"
    assert view.error is not None and view.error.step == "0.clean"
    assert "bad rows" in view.error.message
    steps = {s.key: s.status for s in view.steps}
    assert steps == {"0.extract": "completed", "0.clean": "failed", "0.enrich": "cancelled"}
    sim.assert_replay_matches()


def test_pausing_lets_running_tasks_finish_and_starts_no_new_one_until_resumed(sim_of):
    sim = sim_of(diamond())
    sim.start({"value": 1})
    sim.run("0.extract")
    sim.pause()
    assert sim.view().status == "pausing"
    sim.run("0.clean")
    sim.run("0.enrich")
    assert sim.view().status == "paused" and sim.running == []
    sim.assert_replay_matches()
    sim.resume()
    assert sim.running == ["0.report"]
    sim.run("0.report")
    assert sim.view().status == "completed"
    sim.assert_replay_matches()


def test_a_crash_rebuilds_the_dag_and_runs_again_only_what_was_in_flight(sim_of):
    sim = sim_of(diamond())
    sim.start({"value": 1})
    sim.run("0.extract")
    sim.run("0.enrich")
    rebuilt = sim.crash()
    assert rebuilt.pending() == ["0.clean"]  # re-dispatched; extract and enrich are kept
    rebuilt.run("0.clean")
    rebuilt.run("0.report")
    assert rebuilt.view().output == {"report": {"left": 4, "right": 20}}
    assert rebuilt.keys == ["0.clean", "0.report"]


def test_completed_tasks_are_compensated_in_reverse_order_when_the_dag_fails(sim_of):
    undone: list[str] = []

    @task(compensate=lambda i, o, ctx: undone.append(ctx.task_id))
    def first(n: Num) -> Num:
        return n

    @task(compensate=lambda i, o, ctx: undone.append(ctx.task_id))
    def second(n: Num) -> Num:
        return n

    @task
    def boom(first: Num, second: Num) -> Num:
        raise ValueError("boom")

    dag = Dag("saga").add(first).add(second, ["first"]).add(boom, ["first", "second"])
    sim = sim_of(dag)
    sim.start({"value": 1})
    sim.run_all()
    assert sim.view().status == "running"  # rolling back
    sim.run("0.second")  # its compensation, dispatched first
    sim.run("0.first")
    view = sim.view()
    assert view.status == "failed" and view.error is not None and view.error.step == "0.boom"
    assert undone == ["second", "first"]
    assert [(c.key, c.status) for c in view.compensation] == [
        ("0.second", "completed"),
        ("0.first", "completed"),
    ]
    sim.assert_replay_matches()


def test_a_flow_in_a_dag_runs_as_a_child_execution(sim_of):
    inner = Flow("inner").then(clean).then(clean)
    sim = sim_of(Dag("outer").add(extract).add(inner, depends_on=["extract"]))
    sim.start({"value": 1})
    sim.run("0.extract")
    assert sim.running == ["0.inner"]
    route = sim.routes[-1]
    assert route.execution_id == "ex-1/0.inner"
    start = route.message
    assert (start.definition, start.input, start.parent_step) == ("inner", {"value": 2}, "0.inner")
    sim.send(ChildUpdate("0.inner", "ex-1/0.inner", "completed", output={"value": 8}))
    assert sim.view().output == {"inner": {"value": 8}}
    sim.assert_replay_matches()


def test_a_flow_rebuilt_after_a_crash_carries_on_with_what_was_in_flight(sim_of):
    sim = sim_of(Flow("chain").then(extract).parallel([clean, enrich]))
    sim.start({"value": 1})
    sim.run("0.extract")
    sim.run("1.enrich")
    rebuilt = sim.crash()  # a new process: rebuilt from the journal, then woken
    assert rebuilt.pending() == ["1.clean"]
    rebuilt.run("1.clean")
    assert rebuilt.view().output == [{"value": 4}, {"value": 20}]
