"""``GET /sessions`` (executions of every flow) and ``GET /flows/{id}/graph`` (Mermaid)."""

from __future__ import annotations

from serverflows import nested

from water.graph import to_mermaid


def run(client, flow_id: str, value: int) -> str:
    answer = client.post(f"/flows/{flow_id}/execute?wait=true", json={"value": value})
    assert answer.status_code in (200, 422), answer.text
    body = answer.json()
    return body.get("execution_id") or body["error"]["details"]["execution_id"]


def ids(page: dict) -> list[str]:
    return [item["execution_id"] for item in page["items"]]


def test_sessions_lists_every_flow_newest_first_with_filters_and_paging(client):
    first = run(client, "arithmetic", 1)
    failed = run(client, "failing", 2)
    outer = run(client, "outer", 3)  # runs a nested execution of "inner"
    child = f"{outer}/0.inner"

    everything = client.get("/sessions").json()
    assert ids(everything) == [child, outer, failed, first]
    assert (everything["total"], everything["limit"], everything["offset"]) == (4, 50, 0)
    assert everything["items"][0]["parent_id"] == outer
    assert everything["items"][2]["error"].startswith("FatalError")

    assert ids(client.get("/sessions", params={"flow_id": "failing"}).json()) == [failed]
    assert ids(client.get("/sessions", params={"status": "failed"}).json()) == [failed]
    both = client.get("/sessions", params={"status": ["failed", "completed"], "flow_id": "outer"})
    assert ids(both.json()) == [outer]
    assert ids(client.get("/sessions", params={"flow_id": "inner"}).json()) == [child]
    second_page = client.get("/sessions", params={"limit": 3, "offset": 3}).json()
    assert (ids(second_page), second_page["total"]) == ([first], 4)
    unknown = client.get("/sessions", params={"flow_id": "not-registered"}).json()
    assert (unknown["items"], unknown["total"]) == ([], 0)


def test_sessions_refuses_bad_filters(client):
    for query in ("status=sleepy", "limit=0", "limit=501", "offset=-1", "flow_id="):
        answer = client.get(f"/sessions?{query}")
        assert answer.status_code == 422, query
        assert answer.json()["error"]["code"] == "validation_error"


def test_a_flow_graph_is_its_mermaid_text(client):
    answer = client.get("/flows/outer/graph")
    assert answer.status_code == 200
    assert answer.json() == {
        "flow_id": "outer",
        "mermaid": to_mermaid(nested()),
        "execution_id": None,
    }
    assert client.get("/flows/inner/graph").json()["mermaid"].startswith("flowchart TD\n")
    missing = client.get("/flows/nope/graph")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "flow_not_found"


def test_the_openapi_document_has_the_listing_and_the_graph(client):
    paths = client.get("/openapi.json").json()["paths"]
    listing = paths["/sessions"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"flow_id", "status", "limit", "offset"}
    assert listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/SessionPage"
    )
    graph = paths["/flows/{flow_id}/graph"]["get"]["responses"]["200"]
    assert graph["content"]["application/json"]["schema"]["$ref"].endswith("/FlowGraph")
