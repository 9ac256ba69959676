"""One-shot runs: ``definition.run(input)`` on an ephemeral in-memory engine.

It lives here, beside the engine, because it needs both the definition and the
engine; ``water.definition`` holds only the slot this module fills when
``water`` is imported, so no definition imports the engine.
"""

from __future__ import annotations

from typing import Any

from water.definition import Definition, install_one_shot
from water.engine import Engine

__all__ = ["run", "run_async"]


def run(definition: Definition, input: Any = None, timeout: float | None = None) -> Any:
    """Run ``definition`` once on an ephemeral in-memory engine and return the output."""
    with Engine(storage="memory://", flows=[definition]) as engine:
        return engine.start(definition, input).result(timeout=timeout)


async def run_async(definition: Definition, input: Any = None, timeout: float | None = None) -> Any:
    """``run`` for async code: does not block the event loop."""
    engine = Engine(storage="memory://", flows=[definition])
    try:
        ref = await engine.start_async(definition, input)
        return await ref.wait(timeout=timeout)
    finally:
        await engine.shutdown_async()


install_one_shot(run, run_async)
