"""What a flow refuses when it is built or validated, before anything runs."""

from __future__ import annotations

import functools

import pytest
from pydantic import BaseModel

from water import Flow, task


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


def test_plain_conditions_are_accepted():
    class Check:
        def __call__(self, n: Num) -> bool:
            return True

    flow = Flow("f").branch([[Check(), inc], [lambda n: n.value > 1, dbl]]).while_(Check(), inc)
    assert flow.validate() is flow
