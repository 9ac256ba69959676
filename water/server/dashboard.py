"""``/ui``: the operator's dashboard, a few static files served by the API itself.

The files (``water/server/ui/``: one HTML page, a style sheet, ES modules, an icon) hold
no data and no secret. The page reads and steers executions through the API's own routes,
from the browser, like any client: so the files are served without the token (a browser
opening a URL cannot send a header), and every piece of data stays behind it. With a token
set, the page asks for it and keeps it in the tab's ``sessionStorage``, sending it as
``Authorization: Bearer`` on its requests; it is never written into a page.

Everything comes from this server: no CDN, no font or script from another host, and a
Content-Security-Policy that lets the page load and fetch from its own origin only.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse

from water.server.errors import ApiError

UI_PATH = "/ui"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",  # revalidated, so an upgrade shows at once
}


def ui_folder() -> Path:
    """The dashboard's files, installed with the package."""
    return Path(__file__).with_name("ui")


def is_dashboard_path(path: str) -> bool:
    """Whether a request path (below the mount point) names the dashboard or one of its files:
    ``/ui``, ``/ui/`` or ``/ui/<name>``, which no other route shares (served without token)."""
    if path == UI_PATH:
        return True
    head, slash, name = path.rpartition("/")
    return head == UI_PATH and bool(slash) and name not in (".", "..")


def install_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at ``/ui/`` (``/ui`` redirects there)."""
    folder = ui_folder()
    files = {p.name: p for p in sorted(folder.iterdir()) if p.suffix in MEDIA_TYPES}

    @app.get(UI_PATH, include_in_schema=False)
    async def dashboard_root() -> RedirectResponse:
        # relative, so that it follows the mount point: /<root>/ui -> /<root>/ui/
        return RedirectResponse("ui/", status_code=307, headers=HEADERS)

    @app.get(UI_PATH + "/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return _file(files["index.html"])

    @app.get(UI_PATH + "/{name}", include_in_schema=False)
    async def dashboard_file(name: str) -> FileResponse:
        found = files.get(name)
        if found is None:
            raise ApiError(404, "route_not_found", f"no dashboard file {name!r}")
        return _file(found)


def _file(path: Path) -> FileResponse:
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)
