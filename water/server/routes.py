"""The API's routes, grouped by resource: flows, sessions (executions), service.

Every blocking engine call runs in a worker thread (``asyncio.to_thread``) or
through the engine's async API, so the event loop never waits on the engine.
"""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from actors.messages import Cancel, Pause, Resume, Signal
from water.definition import Definition
from water.engine import Engine
from water.errors import StateConflictError, UnstorableValueError
from water.graph import calls_to_mermaid, describe, to_mermaid
from water.ids import MAX_LENGTH, PATTERN
from water.recorded import recorded_calls
from water.server.bodies import documented_body, json_body, model_body, unstorable
from water.server.errors import ApiError, documented, field_errors, invalid_request
from water.server.models import (
    CancelRequest,
    EventList,
    ExecutionAccepted,
    ExecutionResult,
    FlowGraph,
    FlowInfo,
    FlowList,
    Health,
    ResumeRequest,
    SessionPage,
    SessionSummary,
)
from water.server.streams import SSE_MEDIA_TYPE, flow_stream, session_stream
from water.snapshot import Snapshot
from water.stats import ExecutionStats
from water.status import ExecutionStatus
from water.types import to_json
from water.version import __version__
from water.workflow import WorkflowDefinition

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


def streamed(description: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of a route answering Server-Sent Events."""
    content = {SSE_MEDIA_TYPE: {"schema": {"type": "string"}}}
    return {200: {"content": content, "description": description}}


SSE_FORMAT = (
    "Server-Sent Events: `event: <type>` and `data: {execution_id, flow_id, event}` "
    "(the event as in an execution's journal); a `: keep-alive` comment every 15 s."
)
NO_CACHE = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event_stream(body: Any) -> StreamingResponse:
    """A Server-Sent Events response (never cached, never buffered by a proxy)."""
    return StreamingResponse(body, media_type=SSE_MEDIA_TYPE, headers=NO_CACHE)


def health_routes(engine: Engine) -> APIRouter:
    """``/health`` (never behind the token)."""
    router = APIRouter(tags=["service"])

    @router.get("/health", summary="Liveness check (never needs a token)")
    async def health() -> Health:
        return Health(version=__version__, flows=len(engine.flows))

    return router


def flow_routes(engine: Engine) -> APIRouter:
    """``/flows``: describe and draw flows, start executions, list a flow's executions."""
    router = APIRouter(tags=["flows"])
    known_flows = sorted(engine.flows)
    FlowId = Annotated[
        str,
        Path(description="Id of a registered flow.", examples=known_flows or None),
    ]
    described: dict[tuple[str, str], FlowInfo] = {}

    def info(flow: Definition) -> FlowInfo:
        key = (flow.id, flow.fingerprint)
        if key not in described:
            described[key] = FlowInfo.model_validate(describe(flow))
        return described[key]

    @router.get("/flows", summary="List registered flows")
    async def list_flows() -> FlowList:
        flows = engine.flows
        return FlowList(flows=[info(flows[k]) for k in sorted(flows)])

    @router.get("/flows/{flow_id}", summary="Describe a flow", responses=documented(404))
    async def get_flow(flow_id: FlowId) -> FlowInfo:
        return info(engine.flow(flow_id))

    drawn: dict[tuple[str, str], FlowGraph] = {}

    def recorded_graph(flow: WorkflowDefinition, execution_id: str) -> FlowGraph:
        """What an execution of a code-first workflow recorded, drawn."""
        snapshot = engine.snapshot(execution_id, ASK_TIMEOUT)
        if snapshot.flow_id != flow.id:
            raise ApiError(
                404,
                "execution_not_found",
                f"execution {execution_id!r} runs {snapshot.flow_id!r}, not {flow.id!r}",
                {"execution_id": execution_id, "flow_id": flow.id},
            )
        events = engine.events(execution_id)
        sections = recorded_calls(events, snapshot.steps, snapshot.waiting_for, flow.steps)
        outcome = str(snapshot.status) if snapshot.status.is_terminal else None
        mermaid = calls_to_mermaid(flow.id, sections, outcome)
        return FlowGraph(flow_id=flow.id, mermaid=mermaid, execution_id=execution_id)

    @router.get(
        "/flows/{flow_id}/graph",
        summary="A flow's step graph as a Mermaid flowchart",
        description=(
            "A code-first workflow's steps are code: with `execution_id`, the graph is what "
            "that execution recorded (task steps, child workflows, sleeps and signal waits "
            "in order; calls in flight together side by side); without, one box. A flow's "
            "graph is the same for every execution (`execution_id` is not used)."
        ),
        responses=documented(404),
    )
    async def get_graph(
        flow_id: FlowId,
        execution_id: Annotated[
            str | None,
            Query(description="For a code-first workflow: the execution to draw."),
        ] = None,
    ) -> FlowGraph:
        flow = engine.flow(flow_id)
        if execution_id is not None and isinstance(flow, WorkflowDefinition):
            return await asyncio.to_thread(recorded_graph, flow, execution_id)
        key = (flow.id, flow.fingerprint)
        if key not in drawn:
            drawn[key] = FlowGraph(flow_id=flow.id, mermaid=to_mermaid(flow))
        return drawn[key]

    @router.post(
        "/flows/{flow_id}/execute",
        summary="Start an execution",
        status_code=status.HTTP_202_ACCEPTED,
        description=(
            "The body is the flow's input and must fit its `input_schema` (see "
            "`GET /flows/{flow_id}`). Answers 202 with the execution id once the start is "
            "durable. With `wait=true`, waits up to `timeout` seconds: 200 with the output "
            "if it completed, 422 with the error if it failed or was cancelled, 202 if it "
            "is still going."
        ),
        responses={
            200: {"model": ExecutionResult, "description": "Completed (with `wait=true`)."},
            **documented(404, 409, 413, 415, 422, 504),
        },
        openapi_extra=documented_body("The flow's input (JSON)."),
    )
    async def execute(
        request: Request,
        flow_id: FlowId,
        wait: Annotated[bool, Query(description="Wait for the result.")] = False,
        timeout: Annotated[
            float, Query(gt=0, le=3600, description="Seconds to wait with `wait=true`.")
        ] = 30.0,
        execution_id: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=MAX_LENGTH,
                pattern=PATTERN,
                description=(
                    "Idempotency: an execution with this id is started only once. "
                    f"1 to {MAX_LENGTH} letters, digits, '_', '.', ':' and '-' ('/' is "
                    "reserved for nested flow executions)."
                ),
            ),
        ] = None,
    ) -> Any:
        engine.flow(flow_id)
        payload = await json_body(request)
        try:
            ref = await engine.start_async(flow_id, payload, execution_id=execution_id)
        except ValidationError as exc:
            details = field_errors(exc.errors(include_url=False, include_input=False), ("body",))
            raise ApiError(
                422, "validation_error", "the request body does not fit the flow's input", details
            ) from None
        except UnstorableValueError as exc:  # e.g. an input model's validator made an inf
            raise unstorable(exc) from None
        if wait:
            try:
                output = await ref.wait(timeout)
            except TimeoutError:
                pass
            else:
                done = ExecutionResult(
                    execution_id=ref.execution_id, flow_id=flow_id, output=to_json(output)
                )
                return JSONResponse(done.model_dump(mode="json"), status_code=200)
        snapshot = await asyncio.to_thread(ref.status, ASK_TIMEOUT)
        return ExecutionAccepted(
            execution_id=ref.execution_id, flow_id=snapshot.flow_id, status=snapshot.status
        )

    @router.get(
        "/flows/{flow_id}/events",
        summary="Follow a flow's executions: their events as they are committed (SSE)",
        response_class=StreamingResponse,
        description=(
            "A stream of Server-Sent Events: every event committed from now on by an "
            "execution of the flow (by this engine, or another one on the same store), "
            "in journal order per execution. There is no past to replay: read one "
            "execution's journal with `GET /sessions/{id}/events`. A client that reads "
            "too slowly loses events (a jump in an execution's `seq` shows it)."
        ),
        responses=streamed(SSE_FORMAT) | documented(404, 422),
    )
    async def follow_flow(
        flow_id: FlowId,
        follow: Annotated[
            bool, Query(description="Must be true: a flow's events are a live stream.")
        ] = True,
        timeout: StreamTimeout = None,
    ) -> StreamingResponse:
        engine.flow(flow_id)
        if not follow:
            raise invalid_request(
                "a flow's events are a live stream only (follow=true); the journal of one "
                "execution is GET /sessions/{id}/events",
                ("query", "follow"),
            )
        return event_stream(flow_stream(engine, flow_id, timeout))

    @router.get(
        "/flows/{flow_id}/stats",
        summary="A flow's executions by status and steps by task",
        responses=documented(404),
    )
    async def flow_stats(flow_id: FlowId) -> ExecutionStats:
        engine.flow(flow_id)
        return await asyncio.to_thread(engine.stats, flow_id)

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


def session_routes(engine: Engine) -> APIRouter:
    """``/sessions``: list executions across flows; ``/sessions/{execution_id}``: observe,
    steer and delete one execution.

    Ids of nested executions contain ``/`` (``<parent>/1.inner``), so the id is a
    ``path`` parameter, sent as is or as ``%2F``; the routes with a suffix
    (``/events``, ``/pause``, ...) are declared first so that they match first.
    """
    router = APIRouter(tags=["sessions"])

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

    @router.get(
        "/stats",
        summary="Executions by status and steps by task, of every flow or one",
    )
    async def all_stats(
        flow_id: Annotated[
            str | None,
            Query(min_length=1, description="Only this flow (registered here or not)."),
        ] = None,
    ) -> ExecutionStats:
        return await asyncio.to_thread(engine.stats, flow_id)

    @router.get(
        "/sessions/{execution_id:path}/events",
        summary="An execution's event journal, or its events as they come (SSE)",
        response_model=EventList,
        description=(
            "The journal as JSON; with `follow=true`, a stream of Server-Sent Events: the "
            "events after `after_seq` (or after the `Last-Event-ID` a reconnecting client "
            "sends), then each new one as it is committed, until the execution's last "
            "event, after which the stream ends. An execution that has ended and has "
            "nothing after that position answers 204, which tells a browser's "
            "`EventSource` not to reconnect."
        ),
        responses=streamed(
            "The journal (`application/json`); with `follow=true`, "
            + SSE_FORMAT
            + " Each event has `id: <seq>`."
        )
        | {204: {"description": "With `follow=true`: ended, nothing more to send."}}
        | documented(404, 422, 504),
    )
    async def get_events(
        execution_id: ExecutionId,
        after_seq: Annotated[
            int, Query(ge=0, le=2**62, description="Only events after this sequence number.")
        ] = 0,
        follow: Annotated[
            bool, Query(description="Stream the events as they come (Server-Sent Events).")
        ] = False,
        timeout: StreamTimeout = None,
        last_event_id: Annotated[
            int | None,
            Header(
                alias="Last-Event-ID",
                ge=0,
                le=2**62,
                description="With `follow=true`: resume after this sequence number.",
            ),
        ] = None,
    ) -> Any:
        if follow:
            return await follow_session(execution_id, after_seq, last_event_id, timeout)

        def load() -> EventList:
            events = engine.events(execution_id, after_seq)
            if not events:
                engine.snapshot(execution_id, ASK_TIMEOUT)  # 404 for an unknown id
            return EventList.of(execution_id, events)

        return await asyncio.to_thread(load)

    async def follow_session(
        execution_id: str, after_seq: int, last_event_id: int | None, timeout: float | None
    ) -> Response:
        after = after_seq if last_event_id is None else last_event_id
        view = await asyncio.to_thread(engine.snapshot, execution_id, ASK_TIMEOUT)  # 404
        if view.status.is_terminal and after >= view.seq:
            return Response(status_code=status.HTTP_204_NO_CONTENT)
        return event_stream(session_stream(engine, execution_id, view.flow_id, after, timeout))

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


def service_routes(engine: Engine) -> APIRouter:
    """``/metrics``."""
    router = APIRouter(tags=["service"])

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
            **documented(404),
        },
    )
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        if engine.metrics is None:
            raise ApiError(404, "metrics_disabled", "this engine was built without metrics")
        text = await asyncio.to_thread(engine.metrics_text)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    return router
