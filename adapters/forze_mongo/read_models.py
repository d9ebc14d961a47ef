"""Read-model stores in MongoDB: one collection per read model, one document per key.

A document is the BSON document of its JSON-mode dump, ``_id`` its key (see
``forze_mongo._rm_docs`` for the layout, ``forze_mongo._rm_fields`` for how fields of lists
or of several kinds are compared). Filters, sort, keyset paging, counting and search run in
MongoDB with the in-memory store's semantics (see ``forze_projections.testing``). Every
write replaces whole documents (never ``$set``), each replacement atomic on its own, so no
transaction is needed and the store works on any deployment, a standalone server included.
A bulk write (``upsert_many``, ``write_documents``) validates every document before it
writes any, but is not atomic as a whole: a connection lost part-way may leave some written,
which replaying the same writes (as a projector does after a failed batch) makes whole.

Search does not use ``$text``: a text index matches whole (stemmed) words, drops stop words
such as "of", folds case and accents by rules of its own and allows one index per
collection, while the contract wants every query word to start some word of a search field,
words being ``forze_projections.queries.search_words``. Each document instead stores, in
``_w``, the prefixes of its search words up to 20 characters (and longer words whole),
indexed by a multikey index; a search is ``{_w: {$all: [<query words>]}}``, an equality per
word that the index answers. A query word longer than 20 characters is looked up by its first
20, and the few documents found are checked against their whole words here. (An anchored
``$regex`` on the words would answer prefixes from the index on MongoDB, but
MongoDB-compatible servers do not all match a ``$regex`` against array elements.)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Generic, TypeVar, cast

from bson.raw_bson import RawBSONDocument
from pydantic import BaseModel
from pymongo import ReplaceOne
from pymongo.errors import BulkWriteError

from forze.contracts import Filter, Page, Query, ReadModelSpec, SortKey
from forze.domain.errors import InvalidInputError, NotFoundError
from forze_mongo._rm_docs import PREFIX, DocumentCodec
from forze_mongo._rm_fields import all_of
from forze_mongo._rm_query import QueryBuilder
from forze_mongo._units import Journal
from forze_mongo.database import Document, MongoDatabase, check_collection_name
from forze_projections.queries import (
    check_key,
    encode_cursor,
    jsonable,
    search_words,
    store_for_spec,
)

__all__ = ["MongoReadModelStore", "MongoReadModelStores"]

M = TypeVar("M", bound=BaseModel)

_BATCH = 1000
"""Keys per query or delete of many keys (a command stays far below 16 MiB)."""
_DUPLICATE_KEY = 11000


def _collection_name(spec: ReadModelSpec[Any], collection: str | None = None) -> str:
    """``collection``, or ``rm_<spec name>``: checked by ``check_collection_name``."""
    return check_collection_name(collection or f"rm_{spec.name}")


class MongoReadModelStore(Generic[M]):
    """A :class:`forze.contracts.ReadModelStore` of one spec in a collection of ``db``.

    ``collection`` defaults to ``rm_<spec name>`` (with the database's prefix:
    ``forze_rm_<spec name>``); another name keeps a separate copy. The secondary indexes are
    created at first use (or by :meth:`migrate`). Cursors are opaque and keyset-based: by the
    sort keys, then the key field, which is ``_id`` for a string key. ``patch`` replaces the
    document only while it is the one the patch read (its ``_rev`` token unchanged), and
    reads again otherwise, so concurrent patches of one document never lose a change.
    """

    def __init__(
        self,
        db: MongoDatabase,
        spec: ReadModelSpec[M],
        *,
        collection: str | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.db = db
        self._journal = journal
        self.spec = spec
        self.name = _collection_name(spec, collection)
        self.collection = db.collection(self.name)
        self._queries = queries = QueryBuilder(spec)
        self._codec = DocumentCodec(spec, queries.fields)
        shadows = {path for field in queries.fields.values() for path in field.sort_paths}
        hidden = shadows - {"_id", *(field.stored for field in queries.fields.values())}
        shadowed: Document = dict.fromkeys(sorted(hidden), 0)
        self._projection: Document = {**shadowed, "_w": 0, "_rev": 0}
        """What reads return: the fields and ``_id``."""
        self._with_revision: Document = {**shadowed, "_w": 0}
        self._with_words: Document = {**shadowed, "_rev": 0}
        self._ready = False

    async def migrate(self) -> None:
        """Create the collection's secondary indexes if missing (idempotent)."""
        indexes = self._queries.indexes()
        if indexes:
            with self.db.operation(f"create the indexes of read model {self.spec.name!r}"):
                await self.collection.create_indexes(indexes)
        self._ready = True

    def forget(self) -> None:
        """Create the indexes again at next use (after the collection was dropped)."""
        self._ready = False

    async def _ensure(self) -> None:
        if not self._ready:
            await self.migrate()

    # -- writes -----------------------------------------------------------------------------

    async def upsert(self, document: M) -> None:
        """Insert or replace ``document`` after validating it; ``InvalidInputError`` if bad."""
        await self.upsert_many([document])

    async def upsert_many(self, documents: Sequence[M]) -> None:
        """Insert or replace every document in one bulk write; nothing is written if one is
        bad."""
        await self._write(dict(self._codec.dumped(document) for document in documents))

    async def write_documents(self, documents: Sequence[Mapping[str, Any]]) -> None:
        """Store JSON-mode documents already validated against the spec's model (and their
        keys and text checked, as :meth:`upsert` does), in bulk; what MongoDB cannot store
        is still refused, before anything is written.

        For writers that validated them already (the projector's buffer); others use
        :meth:`upsert_many`.
        """
        rows: dict[str, RawBSONDocument] = {}
        for document in documents:
            key = str(document[self.spec.key])
            rows[key] = self._codec.stored(key, document)
        await self._write(rows)

    async def _write(self, rows: Mapping[str, RawBSONDocument]) -> None:
        """Insert or replace the documents ``rows`` (by key). A replacement that loses a
        race to insert the same new key (refused as a duplicate ``_id``) is sent again."""
        if not rows:
            return
        await self._ensure()
        await self._before_write(list(rows))
        requests: list[ReplaceOne[Any]] = [
            ReplaceOne({"_id": key}, row, upsert=True) for key, row in rows.items()
        ]
        with self.db.operation(f"write {len(rows)} {self.spec.name} documents"):
            for attempt in range(3):
                try:
                    await self.collection.bulk_write(requests, ordered=False)
                    return
                except BulkWriteError as error:
                    errors = error.details.get("writeErrors", [])
                    raced = all(e.get("code") == _DUPLICATE_KEY for e in errors)
                    if not (errors and raced) or attempt == 2:
                        raise

    async def delete_many(self, keys: Collection[str]) -> None:
        """Delete every document of ``keys`` that exists."""
        checked = list(dict.fromkeys(check_key(self.spec.name, key) for key in keys))
        await self._before_write(checked)
        with self.db.operation(f"delete {len(checked)} {self.spec.name} documents"):
            for start in range(0, len(checked), _BATCH):
                batch = checked[start : start + _BATCH]
                await self.collection.delete_many({"_id": {"$in": batch}})

    async def patch(self, key: str, changes: Mapping[str, Any]) -> M:
        """Merge ``changes`` into the document ``key``, validate it, store it and return it
        (read again and merged again when another write replaced the document meanwhile)."""
        unknown = sorted(set(changes) - set(self.spec.model.model_fields))
        if unknown:
            raise InvalidInputError(f"{self.spec.name} has no fields {unknown}")
        update = jsonable(dict(changes))
        check_key(self.spec.name, key)
        await self._ensure()
        await self._before_write([key])
        with self.db.operation(f"patch {self.spec.name} document {key[:80]!r}"):
            while True:
                current = await self.collection.find_one({"_id": key}, self._with_revision)
                if current is None:
                    raise NotFoundError(f"{self.spec.name} document {key!r} does not exist")
                data = self._codec.fields_of(current)
                model, patched_key, stored = self._codec.validated({**data, **update})
                if patched_key != key:
                    raise InvalidInputError(
                        f"{self.spec.name}: patch cannot change the key of {key!r}"
                    )
                revision = current.get("_rev")
                seen = {"_id": key, "_rev": {"$in": [None]} if revision is None else revision}
                if (await self.collection.replace_one(seen, stored)).matched_count:
                    return model

    async def delete(self, key: str) -> bool:
        """Delete the document; ``True`` when one existed."""
        check_key(self.spec.name, key)
        await self._before_write([key])
        with self.db.operation(f"delete {self.spec.name} document {key[:80]!r}"):
            return bool((await self.collection.delete_one({"_id": key})).deleted_count)

    async def _before_write(self, keys: list[str]) -> None:
        """Let the calling task's unit of work (a projector's batch) keep what ``keys`` hold
        before they change (see ``forze_mongo._units``)."""
        if self._journal is not None:
            await self._journal.before_write(self.collection.name, keys)

    # -- reads ------------------------------------------------------------------------------

    async def get(self, key: str) -> M | None:
        """A fresh copy of the document with ``key``, or ``None``."""
        check_key(self.spec.name, key)
        with self.db.operation(f"read {self.spec.name} document {key[:80]!r}"):
            found = await self.collection.find_one({"_id": key}, self._projection)
        return None if found is None else self._codec.load(found)

    async def get_many(self, keys: Collection[str]) -> list[M]:
        """The documents that exist among ``keys``, once each, in the order of ``keys``."""
        wanted = list(dict.fromkeys(check_key(self.spec.name, key) for key in keys))
        found: dict[str, Document] = {}
        with self.db.operation(f"read {len(wanted)} {self.spec.name} documents"):
            for start in range(0, len(wanted), _BATCH):
                query = {"_id": {"$in": wanted[start : start + _BATCH]}}
                async for document in self.collection.find(query, self._projection):
                    found[document["_id"]] = document
        return [self._codec.load(found[key]) for key in wanted if key in found]

    async def find(self, query: Query) -> Page[M]:
        """Documents matching every filter, sorted (key field last) and paged from the cursor."""
        if query.limit < 1:
            raise InvalidInputError(f"limit must be >= 1, got {query.limit}")
        queries = self._queries
        order = queries.order(query.sort)
        conditions = [queries.where(query.filters)]
        if query.cursor is not None:
            conditions.append(queries.after(query.cursor, order))
        matching = all_of([condition for condition in conditions if condition])
        await self._ensure()
        with self.db.operation(f"find {self.spec.name} documents"):
            found = await self.collection.find(
                matching, self._projection, sort=queries.sort(order), limit=query.limit + 1
            ).to_list()
        page = found[: query.limit]
        next_cursor = None
        if len(found) > query.limit:
            next_cursor = encode_cursor(queries.values(page[-1], order), order)
        return Page(
            items=tuple(self._codec.load(document) for document in page), next_cursor=next_cursor
        )

    async def count(self, filters: Sequence[Filter] = ()) -> int:
        """How many documents match ``filters``."""
        matching = self._queries.where(filters)
        await self._ensure()
        with self.db.operation(f"count {self.spec.name} documents"):
            return int(await self.collection.count_documents(matching))

    async def search(self, text: str, *, limit: int = 20) -> list[M]:
        """Documents in which every word of ``text`` starts a word of a search field (see
        :func:`~forze_projections.queries.search_words`), ordered by key; no words match
        nothing."""
        if not self.spec.search_fields:
            raise InvalidInputError(f"read model {self.spec.name!r} has no search fields")
        if limit < 1:
            raise InvalidInputError(f"limit must be >= 1, got {limit}")
        words = search_words(text)
        if not words:
            return []
        matching, longer = self._queries.search(words)
        sort = self._queries.sort(self._queries.order([SortKey(self.spec.key)]))
        await self._ensure()
        found: list[M] = []
        with self.db.operation(f"search {self.spec.name} documents"):
            if not longer:
                documents = self.collection.find(matching, self._projection, sort=sort, limit=limit)
                return [self._codec.load(document) for document in await documents.to_list()]
            async with self.collection.find(matching, self._with_words, sort=sort) as cursor:
                async for document in cursor:
                    whole = [entry for entry in document.get("_w", ()) if len(entry) > PREFIX]
                    if all(any(e.startswith(word) for e in whole) for word in longer):
                        found.append(self._codec.load(document))
                        if len(found) == limit:
                            break
        return found


class MongoReadModelStores:
    """A :class:`forze.contracts.ReadModelStores` over one database: one store per spec name.

    Asking twice for the same spec gives the same store; a different spec under a name already
    in use raises ``WiringError``.
    """

    def __init__(self, db: MongoDatabase) -> None:
        self.db = db
        self._stores: dict[str, MongoReadModelStore[Any]] = {}

    def __call__(self, spec: ReadModelSpec[M]) -> MongoReadModelStore[M]:
        """The store holding the documents of ``spec``, created on first use."""
        store = store_for_spec(self._stores, spec, lambda: MongoReadModelStore(self.db, spec))
        return cast(MongoReadModelStore[M], store)

    async def drop(self, spec: ReadModelSpec[Any], collection: str | None = None) -> None:
        """Drop the collection of ``spec`` (its default one, or ``collection``) and its
        indexes. A store using that collection creates the indexes again at its next use."""
        name = _collection_name(spec, collection)
        with self.db.operation(f"drop the collection of read model {spec.name!r}"):
            await self.db.collection(name).drop()
        for store in self._stores.values():
            if store.name == name:
                store.forget()
