"""``/ui``: the dashboard's files come from the API itself, hold no data and no secret, load
nothing from another host, and are the only thing served without the token."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from water.server import create_app

TOKEN = "s3cret-token-for-the-ui"
LOCAL_IMPORT = re.compile(r"""^import\s[^"']*["'](\./[\w-]+\.js)["'];?$""", re.MULTILINE)
LINK = re.compile(r"""(?:src|href)=["']([^"'#]+)["']""")


@pytest.fixture
def guarded(engine, monkeypatch) -> TestClient:
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    return TestClient(create_app(engine, api_token=TOKEN))


def dashboard_files(client: TestClient) -> dict[str, httpx.Response]:
    """The page and everything it loads, followed from index.html through the imports."""
    page = client.get("/ui/")
    found = {"index.html": page}
    pending = [link for link in LINK.findall(page.text) if not link.startswith("../")]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found[name] = client.get(f"/ui/{name}")
        if name.endswith(".js"):
            pending += [m.removeprefix("./") for m in LOCAL_IMPORT.findall(found[name].text)]
    return found


def test_the_dashboard_and_its_files_load_without_the_token(guarded):
    files = dashboard_files(guarded)
    assert {"index.html", "style.css", "icon.svg", "app.js", "api.js", "graph.js"} <= set(files)
    assert {"execution.js", "list.js", "live.js", "dom.js"} <= set(files)
    types = {".html": "text/html", ".css": "text/css", ".js": "text/javascript", ".svg": "image"}
    for name, answer in files.items():
        assert answer.status_code == 200, name
        assert answer.headers["content-type"].startswith(types[name[name.rindex(".") :]]), name
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert TOKEN not in answer.text
    # the data stays behind the token
    assert guarded.get("/flows").status_code == 401
    assert guarded.get("/sessions").status_code == 401
    authorized = {"Authorization": f"Bearer {TOKEN}"}
    assert guarded.get("/sessions", headers=authorized).status_code == 200


def test_nothing_is_loaded_from_another_host(client):
    files = dashboard_files(client)
    csp = files["index.html"].headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    for kind in ("script-src", "style-src", "img-src", "connect-src"):
        assert directives[kind] == "'self'", kind
    assert directives["frame-ancestors"] == "'none'"
    for name, answer in files.items():
        text = answer.text.replace("http://www.w3.org/", "")  # XML namespaces, never fetched
        assert not re.search(r"https?://|[\"'(]//", text), name


def test_the_dashboard_follows_the_mount_point(engine, monkeypatch):
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    client = TestClient(create_app(engine), root_path="/water")
    redirect = client.get("/ui", follow_redirects=False)
    assert redirect.status_code == 307
    assert redirect.headers["location"] == "ui/"  # relative: /water/ui -> /water/ui/
    page = client.get("/ui/").text
    assert all(not link.startswith("/") for link in LINK.findall(page))  # relative links only


def test_only_the_dashboards_files_are_served_without_the_token(guarded):
    assert guarded.get("/ui/nope.js").status_code == 404
    # paths that would climb out of /ui/ are not the dashboard's: they need the token
    for path in ("/ui/%2E%2E%2Fflows", "/ui/..%2F..%2Fsessions", "/ui/x%2F..%2F..%2Fflows"):
        assert guarded.get(path).status_code == 401, path
    authorized = {"Authorization": f"Bearer {TOKEN}"}
    assert "/ui" not in guarded.get("/openapi.json", headers=authorized).json()["paths"]


def test_a_mounted_app_serves_health_and_the_dashboard_without_the_token(engine, monkeypatch):
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    service = FastAPI()
    service.mount("/water", create_app(engine, api_token=TOKEN))
    client = TestClient(service)
    assert client.get("/water/health").status_code == 200
    assert client.get("/water/ui/").status_code == 200
    assert client.get("/water/ui/app.js").status_code == 200
    assert client.get("/water/flows").status_code == 401
    assert client.get("/water/ui/x%2F..%2F..%2Fflows").status_code == 401
