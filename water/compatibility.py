"""Whether a value of one declared type can feed a step that needs another.

``Flow.validate()`` relies on it to refuse, before anything runs, steps whose
types cannot meet. Models are compared by field names and requiredness, lists
by their item types, unions member by member, a ``TypedDict`` (a Dag's output)
with a model by its keys; other types are trusted, since pydantic coerces many
of them at run time. ``None`` means untyped everywhere.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Union

from pydantic import BaseModel, BeforeValidator
from typing_extensions import is_typeddict

NONE_TYPE = type(None)


class _NotAList:
    def __repr__(self) -> str:
        return "NOT_A_LIST"


NOT_A_LIST: Any = _NotAList()
"""What ``list_item_type`` and ``for_item_type`` answer for a type that is not a list."""


def describe(tp: Any) -> str:
    """A type as a user writes it: ``list[Order]``, ``Approval | None``."""
    if tp is None or tp is Any:
        return "Any"
    if tp is NONE_TYPE:
        return "None"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Annotated:
        return describe(args[0])
    if _is_union(tp):
        return " | ".join(describe(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", None) or repr(origin)
        if not args:
            return str(name)
        return f"{name}[{', '.join('...' if a is Ellipsis else describe(a) for a in args)}]"
    return str(getattr(tp, "__name__", None) or repr(tp))


def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def list_item_type(tp: Any) -> Any:
    """The item type of a list type (``Any`` when not given), or ``NOT_A_LIST``."""
    tp = _strip(tp)
    if tp in (list, tuple):
        return Any
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (list, Sequence):
        return args[0] if args else Any
    if origin is tuple:
        return args[0] if len(args) == 2 and args[1] is Ellipsis else Any
    return NOT_A_LIST


def list_fields(model: type[BaseModel]) -> list[str]:
    """Names of a model's list-typed fields."""
    names = []
    for name, info in model.model_fields.items():
        ann = info.annotation
        if typing.get_origin(ann) in (list, Sequence) or ann is list:
            names.append(name)
    return names


def for_item_type(tp: Any) -> Any:
    """The type of the items a ``for_`` takes from a value of type ``tp``.

    A list gives its items; a model with exactly one list field, that field's
    items; an untyped value, ``Any``; anything else ``NOT_A_LIST``.
    """
    tp = _strip(tp)
    if tp is None or tp is Any:
        return Any
    item = list_item_type(tp)
    if item is not NOT_A_LIST:
        return item
    if _is_model(tp):
        names = list_fields(tp)
        if len(names) == 1:
            return list_item_type(tp.model_fields[names[0]].annotation)
    return NOT_A_LIST


# -- a flow that starts with for_ -------------------------------------------------
@dataclass(frozen=True)
class SingleListField:
    """Takes the items a ``for_`` iterates: a list, or a model's only list field."""

    where: str

    def __call__(self, value: Any) -> Any:
        if isinstance(value, BaseModel):
            names = list_fields(type(value))
            if len(names) == 1:
                return getattr(value, names[0])
            kind = type(value).__name__
        elif isinstance(value, dict):
            names = [k for k, v in value.items() if isinstance(v, list)]
            if len(names) == 1:
                return value[names[0]]
            kind = "an object"
        else:
            return value  # a list, or a value the list check will report
        raise ValueError(
            f"{self.where} needs a list or a model with exactly one list field; "
            f"{kind} has list fields {names}"
        )


def items_input(item: Any, where: str) -> Any:
    """The input type of a flow whose first step is a ``for_`` over ``item``s."""
    return Annotated[list[item], BeforeValidator(SingleListField(where))]


def _takes_items(tp: Any) -> bool:
    return typing.get_origin(tp) is Annotated and any(
        isinstance(m, BeforeValidator) and isinstance(m.func, SingleListField)
        for m in tp.__metadata__
    )


# -- feeding -------------------------------------------------------------------------
def feed_problem(produced: Any, needed: Any) -> str | None:
    """Why a value of type ``produced`` cannot be validated as ``needed`` (None if it can)."""
    if _takes_items(needed):  # a nested flow that starts with for_
        item = for_item_type(produced)
        if item is NOT_A_LIST:
            return f"{describe(produced)} is not a list or a model with one list field"
        problem = feed_problem(item, list_item_type(needed))
        return None if problem is None else f"items: {problem}"
    produced, needed = _strip(produced), _strip(needed)
    if needed is None or needed is Any or produced is None or produced is Any:
        return None
    if produced == needed:
        return None
    if _is_union(produced):
        for member in typing.get_args(produced):
            problem = feed_problem(member, needed)
            if problem is not None:
                if member is NONE_TYPE:
                    return "it may be None"
                return f"it may be {describe(member)}: {problem}"
        return None
    if _is_union(needed):
        if all(feed_problem(produced, m) is not None for m in typing.get_args(needed)):
            return f"{describe(produced)} fits none of {describe(needed)}"
        return None
    if produced is NONE_TYPE:
        return f"None is not {describe(needed)}"
    if is_typeddict(produced):  # a Dag's output: {task_id: output}
        return _mapping_problem(produced, needed)
    needed_item = list_item_type(needed)
    if needed_item is not NOT_A_LIST:
        return _list_problem(produced, needed_item)
    if not _is_model(needed):
        return None
    if not _is_model(produced):
        origin = typing.get_origin(produced) or produced
        if origin in (list, tuple, int, float, str, bool):
            return f"{describe(produced)} is not a {needed.__name__} model"
        return None
    if issubclass(produced, needed):
        return None
    available = set(produced.model_fields)
    missing = [
        name
        for name, info in needed.model_fields.items()
        if info.is_required() and name not in available
    ]
    if missing:
        return f"{needed.__name__} requires {missing} which {produced.__name__} does not have"
    return None


def _mapping_problem(produced: Any, needed: Any) -> str | None:
    """Why a ``TypedDict`` value cannot be validated as ``needed``: compared with a model's
    fields by name and type; never a list or a scalar."""
    keys = typing.get_type_hints(produced)
    if list_item_type(needed) is not NOT_A_LIST:
        return f"{describe(produced)} is not a list"
    if needed in (int, float, str, bool):
        return f"{describe(produced)} (an object) is not {describe(needed)}"
    if not _is_model(needed):
        return None
    fields = needed.model_fields
    missing = [n for n, info in fields.items() if info.is_required() and n not in keys]
    if missing:
        return f"{needed.__name__} requires {missing} which {describe(produced)} does not have"
    for name, tp in keys.items():
        info = fields.get(name)
        problem = None if info is None else feed_problem(tp, info.annotation)
        if problem:
            return f"{name!r}: {problem}"
    return None


def _list_problem(produced: Any, needed_item: Any) -> str | None:
    item = list_item_type(produced)
    if item is NOT_A_LIST:
        scalar = (int, float, str, bool, dict)
        if _is_model(produced) or (typing.get_origin(produced) or produced) in scalar:
            return f"{describe(produced)} is not a list"
        return None
    problem = feed_problem(item, needed_item)
    return None if problem is None else f"items: {problem}"
