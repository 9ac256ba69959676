"""Durable waiting in the decider: timers, signals, suspension, nested flows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from actors.effects import Forward
from actors.messages import (
    Cancel,
    ChildUpdate,
    CommandRejected,
    Pause,
    Resume,
    RunSuspended,
    Signal,
)
from water import Flow, task


class Num(BaseModel):
    value: int


class Approval(BaseModel):
    approved: bool


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


@task(resume_model=Approval)
def review(n: Num) -> Num:
    return n


def test_sleep_arms_a_durable_timer_and_passes_the_value_on(sim_of):
    sim = sim_of(Flow("f").then(inc).sleep("5m").then(inc))
    sim.start({"value": 1})
    sim.succeed("0.inc", {"value": 2})
    assert sim.timers == {"sleep:1": sim.now + 300}
    assert sim.state.status == "waiting"
    assert sim.idle
    sim.fire("sleep:1")
    assert sim.running == ["2.inc"] and sim.step("2.inc").input == {"value": 2}
    sim.assert_replay_matches()


def test_sleep_until_a_function_of_the_value(sim_of):
    wake = datetime(2030, 1, 1, tzinfo=UTC)
    sim = sim_of(Flow("f").sleep_until(lambda v: wake).then(inc))
    sim.start({"value": 1})
    assert sim.timers == {"sleep:0": wake.timestamp()}
    # replay keeps the recorded wake time without calling the function
    sim.assert_replay_matches()


def test_a_signal_waited_for_becomes_the_value(sim_of):
    sim = sim_of(Flow("f").then(inc).wait_for_signal("approve", model=Approval))
    sim.start({"value": 1})
    sim.succeed("0.inc", {"value": 2})
    assert sim.state.status == "waiting" and sim.state.waiting_signal == "approve"
    sim.send(Signal("approve", {"approved": True}))
    assert sim.state.status == "completed"
    assert sim.state.output == {"approved": True}


def test_a_signal_sent_before_the_wait_is_kept(sim_of):
    sim = sim_of(Flow("f").then(inc).wait_for_signal("approve").then(inc))
    sim.start({"value": 1})
    sim.send(Signal("approve", {"value": 10}))
    assert sim.state.signals == {"approve": [{"value": 10}]}
    sim.succeed("0.inc", {"value": 2})
    assert sim.running == ["2.inc"] and sim.step("2.inc").input == {"value": 10}
    sim.assert_replay_matches()


def test_signals_are_validated_and_unknown_names_refused(sim_of):
    sim = sim_of(Flow("f").wait_for_signal("approve", model=Approval))
    sim.start(None)
    with pytest.raises(CommandRejected) as bad:
        sim.send(Signal("approve", {"approved": "maybe"}))
    assert bad.value.code == "invalid"
    with pytest.raises(CommandRejected, match="never waits for signal 'aprove'"):
        sim.send(Signal("aprove", {}))


def test_signal_timeout_fails_or_uses_the_default(sim_of):
    sim = sim_of(Flow("f").wait_for_signal("go", timeout="10s"))
    sim.start(None)
    assert sim.timers == {"signal:0": sim.now + 10}
    sim.fire("signal:0")
    assert sim.state.status == "failed" and sim.state.error.type == "SignalTimeout"

    sim = sim_of(Flow("g").wait_for_signal("go", timeout=1, default={"value": 0}).then(inc))
    sim.start(None)
    sim.fire("signal:0")
    assert sim.running == ["1.inc"] and sim.step("1.inc").input == {"value": 0}


def test_suspending_one_for_item_leaves_the_others_running_and_finished(sim_of):
    sim = sim_of(Flow("f").for_(review, concurrency=3))
    sim.start([{"value": i} for i in range(4)])
    sim.send(RunSuspended("0.review[1]", 1, {"question": "ok?"}))
    assert sim.state.suspended == {"0.review[1]": {"question": "ok?"}}
    sim.succeed("0.review[0]", {"value": 0})
    sim.succeed("0.review[2]", {"value": 2})
    sim.succeed("0.review[3]", {"value": 3})
    assert sim.state.status == "waiting" and sim.running == []
    with pytest.raises(CommandRejected) as bad:
        sim.send(Resume({"approved": "x"}, step="0.review[1]"))
    assert bad.value.code == "invalid"
    sim.send(Resume({"approved": True}))  # the only suspended step: no key needed
    assert sim.running == ["0.review[1]"]
    assert sim.step("0.review[1]").resume_data == {"approved": True}
    job = sim.dispatched[-1].make_job()
    assert job.key == "0.review[1]"
    sim.succeed("0.review[1]", {"value": 1})
    assert sim.state.output == [{"value": i} for i in range(4)]
    # finished items never ran again
    keys = [d.ident[1] for d in sim.dispatched]
    assert keys.count("0.review[0]") == 1 and keys.count("0.review[1]") == 2
    sim.assert_replay_matches()


def test_several_suspended_steps_need_a_key(sim_of):
    sim = sim_of(Flow("f").parallel([review, inc]))
    sim.start({"value": 1})
    sim.send(RunSuspended("0.review", 1, "a"))
    sim.send(RunSuspended("0.inc", 1, "b"))
    with pytest.raises(CommandRejected, match="several steps are suspended"):
        sim.send(Resume({"approved": True}))
    with pytest.raises(CommandRejected, match="not suspended"):
        sim.send(Resume(1, step="0.nope"))
    sim.send(Resume(5, step="0.inc"))
    assert sim.running == ["0.inc"] and "0.review" in sim.state.suspended


def test_nested_flow_is_a_child_execution_and_its_suspension_shows_in_the_parent(sim_of):
    child = Flow("child").then(review)
    sim = sim_of(Flow("parent").then(inc).then(child).then(inc))
    sim.start({"value": 1})
    sim.succeed("0.inc", {"value": 2})
    start = sim.routes[-1]
    assert start.execution_id == "ex-1/1.child"
    assert start.message.definition == "child" and start.message.parent_step == "1.child"
    sim.send(ChildUpdate("1.child", "ex-1/1.child", "waiting", {"0.review": {"q": 1}}))
    assert sim.state.suspended == {"1.child/0.review": {"q": 1}}
    assert sim.state.status == "waiting" and sim.idle
    assert sim.resume({"approved": True}) == []
    assert sim.forwarded == [Forward("ex-1/1.child", Resume({"approved": True}, "0.review"))]
    sim.send(ChildUpdate("1.child", "ex-1/1.child", "completed", output={"value": 7}))
    assert sim.state.suspended == {}
    assert sim.running == ["2.inc"] and sim.step("2.inc").input == {"value": 7}
    sim.assert_replay_matches()


def test_pause_reaches_children_and_cancel_cancels_them(sim_of):
    child = Flow("child").then(inc)
    sim = sim_of(Flow("parent").then(child))
    sim.start({"value": 1})
    sim.send(Pause())
    assert sim.routes[-1].message == Pause()
    assert sim.state.status == "pausing"
    sim.send(ChildUpdate("0.child", "ex-1/0.child", "paused"))
    assert sim.state.status == "paused"
    sim.send(Cancel("stop"))
    assert sim.routes[-1].message == Cancel("stop")
    assert sim.routes[-1].execution_id == "ex-1/0.child"


def test_a_parent_resumes_the_children_it_paused_and_only_those(sim_of):
    child = Flow("child").then(inc)
    sim = sim_of(Flow("parent").then(child))
    sim.start({"value": 1})
    # the child is paused directly (by its own id): its parent must leave it paused
    sim.send(ChildUpdate("0.child", "ex-1/0.child", "paused"))
    assert sim.state.status == "waiting"
    assert [r.message for r in sim.routes if r.message in (Pause(), Resume())] == []
    # the parent's own pause and resume reach the child
    sim.send(Pause())
    sim.send(Resume())
    assert sim.routes[-1].message == Resume()
    sim.send(ChildUpdate("0.child", "ex-1/0.child", "running"))
    assert sim.state.status == "running"
    sim.send(ChildUpdate("0.child", "ex-1/0.child", "paused"))  # paused directly again
    assert sim.routes[-1].message == Resume()  # no new resume was sent
    assert len([r for r in sim.routes if r.message == Resume()]) == 1
    sim.assert_replay_matches()


def test_cancel_while_waiting_disarms_timers(sim_of):
    sim = sim_of(Flow("f").sleep("1h").then(inc))
    sim.start({"value": 1})
    assert sim.state.timers
    sim.send(Cancel())
    assert sim.state.status == "cancelled" and sim.state.timers == {}


def test_a_signal_before_its_timeout_disarms_the_timer(sim_of):
    sim = sim_of(Flow("f").wait_for_signal("go", model=Num, timeout="1h").then(review))
    sim.start(None)
    view = sim.view()
    assert view.waiting_for == ["signal:go", "timer:signal:0"] and view.wake_at is not None
    sim.send(Signal("go", {"value": 1}))
    assert sim.state.timers == {} and sim.running == ["1.review"]
    sim.send(RunSuspended("1.review", 1, {"question": "ok?"}))
    view = sim.view()
    assert view.status == "waiting"
    assert view.waiting_for == ["resume:1.review"] and view.wake_at is None
    assert sim.machine.index_row(sim.state).wake_at is None  # no wake-up after a restart
    sim.assert_replay_matches()
