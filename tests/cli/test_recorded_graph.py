"""``water.recorded``: what an execution of a code-first workflow recorded, call by call.

Driven by the Simulator (no threads, no storage): time is what the test says, so when
each call starts and ends is exact.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

import water
from water import task, workflow
from water.graph import calls_to_mermaid
from water.recorded import Section, recorded_calls
from water.testing import Simulator


class Num(BaseModel):
    value: int


class Count(BaseModel):
    value: int = 0


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


@task
def double(n: Num) -> Num:
    return Num(value=n.value * 2)


@workflow(id="fan")
async def fan(n: Num) -> Num:
    a = await inc(n)
    stamp = water.now()  # a recorded value takes a position, and is not drawn
    b, c = await asyncio.gather(inc(a), double(a))
    await water.wait_for_signal("go")
    await water.sleep("10m")
    d = await inc(b)
    await water.wait_for_signal("done")
    return Num(value=d.value + c.value + int(stamp.year > 0))


class Greeting(water.Workflow[Num, Count]):
    id = "greeting"

    @water.step
    async def first(self, ctx: water.WorkflowContext[Num, Count]) -> None:
        ctx.state.value = (await inc(ctx.input)).value

    @water.step
    async def second(self, ctx: water.WorkflowContext[Num, Count]) -> None:
        await ctx.wait_for_signal("ok")
        ctx.state.value = (await double(Num(value=ctx.state.value))).value


def shape(sections: list[Section]) -> list[tuple[str, list[list[str]]]]:
    def name(c):
        return f"{c.kind} {c.name}".strip()

    return [(s.name, [[name(c) for c in stage] for stage in s.stages]) for s in sections]


def calls(sim: Simulator, definition=None) -> list[Section]:
    view = sim.view()
    steps = getattr(definition, "__definition__", None)
    order = steps.steps if steps is not None else ()
    return recorded_calls(sim.events, view.steps, view.waiting_for, order)


def later(sim: Simulator) -> Simulator:
    sim.now += 1.0
    return sim


def test_calls_in_order_gathered_ones_together_signals_named():
    sim = Simulator(fan)
    sim.start(Num(value=1))
    later(sim).run("0.inc")
    later(sim).run("2.inc")
    assert shape(calls(sim)) == [("", [["task inc"], ["task inc", "task double"]])]
    later(sim).run("3.double")
    later(sim).signal("go")
    assert shape(calls(sim)) == [
        ("", [["task inc"], ["task inc", "task double"], ["signal go"], ["sleep"]])
    ]
    sim.fire("sleep:5")
    later(sim).run("6.inc")
    done = [["task inc"], ["task inc", "task double"], ["signal go"], ["sleep"], ["task inc"]]
    done.append(["signal done"])  # the wait it is in now (its snapshot names the signal)
    assert shape(calls(sim)) == [("", done)]
    later(sim).signal("done")  # the code returns as the signal comes: its last call was a wait
    assert sim.view().status == "completed"
    assert shape(calls(sim)) == [("", done)]


def test_a_signal_sent_before_the_wait_is_not_guessed():
    sim = Simulator(fan)
    sim.start(Num(value=1))
    later(sim).signal("go")  # kept until the code waits for it
    later(sim).run("0.inc")
    later(sim).run("2.inc")
    later(sim).run("3.double")
    stages = calls(sim)[0].stages
    assert [c.kind for c in stages[2]] == ["signal"] and stages[2][0].name == ""
    assert [c.kind for c in stages[3]] == ["sleep"] and stages[3][0].seconds == 600


def test_a_class_workflow_draws_each_step_method_as_a_subgraph():
    sim = Simulator(Greeting)
    sim.start(Num(value=1))
    later(sim).run("first.0.inc")
    sections = calls(sim, Greeting)
    assert shape(sections) == [("first", [["task inc"]]), ("second", [["signal ok"]])]
    assert calls_to_mermaid("greeting", sections) == (
        "flowchart TD\n"
        '    n1(("start"))\n'
        '    subgraph sg2["step first"]\n'
        "        direction TB\n"
        '        n3["inc"]\n'
        "        n1 --> n3\n"
        "    end\n"
        '    subgraph sg4["step second"]\n'
        "        direction TB\n"
        "        n5[/\"wait for signal 'ok'\"/]\n"
        "        n3 --> n5\n"
        "    end\n"
    )
    later(sim).signal("ok")
    later(sim).run("second.1.double")
    sections = calls(sim, Greeting)
    assert shape(sections) == [
        ("first", [["task inc"]]),
        ("second", [["signal ok"], ["task double"]]),
    ]
    assert calls_to_mermaid("greeting", sections, "completed").endswith(
        '    n7(("end"))\n    n6 --> n7\n'
    )


def test_an_execution_that_made_no_call_yet():
    @workflow(id="idle")
    async def idle() -> None:
        await water.wait_for_signal("start")

    sim = Simulator(idle)
    sim.start()
    assert shape(calls(sim)) == [("", [["signal start"]])]
    assert calls_to_mermaid("idle", [], "failed") == (
        'flowchart TD\n    n1(("start"))\n    n2["idle (no steps recorded)"]\n'
        '    n1 --> n2\n    n3(("failed"))\n    n2 --> n3\n'
    )
