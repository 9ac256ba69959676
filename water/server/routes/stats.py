"""Statistics: executions by status and steps by task, of one flow or of all."""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from water.engine import Engine
from water.server.errors import documented
from water.server.routes.params import flow_id
from water.stats import ExecutionStats


def flow_stats_routes(engine: Engine) -> APIRouter:
    """``/flows/{flow_id}/stats``: a registered flow's."""
    router = APIRouter()
    FlowId = Annotated[str, flow_id(engine)]

    @router.get(
        "/flows/{flow_id}/stats",
        summary="A flow's executions by status and steps by task",
        responses=documented(404),
    )
    async def flow_stats(flow_id: FlowId) -> ExecutionStats:
        engine.flow(flow_id)
        return await asyncio.to_thread(engine.stats, flow_id)

    return router


def stats_routes(engine: Engine) -> APIRouter:
    """``/stats``: of every flow in the store, or of one (registered here or not)."""
    router = APIRouter()

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

    return router
