"""What differs between the SQL texts of two databases; everything else is shared."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

__all__ = ["Dialect", "Kind"]

Kind: TypeAlias = Literal["id", "text", "seq", "int", "real"]
"""What a column holds, each dialect naming its own type for it.

``id`` an identifier, compared and sorted byte-wise; ``text`` any other text (JSON
included); ``seq`` a sequence number (64 bits); ``int`` a small whole number;
``real`` a float, unix seconds among them.
"""


@dataclass(frozen=True, slots=True)
class Dialect:
    """One database's names for types and its forms for parameters."""

    title: str
    """The database's name in messages ("SQLite")."""
    types: Mapping[Kind, str]
    """The column type of each kind, as ``CREATE TABLE`` takes it."""
    param: str
    """The mark of one parameter in a statement ("?", "%s")."""
    text_array: str | None
    """The mark of one parameter holding a list of text values, or None where a list
    takes one parameter per value."""
    max_list: int
    """The most values one ``any_of`` may take (a longer list is asked in parts)."""
    nulls_first: str
    """What ``ORDER BY`` needs after a column for NULLs to come first ("" if nothing)."""
    table_exists: str
    """A query with a row if and only if the ``schema_version`` table exists."""
    now: str = ""
    """An expression of the database's clock, in unix seconds (leases are timed by it)."""
    clustered: str = ""
    """What ``CREATE TABLE`` ends with for a table stored in key order ("" if nothing)."""

    def marks(self, count: int) -> str:
        """``count`` parameter marks, comma separated."""
        return ", ".join([self.param] * count)

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """A condition that ``column`` is one of ``values``, and its parameters."""
        if len(values) == 1:
            return f"{column} = {self.param}", list(values)
        if self.text_array is not None:
            return f"{column} = ANY({self.text_array})", [list(values)]
        return f"{column} IN ({self.marks(len(values))})", list(values)
