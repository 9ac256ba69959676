"""``/sessions``: list executions; observe, steer and delete one.

Ids of nested executions contain ``/`` (``<parent>/1.inner``), so the id is a
``path`` parameter, sent as is or as ``%2F``; the routes with a suffix
(``/events``, ``/pause``, ...) are declared first so that they match first.
"""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status

from actors.messages import Cancel, Pause, Resume, Retry, Signal
from water.engine import Engine
from water.errors import StateConflictError
from water.server.bodies import documented_body, json_body, model_body
from water.server.errors import ApiError, documented, invalid_request
from water.server.models import (
    CancelRequest,
    ExecutionAccepted,
    ForkRequest,
    ResumeRequest,
    SessionPage,
    SessionSummary,
)
from water.server.routes.params import (
    ASK_TIMEOUT,
    ExecutionId,
    Limit,
    Offset,
    StatusFilter,
    flow_id,
)
from water.snapshot import Snapshot
from water.status import ExecutionStatus


def session_page(
    engine: Engine,
    flow_id: str | None,
    status: list[ExecutionStatus] | None,
    limit: int,
    offset: int,
) -> SessionPage:
    """A page of executions, newest first, with the total that match (blocking)."""
    wanted = list(status) if status else None
    records = engine.list_executions(flow_id, wanted, limit=limit, offset=offset)
    total = engine.count_executions(flow_id, wanted)
    items = [SessionSummary.from_record(r) for r in records]
    return SessionPage(items=items, total=total, limit=limit, offset=offset)


def flow_sessions_routes(engine: Engine) -> APIRouter:
    """``/flows/{flow_id}/sessions``: a registered flow's executions."""
    router = APIRouter()
    FlowId = Annotated[str, flow_id(engine)]

    @router.get(
        "/flows/{flow_id}/sessions",
        summary="List a flow's executions (newest first)",
        responses=documented(404),
    )
    async def list_sessions(
        flow_id: FlowId,
        status: StatusFilter = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> SessionPage:
        engine.flow(flow_id)
        return await asyncio.to_thread(session_page, engine, flow_id, status, limit, offset)

    return router


def sessions_routes(engine: Engine) -> APIRouter:
    """``/sessions``: the executions of every flow in the store."""
    router = APIRouter()

    @router.get("/sessions", summary="List executions of every flow (newest first)")
    async def list_all_sessions(
        flow_id: Annotated[
            str | None,
            Query(
                min_length=1,
                description="Only this flow's executions (registered here or not).",
            ),
        ] = None,
        status: StatusFilter = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> SessionPage:
        return await asyncio.to_thread(session_page, engine, flow_id, status, limit, offset)

    return router


def session_routes(engine: Engine) -> APIRouter:
    """``/sessions/{execution_id}``: steer (pause, resume, cancel, signal, retry, fork),
    observe and delete one execution."""
    router = APIRouter()

    async def steer(execution_id: str, message: Any, invalid_at: tuple[str, ...] = ()) -> Snapshot:
        """Ask the execution; data it refuses is a 422 about the request part ``invalid_at``."""
        ref = engine.ref(execution_id)
        try:
            return await asyncio.to_thread(ref.ask, message, ASK_TIMEOUT)
        except StateConflictError as exc:
            if exc.code != "invalid":
                raise
            raise invalid_request(str(exc), invalid_at) from None

    steering = documented(404, 409, 413, 415, 422, 504)

    @router.post(
        "/sessions/{execution_id:path}/pause",
        summary="Pause: running steps finish, no new step starts",
        responses=steering,
    )
    async def pause(execution_id: ExecutionId) -> Snapshot:
        return await steer(execution_id, Pause())

    @router.post(
        "/sessions/{execution_id:path}/resume",
        summary="Resume a paused execution, or a suspended step with data",
        responses=steering,
        openapi_extra=documented_body(
            "Optional: data for a suspended step, and which step.",
            ResumeRequest.model_json_schema(),
        ),
    )
    async def resume(request: Request, execution_id: ExecutionId) -> Snapshot:
        body = await model_body(request, ResumeRequest) or ResumeRequest()
        return await steer(execution_id, Resume(data=body.data, step=body.step), ("body", "data"))

    @router.post(
        "/sessions/{execution_id:path}/cancel",
        summary="Cancel for good",
        responses=steering,
        openapi_extra=documented_body(
            "Optional: why it is cancelled.", CancelRequest.model_json_schema()
        ),
    )
    async def cancel(request: Request, execution_id: ExecutionId) -> Snapshot:
        body = await model_body(request, CancelRequest)
        return await steer(execution_id, Cancel(reason=body.reason if body else None))

    @router.post(
        "/sessions/{execution_id:path}/signal/{name}",
        summary="Deliver a named signal; the body is its payload",
        responses=steering,
        openapi_extra=documented_body("The signal's payload (JSON)."),
    )
    async def signal(
        request: Request,
        execution_id: ExecutionId,
        name: Annotated[str, Path(description="The signal's name.")],
    ) -> Snapshot:
        payload = await json_body(request)
        return await steer(execution_id, Signal(name, payload))

    @router.post(
        "/sessions/{execution_id:path}/retry",
        summary="Retry a failed execution: its failed steps run again, completed ones do not",
        responses=steering,
    )
    async def retry(execution_id: ExecutionId) -> Snapshot:
        return await steer(execution_id, Retry())

    @router.post(
        "/sessions/{execution_id:path}/fork",
        summary="Fork: a new execution of the same flow and input, from one of its steps on",
        description=(
            "The steps of the original that completed before `from_step` keep their outputs "
            "(they do not run again); the fork runs from `from_step` on and names the "
            "original in its snapshot (`forked_from`). Answers 202 with the fork's id once "
            "its start is durable; 404 `step_not_found` lists the original's steps."
        ),
        status_code=status.HTTP_202_ACCEPTED,
        responses=documented(404, 409, 413, 415, 422, 504),
        openapi_extra=documented_body(
            "The step to fork from, and optionally the fork's id.",
            ForkRequest.model_json_schema(),
            required=True,
        ),
    )
    async def fork(request: Request, execution_id: ExecutionId) -> ExecutionAccepted:
        body = await model_body(request, ForkRequest)
        if body is None:
            raise invalid_request('the body must name the step: {"from_step": "<key>"}', ("body",))

        def start() -> ExecutionAccepted:
            ref = engine.fork(
                execution_id, body.from_step, execution_id=body.execution_id, timeout=ASK_TIMEOUT
            )
            snapshot = ref.status(ASK_TIMEOUT)
            return ExecutionAccepted(
                execution_id=ref.execution_id, flow_id=snapshot.flow_id, status=snapshot.status
            )

        return await asyncio.to_thread(start)

    @router.get(
        "/sessions/{execution_id:path}",
        summary="An execution's snapshot",
        responses=documented(404, 504),
    )
    async def get_session(execution_id: ExecutionId) -> Snapshot:
        return await asyncio.to_thread(engine.snapshot, execution_id, ASK_TIMEOUT)

    @router.delete(
        "/sessions/{execution_id:path}",
        summary="Delete an execution and its journal",
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
        responses=documented(404, 409),
    )
    async def delete_session(
        execution_id: ExecutionId,
        force: Annotated[
            bool, Query(description="Cancel and delete even if it is still running.")
        ] = False,
    ) -> Response:
        deleted = await asyncio.to_thread(engine.delete_execution, execution_id, force=force)
        if not deleted:
            raise ApiError(
                404,
                "execution_not_found",
                f"no execution {execution_id!r}",
                {"execution_id": execution_id},
            )
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
