"""Read-model stores in PostgreSQL: one ``JSONB`` table per read model.

Each table is ``(key TEXT COLLATE "C" PRIMARY KEY, doc JSONB NOT NULL)``, plus a ``search``
``tsvector`` (GIN-indexed) holding the words of the spec's search fields as every store splits
them (``forze_projections.queries.search_words``, computed here and written with the document,
so search matches exactly what the in-memory and SQLite stores match), and one expression
index per indexed field; in the tenant-column layout a ``tenant`` column
leads the primary key and the indexes, and every statement filters on (or sets) the store's
tenant. Filters, sort, keyset paging, counting and search run in SQL with the in-memory store's
semantics (see ``forze_projections.testing``). Every write runs in ``db.transaction()``, so
inside a projector's unit of work it commits (or rolls back) with the checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError

from forze.contracts import Filter, Page, Query, ReadModelSpec, SortKey
from forze.domain.errors import InvalidInputError, NotFoundError, SerializationError
from forze_postgres._driver import Connection
from forze_postgres._pg_fields import Params
from forze_postgres._pg_query import QueryBuilder, table_name, table_sql
from forze_postgres._pg_table import LazyTable, drop_table
from forze_postgres._pg_tenancy import Tenancy
from forze_postgres._timeouts import SCHEMA_CHANGE_TIMEOUT
from forze_postgres.database import PostgresDatabase
from forze_projections.queries import (
    check_key,
    document_json,
    encode_cursor,
    field_words,
    jsonable,
    search_words,
    store_for_spec,
)

__all__ = ["PostgresReadModelStore", "PostgresReadModelStores", "drop_table"]

_dumps = json.JSONEncoder(separators=(",", ":")).encode

M = TypeVar("M", bound=BaseModel)

_Row = tuple[str, str]
"""A document's stored JSON text and the words of its search fields, space-separated."""

_SEARCH_VECTOR = "array_to_tsvector(string_to_array({}, ' '))"
"""The ``search`` value of space-separated words: each word a lexeme, taken verbatim."""


class PostgresReadModelStore(Generic[M]):
    """A :class:`forze.contracts.ReadModelStore` of one spec in a table of ``db.schema``.

    ``table`` defaults to ``forze_rm_<spec name>``; another name keeps a separate copy (a
    rebuild writes into a shadow table). The table and its indexes are created at first use,
    inside the calling task's transaction when one is open (``deferred_indexes``: the
    secondary indexes later, see :meth:`build_indexes`). Cursors are opaque and keyset-based.
    ``search`` matches documents in which every word of the text starts a word of a search
    field (case- and accent-insensitive; a GIN prefix query), ordered by key. With ``db.tenant``
    set (the tenant-column layout) the table is shared by the schema's tenants and the store
    reads and writes only ``db.tenant``'s documents.
    """

    def __init__(
        self,
        db: PostgresDatabase,
        spec: ReadModelSpec[M],
        *,
        table: str | None = None,
        deferred_indexes: bool = False,
    ) -> None:
        self.db = db
        self.spec = spec
        self.table = table_name(spec, table)
        self._tenancy = tenancy = Tenancy(db.tenant)
        self._queries = QueryBuilder(spec)
        quoted = self._quoted = db.table(self.table)
        create, self._indexes = table_sql(quoted, self.table, spec, self._queries.fields, tenancy)
        ddl = ";\n".join([create] if deferred_indexes else [create, *self._indexes.values()])
        self._lazy = LazyTable(db, self.table, ddl, f"read model {spec.name!r}")
        self._deferred = deferred_indexes
        self._indexed = not deferred_indexes
        """Whether the secondary indexes are known to exist (see :meth:`build_indexes`)."""
        self._where_key = f"WHERE {tenancy.match(2)}key"
        """Leads the condition on the key (``$1``), the tenant bound second."""
        if spec.search_fields:
            self._upsert = (
                f"INSERT INTO {quoted} ({tenancy.column}key, doc, search)"
                f" SELECT {tenancy.value(4)}k, d::jsonb, {_SEARCH_VECTOR.format('w')}"
                " FROM unnest($1::text[], $2::text[], $3::text[]) AS u(k, d, w)"
                f" ON CONFLICT ({tenancy.column}key)"
                " DO UPDATE SET doc = excluded.doc, search = excluded.search"
            )
        else:
            self._upsert = (
                f"INSERT INTO {quoted} ({tenancy.column}key, doc)"
                f" SELECT {tenancy.value(3)}k, d::jsonb"
                " FROM unnest($1::text[], $2::text[]) AS u(k, d)"
                f" ON CONFLICT ({tenancy.column}key) DO UPDATE SET doc = excluded.doc"
            )

    def forget(self) -> None:
        """Check again, at next use, that the table exists (after a drop or a rollback)."""
        self._lazy.forget()
        self._indexed = not self._deferred

    async def build_indexes(self) -> None:
        """Create the spec's secondary indexes if missing, in the task's transaction if any.

        A store made with ``deferred_indexes`` (a rebuild's new version, which only its
        projector reads) creates its table with the primary key alone: writing documents
        then costs no index upkeep, and one index build when the rebuild reaches the head is
        cheaper than keeping the indexes up to date through its every write. A query that
        filters or sorts by another field, or searches, builds them first.
        """
        if self._indexes:
            await self._lazy.run(self._build_missing_indexes, write=True)
        self._indexed = True

    async def _build_missing_indexes(self, connection: Connection) -> None:
        # Only the missing ones: CREATE INDEX IF NOT EXISTS locks the table even when the
        # index exists, and this runs at every projector run's catch-up. Two builders (racing
        # projectors) take turns on the lock that table creation takes, and look again.
        if not await self._missing_indexes(connection):
            return
        # an index build reads the whole table: the command timeout is not meant for it
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            self._quoted,
            timeout=SCHEMA_CHANGE_TIMEOUT,
        )
        for name in await self._missing_indexes(connection):
            await connection.execute(self._indexes[name], timeout=SCHEMA_CHANGE_TIMEOUT)

    async def _missing_indexes(self, connection: Connection) -> list[str]:
        rows = await connection.fetch(
            "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2",
            self.db.schema,
            self.table,
        )
        present = {row[0] for row in rows}
        return [name for name in self._indexes if name not in present]

    # -- writes -----------------------------------------------------------------------------

    def _validated(self, data: Mapping[str, Any]) -> tuple[M, str, _Row]:
        """``data`` validated by the spec's model: the model, its key and its stored row."""
        encoded = document_json(self.spec.name, data)
        try:
            model = self.spec.model.model_validate_json(encoded)
            document = model.model_dump(mode="json")
            text = json.dumps(document, ensure_ascii=False, allow_nan=False)
        except (ValidationError, PydanticSerializationError, ValueError) as error:
            raise InvalidInputError(f"invalid {self.spec.name} document: {error}") from error
        if document[self.spec.key] is None:
            raise InvalidInputError(f"{self.spec.name}: key field {self.spec.key!r} is null")
        key = check_key(self.spec.name, str(document[self.spec.key]))
        return model, key, (text, self._words(document))

    def _words(self, document: Mapping[str, Any]) -> str:
        """The words of the document's search fields, space-separated."""
        words = (w for name in self.spec.search_fields for w in field_words(document.get(name)))
        return " ".join(dict.fromkeys(words))

    def _dumped(self, document: M) -> tuple[str, _Row]:
        try:
            data = document.model_dump(mode="json", warnings=False)
        except PydanticSerializationError as error:
            raise InvalidInputError(f"invalid {self.spec.name} document: {error}") from error
        _, key, row = self._validated(data)
        return key, row

    def _load(self, text: str) -> M:
        try:
            return self.spec.model.model_validate_json(text)
        except ValidationError as error:
            raise SerializationError(
                f"a stored {self.spec.name} document no longer fits "
                f"{self.spec.model.__name__}; rebuild the read model: {error}"
            ) from error

    async def upsert(self, document: M) -> None:
        """Insert or replace ``document`` after validating it; ``InvalidInputError`` if bad."""
        await self.upsert_many([document])

    async def upsert_many(self, documents: Sequence[M]) -> None:
        """Insert or replace every document in one statement; nothing is written if one is bad."""
        await self._write(dict(self._dumped(document) for document in documents))

    async def write_documents(self, documents: Sequence[Mapping[str, Any]]) -> None:
        """Store JSON-mode documents already validated against the spec's model (and their
        keys and text checked, as :meth:`upsert` does), in bulk.

        For writers that validated them already (the projector's buffer); others use
        :meth:`upsert_many`.
        """
        # JSONB keeps keys in its own order: sorting them here would only cost time.
        rows: dict[str, _Row] = {}
        for document in documents:
            text = _dumps(document)
            rows[str(document[self.spec.key])] = (text, self._words(document))
        await self._write(rows)

    async def _write(self, rows: Mapping[str, _Row]) -> None:
        """Insert or replace the documents ``rows`` (stored text and words by key) at once."""
        if rows:
            columns: list[object] = [list(rows), [text for text, _ in rows.values()]]
            if self.spec.search_fields:
                columns.append([words for _, words in rows.values()])
            args = (*columns, *self._tenancy.args)
            await self._lazy.run(lambda c: c.execute(self._upsert, *args), write=True)

    async def delete_many(self, keys: Collection[str]) -> None:
        """Delete every document of ``keys`` that exists."""
        if keys:
            sql = f"DELETE FROM {self._quoted} {self._where_key} = ANY($1::text[])"
            args = ([check_key(self.spec.name, key) for key in keys], *self._tenancy.args)
            await self._lazy.run(lambda c: c.execute(sql, *args), write=True)

    async def patch(self, key: str, changes: Mapping[str, Any]) -> M:
        """Merge ``changes`` into the document ``key``, validate it, store it and return it."""
        unknown = sorted(set(changes) - set(self.spec.model.model_fields))
        if unknown:
            raise InvalidInputError(f"{self.spec.name} has no fields {unknown}")
        update = jsonable(dict(changes))
        check_key(self.spec.name, key)
        tenancy = self._tenancy

        async def work(connection: Connection) -> M:
            sql = f"SELECT doc::text FROM {self._quoted} {self._where_key} = $1 FOR UPDATE"
            current = await connection.fetchval(sql, key, *tenancy.args)
            if current is None:
                raise NotFoundError(f"{self.spec.name} document {key!r} does not exist")
            model, patched_key, (text, words) = self._validated({**json.loads(current), **update})
            if patched_key != key:
                raise InvalidInputError(f"{self.spec.name}: patch cannot change the key of {key!r}")
            vector = _SEARCH_VECTOR.format("$3::text")
            search = f", search = {vector}" if self.spec.search_fields else ""
            where = f"{tenancy.match(3 + bool(search))}key = $1"
            sql = f"UPDATE {self._quoted} SET doc = $2::jsonb{search} WHERE {where}"
            extra = (words,) if search else ()
            await connection.execute(sql, key, text, *extra, *tenancy.args)
            return model

        return await self._lazy.run(work, write=True)

    async def delete(self, key: str) -> bool:
        """Delete the document; ``True`` when one existed."""
        sql = f"DELETE FROM {self._quoted} {self._where_key} = $1 RETURNING TRUE"
        args = (check_key(self.spec.name, key), *self._tenancy.args)
        return bool(await self._lazy.run(lambda c: c.fetchval(sql, *args), write=True))

    # -- reads ------------------------------------------------------------------------------

    async def _rows(self, sql: str, params: Sequence[object]) -> list[Any]:
        return list(await self._lazy.run(lambda c: c.fetch(sql, *params)))

    async def _filtered_rows(self, sql: str, params: Sequence[object]) -> list[Any]:
        """:meth:`_rows` of a query secondary indexes may serve (built first if deferred)."""
        if not self._indexed:
            await self.build_indexes()
        return await self._rows(sql, params)

    async def get(self, key: str) -> M | None:
        """A fresh copy of the document with ``key``, or ``None``."""
        sql = f"SELECT doc::text FROM {self._quoted} {self._where_key} = $1"
        rows = await self._rows(sql, [check_key(self.spec.name, key), *self._tenancy.args])
        return self._load(rows[0][0]) if rows else None

    async def get_many(self, keys: Collection[str]) -> list[M]:
        """The documents that exist among ``keys``, once each, in the order of ``keys``."""
        wanted = list(dict.fromkeys(check_key(self.spec.name, key) for key in keys))
        sql = f"SELECT key, doc::text FROM {self._quoted} {self._where_key} = ANY($1::text[])"
        found = dict(await self._rows(sql, [wanted, *self._tenancy.args]))
        return [self._load(found[key]) for key in wanted if key in found]

    async def find(self, query: Query) -> Page[M]:
        """Documents matching every filter, sorted (key field last) and paged from the cursor."""
        if query.limit < 1:
            raise InvalidInputError(f"limit must be >= 1, got {query.limit}")
        params = Params()
        order = self._queries.order(query.sort)
        where = self._tenancy.bind(params) + self._queries.where(query.filters, params)
        if query.cursor is not None:
            where += " AND " + self._queries.after(query.cursor, order, params)
        limit = params.add(query.limit + 1, "bigint")
        by_key_alone = not query.filters and all(k.field == self.spec.key for k in query.sort)
        rows = await (self._rows if by_key_alone else self._filtered_rows)(
            f"SELECT doc::text FROM {self._quoted} WHERE {where}"
            f" ORDER BY {self._queries.order_by(order)} LIMIT {limit}",
            params.values,
        )
        page = [row[0] for row in rows[: query.limit]]
        next_cursor = None
        if len(rows) > query.limit:
            last = json.loads(page[-1])
            next_cursor = encode_cursor([last.get(key.field) for key in order], order)
        return Page(items=tuple(self._load(text) for text in page), next_cursor=next_cursor)

    async def count(self, filters: Sequence[Filter] = ()) -> int:
        """How many documents match ``filters``."""
        params = Params()
        where = self._tenancy.bind(params) + self._queries.where(filters, params)
        rows = await (self._filtered_rows if filters else self._rows)(
            f"SELECT count(*) FROM {self._quoted} WHERE {where}", params.values
        )
        return int(rows[0][0])

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
        params = Params()
        where = self._tenancy.bind(params) + self._queries.search(words, params)
        order = self._queries.order_by([SortKey(self.spec.key)])
        bound = params.add(limit, "bigint")
        sql = f"SELECT doc::text FROM {self._quoted} WHERE {where} ORDER BY {order} LIMIT {bound}"
        return [self._load(row[0]) for row in await self._filtered_rows(sql, params.values)]


class PostgresReadModelStores:
    """A :class:`forze.contracts.ReadModelStores` over one database: one store per spec name.

    Asking twice for the same spec gives the same store; a different spec under a name already
    in use raises ``WiringError``.
    """

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self._stores: dict[str, PostgresReadModelStore[Any]] = {}

    def __call__(self, spec: ReadModelSpec[M]) -> PostgresReadModelStore[M]:
        """The store holding the documents of ``spec``, created on first use."""
        store = store_for_spec(self._stores, spec, lambda: PostgresReadModelStore(self.db, spec))
        return cast(PostgresReadModelStore[M], store)

    async def drop(self, spec: ReadModelSpec[Any], table: str | None = None) -> None:
        """Drop the table of ``spec`` (its default one, or ``table``) and its indexes.

        Inside an open transaction the drop commits or rolls back with it. A store using that
        table creates it again, empty, on its next use. In the tenant-column layout only
        ``db.tenant``'s documents are deleted: the other tenants keep the table.
        """
        await drop_table(self.db, table_name(spec, table))
        for store in self._stores.values():
            if store.table == table_name(spec, table):
                store.forget()
