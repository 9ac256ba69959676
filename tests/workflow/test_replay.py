"""Replay and the determinism check, driven message by message (no threads, no I/O)."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

import water
from actors.messages import TimerDue
from water import task, workflow


class Num(BaseModel):
    value: int


class Tagged(BaseModel):
    value: int
    token: str
    at: float


runs: list[str] = []


@task
def add_one(n: Num) -> Num:
    runs.append("add_one")
    return Num(value=n.value + 1)


@task
def double(n: Num) -> Num:
    runs.append("double")
    return Num(value=n.value * 2)


@task
def square(n: Num) -> Num:
    runs.append("square")
    return Num(value=n.value * n.value)


@workflow(id="chain")
async def chain(n: Num) -> Num:
    a = await add_one(n)
    b = await double(a)
    return await add_one(b)


@workflow(id="fan")
async def fan(n: Num) -> list[Num]:
    return list(await asyncio.gather(add_one(n), double(n), square(n)))


@workflow(id="stamped")
async def stamped(n: Num) -> Tagged:
    a = await add_one(n)
    token = water.uuid4()  # drawn while the completion of add_one is folded
    at = water.now()
    b = await double(a)
    return Tagged(value=b.value, token=str(token), at=at.timestamp())


def test_a_workflow_of_tasks_runs_step_by_step(sim_of):
    sim = sim_of(chain)
    sim.start(Num(value=1))
    assert sim.keys == ["0.add_one"]  # one step at a time: the code awaits each
    sim.run("0.add_one")
    assert sim.keys == ["0.add_one", "1.double"]
    sim.run_all()
    assert sim.state.status == "completed"
    assert sim.state.output == {"value": 5}
    assert sim.types() == [
        "execution_started",
        "step_completed",
        "step_completed",
        "step_completed",
        "execution_completed",
    ]


def test_gathered_calls_are_dispatched_together_in_call_order(sim_of):
    sim = sim_of(fan)
    sim.start(Num(value=3))
    assert sim.keys == ["0.add_one", "1.double", "2.square"]
    sim.succeed("2.square", {"value": 9})  # outcomes in any order
    sim.succeed("0.add_one", {"value": 4})
    assert sim.state.status == "running"
    sim.succeed("1.double", {"value": 6})
    assert sim.state.output == [{"value": 4}, {"value": 6}, {"value": 9}]


def test_replay_answers_completed_steps_from_the_journal(sim_of):
    sim = sim_of(chain)
    sim.start(Num(value=1))
    sim.run("0.add_one")
    sim.run("1.double")  # 2.add_one is in flight when the process dies
    runs.clear()
    new = sim.crash()
    assert new.keys == ["2.add_one"]  # only the step that never completed runs again
    assert new.state.steps["0.add_one"].status == "completed"
    new.run_all()
    assert runs == ["add_one"]
    assert new.state.output == {"value": 5}


def test_values_of_the_world_are_drawn_once_and_replayed(sim_of):
    sim = sim_of(stamped)
    sim.start(Num(value=1))
    sim.now = 2000.0
    sim.run("0.add_one")
    values = [e for e in sim.events if e.type == "value_recorded"]
    assert [(v.position, v.kind) for v in values] == [("1", "uuid4"), ("2", "now")]
    # recorded right after the completion whose folding made the code draw them
    assert sim.types()[-3:] == ["step_completed", "value_recorded", "value_recorded"]
    new = sim.crash()
    new.now = 9999.0
    new.run_all()
    out = Tagged.model_validate(new.state.output)
    assert out.token == values[0].value and out.at == 2000.0
    assert not [e for e in new.events[len(sim.events) :] if e.type == "value_recorded"]


def test_a_running_execution_replays_in_place_after_it_waited(sim_of):
    @workflow(id="nap")
    async def nap(n: Num) -> Tagged:
        token = water.uuid4()
        await water.sleep("10m")
        a = await add_one(n)
        return Tagged(value=a.value, token=str(token), at=0)

    sim = sim_of(nap)
    sim.start(Num(value=1))
    assert sim.timers == {"sleep:1": 1000.0 + 600}
    assert sim.state.status == "waiting" and sim.idle
    assert sim.state.run is None  # only waiting: the code was dropped
    sim.fire("sleep:1")  # replays the code from the journal kept in memory
    sim.run_all()
    token = next(e.value for e in sim.events if e.type == "value_recorded")
    assert Tagged.model_validate(sim.state.output).token == token


# -- the determinism check ------------------------------------------------------------
@workflow(id="chain")
async def chain_reordered(n: Num) -> Num:
    a = await square(n)  # was add_one
    b = await double(a)
    return await add_one(b)


@workflow(id="chain")
async def chain_with_a_clock(n: Num) -> Num:
    a = await add_one(n)
    water.now()  # a new durable call where the journal has double
    b = await double(a)
    return await add_one(b)


@workflow(id="chain")
async def chain_cut_short(n: Num) -> Num:
    return await add_one(n)


def _failure(sim) -> water.ErrorInfo:
    assert sim.state.status == "failed", sim.state.status
    assert sim.events[-1].type == "execution_failed"
    return sim.state.error


def test_a_different_task_at_a_recorded_position_fails_the_execution(sim_of):
    sim = sim_of(chain)
    sim.start(Num(value=1))
    sim.run("0.add_one")
    new = sim.restarted_with(chain_reordered)
    error = _failure(new)
    assert error.type == "NonDeterminismError"
    assert "position 0" in error.message
    assert "a call of 'add_one'" in error.message and "task 'square'" in error.message
    assert error.details == {
        "position": "0",
        "recorded": "a call of 'add_one'",
        "called": "calls task 'square'",
    }
    assert new.keys == []  # nothing runs under the wrong plan


def test_another_kind_of_call_at_a_recorded_position_fails_the_execution(sim_of):
    sim = sim_of(chain)
    sim.start(Num(value=1))
    sim.run("0.add_one")
    sim.run("1.double")
    error = _failure(sim.restarted_with(chain_with_a_clock))
    assert "position 1" in error.message
    assert "a call of 'double'" in error.message and "now()" in error.message


def test_code_that_ends_before_its_recorded_calls_fails_the_execution(sim_of):
    sim = sim_of(chain)
    sim.start(Num(value=1))
    sim.run("0.add_one")
    sim.run("1.double")
    error = _failure(sim.restarted_with(chain_cut_short))
    assert error.type == "NonDeterminismError"
    assert "a call of 'double'" in error.message


def test_a_new_durable_call_where_the_run_made_none_fails_even_if_nothing_is_recorded(sim_of):
    sim = sim_of(chain)
    sim.start(Num(value=1))
    sim.run("0.add_one")  # 1.double is in flight: nothing is recorded at position 1
    error = _failure(sim.restarted_with(chain_with_a_clock))
    assert "position 1" in error.message
    assert "recorded nothing" in error.message and "now()" in error.message


# -- patched ---------------------------------------------------------------------------
@workflow(id="taxes")
async def taxes_v1(n: Num) -> Num:
    a = await add_one(n)
    b = await double(a)
    await water.wait_for_signal("go")
    return b


@workflow(id="taxes")
async def taxes_v2(n: Num) -> Num:
    a = await add_one(n)
    b = await square(a) if water.patched("tax-2027") else await double(a)
    await water.wait_for_signal("go")
    return b


def test_patched_is_true_for_new_executions_and_stays_true_on_replay(sim_of):
    sim = sim_of(taxes_v2)
    sim.start(Num(value=2))
    sim.run("0.add_one")
    marks = [(e.name, e.position) for e in sim.events if e.type == "patch_marked"]
    assert marks == [("tax-2027", "1")]
    assert sim.keys == ["0.add_one", "1.square"]
    new = sim.crash()
    assert new.keys == ["1.square"]
    new.run_all()
    new.signal("go")
    assert new.state.output == {"value": 9}
    assert new.types().count("patch_marked") == 1


def test_patched_is_false_where_the_journal_went_past_it_without_the_marker(sim_of):
    old = sim_of(taxes_v1)
    old.start(Num(value=2))
    old.run_all()  # waits for "go", past the point where the new code asks
    new = old.restarted_with(taxes_v2)
    assert new.keys == []
    new.signal("go")
    assert new.state.output == {"value": 6}  # the old branch
    assert "patch_marked" not in new.types()


def test_patched_is_false_for_a_run_that_passed_the_point_with_nothing_recorded(sim_of):
    old = sim_of(taxes_v1)
    old.start(Num(value=2))
    old.run("0.add_one")  # 1.double in flight: the journal holds nothing past position 0
    new = old.restarted_with(taxes_v2)
    assert new.keys == ["1.double"]  # the old code's call, run again
    assert "patch_marked" not in new.types()


# -- retries and failures ----------------------------------------------------------------
@task(retry=water.RetryPolicy(max_attempts=2, backoff="fixed", delay="5s"))
def flaky(n: Num) -> Num:
    raise ConnectionError("down")


@workflow(id="careful")
async def careful(n: Num) -> Num:
    try:
        return await flaky(n)
    except water.StepError as exc:
        assert exc.info.type == "ConnectionError"
        return Num(value=-1)


def test_retries_use_the_task_policy_then_the_failure_raises_in_the_code(sim_of):
    sim = sim_of(careful)
    sim.start(Num(value=1))
    sim.run("0.flaky")
    failed = sim.events[-1]
    assert failed.type == "step_failed" and failed.retry_at == 1005.0
    assert sim.timers == {"retry:0.flaky": 1005.0}
    assert sim.state.status == "running" and sim.idle
    sim.fire("retry:0.flaky")
    assert [d.ident[:3] for d in sim.dispatched] == [("run", "0.flaky", 1), ("run", "0.flaky", 2)]
    sim.run("0.flaky")
    assert sim.state.output == {"value": -1}


def test_an_uncaught_step_failure_fails_the_execution_with_the_step_error(sim_of):
    sim = sim_of(chain)
    sim.start(Num(value=1))
    sim.fail("0.add_one", ValueError("bad input"))
    assert sim.state.status == "failed"
    assert sim.state.error.type == "ValueError" and sim.state.error.step == "0.add_one"


def test_code_waiting_on_something_no_event_can_complete_fails_clearly(sim_of):
    @workflow(id="stuck")
    async def stuck(n: Num) -> Num:
        await asyncio.get_running_loop().create_future()
        return n

    sim = sim_of(stuck)
    sim.start(Num(value=1))
    assert sim.state.status == "failed"
    assert sim.state.error.type == "WorkflowBlocked"


def test_a_late_firing_of_an_earlier_retry_timer_is_dropped(sim_of):
    @task(retry=water.RetryPolicy(max_attempts=3, backoff="fixed", delay="5s"))
    def stubborn(n: Num) -> Num:
        raise ConnectionError("down")

    @workflow(id="stubborn")
    async def uses(n: Num) -> Num:
        return await stubborn(n)

    sim = sim_of(uses)
    sim.start(Num(value=1))
    sim.run("0.stubborn")
    first = sim.timers["retry:0.stubborn"]
    sim.fire("retry:0.stubborn")
    sim.run("0.stubborn")  # attempt 2 fails: the timer is armed again, later
    assert sim.timers["retry:0.stubborn"] == first + 5
    assert sim.send(TimerDue("retry:0.stubborn", first)) == []  # the first arming's, late
    assert sim.state.steps["0.stubborn"].attempt == 2
