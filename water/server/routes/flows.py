"""``/flows``: describe and draw the registered flows, start executions."""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from water.definition import Definition
from water.engine import Engine
from water.errors import UnstorableValueError
from water.graph import calls_to_mermaid, describe, to_mermaid
from water.ids import MAX_LENGTH, PATTERN
from water.recorded import recorded_calls
from water.server.bodies import documented_body, json_body, unstorable
from water.server.errors import ApiError, documented, field_errors
from water.server.models import (
    ExecutionAccepted,
    ExecutionResult,
    FlowGraph,
    FlowInfo,
    FlowList,
)
from water.server.routes.params import ASK_TIMEOUT, flow_id
from water.types import to_json
from water.workflow import WorkflowDefinition


def flow_routes(engine: Engine) -> APIRouter:
    """List and describe flows, draw their graphs, start executions."""
    router = APIRouter()
    FlowId = Annotated[str, flow_id(engine)]
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
            ref, started = await engine._start_async(flow_id, payload, execution_id=execution_id)
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
            except TimeoutError:  # still going: its status now, not at its start
                started = await asyncio.to_thread(ref.status, ASK_TIMEOUT)
            else:
                done = ExecutionResult(
                    execution_id=ref.execution_id, flow_id=flow_id, output=to_json(output)
                )
                return JSONResponse(done.model_dump(mode="json"), status_code=200)
        return ExecutionAccepted(
            execution_id=ref.execution_id, flow_id=started.flow_id, status=started.status
        )

    return router
