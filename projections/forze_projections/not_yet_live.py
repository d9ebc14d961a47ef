"""What a read model answers before its projection first ran: nothing yet, on every backend."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Generic, NoReturn, TypeVar

from pydantic import BaseModel

from forze.contracts import Filter, Page, Query, ReadModelSpec
from forze.domain.errors import NotFoundError
from forze_projections.memory import InMemoryReadModelStore

__all__ = ["NotYetLiveStore"]

M = TypeVar("M", bound=BaseModel)


class NotYetLiveStore(Generic[M]):
    """The read model ``spec`` before any version of its projection went live.

    Reads answer as an empty store would (``None``, no documents, a count of 0), after the
    same checks of the query (an unknown field is still an ``InvalidInputError``), so a fresh
    deployment's queries answer "nothing yet" instead of failing. Writes raise
    ``NotFoundError``: there is no version to write to, and nothing is dropped silently.
    """

    def __init__(self, spec: ReadModelSpec[M]) -> None:
        self.spec = spec
        self._empty = InMemoryReadModelStore(spec)

    def _refuse(self) -> NoReturn:
        raise NotFoundError(
            f"read model {self.spec.name!r} has no live version yet: run its projection"
        )

    async def get(self, key: str) -> M | None:
        """``None``, after checking ``key``."""
        return await self._empty.get(key)

    async def get_many(self, keys: Collection[str]) -> list[M]:
        """No documents, after checking ``keys``."""
        return await self._empty.get_many(keys)

    async def upsert(self, document: M) -> None:
        """Refused: ``NotFoundError``."""
        self._refuse()

    async def patch(self, key: str, changes: Mapping[str, Any]) -> M:
        """Refused: ``NotFoundError``."""
        self._refuse()

    async def delete(self, key: str) -> bool:
        """Refused: ``NotFoundError``."""
        self._refuse()

    async def find(self, query: Query) -> Page[M]:
        """An empty page, after checking ``query``."""
        return await self._empty.find(query)

    async def count(self, filters: Sequence[Filter] = ()) -> int:
        """0, after checking ``filters``."""
        return await self._empty.count(filters)

    async def search(self, text: str, *, limit: int = 20) -> list[M]:
        """No documents, after the checks every store makes (search fields, limit)."""
        return await self._empty.search(text, limit=limit)
