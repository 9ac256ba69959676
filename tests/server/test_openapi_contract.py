"""The OpenAPI document against the app (schemathesis): no server errors, and every
response has a documented status, content type, headers and body schema."""

from __future__ import annotations

import atexit

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from serverflows import arithmetic, failing, nested

from water import Engine
from water.server import create_app

# schemathesis loads the schema at import time (its fixture-based loader does not work
# with this pytest version), so this engine lives as long as the test session
_engine = Engine("memory://", flows=[arithmetic(), failing(), nested()])
atexit.register(_engine.shutdown)

# examples and fuzzing (positive and negative data) only, to stay at a few hundred calls
CONFIG = schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": False}}})
with pytest.MonkeyPatch.context() as env:
    env.delenv("WATER_API_TOKEN", raising=False)
    _app = create_app(_engine)
schema = schemathesis.openapi.from_asgi("/openapi.json", _app, config=CONFIG)

# Left out: the generic execute body is "any JSON" since what fits depends on the flow
# (the per-flow operations carry the real schemas), and the engine validates inputs in
# pydantic's lax mode, which accepts some values a strict JSON-schema reading rejects.
EXCLUDED = [positive_data_acceptance, negative_data_rejection]


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_conforms_to_its_openapi_document(case: schemathesis.Case) -> None:
    if case.path.endswith("/events") and isinstance(case.query, dict):
        # a followed stream lasts as long as it is read: give it a short life here
        case.query["timeout"] = 0.2
    case.call_and_validate(excluded_checks=EXCLUDED)
