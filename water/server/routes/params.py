"""What the routes share: the parameters they take, and how long they wait for an answer."""

from typing import Annotated, Any

from fastapi import Path, Query

from water.engine import Engine
from water.status import ExecutionStatus

ASK_TIMEOUT = 30.0
"""Seconds a request waits for an execution's answer."""

ExecutionId = Annotated[
    str,
    Path(
        min_length=1,
        description="Id of an execution; ids of nested executions contain `/` "
        "(sent as is or as `%2F`).",
    ),
]

StatusFilter = Annotated[list[ExecutionStatus] | None, Query(description="Only these statuses.")]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]
StreamTimeout = Annotated[
    float | None,
    Query(gt=0, le=86400, description="End the stream after this many seconds (default: never)."),
]


def flow_id(engine: Engine) -> Any:
    """The ``flow_id`` path parameter, the engine's flows as its examples
    (``Annotated[str, flow_id(engine)]``)."""
    known_flows = sorted(engine.flows)
    return Path(description="Id of a registered flow.", examples=known_flows or None)
