"""The read-model (document) port: queryable state built from events."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel

from forze.domain.errors import InvalidInputError

__all__ = [
    "FIELD_NAME",
    "Filter",
    "FilterOp",
    "Page",
    "Query",
    "ReadModelReader",
    "ReadModelSpec",
    "ReadModelStore",
    "ReadModelStores",
    "SortKey",
]

M = TypeVar("M", bound=BaseModel)

FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
"""What a read model's field names must match: ASCII letters, digits and ``_``, not starting
with a digit, at most 63 characters. Stores put field names into SQL (JSON paths, generated
columns, index names); they quote them too, but the names are checked first."""
FilterOp = Literal["eq", "ne", "lt", "le", "gt", "ge", "in"]


@dataclass(frozen=True, slots=True)
class ReadModelSpec(Generic[M]):
    """Names a read model, its pydantic document type and the field that is its key.

    ``indexes`` lists fields that queries filter or sort on (adapters index them);
    ``search_fields`` lists text fields covered by :meth:`ReadModelStore.search`. Every field
    of ``model`` must have a name matching :data:`FIELD_NAME` (``InvalidInputError`` naming
    the field otherwise), since any field can be filtered or sorted on.
    """

    name: str
    model: type[M]
    key: str = "id"
    indexes: tuple[str, ...] = ()
    search_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise InvalidInputError(f"read model name {self.name!r} must be an identifier")
        fields = self.model.model_fields
        for name in fields:
            if not FIELD_NAME.fullmatch(name):
                raise InvalidInputError(
                    f"read model {self.name!r}: field {name!r} of {self.model.__name__} is not"
                    " a plain name (ASCII letters, digits and _, not starting with a digit,"
                    " at most 63 characters)"
                )
        for name in (self.key, *self.indexes, *self.search_fields):
            if name not in fields:
                raise InvalidInputError(
                    f"read model {self.name!r}: {self.model.__name__} has no field {name!r}"
                )


@dataclass(frozen=True, slots=True)
class Filter:
    """One condition on a document field; ``in`` takes a collection as ``value``."""

    field: str
    op: FilterOp
    value: Any


@dataclass(frozen=True, slots=True)
class SortKey:
    """Sort by ``field``, ascending unless ``descending``."""

    field: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """Filters (all must hold), sort keys (the key field breaks ties), a page size and a cursor."""

    filters: tuple[Filter, ...] = ()
    sort: tuple[SortKey, ...] = ()
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[M]):
    """One page of results; ``next_cursor`` is ``None`` on the last page."""

    items: Sequence[M] = field(default_factory=tuple)
    next_cursor: str | None = None


class ReadModelStore(Protocol[M]):
    """Documents of one read model, addressed by key.

    Guarantees: ``upsert`` replaces the whole document; ``patch`` changes the named fields of an
    existing document and raises ``NotFoundError`` when there is none; documents are validated
    against the spec's model on write, so a bad field raises ``InvalidInputError`` and changes
    nothing; ``find`` pages are stable under the sort keys plus the key field.
    """

    async def get(self, key: str) -> M | None:
        """The document with ``key``, or ``None``."""
        ...

    async def get_many(self, keys: Collection[str]) -> list[M]:
        """The documents that exist among ``keys`` (missing keys are left out)."""
        ...

    async def upsert(self, document: M) -> None:
        """Insert or replace ``document``."""
        ...

    async def patch(self, key: str, changes: Mapping[str, Any]) -> M:
        """Change some fields of an existing document and return it."""
        ...

    async def delete(self, key: str) -> bool:
        """Delete the document; ``True`` when one existed."""
        ...

    async def find(self, query: Query) -> Page[M]:
        """Documents matching the query's filters, sorted and paged."""
        ...

    async def count(self, filters: Sequence[Filter] = ()) -> int:
        """How many documents match ``filters``."""
        ...

    async def search(self, text: str, *, limit: int = 20) -> list[M]:
        """Documents whose search fields contain every word of ``text`` (case-insensitive)."""
        ...


class ReadModelReader(Protocol[M]):
    """What application code may do with a read model (``ctx.read_models(spec)``): read it.

    Read models are written by their projections only; a usecase that wrote one would be
    overwritten by the projection's next batch, so the reader has no write methods.
    """

    async def get(self, key: str) -> M | None:
        """The document with ``key``, or ``None``."""
        ...

    async def get_many(self, keys: Collection[str]) -> list[M]:
        """The documents that exist among ``keys`` (missing keys are left out)."""
        ...

    async def find(self, query: Query) -> Page[M]:
        """Documents matching the query's filters, sorted and paged."""
        ...

    async def count(self, filters: Sequence[Filter] = ()) -> int:
        """How many documents match ``filters``."""
        ...

    async def search(self, text: str, *, limit: int = 20) -> list[M]:
        """Documents matching ``text`` (see ``ReadModelStore.search``)."""
        ...


class ReadModelStores(Protocol):
    """Gives the store of a read model spec (``ctx.read_models(spec)`` uses it)."""

    def __call__(self, spec: ReadModelSpec[M]) -> ReadModelStore[M]:
        """The store holding the documents of ``spec``."""
        ...
