"""The deterministic loop workflow code runs on: asyncio works, time and I/O do not."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from water.workflow import NotDurableError, WorkflowLoop


def test_gather_tasks_events_and_wait_run_in_a_fixed_order():
    loop = WorkflowLoop()
    order: list[str] = []

    async def child(name: str) -> str:
        order.append(f"{name} starts")
        await asyncio.sleep(0)
        order.append(f"{name} ends")
        return name

    async def main() -> list[str]:
        ready = asyncio.Event()

        async def opener() -> None:
            order.append("opener")
            ready.set()

        opening = asyncio.create_task(opener())
        await ready.wait()
        await opening
        both = await asyncio.gather(child("a"), child("b"))
        done, _ = await asyncio.wait([asyncio.ensure_future(child("c"))])
        return [*both, *(t.result() for t in done)]

    task = loop.create_task(main())
    loop.run_ready()
    assert task.result() == ["a", "b", "c"]
    assert order == ["opener", "a starts", "b starts", "a ends", "b ends", "c starts", "c ends"]


def test_code_moves_only_when_the_loop_is_stepped():
    loop = WorkflowLoop()
    outside = loop.create_future()

    async def waits() -> int:
        return await outside + 1

    task = loop.create_task(waits())
    loop.run_ready()
    assert not task.done()
    outside.set_result(41)
    assert not task.done()  # resolving a future only schedules the code
    loop.run_ready()
    assert task.result() == 42


def test_time_and_io_are_refused_with_what_to_use_instead():
    loop = WorkflowLoop()

    async def naps() -> None:
        await asyncio.sleep(5)

    async def reads() -> None:
        await asyncio.get_running_loop().run_in_executor(None, print)

    nap, read = loop.create_task(naps()), loop.create_task(reads())
    loop.run_ready()
    with pytest.raises(NotDurableError, match=r"water\.sleep"):
        nap.result()
    with pytest.raises(NotDurableError, match="@task"):
        read.result()


def test_the_loop_is_the_running_loop_only_while_stepped():
    loop = WorkflowLoop()
    outer = WorkflowLoop()  # stands for the engine's reactor loop
    seen: list[object] = []

    async def look() -> None:
        seen.append(asyncio.get_running_loop())

    loop.create_task(look())
    asyncio.events._set_running_loop(outer)
    try:
        loop.run_ready()
        assert asyncio.events._get_running_loop() is outer
    finally:
        asyncio.events._set_running_loop(None)
    assert seen == [loop]
    assert loop.time() == 0.0
    loop.set_time(1234.5)
    assert loop.time() == 1234.5


def test_closing_runs_finally_blocks_in_the_code_context():
    loop = WorkflowLoop()
    var: contextvars.ContextVar[str] = contextvars.ContextVar("where", default="elsewhere")
    context = contextvars.copy_context()
    context.run(var.set, "inside")
    seen: list[str] = []

    async def holds() -> None:
        try:
            await loop.create_future()
        finally:
            seen.append(var.get())

    loop.create_task(holds(), context=context)
    loop.run_ready()
    loop.close_all(context)
    assert seen == ["inside"]
    assert loop.is_closed()
    with pytest.raises(NotDurableError):
        loop.create_task(holds())
