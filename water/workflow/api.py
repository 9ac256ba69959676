"""What workflow code calls: durable sleep, signals, and values of the world.

Each of these takes the next position of the execution and is journaled, so a
replay answers it from the journal instead of doing it again. Outside a
workflow they raise ``NotDurableError``.
"""

from __future__ import annotations

import uuid as _uuid
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, overload

from supervision import parse_duration
from water.workflow.scope import require_scope
from water.workflow.state import NO_DEFAULT

T = TypeVar("T")


async def sleep(duration: float | timedelta | str) -> None:
    """Wait durably for ``duration`` (seconds, ``timedelta`` or ``"10m"``).

    The wake time is journaled: a crash or a passivation does not shorten or
    restart the wait, and a waiting execution holds no thread.
    """
    seconds = parse_duration(duration)
    await require_scope("water.sleep()").sleep(seconds)


@overload
async def wait_for_signal(
    name: str,
    model: type[T],
    *,
    timeout: float | timedelta | str | None = None,
    default: Any = NO_DEFAULT,
) -> T: ...
@overload
async def wait_for_signal(
    name: str,
    model: None = None,
    *,
    timeout: float | timedelta | str | None = None,
    default: Any = NO_DEFAULT,
) -> Any: ...
async def wait_for_signal(
    name: str,
    model: Any = None,
    *,
    timeout: float | timedelta | str | None = None,
    default: Any = NO_DEFAULT,
) -> Any:
    """Wait for ``Signal(name, payload)``; return the payload (validated by ``model``).

    A signal sent before the code gets here is kept and returned at once. After
    ``timeout`` it returns ``default`` when one is given, else raises
    ``SignalTimeoutError`` (a ``TimeoutError``).
    """
    if not isinstance(name, str) or not name:
        raise ValueError("wait_for_signal: name must be a non-empty string")
    seconds = None if timeout is None else parse_duration(timeout)
    scope = require_scope("water.wait_for_signal()")
    return await scope.wait_for_signal(name, model, seconds, default)


def now() -> datetime:
    """The current time (UTC), recorded once and replayed after."""
    value = require_scope("water.now()").value("now")
    return datetime.fromtimestamp(float(value), UTC)


def uuid4() -> _uuid.UUID:
    """A random UUID, recorded once and replayed after."""
    return _uuid.UUID(str(require_scope("water.uuid4()").value("uuid4")))


def random() -> float:
    """A random float in [0, 1), recorded once and replayed after."""
    return float(require_scope("water.random()").value("random"))


def patched(name: str) -> bool:
    """Whether this execution takes the new side of a code change named ``name``.

    True for executions that reach this point under the new code (the choice is
    journaled), False for those whose journal already went past it before the
    change. Write ``if patched("tax-2027"): new() else: old()`` and remove the old
    branch once no execution started before the change is left.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("patched: name must be a non-empty string")
    return require_scope("water.patched()").patched(name)
