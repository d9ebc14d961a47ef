"""Write-behind read-model stores for one unit of work: the projector's batching."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel, ValidationError

from forze.contracts import Filter, Page, Query, ReadModelSpec, ReadModelStore, ReadModelStores
from forze.domain.errors import InvalidInputError, NotFoundError

__all__ = ["BufferedReadModelStores"]

M = TypeVar("M", bound=BaseModel)


class BufferedReadModelStores:
    """Wraps the stores a projection writes so that a batch touches each document once.

    Reads of documents written earlier in the batch come from the buffer; writes are kept
    (validated) until :meth:`flush`, which the projector calls inside the unit of work before
    it saves the checkpoint, so atomicity is unchanged. Queries (``find``, ``count``,
    ``search``, ``get_many``) flush first, so they see every earlier write. A store with
    ``upsert_many(documents)`` and ``delete_many(keys)`` (the SQLite and in-memory ones) is
    flushed in bulk; any other store one call per document.
    """

    def __init__(self, stores: ReadModelStores) -> None:
        self._stores = stores
        self._buffers: dict[str, _BufferedStore[Any]] = {}

    def __call__(self, spec: ReadModelSpec[M]) -> _BufferedStore[M]:
        buffer = self._buffers.get(spec.name)
        if buffer is None:
            buffer = self._buffers[spec.name] = _BufferedStore(spec, self._stores(spec))
        return cast(_BufferedStore[M], buffer)

    async def flush(self) -> None:
        """Write every buffered change to the underlying stores."""
        for buffer in self._buffers.values():
            await buffer.flush()


_DELETED = None


class _BufferedStore(Generic[M]):
    def __init__(self, spec: ReadModelSpec[M], store: ReadModelStore[M]) -> None:
        self.spec = spec
        self._store = store
        self._pending: dict[str, M | None] = {}
        self._seen: dict[str, M | None] = {}

    def _validated(self, data: Mapping[str, Any]) -> M:
        try:
            model = self.spec.model.model_validate(data)
        except ValidationError as error:
            raise InvalidInputError(f"invalid {self.spec.name} document: {error}") from error
        if getattr(model, self.spec.key) is None:
            raise InvalidInputError(f"{self.spec.name}: key field {self.spec.key!r} is null")
        return model

    async def get(self, key: str) -> M | None:
        if key in self._pending:
            found = self._pending[key]
        elif key in self._seen:
            found = self._seen[key]
        else:
            found = self._seen[key] = await self._store.get(key)
        return None if found is None else found.model_copy()

    async def upsert(self, document: M) -> None:
        model = self._validated(document.model_dump(mode="json", warnings=False))
        self._pending[str(getattr(model, self.spec.key))] = model

    async def patch(self, key: str, changes: Mapping[str, Any]) -> M:
        unknown = sorted(set(changes) - set(self.spec.model.model_fields))
        if unknown:
            raise InvalidInputError(f"{self.spec.name} has no fields {unknown}")
        current = await self.get(key)
        if current is None:
            raise NotFoundError(f"{self.spec.name} document {key!r} does not exist")
        model = self._validated({**current.model_dump(mode="json"), **changes})
        if str(getattr(model, self.spec.key)) != key:
            raise InvalidInputError(f"{self.spec.name}: patch cannot change the key of {key!r}")
        self._pending[key] = model
        return model.model_copy()

    async def delete(self, key: str) -> bool:
        existed = await self.get(key) is not None
        self._pending[key] = _DELETED
        return existed

    async def get_many(self, keys: Collection[str]) -> list[M]:
        await self.flush()
        return await self._store.get_many(keys)

    async def find(self, query: Query) -> Page[M]:
        await self.flush()
        return await self._store.find(query)

    async def count(self, filters: Sequence[Filter] = ()) -> int:
        await self.flush()
        return await self._store.count(filters)

    async def search(self, text: str, *, limit: int = 20) -> list[M]:
        await self.flush()
        return await self._store.search(text, limit=limit)

    async def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        self._seen.update(pending)
        upserts = [model for model in pending.values() if model is not None]
        deletes = [key for key, model in pending.items() if model is None]
        store: Any = self._store
        if upserts:
            if hasattr(store, "upsert_many"):
                await store.upsert_many(upserts)
            else:
                for model in upserts:
                    await self._store.upsert(model)
        if deletes:
            if hasattr(store, "delete_many"):
                await store.delete_many(deletes)
            else:
                for key in deletes:
                    await self._store.delete(key)
