"""``LiveVersionStore``: a read model's store that follows its projection's live version."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from forze.contracts import Filter, Page, Query, ReadModelSpec, ReadModelStore

__all__ = ["LiveVersionStore"]

M = TypeVar("M", bound=BaseModel)


class LiveVersionStore(ABC, Generic[M]):
    """The ``ReadModelStore`` readers get from a backend's ``serving()``: every call asks
    :meth:`live` for the live version's store and delegates to it, so a cut-over (also one
    made by another process) is followed at once.

    A backend implements :meth:`live`, answering a ``NotYetLiveStore`` before the first
    version went live.
    """

    def __init__(self, spec: ReadModelSpec[M]) -> None:
        self.spec = spec

    @abstractmethod
    async def live(self) -> ReadModelStore[M]:
        """The store of the read model's live version, looked up now."""

    async def get(self, key: str) -> M | None:
        """See ``ReadModelStore.get``."""
        return await (await self.live()).get(key)

    async def get_many(self, keys: Collection[str]) -> list[M]:
        """See ``ReadModelStore.get_many``."""
        return await (await self.live()).get_many(keys)

    async def upsert(self, document: M) -> None:
        """See ``ReadModelStore.upsert``."""
        await (await self.live()).upsert(document)

    async def patch(self, key: str, changes: Mapping[str, Any]) -> M:
        """See ``ReadModelStore.patch``."""
        return await (await self.live()).patch(key, changes)

    async def delete(self, key: str) -> bool:
        """See ``ReadModelStore.delete``."""
        return await (await self.live()).delete(key)

    async def find(self, query: Query) -> Page[M]:
        """See ``ReadModelStore.find``."""
        return await (await self.live()).find(query)

    async def count(self, filters: Sequence[Filter] = ()) -> int:
        """See ``ReadModelStore.count``."""
        return await (await self.live()).count(filters)

    async def search(self, text: str, *, limit: int = 20) -> list[M]:
        """See ``ReadModelStore.search``."""
        return await (await self.live()).search(text, limit=limit)
