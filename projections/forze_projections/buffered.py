"""Write-behind read-model stores for one unit of work: the projector's batching."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError

from forze.contracts import Filter, Page, Query, ReadModelSpec, ReadModelStore, ReadModelStores
from forze.domain.errors import InvalidInputError, NotFoundError
from forze_eventstore.rules import refuse_unstorable
from forze_projections.queries import check_key

__all__ = ["BufferedReadModelStores", "DocumentCache"]

M = TypeVar("M", bound=BaseModel)
Document = dict[str, Any]


class DocumentCache:
    """Documents a projector has read or written, kept from one unit of work to the next.

    A projection is the only writer of its read models, so what it wrote in a committed unit
    is still what the store holds: the next batches read it from here instead of one round
    trip per document. The projector clears the cache when a unit fails (its writes rolled
    back) or when it finds its checkpoint moved by another writer. At most ``limit``
    documents per read model are kept (the oldest go first). A read model the projector
    found empty when it started from position 0 is *complete* until something is evicted:
    a key missing from the cache is then known to be absent, so a rebuild from scratch reads
    nothing back from the store.
    """

    def __init__(self, limit: int = 100_000) -> None:
        if limit < 0:
            raise InvalidInputError("a document cache limit must be >= 0")
        self.limit = limit
        self._documents: dict[str, dict[str, Document | None]] = {}
        self._complete: set[str] = set()

    def documents(self, name: str) -> dict[str, Document | None]:
        """The cached documents of read model ``name`` (``None``: known to be absent)."""
        return self._documents.setdefault(name, {})

    def is_complete(self, name: str) -> bool:
        """Whether every document of ``name`` in the store is in the cache."""
        return name in self._complete

    def mark_complete(self, name: str) -> None:
        """Record that the store holds no document of ``name`` beyond the cached ones."""
        if self.limit:
            self._complete.add(name)

    def trim(self) -> None:
        """Forget the oldest documents beyond ``limit`` (a read model then stops being
        complete)."""
        for name, documents in self._documents.items():
            excess = len(documents) - self.limit
            if excess <= 0:
                continue
            self._complete.discard(name)
            for key in list(itertools.islice(documents, excess)):
                del documents[key]

    def clear(self) -> None:
        """Forget everything (after a rollback, or another writer's checkpoint move)."""
        self._documents.clear()
        self._complete.clear()


class BufferedReadModelStores:
    """Wraps the stores a projection writes so that a batch touches each document once.

    Reads of documents written earlier in the batch come from the buffer; writes are kept
    (validated) until :meth:`flush`, which the projector calls inside the unit of work before
    it saves the checkpoint, so atomicity is unchanged. Queries (``find``, ``count``,
    ``search``, ``get_many``) flush first, so they see every earlier write. Documents are kept
    validated, as JSON-mode dicts; a store with ``write_documents(documents)`` (trusted,
    already validated) or ``upsert_many(models)``, and ``delete_many(keys)``, is flushed in
    bulk; any other store one call per document. With a :class:`DocumentCache`, documents
    read or written by earlier units of the same projector are not read again.
    """

    def __init__(self, stores: ReadModelStores, cache: DocumentCache | None = None) -> None:
        self._stores = stores
        self._cache = DocumentCache(0) if cache is None else cache
        self._buffers: dict[str, _BufferedStore[Any]] = {}

    def __call__(self, spec: ReadModelSpec[M]) -> _BufferedStore[M]:
        buffer = self._buffers.get(spec.name)
        if buffer is None:
            buffer = self._buffers[spec.name] = _BufferedStore(
                spec, self._stores(spec), self._cache
            )
        return cast(_BufferedStore[M], buffer)

    async def flush(self) -> None:
        """Write every buffered change to the underlying stores."""
        for buffer in self._buffers.values():
            await buffer.flush()
        self._cache.trim()


_DELETED = None


def _plain(values: Collection[Any]) -> bool:
    """Whether every one of a JSON-mode document's field ``values`` is surely storable as it
    is: a number, a boolean, null or ASCII text without NUL (field names are plain).
    Anything else (a list, an object, other text) is looked at closer."""
    for value in values:
        kind = type(value)
        if kind is str:
            if not value.isascii() or "\x00" in value:
                return False
        elif not (value is None or kind is int or kind is float or kind is bool):
            return False
    return True


class _BufferedStore(Generic[M]):
    def __init__(
        self, spec: ReadModelSpec[M], store: ReadModelStore[M], cache: DocumentCache
    ) -> None:
        self.spec = spec
        self._store = store
        self._pending: dict[str, Document | None] = {}
        self._seen = cache.documents(spec.name)
        self._complete = cache.is_complete(spec.name)
        self._fields = frozenset(spec.model.model_fields)
        # pydantic's validator and serializer, called directly: this runs for every event.
        self._validate = spec.model.__pydantic_validator__.validate_python
        self._serialize = spec.model.__pydantic_serializer__.to_python
        self._to_json = spec.model.__pydantic_serializer__.to_json

    def _validated(
        self, data: Mapping[str, Any], changed: Collection[str] | None = None
    ) -> tuple[M, Document]:
        """``data`` validated, as the model and its JSON-mode document; its key and text are
        checked as every store checks them (only the ``changed`` fields, for a patch of a
        document that was checked before: its key cannot change)."""
        try:
            model: M = self._validate(data)
        except ValidationError as error:
            raise InvalidInputError(f"invalid {self.spec.name} document: {error}") from error
        document: Document = self._serialize(model, mode="json")
        key = document[self.spec.key]
        if key is None:
            raise InvalidInputError(f"{self.spec.name}: key field {self.spec.key!r} is null")
        if changed is None:
            if type(key) is not int:
                check_key(self.spec.name, str(key))
            values: Collection[Any] = document.values()
        else:
            values = [document[name] for name in changed]
        if not _plain(values):
            self._check_text(model, document)
        return model, document

    def _check_text(self, model: M, document: Document) -> None:
        """Refuse NUL and surrogates as every store does: pydantic's JSON encoder refuses a
        surrogate and escapes NUL, so only a text holding ``\\u0000`` is walked."""
        try:
            encoded = self._to_json(model)
        except PydanticSerializationError as error:
            raise InvalidInputError(f"invalid {self.spec.name} document: {error}") from error
        if b"\\u0000" in encoded:
            refuse_unstorable(document, f"{self.spec.name} document")

    async def _document(self, key: str) -> Document | None:
        if key in self._pending:
            return self._pending[key]
        if key not in self._seen:
            if self._complete:
                return None
            found = await self._store.get(key)
            self._seen[key] = None if found is None else found.model_dump(mode="json")
        return self._seen[key]

    async def get(self, key: str) -> M | None:
        document = await self._document(key)  # a key not held is checked by the store
        return None if document is None else self._validate(document)

    async def upsert(self, document: M) -> None:
        _, data = self._validated(document.model_dump(mode="json", warnings=False))
        self._pending[str(data[self.spec.key])] = data

    async def patch(self, key: str, changes: Mapping[str, Any]) -> M:
        unknown = sorted(set(changes) - self._fields)
        if unknown:
            raise InvalidInputError(f"{self.spec.name} has no fields {unknown}")
        current = await self._document(key)
        if current is None:
            raise NotFoundError(f"{self.spec.name} document {key!r} does not exist")
        model, data = self._validated({**current, **changes}, changes.keys())
        if str(data[self.spec.key]) != key:
            raise InvalidInputError(f"{self.spec.name}: patch cannot change the key of {key!r}")
        self._pending[key] = data
        return model

    async def delete(self, key: str) -> bool:
        existed = await self._document(key) is not None
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
        documents = [document for document in pending.values() if document is not None]
        deletes = [key for key, document in pending.items() if document is None]
        store: Any = self._store
        if documents:
            if hasattr(store, "write_documents"):
                await store.write_documents(documents)
            elif hasattr(store, "upsert_many"):
                await store.upsert_many([self.spec.model.model_validate(d) for d in documents])
            else:
                for document in documents:
                    await self._store.upsert(self.spec.model.model_validate(document))
        if deletes:
            if hasattr(store, "delete_many"):
                await store.delete_many(deletes)
            else:
                for key in deletes:
                    await self._store.delete(key)
