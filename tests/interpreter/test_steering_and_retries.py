"""Pause, resume, cancel and retry decisions."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from actors.messages import (
    Cancel,
    CommandRejected,
    Pause,
    Resume,
    RunFailed,
    RunSucceeded,
    RunSuspended,
)
from supervision import FatalError, RetryableError, RetryPolicy, StepTimeoutError
from water import Flow, task


class Num(BaseModel):
    value: int


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


@task
def dbl(n: Num) -> Num:
    return Num(value=n.value * 2)


def test_pause_lets_in_flight_steps_settle_and_starts_nothing_new(sim_of):
    sim = sim_of(Flow("f").then(inc).then(dbl))
    sim.start({"value": 1})
    sim.send(Pause())
    assert sim.state.status == "pausing"
    sim.succeed("0.inc", {"value": 2})
    assert sim.state.status == "paused"
    assert sim.running == []
    assert [d.ident[1] for d in sim.dispatched] == ["0.inc"]
    sim.send(Resume())
    assert sim.state.status == "running"
    assert sim.running == ["1.dbl"]
    assert sim.step("1.dbl").input == {"value": 2}
    sim.succeed("1.dbl", {"value": 4})
    assert sim.state.output == {"value": 4}
    sim.assert_replay_matches()


def test_pause_with_nothing_in_flight_is_paused_at_once(sim_of):
    sim = sim_of(Flow("f").for_(inc, concurrency=1))
    sim.start([{"value": 1}, {"value": 2}])
    sim.send(Pause())
    sim.succeed("0.inc[0]", {"value": 2})
    assert sim.state.status == "paused"
    assert sim.send(Pause()) == []  # idempotent


def test_resume_of_a_running_execution_changes_nothing(sim_of):
    # a command whose effect already holds is answered, like a repeated pause
    sim = sim_of(Flow("f").then(inc))
    sim.start({"value": 1})
    assert sim.send(Resume()) == []
    assert sim.state.status == "running"
    with pytest.raises(CommandRejected):  # naming a step that is not suspended still fails
        sim.send(Resume(step="0.inc", data={"x": 1}))


def test_cancel_stops_everything_and_is_final(sim_of):
    sim = sim_of(Flow("f").parallel([inc, dbl]))
    sim.start({"value": 1})
    sim.send(Cancel("no longer needed"))
    assert sim.state.status == "cancelled"
    assert sim.running == []
    assert sim.succeed("0.inc", {"value": 2}) == []
    assert sim.send(Cancel()) == []  # idempotent, like a repeated pause


def test_cancel_of_a_finished_execution_is_rejected(sim_of):
    sim = sim_of(Flow("f").then(inc))
    sim.start({"value": 1})
    sim.succeed("0.inc", {"value": 2})
    assert sim.state.status == "completed"
    with pytest.raises(CommandRejected, match="already completed"):
        sim.send(Cancel())


def test_failure_is_retried_after_the_policy_delay_with_the_next_attempt(sim_of):
    policy = RetryPolicy(max_attempts=3, backoff="exponential", delay=2.0)
    sim = sim_of(Flow("f").then(inc), retry=policy)
    sim.start({"value": 1})
    sim.fail("0.inc", ConnectionError("down"))
    failed = [e for e in sim.events if e.type == "step_failed"]
    assert failed[-1].retry_at == sim.now + 2.0
    assert sim.timers == {"retry:0.inc": sim.now + 2.0}
    # a back-off is not waiting for the world: still running, but idle (passivated)
    assert sim.running == [] and sim.state.status == "running"
    assert sim.idle
    sim.fire("retry:0.inc")
    assert sim.running == ["0.inc"]
    assert sim.step("0.inc").attempt == 2
    assert [d.ident[2] for d in sim.dispatched] == [1, 2]
    sim.fail("0.inc", ConnectionError("down"))
    assert sim.timers["retry:0.inc"] == sim.now + 4.0
    sim.fire("retry:0.inc")
    sim.fail("0.inc", ConnectionError("down"))
    assert sim.state.status == "failed"
    assert sim.state.error.type == "ConnectionError"
    assert sim.state.error.step == "0.inc"
    sim.assert_replay_matches()


def test_fatal_errors_and_unlisted_types_are_not_retried(sim_of):
    policy = RetryPolicy(max_attempts=5, delay=1.0, retry_on=(ConnectionError,))
    for error in (FatalError("no"), ValueError("not listed")):
        sim = sim_of(Flow("f").then(inc), retry=policy)
        sim.start({"value": 1})
        sim.fail("0.inc", error)
        assert sim.state.status == "failed"
        assert sim.state.error.retryable is False


def test_retryable_error_waits_exactly_retry_after(sim_of):
    sim = sim_of(Flow("f").then(inc), retry=RetryPolicy(max_attempts=2, delay=30))
    sim.start({"value": 1})
    sim.fail("0.inc", RetryableError("busy", retry_after="1500ms"))
    assert sim.timers["retry:0.inc"] == sim.now + 1.5


def test_retry_timer_firing_while_paused_waits_for_resume(sim_of):
    sim = sim_of(Flow("f").then(inc), retry=RetryPolicy(max_attempts=2, delay=1))
    sim.start({"value": 1})
    sim.fail("0.inc", ConnectionError("down"))
    sim.send(Pause())
    assert sim.state.status == "paused"
    sim.fire("retry:0.inc")
    assert sim.running == []
    sim.send(Resume())
    assert sim.running == ["0.inc"] and sim.step("0.inc").attempt == 2


def test_a_late_outcome_of_an_earlier_attempt_is_ignored(sim_of):
    policy = RetryPolicy(max_attempts=3, backoff="fixed", delay=1)
    sim = sim_of(Flow("f").then(inc).then(dbl), retry=policy)
    sim.start({"value": 1})
    sim.fail("0.inc", StepTimeoutError("inc", 30))  # attempt 1 timed out...
    sim.fire("retry:0.inc")
    assert sim.step("0.inc").attempt == 2  # ...attempt 2 runs, then attempt 1 returns
    assert sim.send(RunSucceeded("0.inc", 1, {"value": 100})) == []
    assert sim.send(RunFailed("0.inc", 1, ConnectionError("late"))) == []
    assert sim.send(RunSuspended("0.inc", 1, {"late": True})) == []
    assert sim.running == ["0.inc"] and sim.step("0.inc").status == "running"
    sim.succeed("0.inc", {"value": 2})
    assert sim.step("0.inc").output == {"value": 2}
    assert sim.running == ["1.dbl"] and sim.step("1.dbl").input == {"value": 2}
    sim.assert_replay_matches()


def test_a_late_outcome_of_an_earlier_compensation_attempt_is_ignored(sim_of):
    def undo(i, o, ctx):
        return None

    @task(compensate=undo, retry=RetryPolicy(max_attempts=3, backoff="fixed", delay=1))
    def reserve(n: Num) -> Num:
        return n

    sim = sim_of(Flow("saga").then(reserve).then(inc))
    sim.start({"value": 1})
    sim.succeed("0.reserve", {"value": 1})
    sim.fail("1.inc", RuntimeError("no"))
    sim.send(RunFailed("0.reserve", 1, StepTimeoutError("reserve", 5), tag="undo"))
    sim.fire("comp:0.reserve")
    late = RunSucceeded("0.reserve", 1, None, tag="undo")
    assert sim.send(late) == []
    assert sim.state.status == "running" and sim.state.compensation.running
    sim.send(RunSucceeded("0.reserve", 2, None, tag="undo"))
    view = sim.view()
    assert [(c.key, c.status, c.attempts) for c in view.compensation] == [
        ("0.reserve", "completed", 2)
    ]
    sim.assert_replay_matches()


@pytest.mark.parametrize("where", ["running", "backoff", "suspended"])
def test_cancel_shows_every_unfinished_step_cancelled(sim_of, where):
    sim = sim_of(Flow("f").then(inc), retry=RetryPolicy(max_attempts=2, delay=60))
    sim.start({"value": 1})
    if where == "backoff":
        sim.fail("0.inc", ConnectionError("down"))
    elif where == "suspended":
        sim.send(RunSuspended("0.inc", 1, {"question": "ok?"}))
    assert sim.step("0.inc").status == where
    sim.send(Cancel("no longer needed"))
    view = sim.view()
    assert [(s.key, s.status) for s in view.steps] == [("0.inc", "cancelled")]
    assert view.suspended == {} and view.waiting_for == [] and view.wake_at is None
    sim.assert_replay_matches()
