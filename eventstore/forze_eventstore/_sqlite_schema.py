"""Schema versions of a SQLite file: each component's migrations, applied once and in order.

The table ``forze_migrations`` holds each component's version (the number of its steps that
ran). A writable database applies the missing steps in one transaction; a read-only one only
checks that the schema is there and current. Either refuses a file a newer forze wrote.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from forze.domain.errors import EventStoreUnavailable

__all__ = ["Migration", "apply_steps", "check_schema", "stored_version"]

Migration = Callable[[sqlite3.Connection], None]
"""One schema step; applied once, in order, inside a transaction."""


def stored_version(component: str, connection: sqlite3.Connection) -> int:
    """The schema version of ``component`` stored in the file (0 when it has none)."""
    tables = connection.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'forze_migrations'"
    ).fetchone()
    if not tables[0]:
        return 0
    row = connection.execute(
        "SELECT version FROM forze_migrations WHERE component = ?", (component,)
    ).fetchone()
    return 0 if row is None else int(row[0])


def apply_steps(
    path: str, component: str, steps: Sequence[Migration], connection: sqlite3.Connection
) -> int:
    """Run the steps of ``component`` the file lacks (inside the caller's transaction) and
    record its version; return that version."""
    current = stored_version(component, connection)
    if current > len(steps):
        raise _newer(path, component, current, len(steps))
    for step in steps[current:]:
        step(connection)
    if len(steps) > current:
        connection.execute(
            "INSERT OR REPLACE INTO forze_migrations (component, version) VALUES (?, ?)",
            (component, len(steps)),
        )
    return max(current, len(steps))


def check_schema(path: str, component: str, current: int, known: int) -> int:
    """``current`` when it is the version this forze knows (``known``); otherwise the
    refusal a read-only database gives, naming what is wrong."""
    if current > known:
        raise _newer(path, component, current, known)
    if current == known:
        return current
    if current == 0 and component == "events":
        message = f"{path!r} is not a forze store: it has no forze event table"
    elif current == 0:
        message = f"{path!r} has no forze {component!r} tables yet"
    else:
        message = (
            f"{path!r} holds version {current} of the forze {component!r} schema,"
            f" this forze uses {known}: open it writable once to migrate it"
        )
    raise EventStoreUnavailable(
        f"{message} (opened read-only: nothing was changed)", transient=False
    )


def _newer(path: str, component: str, current: int, known: int) -> EventStoreUnavailable:
    return EventStoreUnavailable(
        f"SQLite {path!r} was written by a newer forze: its {component!r} schema is at"
        f" version {current}, this forze knows {known}; upgrade forze to use it",
        transient=False,
    )
