"""Class workflows: ``@step`` methods in order, a typed state journaled after each."""

from __future__ import annotations

from pydantic import BaseModel

import water
from water import task


class Signup(BaseModel):
    email: str


class Account(BaseModel):
    id: str


class Progress(BaseModel):
    account_id: str | None = None
    welcomed: bool = False
    plan: str = "free"


calls: list[str] = []


@task
def create_account_task(s: Signup) -> Account:
    return Account(id=f"acct-{s.email}")


@task
def send_welcome(a: Account) -> bool:
    return True


class Onboarding(water.Workflow[Signup, Progress]):
    id = "onboarding"

    @water.step
    async def create_account(self, ctx: water.WorkflowContext[Signup, Progress]) -> None:
        calls.append("create_account")
        acct = await create_account_task(ctx.input)
        ctx.state.account_id = acct.id

    @water.step
    async def welcome(self, ctx: water.WorkflowContext[Signup, Progress]) -> None:
        calls.append("welcome")
        await ctx.sleep("1d")
        assert ctx.state.account_id is not None
        ctx.state.welcomed = await send_welcome(Account(id=ctx.state.account_id))
        ctx.state.plan = await ctx.wait_for_signal("plan")


def test_steps_run_in_order_and_the_output_is_the_final_state(sim_of):
    calls.clear()
    sim = sim_of(Onboarding)
    sim.start(Signup(email="ana"))
    sim.signal("plan", "pro")  # arrives during the first step: kept for the second
    sim.run_all()
    assert sim.keys == ["create_account.0.create_account_task"]
    recorded = [e for e in sim.events if e.type == "state_recorded"]
    assert [(e.step, e.state["account_id"], e.signals) for e in recorded] == [
        ("create_account", "acct-ana", {"plan": ["pro"]})
    ]
    assert sim.timers == {"sleep:welcome.0": 1000.0 + 86400}
    sim.fire("sleep:welcome.0")
    sim.run_all()
    assert sim.state.output == {"account_id": "acct-ana", "welcomed": True, "plan": "pro"}
    assert calls == ["create_account", "welcome", "welcome"]  # re-run after its sleep


def test_a_replay_restores_the_state_and_skips_completed_steps(sim_of):
    sim = sim_of(Onboarding)
    sim.start(Signup(email="bo"))
    sim.signal("plan", "team")
    sim.run_all()  # asleep in the second step
    calls.clear()
    new = sim.crash()
    assert calls == ["welcome"]  # create_account is not run again: its state is journaled
    assert new.state.status == "waiting"
    new.fire("sleep:welcome.0")
    new.run_all()
    assert new.state.output == {"account_id": "acct-bo", "welcomed": True, "plan": "team"}


class OnboardingV2(water.Workflow[Signup, Progress]):
    """The first step changed after executions passed it: they are not affected."""

    id = "onboarding"
    version = "2"

    @water.step
    async def create_account(self, ctx: water.WorkflowContext[Signup, Progress]) -> None:
        await send_welcome(Account(id="never"))  # another task at a recorded position
        ctx.state.account_id = "changed"

    welcome = Onboarding.welcome


def test_changing_a_completed_step_does_not_touch_executions_past_it(sim_of):
    sim = sim_of(Onboarding)
    sim.start(Signup(email="cy"))
    sim.run_all()
    new = sim.restarted_with(OnboardingV2)
    new.fire("sleep:welcome.0")
    new.run_all()
    new.signal("plan", "pro")
    assert new.state.output["account_id"] == "acct-cy"
