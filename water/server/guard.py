"""Refusing requests that a web page could send in the user's name.

An API on localhost without a token answers any web page the user opens: a
cross-site form or ``fetch`` can POST to it, and a page whose DNS name is
rebound to 127.0.0.1 talks to it as if it were its own origin. So, before any
route runs:

- ``Host`` must be one of the allowed hosts (400 ``host_not_allowed``): a
  rebound name is not one of them;
- a request with an ``Origin`` header must come from the API's own origin (the
  one its ``Host`` names) or an allowed one (403 ``origin_not_allowed``);
- a request body must be ``application/json`` (415 ``unsupported_media_type``),
  which a page cannot send across sites without a preflight that is never
  granted; a request without a body needs no content type.

Hosts are ``name`` (any port), ``name:port``, ``*.domain`` or ``*`` (any host);
IPv6 addresses in brackets (``[::1]:8000``). Origins are ``scheme://host[:port]``
or ``*``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from water.server.errors import error_response

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _split_host(value: str) -> tuple[str, str | None]:
    """``(name, port)`` of a ``Host`` value; the name lower-cased, IPv6 in brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        name, rest = (value[: end + 1], value[end + 1 :]) if end >= 0 else (value, "")
        port = rest[1:] if rest.startswith(":") else None
    elif value.count(":") == 1:
        name, _, port = value.partition(":")
    elif ":" in value:  # a bare IPv6 address
        name, port = f"[{value}]", None
    else:
        name, port = value, None
    return name.rstrip("."), port or None


def is_loopback(host: str) -> bool:
    """Whether a host name or address (as given to ``--host``) is this machine only."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def served_hosts(host: str, port: int) -> list[str]:
    """The ``Host`` values a server bound to ``host:port`` answers by default.

    The bound name and the loopback names, with the port; a wildcard address
    (``0.0.0.0``, ``::``) adds nothing: name the public host with an allow list.
    """
    names = list(LOOPBACK_NAMES)
    bound = host.strip().lower()
    if bound not in ("", "0.0.0.0", "::", "[::]"):
        if ":" in bound and not bound.startswith("["):
            bound = f"[{bound}]"
        if bound not in names:
            names.insert(0, bound)
    return [f"{name}:{port}" for name in names]


class HostList:
    """An allow list of ``Host`` values (see the module's docstring for the forms)."""

    def __init__(self, hosts: Iterable[str]) -> None:
        self.entries = [_split_host(h) for h in hosts if h.strip()]
        self.any = any(name == "*" for name, _ in self.entries)

    def allows(self, host: str) -> bool:
        if self.any:
            return True
        name, port = _split_host(host)
        for allowed, allowed_port in self.entries:
            if allowed_port is not None and allowed_port != port:
                continue
            if name == allowed or (
                allowed.startswith("*.") and name.endswith(allowed[1:]) and name != allowed[2:]
            ):
                return True
        return False


def _origin(value: str) -> tuple[str, str, str] | None:
    """``(scheme, name, port)`` of an origin, the port made explicit; None if malformed."""
    try:
        parts = urlsplit(value.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return parts.scheme, name, str(port) if port is not None else _DEFAULT_PORTS[parts.scheme]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class OriginGuard:
    """Checks ``Host`` (when ``hosts`` is given) and ``Origin`` of every request."""

    def __init__(
        self, app: ASGIApp, hosts: Iterable[str] | None = None, origins: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.hosts = HostList(hosts) if hosts is not None else None
        origins = list(origins)
        self.any_origin = "*" in origins
        self.origins = {o for o in (_origin(v) for v in origins if v != "*") if o is not None}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host") or ""
        if self.hosts is not None and not self.hosts.allows(host):
            response = error_response(
                400,
                "host_not_allowed",
                f"this server does not answer for host {host!r}; allow it with "
                "create_app(allowed_hosts=...) or water dev --allowed-host",
                {"host": host},
            )
            await response(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        if origin is not None and not self._origin_allowed(origin, host):
            response = error_response(
                403,
                "origin_not_allowed",
                f"requests from origin {origin!r} are not allowed; allow it with "
                "create_app(allowed_origins=...) or water dev --allowed-origin",
                {"origin": origin},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _origin_allowed(self, origin: str, host: str) -> bool:
        if self.any_origin:
            return True
        parsed = _origin(origin)
        if parsed is None:  # "null" (a sandboxed page, a file) or garbage
            return False
        if parsed in self.origins:
            return True
        scheme, name, port = parsed
        own_name, own_port = _split_host(host)  # same origin: the page came from this server
        return name == own_name and port == (own_port or _DEFAULT_PORTS[scheme])


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class JsonBodyGuard:
    """Answers 415 to a request whose body is not declared ``application/json``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        content_type = _header(scope, b"content-type")
        if _is_json(content_type):
            await self.app(scope, receive, send)
            return
        response = error_response(
            415,
            "unsupported_media_type",
            "request bodies must be JSON: send 'Content-Type: application/json'",
            {"content_type": content_type},
        )
        await response(scope, receive, send)


def _has_body(scope: Scope) -> bool:
    """Whether the request declares a body (a length above 0, or a chunked one)."""
    length = _header(scope, b"content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return _header(scope, b"transfer-encoding") is not None
