"""Read-model stores in the embedded SQLite file shared with the event store.

Each read model is one table ``(key TEXT PRIMARY KEY, doc TEXT)`` holding the JSON of its
documents. Filters, sort, keyset paging, counting and search run in SQL over ``json_extract``
with the in-memory store's semantics (see ``forze_projections.testing``). Writes join the
transaction of the calling task when one is open, so a projector commits its read-model writes
and its checkpoint together; otherwise each write is one job on the database's worker, and
reads run on its readers' worker (see ``SQLiteDatabase``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from functools import partial
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError

from forze.contracts import Filter, Page, Query, ReadModelSpec, SortKey
from forze.domain.errors import (
    EventStoreUnavailable,
    InvalidInputError,
    NotFoundError,
    SerializationError,
)
from forze_eventstore.sqlite_db import SQLiteDatabase
from forze_projections._sqlite_filters import QueryBuilder
from forze_projections._sqlite_query import dump_document, register_functions
from forze_projections.queries import (
    check_key,
    document_json,
    encode_cursor,
    jsonable,
    quote_identifier,
    search_words,
    store_for_spec,
)

__all__ = ["SQLiteReadModelStore", "SQLiteReadModelStores"]

M = TypeVar("M", bound=BaseModel)
_BATCH = 500
"""Keys per ``IN (...)`` list, well under SQLite's limit on bound parameters."""


def _missing_table(error: BaseException | None) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "no such table" in str(error)


def _table_name(spec: ReadModelSpec[Any], table: str | None) -> str:
    name = f"forze_rm_{spec.name}" if table is None else table
    if not name.isidentifier():
        raise InvalidInputError(f"read model table {name!r} must be an identifier")
    return name


class SQLiteReadModelStore(Generic[M]):
    """A :class:`forze.contracts.ReadModelStore` of one spec in a table of a SQLite file.

    ``table`` defaults to ``forze_rm_<spec name>``; another name keeps a separate copy (a
    rebuild writes into a shadow table). The table and one expression index per indexed field
    are created if missing. Cursors are opaque and keyset-based, like the in-memory store's.
    """

    def __init__(
        self, db: SQLiteDatabase, spec: ReadModelSpec[M], *, table: str | None = None
    ) -> None:
        self.db = db
        self.spec = spec
        self.table = _table_name(spec, table)
        self._quoted = quote_identifier(self.table)
        self._queries = QueryBuilder(spec)
        self._schema = [
            f"CREATE TABLE IF NOT EXISTS {self._quoted} ("
            " key TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID"
        ]
        for name in dict.fromkeys(spec.indexes):
            terms = self._queries.fields[name].order_terms
            if terms != ("key",):
                index = quote_identifier(f"{self.table}__{name}")
                self._schema.append(
                    f"CREATE INDEX IF NOT EXISTS {index} ON {self._quoted} ({', '.join(terms)})"
                )
        self.ensure_table()

    def ensure_table(self) -> None:
        """Create the table and its indexes if missing (inside the open transaction, if any)
        and define the SQL function search uses on the database's connections.

        Blocks until the database's worker ran it (stores are made while wiring). Every
        operation makes the table again when it finds it missing (dropped by a reset, by
        another process, or created in a transaction that rolled back).
        """
        self.db.prepare(register_functions)
        self.db.call(self._create_table)

    def _create_table(self, connection: sqlite3.Connection) -> None:
        for statement in self._schema:
            connection.execute(statement)

    def _write(self, connection: sqlite3.Connection, sql: str, *values: object) -> sqlite3.Cursor:
        """Run a statement inside the open transaction, creating the table if it is missing."""
        try:
            return connection.execute(sql, values)
        except sqlite3.OperationalError as error:
            if not _missing_table(error):
                raise
        self._create_table(connection)
        return connection.execute(sql, values)

    async def _read(self, sql: str, parameters: Sequence[object] = ()) -> list[Any]:
        """Run a query, creating the table if it is missing (in a transaction of its own, so
        that it commits before the query runs again; a read-only file reports the error)."""
        try:
            return await self.db.read(sql, parameters)
        except EventStoreUnavailable as error:
            if not _missing_table(error.__cause__):
                raise
        if self.db.read_only:
            self.ensure_table()
        else:
            await self.db.write(self._create_table)
        return await self.db.read(sql, parameters)

    # -- writes -----------------------------------------------------------------------------

    def _validated(self, data: Mapping[str, Any]) -> tuple[M, str, str]:
        """``data`` validated by the spec's model: the model, its key and its stored text."""
        encoded = document_json(self.spec.name, data)
        try:
            model = self.spec.model.model_validate_json(encoded)
            document = model.model_dump(mode="json")
        except (ValidationError, PydanticSerializationError) as error:
            raise InvalidInputError(f"invalid {self.spec.name} document: {error}") from error
        if document[self.spec.key] is None:
            raise InvalidInputError(f"{self.spec.name}: key field {self.spec.key!r} is null")
        key = check_key(self.spec.name, str(document[self.spec.key]))
        return model, key, dump_document(document)

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
        try:
            data = document.model_dump(mode="json", warnings=False)
        except PydanticSerializationError as error:
            raise InvalidInputError(f"invalid {self.spec.name} document: {error}") from error
        _, key, text = self._validated(data)
        await self._write_rows([(key, text)])

    async def upsert_many(self, documents: Sequence[M]) -> None:
        """Insert or replace every document in one statement; nothing is written if one is bad."""
        rows = []
        for document in documents:
            try:
                data = document.model_dump(mode="json", warnings=False)
            except PydanticSerializationError as error:
                raise InvalidInputError(f"invalid {self.spec.name} document: {error}") from error
            _, key, text = self._validated(data)
            rows.append((key, text))
        await self._write_rows(rows)

    async def _write_rows(self, rows: list[tuple[str, str]]) -> None:
        """Upsert ``(key, document text)`` rows in one statement, making the table if missing."""
        await self.db.write(partial(self._upsert_rows, rows))

    def _upsert_rows(self, rows: list[tuple[str, str]], connection: sqlite3.Connection) -> None:
        sql = (
            f"INSERT INTO {self._quoted} (key, doc) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET doc = excluded.doc"
        )
        try:
            connection.executemany(sql, rows)
        except sqlite3.OperationalError as error:
            if not _missing_table(error):
                raise
            self._create_table(connection)
            connection.executemany(sql, rows)

    async def write_documents(self, documents: Sequence[Mapping[str, Any]]) -> None:
        """Store JSON-mode documents already validated against the spec's model (and their
        keys and text checked, as :meth:`upsert` does), in bulk.

        For writers that validated them already (the projector's buffer); others use
        :meth:`upsert_many`.
        """
        rows = [(str(d[self.spec.key]), dump_document(dict(d))) for d in documents]
        await self._write_rows(rows)

    async def delete_many(self, keys: Collection[str]) -> None:
        """Delete every document of ``keys`` that exists."""
        checked = [check_key(self.spec.name, key) for key in keys]
        await self.db.write(partial(self._delete_keys, checked))

    def _delete_keys(self, keys: list[str], connection: sqlite3.Connection) -> int:
        """Delete the documents of ``keys``; how many existed."""
        return sum(
            self._write(connection, f"DELETE FROM {self._quoted} WHERE key = ?", key).rowcount
            for key in keys
        )

    async def patch(self, key: str, changes: Mapping[str, Any]) -> M:
        """Merge ``changes`` into the document ``key``, validate it, store it and return it."""
        unknown = sorted(set(changes) - set(self.spec.model.model_fields))
        if unknown:
            raise InvalidInputError(f"{self.spec.name} has no fields {unknown}")
        update = jsonable(dict(changes))
        check_key(self.spec.name, key)
        return await self.db.write(partial(self._patch, key, update))

    def _patch(self, key: str, update: dict[str, Any], connection: sqlite3.Connection) -> M:
        row = self._write(
            connection, f"SELECT doc FROM {self._quoted} WHERE key = ?", key
        ).fetchone()
        if row is None:
            raise NotFoundError(f"{self.spec.name} document {key!r} does not exist")
        model, patched_key, text = self._validated({**json.loads(row[0]), **update})
        if patched_key != key:
            raise InvalidInputError(f"{self.spec.name}: patch cannot change the key of {key!r}")
        self._write(connection, f"UPDATE {self._quoted} SET doc = ? WHERE key = ?", text, key)
        return model

    async def delete(self, key: str) -> bool:
        """Delete the document; ``True`` when one existed."""
        check_key(self.spec.name, key)
        return await self.db.write(partial(self._delete_keys, [key])) > 0

    # -- reads ------------------------------------------------------------------------------

    async def get(self, key: str) -> M | None:
        """A fresh copy of the document with ``key``, or ``None``."""
        check_key(self.spec.name, key)
        rows = await self._read(f"SELECT doc FROM {self._quoted} WHERE key = ?", (key,))
        return self._load(rows[0][0]) if rows else None

    async def get_many(self, keys: Collection[str]) -> list[M]:
        """The documents that exist among ``keys``, once each, in the order of ``keys``."""
        wanted = list(dict.fromkeys(check_key(self.spec.name, key) for key in keys))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), _BATCH):
            batch = wanted[start : start + _BATCH]
            marks = ", ".join("?" * len(batch))
            sql = f"SELECT key, doc FROM {self._quoted} WHERE key IN ({marks})"
            found.update(await self._read(sql, batch))
        return [self._load(found[key]) for key in wanted if key in found]

    async def find(self, query: Query) -> Page[M]:
        """Documents matching every filter, sorted (key field last) and paged from the cursor."""
        if query.limit < 1:
            raise InvalidInputError(f"limit must be >= 1, got {query.limit}")
        order = self._queries.order(query.sort)
        clauses, parameters = self._queries.where(query.filters)
        if query.cursor is not None:
            after, after_parameters = self._queries.after(query.cursor, order)
            clauses.append(after)
            parameters += after_parameters
        where = " AND ".join(clauses) or "1"
        rows = await self._read(
            f"SELECT doc FROM {self._quoted} WHERE {where}"
            f" ORDER BY {self._queries.order_by(order)} LIMIT ?",
            [*parameters, query.limit + 1],
        )
        page = [row[0] for row in rows[: query.limit]]
        next_cursor = None
        if len(rows) > query.limit:
            last_document = json.loads(page[-1])
            next_cursor = encode_cursor([last_document.get(key.field) for key in order], order)
        return Page(items=tuple(self._load(text) for text in page), next_cursor=next_cursor)

    async def count(self, filters: Sequence[Filter] = ()) -> int:
        """How many documents match ``filters``."""
        clauses, parameters = self._queries.where(filters)
        where = " AND ".join(clauses) or "1"
        rows = await self._read(f"SELECT COUNT(*) FROM {self._quoted} WHERE {where}", parameters)
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
        where, parameters = self._queries.search(words)
        rows = await self._read(
            f"SELECT doc FROM {self._quoted} WHERE {where}"
            f" ORDER BY {self._queries.order_by([SortKey(self.spec.key)])} LIMIT ?",
            [*parameters, limit],
        )
        return [self._load(row[0]) for row in rows]


class SQLiteReadModelStores:
    """A :class:`forze.contracts.ReadModelStores` over one SQLite file: one store per spec name.

    Asking twice for the same spec gives the same store; a different spec under a name already
    in use raises ``WiringError``.
    """

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db
        self._stores: dict[str, SQLiteReadModelStore[Any]] = {}

    def __call__(self, spec: ReadModelSpec[M]) -> SQLiteReadModelStore[M]:
        """The store holding the documents of ``spec``, created on first use."""
        store = store_for_spec(self._stores, spec, lambda: SQLiteReadModelStore(self.db, spec))
        return cast(SQLiteReadModelStore[M], store)

    async def drop(self, spec: ReadModelSpec[Any], table: str | None = None) -> None:
        """Drop the table of ``spec`` (its default one, or ``table``) and its indexes.

        Inside an open transaction the drop commits or rolls back with it. A store using that
        table creates it again, empty, on its next use.
        """
        name = _table_name(spec, table)
        await self.db.write(partial(_execute, f'DROP TABLE IF EXISTS "{name}"'))


def _execute(sql: str, connection: sqlite3.Connection) -> None:
    connection.execute(sql)
