"""``/docs`` is served with everything it needs from the API itself: no request leaves."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from water.server import create_app


def links(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["']([^"']+)["']""", html) + re.findall(
        r"""url:\s*['"]([^'"]+)['"]""", html
    )


def test_the_docs_page_loads_its_assets_from_the_api(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    found = links(page.text)
    assert sorted(found) == [
        "/docs/assets/favicon-32x32.png",
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/swagger-ui.css",
        "/openapi.json",
    ]
    assert "http://" not in page.text and "https://" not in page.text
    assert '"validatorUrl": null' in page.text  # Swagger UI's online validator is off
    for link in found:
        asset = client.get(link)
        assert asset.status_code == 200, link
        assert len(asset.content) > 100
    script = client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "SwaggerUIBundle" in script.text


def test_the_docs_page_follows_the_mount_point(engine, monkeypatch):
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    client = TestClient(create_app(engine), root_path="/water")
    assert all(link.startswith("/water/") for link in links(client.get("/docs").text))


def test_only_swagger_ui_is_served(client):
    assert client.get("/redoc").status_code == 404
    assert client.get("/docs/assets/index.html").status_code == 404
    assert client.get("/docs/assets/..%2F..%2F__init__.py").status_code == 404
    assert "/docs" not in client.get("/openapi.json").json()["paths"]
