"""Reading SQLite event rows up to a byte budget, without holding the rows past it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from forze.contracts import RecordedEvent
from forze.domain.errors import EventStoreUnavailable
from forze_eventstore.limits import CutPage
from forze_eventstore.sqlite_db import SQLiteDatabase

__all__ = ["read_page"]


def read_page(
    db: SQLiteDatabase,
    sql: str,
    parameters: Sequence[object],
    max_bytes: int | None,
    decode: Callable[[list[Any]], list[RecordedEvent]],
) -> list[RecordedEvent]:
    """The events ``decode`` makes of the rows of ``sql`` (data and metadata texts third and
    fourth) up to the first that brings their texts to ``max_bytes``: a ``CutPage`` when
    that left rows out. Rows are fetched one at a time, so those left out are never loaded."""
    if max_bytes is None:
        return decode(db.read(sql, parameters))
    rows: list[Any] = []
    total = 0
    try:
        cursor = db.connection.execute(sql, parameters)
        try:
            for row in cursor:
                rows.append(row)
                total += len(row[2]) + len(row[3])
                if total >= max_bytes:
                    if cursor.fetchone() is not None:
                        return CutPage(decode(rows))
                    break
        finally:
            cursor.close()
    except sqlite3.Error as error:
        raise EventStoreUnavailable(f"SQLite {db.path!r}: {error}") from error
    return decode(rows)
