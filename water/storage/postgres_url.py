"""A PostgreSQL URL: what libpq reads, Water's own ``pool_max`` option, what may be shown."""

from __future__ import annotations

from urllib.parse import unquote

__all__ = ["redact", "split_url"]


def split_url(url: str) -> tuple[str, int | None]:
    """Split a ``postgresql://`` URL into psycopg's conninfo and its ``pool_max`` option."""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in ("postgresql", "postgres"):
        raise ValueError(
            f"a PostgreSQL URL starts with 'postgresql://' or 'postgres://', got {redact(url)!r}"
        )
    base, _, query = url.partition("?")
    kept: list[str] = []
    pool_max: int | None = None
    for part in query.split("&") if query else []:
        name, _, value = part.partition("=")
        if unquote(name) != "pool_max":
            kept.append(part)
            continue
        try:
            pool_max = int(unquote(value))
        except ValueError:
            pool_max = 0
        if pool_max < 1:
            raise ValueError(f"pool_max must be a whole number >= 1 in URL {redact(url)!r}")
    return base + ("?" + "&".join(kept) if kept else ""), pool_max


def redact(url: str) -> str:
    """The URL without its password (in the user part or as a query option)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    location, mark, query = rest.partition("?")
    authority, slash, path = location.partition("/")
    user, at, hosts = authority.rpartition("@")
    if at and ":" in user:
        user = user.partition(":")[0] + ":***"
    parts = [
        "password=***" if unquote(p.partition("=")[0]) == "password" else p
        for p in query.split("&")
    ]
    location = f"{user}{at}{hosts}{slash}{path}"
    return f"{scheme}{sep}{location}{mark}{'&'.join(parts) if mark else ''}"
