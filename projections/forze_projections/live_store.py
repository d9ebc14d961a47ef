"""``LiveVersionStore``: a read model's store that follows its projection's live version."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from forze.contracts import Filter, Page, Query, ReadModelSpec, ReadModelStore
from forze_projections.memory_backend import ReadModelOwners
from forze_projections.not_yet_live import NotYetLiveStore

__all__ = ["LiveVersionStore", "ServedVersions", "ServingStores", "WriterStores"]

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


class ServedVersions(Protocol):
    """What :class:`ServingStores` and :class:`WriterStores` need of a backend that keeps
    each projection version's read models apart."""

    @property
    def owners(self) -> ReadModelOwners:
        """Which projection writes which read model."""
        ...

    async def serving_version(self, spec: ReadModelSpec[Any]) -> int | None:
        """The live version of read model ``spec``, looked up now; ``None`` before the
        first."""
        ...

    def store(self, spec: ReadModelSpec[M], version: int) -> ReadModelStore[M]:
        """The store of version ``version`` of ``spec``."""
        ...


class ServingStores:
    """A backend's ``serving()``: each read model's live version, looked up at every call,
    so a cut-over (also one made by another process) is followed at once (a
    ``NotYetLiveStore`` before the first version)."""

    def __init__(self, backend: ServedVersions) -> None:
        self._backend = backend

    def __call__(self, spec: ReadModelSpec[M]) -> LiveVersionStore[M]:
        return _Served(self._backend, spec)


class _Served(LiveVersionStore[M]):
    def __init__(self, backend: ServedVersions, spec: ReadModelSpec[M]) -> None:
        super().__init__(spec)
        self._backend = backend

    async def live(self) -> ReadModelStore[M]:
        """See ``LiveVersionStore.live``."""
        version = await self._backend.serving_version(self.spec)
        if version is None:
            return NotYetLiveStore(self.spec)
        return self._backend.store(self.spec, version)


class WriterStores:
    """A backend's ``writer(name, version)``: the stores version ``version`` of projection
    ``name`` writes, each refused unless the projection declared it."""

    def __init__(self, backend: ServedVersions, name: str, version: int) -> None:
        self._backend, self._name, self._version = backend, name, version

    def __call__(self, spec: ReadModelSpec[M]) -> ReadModelStore[M]:
        self._backend.owners.check(self._name, spec)
        return self._backend.store(spec, self._version)
