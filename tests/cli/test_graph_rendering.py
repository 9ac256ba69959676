"""``water.graph``: a flow as data and as a Mermaid diagram."""

from __future__ import annotations

import re

from pydantic import BaseModel

from water import CircuitBreaker, Flow, RetryPolicy, task
from water.graph import describe, to_mermaid


class Num(BaseModel):
    value: int


@task(retry=RetryPolicy(max_attempts=4, delay="2s"), timeout="5s")
def inc(n: Num) -> Num:
    """Add one."""
    return Num(value=n.value + 1)


@task(circuit_breaker=CircuitBreaker(failure_threshold=2, name="payments"))
def double(n: Num) -> Num:
    return Num(value=n.value * 2)


@task(id="inc2")
def inc_again(n: Num) -> Num:
    return Num(value=n.value + 1)


def is_big(n: Num) -> bool:
    return n.value > 10


def small(n: Num) -> bool:
    return n.value < 3


def everything() -> Flow:
    inner = Flow("inner").then(inc).then(double)
    return (
        Flow("everything", "one of each")
        .then(inc)
        .branch([[is_big, double], [lambda n: True, inner]])
        .parallel([inc, double])
        .then(inc_again)
        .while_(small, inc, max_iterations=5)
        .sleep("2s")
        .wait_for_signal('say "go"', Num, timeout="1m")
    )


def edges(diagram: str) -> list[tuple[str, str | None, str]]:
    found = []
    for line in diagram.splitlines():
        m = re.fullmatch(r"\s*(\w+) -->(?:\|([^|]*)\|)? (\w+)", line)
        if m:
            found.append((m.group(1), m.group(2), m.group(3)))
    return found


def labels(diagram: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*(n\d+)\W+\"([^\"]*)\"", diagram, flags=re.M))


def test_describe_gives_steps_tasks_and_their_configuration():
    data = describe(everything())
    assert data["id"] == "everything" and data["type"] == "flow"
    assert data["input_schema"]["title"] == "Num"
    kinds = [s["kind"] for s in data["steps"]]
    assert kinds == ["task", "branch", "parallel", "task", "while", "sleep", "signal"]
    first = data["steps"][0]["runnables"][0]
    assert first["description"] == "Add one."
    assert first["timeout"] == 5.0
    assert first["retry"]["max_attempts"] == 4 and first["retry"]["delay"] == 2.0
    breaker = data["steps"][1]["runnables"][0]["circuit_breaker"]
    assert breaker["name"] == "payments" and breaker["failure_threshold"] == 2
    nested = data["steps"][1]["runnables"][1]
    assert nested["type"] == "flow" and [s["label"] for s in nested["steps"]] == [
        "task inc",
        "task double",
    ]
    loop = data["steps"][4]
    assert loop["conditions"] == ["small"] and loop["max_iterations"] == 5
    assert data["steps"][5]["duration"] == 2.0
    signal = data["steps"][6]
    assert signal["signal"] == 'say "go"' and signal["timeout"] == 60.0
    assert signal["payload_schema"]["title"] == "Num"


def test_mermaid_draws_every_kind_of_step():
    diagram = to_mermaid(everything())
    assert diagram.startswith("flowchart TD\n")
    names = labels(diagram)
    by_label: dict[str, list[str]] = {}
    for node, label in names.items():
        by_label.setdefault(label, []).append(node)
    links = edges(diagram)

    (branch,) = by_label["branch"]
    case_labels = {label for src, label, _ in links if src == branch}
    assert case_labels == {"is_big", "case 2", "no match"}

    (fork,) = by_label["parallel"]
    (join,) = by_label["all done"]
    assert len([1 for src, _, _ in links if src == fork]) == 2
    assert len([1 for _, _, dst in links if dst == join]) == 2

    (loop,) = by_label["while small (max 5)"]
    assert (loop, "true") in {(s, lab) for s, lab, _ in links}
    assert any(dst == loop and src != loop for src, _, dst in links)  # the body goes back
    assert any(src == loop and lab == "false" for src, lab, _ in links)

    assert "sleep 2.0s" in by_label
    assert "wait for signal 'say #quot;go#quot;' (timeout 60.0s)" in by_label
    assert len(by_label["start"]) == 1 and len(by_label["end"]) == 1


def test_mermaid_draws_a_nested_flow_as_a_subgraph():
    diagram = to_mermaid(everything(), "LR")
    assert diagram.startswith("flowchart LR\n")
    lines = diagram.splitlines()
    start = next(i for i, line in enumerate(lines) if "subgraph" in line)
    assert '"flow inner"' in lines[start]
    end = next(i for i in range(start, len(lines)) if lines[i].strip() == "end")
    inside = "\n".join(lines[start:end])
    assert '["inc"]' in inside and '["double"]' in inside


def test_mermaid_of_a_flow_nested_in_itself_does_not_recurse_forever():
    loop = Flow("loop").then(inc)
    loop.then(loop)
    assert "flow loop (cycle)" in to_mermaid(loop)
    assert describe(loop)["steps"][1]["runnables"][0]["steps"] == []


def test_describe_a_flow_that_holds_a_self_nested_flow():
    loop = Flow("loop").then(inc)
    loop.then(loop)
    outer = Flow("outer").then(inc).then(loop)
    data = describe(outer)
    assert data["output_schema"] == {}
    assert data["steps"][1]["runnables"][0]["id"] == "loop"
