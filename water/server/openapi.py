"""The OpenAPI document, with one typed ``execute`` operation per registered flow.

``POST /flows/{flow_id}/execute`` takes any JSON (what fits depends on the flow),
so the document also lists ``POST /flows/<id>/execute`` for every registered flow
with that flow's input schema as the request body and its output schema in the
200 response. Both are served by the same route. The document is rebuilt when
the engine's flows change.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import ValidationError

from water.definition import Definition
from water.types import adapter, undescribed, validate

GENERIC_PATH = "/flows/{flow_id}/execute"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def install_openapi(app: FastAPI, flows: Callable[[], Mapping[str, Definition]]) -> None:
    """Serve the document with per-flow operations for the flows ``flows()`` returns."""
    cache: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        current = dict(flows())
        key = tuple(sorted((f.id, f.fingerprint) for f in current.values()))
        if key not in cache:
            cache.clear()
            document = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
            )
            cache[key] = with_flow_operations(document, current)
        app.openapi_schema = cache[key]
        return cache[key]

    app.openapi = openapi  # type: ignore[method-assign]


def with_flow_operations(
    document: dict[str, Any], flows: Mapping[str, Definition]
) -> dict[str, Any]:
    """``document`` plus ``POST /flows/<id>/execute`` for each flow."""
    generic = document.get("paths", {}).get(GENERIC_PATH, {}).get("post")
    if generic is None:
        return document
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    result_ref = generic["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    result_schema = schemas[result_ref.rsplit("/", 1)[-1]]
    for flow_id in sorted(flows):
        flow = flows[flow_id]
        operation = copy.deepcopy(generic)
        operation["operationId"] = "execute_" + _UNSAFE.sub("_", flow_id).replace("-", "_")
        operation["summary"] = f"Start an execution of {flow_id}"
        operation["description"] = (
            f"{flow.description}\n\n" if flow.description else ""
        ) + "Same as `POST /flows/{flow_id}/execute` for this flow, with its input typed."
        operation["parameters"] = [
            p for p in operation.get("parameters", []) if p.get("name") != "flow_id"
        ]
        body = _hoisted(flow.input_type, f"{flow_id}.", schemas, "validation")
        operation["requestBody"] = {
            "required": not _accepts_none(flow.input_type),
            "description": f"The input of {flow_id}.",
            "content": {"application/json": {"schema": body}},
        }
        output = _hoisted(flow.output_type, f"{flow_id}.", schemas, "serialization")
        typed_result = copy.deepcopy(result_schema)
        typed_result["title"] = f"{flow_id} result"
        typed_result["properties"]["output"] = output
        operation["responses"]["200"]["content"]["application/json"]["schema"] = typed_result
        path = f"/flows/{flow_id}/execute"
        document["paths"][path] = {"post": operation}
    return document


def _hoisted(tp: Any, prefix: str, schemas: dict[str, Any], mode: str) -> dict[str, Any]:
    """The JSON schema of ``tp`` with its definitions moved into ``components/schemas``."""
    if tp is None:
        return {}
    try:
        schema = adapter(tp).json_schema(
            mode=mode,  # type: ignore[arg-type]
            ref_template=f"#/components/schemas/{prefix}{{model}}",
        )
    except Exception as exc:
        undescribed(tp, exc)
        return {}
    for name, definition in schema.pop("$defs", {}).items():
        schemas[f"{prefix}{name}"] = definition
    return schema


def _accepts_none(tp: Any) -> bool:
    try:
        validate(tp, None)
    except (ValidationError, TypeError, ValueError):
        return False
    return True
