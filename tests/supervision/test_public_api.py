import ast
import importlib.util
import sys
from pathlib import Path

import supervision.breaker
import supervision.clock
import supervision.durations
import supervision.errors
import supervision.intensity
import supervision.retry

PACKAGE_INIT = Path(supervision.retry.__file__).with_name("__init__.py")
SUBMODULES = (
    supervision.breaker,
    supervision.clock,
    supervision.durations,
    supervision.errors,
    supervision.intensity,
    supervision.retry,
)


def load_package_init():
    # Loaded from the file so the check does not depend on how the package is installed.
    spec = importlib.util.spec_from_file_location("supervision_public_api", PACKAGE_INIT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_public_name_is_reexported_from_its_module():
    package = load_package_init()
    expected = {
        "Admission",
        "BreakerMachine",
        "CircuitBreaker",
        "CircuitOpenError",
        "CircuitState",
        "Clock",
        "Duration",
        "FatalError",
        "ManualClock",
        "RestartIntensity",
        "RetryPolicy",
        "RetryableError",
        "StepTimeoutError",
        "SystemClock",
        "parse_duration",
    }
    assert expected <= set(package.__all__)
    for name in package.__all__:
        origin = next(m for m in SUBMODULES if hasattr(m, name))
        assert getattr(package, name) is getattr(origin, name)


def test_package_depends_only_on_stdlib_and_tenacity():
    allowed = set(sys.stdlib_module_names) | {"supervision", "tenacity"}
    for source in PACKAGE_INIT.parent.glob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = [node.module.split(".")[0]]
            else:
                continue
            for root in roots:
                assert root in allowed, f"{source.name} imports {root}"
