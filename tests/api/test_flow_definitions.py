"""What a flow refuses when it is built or validated, before anything runs."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from water import Flow, FlowValidationError, task


class Num(BaseModel):
    value: int


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


@task
def dbl(n: Num) -> Num:
    return Num(value=n.value * 2)


async def is_big(n: Num) -> bool:
    return n.value > 10


class AsyncCheck:
    async def __call__(self, n: Num) -> bool:
        return True


@pytest.mark.parametrize(
    "condition", [is_big, functools.partial(is_big), AsyncCheck()], ids=["def", "partial", "call"]
)
def test_async_conditions_are_refused_when_the_flow_is_built(condition):
    with pytest.raises(TypeError, match=r"flow 'f' step 1 \(branch case 1\).*async function"):
        Flow("f").then(inc).branch([[lambda n: True, inc], [condition, inc]])
    with pytest.raises(TypeError, match=r"flow 'g' step 0 \(while_\).*async function"):
        Flow("g").while_(condition, inc)


def test_an_async_sleep_until_function_is_refused_when_the_flow_is_built():
    async def tomorrow(n: Num) -> datetime:
        return datetime.now(UTC)

    with pytest.raises(TypeError, match=r"flow 'f' step 1 \(sleep_until\): 'tomorrow' is an async"):
        Flow("f").then(inc).sleep_until(tomorrow)


def test_plain_conditions_are_accepted():
    class Check:
        def __call__(self, n: Num) -> bool:
            return True

    flow = Flow("f").branch([[Check(), inc], [lambda n: n.value > 1, dbl]]).while_(Check(), inc)
    assert flow.validate() is flow


# -- types that cannot meet are refused by validate() -----------------------------------
class Text(BaseModel):
    text: str


class Signed(Num):
    by: str = "ana"


class Batch(BaseModel):
    items: list[Num]
    label: str = ""


class Texts(BaseModel):
    texts: list[Text]


class Approval(BaseModel):
    approved: bool


@task
def texts(n: Num) -> list[Text]:
    return [Text(text=str(n.value))]


@task
def signed(n: Num) -> list[Signed]:
    return [Signed(value=n.value)]


@task
def total(xs: list[Num]) -> Num:
    return Num(value=sum(x.value for x in xs))


@task
def batch(n: Num) -> Batch:
    return Batch(items=[n])


@task
def text_batch(n: Num) -> Texts:
    return Texts(texts=[])


@task
def finish(a: Approval) -> Approval:
    return a


@task(id="finish")
def finish_or_default(a: Approval | None) -> Approval:
    return a or Approval(approved=False)


def problems_of(flow: Flow) -> list[str]:
    with pytest.raises(FlowValidationError) as info:
        flow.validate()
    assert info.value.flow_id == flow.id
    return info.value.problems


def test_a_for_whose_items_do_not_fit_its_task_is_refused():
    [problem] = problems_of(Flow("items").then(texts).for_(inc))
    assert problem.startswith("flow 'items' step 1 (for inc): items of output of the previous")
    assert "(list[Text]) are Text, which cannot feed 'inc' (needs Num)" in problem
    assert "Num requires ['value'] which Text does not have" in problem
    [problem] = problems_of(Flow("field").then(text_batch).for_(inc))
    assert "(Texts) are Text, which cannot feed 'inc' (needs Num)" in problem
    [problem] = problems_of(Flow("declared", input_model=Texts).for_(inc))
    assert problem.startswith("flow 'declared' step 0 (for inc): items of the flow's input (Texts)")


def test_a_list_of_one_type_feeding_a_task_that_needs_a_list_of_another_is_refused():
    [problem] = problems_of(Flow("lists").then(texts).then(total))
    assert problem == (
        "flow 'lists' step 1 (task total): output of the previous step (list[Text]) cannot "
        "feed 'total' (needs list[Num]): items: Num requires ['value'] which Text does not have"
    )
    [problem] = problems_of(Flow("model-to-list").then(batch).then(total))
    assert "(Batch) cannot feed 'total' (needs list[Num]): Batch is not a list" in problem


def test_lists_and_for_items_that_fit_are_accepted():
    assert Flow("ok-1").then(signed).then(total).validate()  # list[Signed] is a list[Num]
    assert Flow("ok-2").then(signed).for_(inc).then(total).validate()
    assert Flow("ok-3").then(batch).for_(inc).then(total).validate()
    assert Flow("ok-4", input_model=Batch).for_(inc).validate()
    assert Flow("ok-5").parallel([inc, batch]).then(total).validate()  # untyped: trusted


def test_a_signal_with_default_none_does_not_fit_a_task_that_needs_its_model():
    flow = (
        Flow("approval")
        .then(inc)
        .wait_for_signal("approve", model=Approval, timeout="1s", default=None)
        .then(finish)
    )
    [problem] = problems_of(flow)
    assert problem == (
        "flow 'approval' step 2 (task finish): output of the previous step (Approval | None) "
        "cannot feed 'finish' (needs Approval): it may be None"
    )
    fixed = (
        Flow("approval")
        .then(inc)
        .wait_for_signal("approve", model=Approval, timeout="1s", default=None)
        .then(finish_or_default)
    )
    assert fixed.validate() is fixed
    no_default = Flow("strict").then(inc).wait_for_signal("approve", model=Approval).then(finish)
    assert no_default.validate() is no_default
