"""Running one append statement of a PostgreSQL event store, and telling what an empty
outcome meant: an idempotent re-append, a ``ConcurrencyError``, or a race to try again."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from forze.contracts import AppendResult, ExpectedVersionArg, NewEvent, RecordedEvent
from forze.domain.errors import ConcurrencyError
from forze_eventstore.adapter_kit import StoredId, check_expected_version, idempotent_result
from forze_postgres._driver import Connection, asyncpg, is_open, savepoint
from forze_postgres._event_rows import decode_rows
from forze_postgres._event_sql import Statements
from forze_postgres._wakeups import Wakeups
from forze_postgres.database import PostgresDatabase
from forze_postgres.errors import translated

__all__ = ["Appender", "PostgresAppendHook", "savepoint_if_pinned"]

_T = TypeVar("_T")

PostgresAppendHook = Callable[[Connection, Sequence[RecordedEvent]], Awaitable[None]]
"""Runs inside an append's transaction (see ``PostgresEventStore.add_append_hook``)."""

ATTEMPTS = 10
"""Tries of an append that loses races it can win by trying again (see ``Overtaken``)."""


class Overtaken(ConcurrencyError):
    """A transaction with a later id appended to the stream after this one got its id.

    This one's events would land below that stream's last ones, so it stores nothing. An
    autocommitted append, or a transaction the store opened itself, tries again with a new
    id; in the caller's transaction it is the caller's ``ConcurrencyError`` to retry.
    """


class Appender:
    """The append statements of one event store, run on a connection it is given."""

    def __init__(
        self,
        db: PostgresDatabase,
        sql: Statements,
        tenant: tuple[str, ...],
        wakeups: Wakeups,
        hooks: list[PostgresAppendHook],
    ) -> None:
        self.db, self.sql, self.tenant = db, sql, tenant
        self.wakeups, self.hooks = wakeups, hooks

    async def retrying_own_transaction(self, work: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``work`` in a transaction; if it opened the transaction itself and was
        overtaken, run it again, in a new transaction with a new id."""
        if self.db.in_transaction():
            return await work()
        for _ in range(ATTEMPTS - 1):
            try:
                return await work()
            except Overtaken:
                continue
        return await work()

    async def append(
        self,
        connection: Connection,
        stream_id: str,
        events: Sequence[NewEvent],
        expected: ExpectedVersionArg,
        arguments: tuple[Any, ...],
        notifies: bool = False,
    ) -> AppendResult:
        """Run the append statement (``notifies``: it carries the notification)."""
        sql = self.sql.append_one if len(events) == 1 else self.sql.append
        pinned = self.db.in_transaction()  # the connection is the task's transaction's
        version: int | None
        position: int
        for _ in range(ATTEMPTS):
            with translated(f"append to {stream_id!r}"):
                try:
                    if pinned:  # a savepoint: a failed statement must not abort the transaction
                        async with savepoint(connection):
                            row = await connection.fetchrow(sql, *arguments)
                            version, position = _outcome(row)
                            if version is not None and self.hooks:
                                await self._run_hooks(connection, position, len(events))
                    else:  # an autocommitted statement: it fails or stores alone
                        row = await connection.fetchrow(sql, *arguments)
                        version, position = _outcome(row)
                except asyncpg.UniqueViolationError:
                    actual = await self.version(connection, stream_id)
                    original = await self._idempotent(
                        connection, stream_id, events, expected, actual
                    )
                    if original is not None:
                        return original
                    raise
            if version is not None:
                if pinned:
                    self.db.after_commit(self.wakeups.committed)
                else:
                    self.wakeups.committed(notified=notifies)
                return AppendResult(stream_id, version, position)
            actual = await self.version(connection, stream_id)
            original = await self._idempotent(connection, stream_id, events, expected, actual)
            if original is not None:
                return original
            check_expected_version(stream_id, expected, actual)
            if pinned and await self._overtaken(connection, stream_id):
                # A transaction with a later id appended to the stream since this one got
                # its id: its events would land below that stream's last ones.
                raise Overtaken(stream_id, getattr(expected, "name", expected), actual)
            # ANY lost a race (none is known with the stream's lock; kept as a safety net),
            # or an autocommitted append lost one to a later id: the retry gets a new id.
        raise ConcurrencyError(stream_id, "ANY", await self.version(connection, stream_id))

    async def append_alone(
        self,
        connection: Connection,
        stream_id: str,
        events: Sequence[NewEvent],
        expected: ExpectedVersionArg,
        arguments: tuple[Any, ...],
        notifies: bool,
    ) -> AppendResult:
        """An autocommitted append without hooks (``notifies``: it carries the
        notification): one event tries the plain statement first, more run the function."""
        if len(events) == 1:
            with translated(f"append to {stream_id!r}"):
                try:
                    row = await connection.fetchrow(self.sql.append_alone, *arguments)
                except asyncpg.UniqueViolationError:
                    row = None  # a stale read, or the event id is stored: see append
            if row is not None:
                self.wakeups.committed(notified=notifies)
                return AppendResult(stream_id, int(row[0]), int(row[1]))
        return await self.append(connection, stream_id, events, expected, arguments, notifies)

    async def append_known(
        self,
        connection: Connection,
        stream_id: str,
        version: int,
        arguments: tuple[Any, ...],
        notifies: bool,
    ) -> AppendResult | None:
        """One autocommitted event at ``version``, which follows a version known to be
        committed (see ``forze_eventstore.adapter_kit.KnownVersions``); None when it was not
        stored because the version or the event id is taken: the caller then reads the
        stream."""
        try:
            position = await connection.fetchval(self.sql.append_known, *arguments)
        except asyncpg.UniqueViolationError:
            return None
        except Exception:  # the message is built only when there is an error
            with translated(f"append to {stream_id!r}"):
                raise
        if position is None:  # a lock was not to be had at once
            return None
        self.wakeups.committed(notified=notifies)
        return AppendResult(stream_id, version, int(position))

    async def version(self, connection: Connection, stream_id: str) -> int:
        """The stream's version: its last event's (0: no such stream)."""
        with translated(f"version of {stream_id!r}"):
            found = await connection.fetchval(self.sql.stream_version, stream_id, *self.tenant)
        return int(found or 0)

    async def _run_hooks(self, connection: Connection, last: int, count: int) -> None:
        rows = await connection.fetch(self.sql.own_events, last - count, last)
        recorded = decode_rows(rows)
        for hook in self.hooks:
            await hook(connection, recorded)

    async def _overtaken(self, connection: Connection, stream_id: str) -> bool:
        with translated(f"version of {stream_id!r}"):
            return bool(await connection.fetchval(self.sql.overtaken, stream_id, *self.tenant))

    async def _idempotent(
        self,
        connection: Connection,
        stream_id: str,
        events: Sequence[NewEvent],
        expected: ExpectedVersionArg,
        actual: int,
    ) -> AppendResult | None:
        with translated(f"append to {stream_id!r}"):
            rows = await connection.fetch(
                self.sql.places, [e.event_id for e in events], *self.tenant
            )
        places = {
            UUID(str(r[0])): StoredId(r[1], r[2], r[3], r[4], json.loads(r[5]), json.loads(r[6]))
            for r in rows
        }
        stored = [places.get(e.event_id) for e in events]
        return idempotent_result(stream_id, events, expected, stored, actual)


def _outcome(row: Any) -> tuple[int | None, int]:
    """An append function's ``(new version, last position)``, or ``(None, 0)``: nothing
    stored (a mismatched expectation, or overtaken)."""
    if row is None or row[0] is None:
        return None, 0
    return int(row[0]), int(row[1])


@contextlib.asynccontextmanager
async def savepoint_if_pinned(connection: Connection) -> AsyncIterator[None]:
    """A savepoint when inside a transaction, so a failed statement does not abort it."""
    if is_open(connection) and connection.is_in_transaction():
        async with savepoint(connection):
            yield
    else:
        yield
