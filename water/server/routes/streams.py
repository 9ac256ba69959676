"""Events: a flow's executions followed live, and an execution's journal (or its
events as they come), as Server-Sent Events."""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import StreamingResponse

from water.engine import Engine
from water.server.errors import documented, invalid_request
from water.server.models import EventList
from water.server.routes.params import ASK_TIMEOUT, ExecutionId, StreamTimeout, flow_id
from water.server.streams import SSE_MEDIA_TYPE, flow_stream, session_stream


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


def flow_events_routes(engine: Engine) -> APIRouter:
    """``/flows/{flow_id}/events``: every event of the flow's executions, live."""
    router = APIRouter()
    FlowId = Annotated[str, flow_id(engine)]

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

    return router


def session_events_routes(engine: Engine) -> APIRouter:
    """``/sessions/{execution_id}/events``: an execution's journal, or its events as they come.

    Declare it before ``/sessions/{execution_id}``, whose id (a ``path``) would match too.
    """
    router = APIRouter()

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

    return router
