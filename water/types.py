"""Typed values at the boundaries: validation against a declared type and JSON form.

Step inputs and outputs cross the journal as JSON (``to_json``) and come back as
the declared Python types (``validate``). Any type pydantic understands works:
models, ``list[Model]``, ``int``, ``dict[str, float]``... ``None`` means "untyped":
the value is passed as is.

``to_json`` is also the one check of every value that enters the journal (inputs,
step outputs, suspend payloads, signal payloads, resume data, cancel reasons, flow
variables and metadata): the journal must give back exactly what was stored, so a value JSON
cannot carry exactly is refused with ``UnstorableValueError`` rather than changed:
``inf`` and ``nan`` (JSON has no such numbers), strings with a lone surrogate
(UTF-8 cannot encode them) and lists or objects nested deeper than ``MAX_DEPTH``.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from water.errors import UnstorableValueError

log = logging.getLogger("water.types")

MAX_DEPTH = 64
"""How many levels lists and objects may nest in a journaled value.

``[1]`` is one level, ``{"a": [1]}`` two. Stored documents wrap a value in a few
more levels (an event, a snapshot's ``step_outputs``, the list a ``for_`` or
``parallel`` collects), and pydantic reads JSON at most 200 levels deep: the
margin keeps every accepted value readable and recoverable.
"""

Path = tuple[str | int, ...]
_UTF8 = "which UTF-8 cannot encode"
_PLAIN = (int, bool, type(None))


def _surrogate(text: str) -> str | None:
    """The first lone surrogate in ``text`` (escaped), or None if UTF-8 encodes it."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return ascii(exc.object[exc.start : exc.end])
    return None


def _problem(value: Any, depth: int) -> tuple[Path, str] | None:
    """Where and why a JSON-able value cannot be stored exactly; None if it can.

    ``depth`` is the number of lists and objects around ``value``.
    """
    kind = type(value)
    if kind is list or kind is dict or isinstance(value, (list, dict)):
        if depth >= MAX_DEPTH:
            return (), f"lists and objects nest more than {MAX_DEPTH} levels deep"
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            bad = _surrogate(key) if isinstance(key, str) else None
            if bad is not None:
                return (key,), f"the key holds a lone surrogate {bad}, {_UTF8}"
            leaf = type(item)
            if leaf in _PLAIN or (leaf is str and item.isascii()):
                continue  # the common leaves, without a call
            found = _problem(item, depth + 1)
            if found is not None:
                return (key, *found[0]), found[1]
        return None
    if isinstance(value, str):
        bad = _surrogate(value)
        return None if bad is None else ((), f"the string holds a lone surrogate {bad}, {_UTF8}")
    if isinstance(value, float) and not math.isfinite(value):
        return (), f"{value!r} is not a JSON number (send null or a string instead)"
    return None


def check_json(value: Any, what: str = "value") -> None:
    """Raise ``UnstorableValueError`` unless the JSON-able ``value`` can be stored exactly."""
    found = _problem(value, 0)
    if found is not None:
        raise UnstorableValueError(what, found[1], found[0])


def safe_text(text: str) -> str:
    """``text`` with lone surrogates escaped, so that it can be stored (error messages)."""
    if _surrogate(text) is None:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@functools.lru_cache(maxsize=1024)
def adapter(tp: Any) -> TypeAdapter[Any]:
    """A cached TypeAdapter for ``tp``."""
    return TypeAdapter(tp)


def validate(tp: Any, value: Any) -> Any:
    """Coerce ``value`` into ``tp`` (a dict or a compatible model becomes the model).

    Raises pydantic's ``ValidationError`` when the value does not fit.
    """
    if tp is None or tp is Any:
        return value
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if type(value) is tp:
            return value
        if isinstance(value, BaseModel):
            value = value.model_dump()
        return tp.model_validate(value)
    return adapter(tp).validate_python(value)


def to_json(value: Any, what: str = "value") -> Any:
    """The JSON-able form of a value (models become dicts), checked for the journal.

    Raises ``UnstorableValueError`` (naming ``what``) for a value JSON cannot carry
    exactly: see the module's docstring.
    """
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, (str, float)):
        check_json(value, what)
        return value
    try:
        data = to_jsonable_python(value)
    except (PydanticSerializationError, ValueError) as exc:
        if isinstance(exc, UnicodeEncodeError):
            problem = f"a string holds a lone surrogate, {_UTF8}"
        elif "depth" in str(exc):  # pydantic's own limit, far above MAX_DEPTH
            problem = f"lists and objects nest more than {MAX_DEPTH} levels deep"
        else:
            problem = f"{type(value).__name__} is not JSON-able: {safe_text(str(exc))}"
        raise UnstorableValueError(what, problem) from None
    check_json(data, what)
    return data


def type_name(tp: Any) -> str:
    """A short human name of a type for messages."""
    if tp is None:
        return "Any"
    return getattr(tp, "__name__", None) or repr(tp)


def json_schema(tp: Any) -> dict[str, Any]:
    """The JSON schema of a type (an empty schema when untyped, or when pydantic cannot
    describe the type: then a warning names it once)."""
    if tp is None or tp is Any:
        return {}
    try:
        return adapter(tp).json_schema()
    except Exception as exc:
        undescribed(tp, exc)
        return {}


_undescribed: set[str] = set()


def undescribed(tp: Any, error: BaseException) -> None:
    """Say (once per type) that pydantic cannot describe ``tp`` as a JSON schema, and why."""
    name = type_name(tp)
    if name not in _undescribed:
        _undescribed.add(name)
        log.warning(
            "%s has no JSON schema (%s: %s); it is shown as any value",
            name,
            type(error).__name__,
            error,
        )


def validation_problems(exc: ValidationError, whole: str = "(value)") -> list[str]:
    """``field: message`` for each problem of a pydantic ValidationError (never the values).

    ``whole`` names the value itself when a problem has no field location.
    """
    problems = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err.get("loc", ())) or whole
        problems.append(f"{loc}: {err.get('msg', 'invalid')}")
    return problems


def describe_validation_error(exc: ValidationError) -> str:
    """``field: message; ...`` from a pydantic ValidationError."""
    return "; ".join(validation_problems(exc))
