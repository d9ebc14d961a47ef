"""Reading SQLite event rows up to a byte budget, without holding the rows past it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from forze.contracts import RecordedEvent
from forze_eventstore.limits import CutPage
from forze_eventstore.sqlite_db import SQLiteDatabase

__all__ = ["read_page"]


async def read_page(
    db: SQLiteDatabase,
    sql: str,
    parameters: Sequence[object],
    max_bytes: int | None,
    decode: Callable[[list[Any]], list[RecordedEvent]],
) -> list[RecordedEvent]:
    """The events ``decode`` makes of the rows of ``sql`` (data and metadata texts third and
    fourth) up to the first that brings their texts to ``max_bytes``: a ``CutPage`` when
    that left rows out. Rows are fetched one at a time (on the database's worker), so those
    left out are never loaded; they are decoded on the caller's thread."""
    if max_bytes is None:
        return decode(await db.read(sql, parameters))
    rows, cut = await db.read_with(partial(_fetch_within, sql, parameters, max_bytes))
    return CutPage(decode(rows)) if cut else decode(rows)


def _fetch_within(
    sql: str, parameters: Sequence[object], max_bytes: int, connection: sqlite3.Connection
) -> tuple[list[Any], bool]:
    """The rows up to ``max_bytes`` and whether rows were left out after them."""
    rows: list[Any] = []
    total = 0
    cursor = connection.execute(sql, parameters)
    try:
        for row in cursor:
            rows.append(row)
            total += len(row[2]) + len(row[3])
            if total >= max_bytes:
                return rows, cursor.fetchone() is not None
    finally:
        cursor.close()
    return rows, False
