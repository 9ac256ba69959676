"""Messages for executions as the inbox keeps them: a kind and a JSON body.

Only messages that mean something to another engine travel: the public steering
messages, a parent's start of its child (again: the child reports again) and a
child's report to its parent. An answer is a snapshot or an error,
as JSON; nothing is ever pickled.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_core import to_jsonable_python

from actors.messages import (
    Cancel,
    ChildUpdate,
    CommandRejected,
    ExecutionNotFound,
    GetStatus,
    Pause,
    Resume,
    Retry,
    RetryChild,
    Signal,
    Start,
)
from supervision import WaterError
from water.snapshot import Snapshot

__all__ = ["RemoteError", "body", "decode", "decode_reply", "encode", "encode_error", "encode_view"]


def encode(message: Any) -> tuple[str, dict[str, Any]] | None:
    """``(kind, fields)`` of a message that may travel, None for any other."""
    if isinstance(message, Pause):
        return "pause", {}
    if isinstance(message, Resume):
        return "resume", {"data": to_jsonable_python(message.data), "step": message.step}
    if isinstance(message, Cancel):
        return "cancel", {"reason": message.reason}
    if isinstance(message, Signal):
        return "signal", {"name": message.name, "payload": to_jsonable_python(message.payload)}
    if isinstance(message, GetStatus):
        return "status", {}
    if isinstance(message, Retry):
        return "retry", {}
    if isinstance(message, RetryChild):
        return "retry_child", {"generation": message.generation}
    if isinstance(message, Start):  # a parent starting its child again: it reports again
        return "start", {
            "definition": message.definition,
            "input": to_jsonable_python(message.input),
            "parent_id": message.parent_id,
            "parent_step": message.parent_step,
            "trace": None if message.trace is None else dict(message.trace),
            "forked_from": message.forked_from,
            "carried": [[key, to_jsonable_python(value)] for key, value in message.carried],
        }
    if isinstance(message, ChildUpdate):
        return "child", {
            "key": message.key,
            "child_id": message.child_id,
            "status": message.status,
            "suspended": to_jsonable_python(message.suspended),
            "output": to_jsonable_python(message.output),
            "error": to_jsonable_python(message.error),
        }
    return None


def body(message: Any, *, ask: bool) -> tuple[str, str] | None:
    """``(kind, body)`` as the inbox stores them (None: the message does not travel)."""
    encoded = encode(message)
    if encoded is None:
        return None
    kind, fields = encoded
    return kind, json.dumps({"ask": ask, **fields})


def decode(kind: str, text: str) -> tuple[Any, bool]:
    """The message of an inbox row and whether its sender waits for an answer."""
    fields = json.loads(text)
    ask = bool(fields.pop("ask", False))
    message: Any
    if kind == "pause":
        message = Pause()
    elif kind == "resume":
        message = Resume(fields.get("data"), fields.get("step"))
    elif kind == "cancel":
        message = Cancel(fields.get("reason"))
    elif kind == "signal":
        message = Signal(fields["name"], fields.get("payload"))
    elif kind == "status":
        message = GetStatus()
    elif kind == "retry":
        message = Retry()
    elif kind == "retry_child":
        message = RetryChild(int(fields["generation"]))
    elif kind == "start":
        carried = tuple((str(key), value) for key, value in fields.pop("carried", []))
        message = Start(**fields, carried=carried)
    elif kind == "child":
        message = ChildUpdate(**fields)
    else:
        raise ValueError(f"unknown message kind {kind!r}")
    return message, ask


def encode_view(view: Snapshot) -> str:
    return json.dumps({"view": view.model_dump(mode="json")})


def encode_error(error: BaseException) -> str:
    if isinstance(error, ExecutionNotFound):
        return json.dumps({"error": str(error), "code": "not_found"})
    code = error.code if isinstance(error, CommandRejected) else "failed"
    return json.dumps({"error": str(error), "code": code})


def decode_reply(execution_id: str, text: str | None) -> Snapshot:
    """The answer of an ask, or its error raised (``CommandRejected`` and kin)."""
    data = json.loads(text or "{}")
    if "view" in data:
        return Snapshot.model_validate(data["view"])
    code = data.get("code", "failed")
    if code == "not_found":
        raise ExecutionNotFound(execution_id)
    if code in ("conflict", "invalid"):
        raise CommandRejected(str(data.get("error")), code)
    raise RemoteError(str(data.get("error", "the owner could not handle the message")))


class RemoteError(WaterError, RuntimeError):
    """The owner of an execution failed to handle a message sent to it."""
