"""``SQLiteLeases``: projection leases in the SQLite file the projections live in."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from functools import partial
from typing import cast

from forze_eventstore.sqlite_db import Migration, SQLiteDatabase
from forze_projections.leases import Lease, check_lease_terms, lease_lost

__all__ = ["SQLiteLeases"]


def _create_leases(connection: sqlite3.Connection) -> None:
    connection.execute(
        "CREATE TABLE forze_projection_leases ("
        " projection TEXT PRIMARY KEY, owner TEXT NOT NULL, version INTEGER NOT NULL,"
        " expires_at REAL NOT NULL, rebuilds_requested INTEGER NOT NULL DEFAULT 0,"
        " rebuilds_done INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID"
    )


MIGRATIONS: tuple[Migration, ...] = (_create_leases,)
"""The lease table's schema steps (component ``projection_leases``)."""

_LeaseRow = tuple[str, int, float, int, int]
"""owner, version, expires_at, rebuilds_requested, rebuilds_done"""

_COLUMNS = "owner, version, expires_at, rebuilds_requested, rebuilds_done"


class SQLiteLeases:
    """``ProjectionLeases`` in the table ``forze_projection_leases``.

    Every process using the file shares it; SQLite's write lock orders their transactions, and
    expiry follows the machine's wall clock (the processes of one file share a machine). A file
    opened read-only without the table yet reports no leases. Each call is one job on the
    database's worker (the clock is read there), or joins the calling task's transaction.
    """

    def __init__(self, db: SQLiteDatabase, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._clock = clock
        self._absent = db.read_only and db.schema_version("projection_leases") == 0
        if not self._absent:
            db.migrate("projection_leases", MIGRATIONS)

    async def acquire(self, name: str, owner: str, version: int, seconds: float) -> Lease | None:
        """See ``ProjectionLeases.acquire``."""
        check_lease_terms(owner, seconds)
        return await self.db.write(partial(self._acquire, name, owner, version, seconds))

    def _acquire(
        self, name: str, owner: str, version: int, seconds: float, connection: sqlite3.Connection
    ) -> Lease | None:
        now = self._clock()
        row = self._row(connection, name)
        if row is not None and row[0] != owner and row[2] > now:
            return None
        connection.execute(
            "INSERT INTO forze_projection_leases (projection, owner, version, expires_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (projection) DO UPDATE SET"
            " owner = excluded.owner, version = excluded.version,"
            " expires_at = excluded.expires_at",
            (name, owner, version, now + seconds),
        )
        return self._lease(name, self._row(connection, name), now)

    async def hold(self, name: str, owner: str, seconds: float) -> Lease:
        """See ``ProjectionLeases.hold``: joins the calling task's transaction."""
        check_lease_terms(owner, seconds)
        return await self.db.write(partial(self._hold, name, owner, seconds))

    def _hold(self, name: str, owner: str, seconds: float, connection: sqlite3.Connection) -> Lease:
        now = self._clock()
        row = self._row(connection, name)
        if row is None or row[0] != owner:
            raise lease_lost(name, owner, None if row is None else row[0])
        connection.execute(
            "UPDATE forze_projection_leases SET expires_at = max(expires_at, ?)"
            " WHERE projection = ?",
            (now + seconds, name),
        )
        return self._lease(name, self._row(connection, name), now)

    async def release(self, name: str, owner: str) -> None:
        """See ``ProjectionLeases.release``."""
        await self.db.write(partial(self._release, name, owner))

    def _release(self, name: str, owner: str, connection: sqlite3.Connection) -> None:
        connection.execute(
            "UPDATE forze_projection_leases SET expires_at = ? WHERE projection = ? AND owner = ?",
            (self._clock() - 1.0, name, owner),
        )

    async def read(self, name: str) -> Lease | None:
        """See ``ProjectionLeases.read``."""
        if self._absent:
            return None
        rows = await self.db.read(
            f"SELECT {_COLUMNS} FROM forze_projection_leases WHERE projection = ?", (name,)
        )
        return self._lease(name, cast(_LeaseRow, tuple(rows[0])), self._clock()) if rows else None

    async def names(self) -> list[str]:
        """Every name that has a lease, held or not (a lease stays once taken), in order."""
        if self._absent:
            return []
        rows = await self.db.read(
            "SELECT projection FROM forze_projection_leases ORDER BY projection"
        )
        return [str(name) for (name,) in rows]

    async def request_rebuild(self, name: str) -> int:
        """See ``ProjectionLeases.request_rebuild``."""
        return await self.db.write(partial(self._request_rebuild, name))

    def _request_rebuild(self, name: str, connection: sqlite3.Connection) -> int:
        connection.execute(
            "INSERT INTO forze_projection_leases"
            " (projection, owner, version, expires_at, rebuilds_requested)"
            " VALUES (?, '', 0, 0, 1) ON CONFLICT (projection) DO UPDATE SET"
            " rebuilds_requested = rebuilds_requested + 1",
            (name,),
        )
        row = self._row(connection, name)
        assert row is not None  # written just above, in this transaction
        return row[3]

    async def finish_rebuild(self, name: str, owner: str, number: int) -> None:
        """See ``ProjectionLeases.finish_rebuild``: joins the calling task's transaction."""
        await self.db.write(partial(self._finish_rebuild, name, owner, number))

    def _finish_rebuild(
        self, name: str, owner: str, number: int, connection: sqlite3.Connection
    ) -> None:
        changed = connection.execute(
            "UPDATE forze_projection_leases SET rebuilds_done = max(rebuilds_done, ?)"
            " WHERE projection = ? AND owner = ?",
            (number, name, owner),
        ).rowcount
        if not changed:
            row = self._row(connection, name)
            raise lease_lost(name, owner, None if row is None else row[0])

    @staticmethod
    def _row(connection: sqlite3.Connection, name: str) -> _LeaseRow | None:
        row = connection.execute(
            f"SELECT {_COLUMNS} FROM forze_projection_leases WHERE projection = ?", (name,)
        ).fetchone()
        return None if row is None else cast(_LeaseRow, tuple(row))

    @staticmethod
    def _lease(name: str, row: _LeaseRow | None, now: float) -> Lease:
        assert row is not None  # the caller wrote or found it
        owner, version, expires_at, requested, done = row
        return Lease(name, owner, version, expires_at - now, requested, done)
