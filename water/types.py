"""Typed values at the boundaries: validation against a declared type and JSON form.

Step inputs and outputs cross the journal as JSON (``to_json``) and come back as
the declared Python types (``validate``). Any type pydantic understands works:
models, ``list[Model]``, ``int``, ``dict[str, float]``... ``None`` means "untyped":
the value is passed as is.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python


class SerializationError(TypeError):
    """A value could not be turned into JSON for the journal."""


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


def to_json(value: Any) -> Any:
    """The JSON-able form of a value (models become dicts)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    try:
        return to_jsonable_python(value)
    except PydanticSerializationError as exc:
        raise SerializationError(
            f"value of type {type(value).__name__} cannot be stored as JSON: {exc}"
        ) from exc


def type_name(tp: Any) -> str:
    """A short human name of a type for messages."""
    if tp is None:
        return "Any"
    return getattr(tp, "__name__", None) or repr(tp)


def json_schema(tp: Any) -> dict[str, Any]:
    """The JSON schema of a type (an empty schema when untyped)."""
    if tp is None or tp is Any:
        return {}
    try:
        return adapter(tp).json_schema()
    except Exception:
        return {}


def describe_validation_error(exc: ValidationError) -> str:
    """``field: message; ...`` from a pydantic ValidationError."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(value)"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)
