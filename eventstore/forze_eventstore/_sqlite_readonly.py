"""Opening a SQLite file read-only without leaving a trace beside it.

SQLite's ``mode=ro`` alone is not enough: a reader of a WAL database creates the ``-wal`` and
``-shm`` files when they are missing and, being read-only, cannot remove them when it closes;
on a read-only medium it cannot open such a database at all. So a file nobody is writing (no
``-wal`` or ``-journal`` beside it) is opened ``immutable=1``, which needs neither file, and each
read is checked afterwards: if the file changed meanwhile (a writer started), the connection is
reopened and the read run again. A file with a ``-wal`` or ``-journal`` beside it has a writer
(or a crashed one) and is opened plain ``mode=ro``, sharing the writer's files, so reads see
its commits; there SQLite needs the ``-shm`` file to exist or to be creatable.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from forze.domain.errors import EventStoreUnavailable

__all__ = ["FileState", "companions_exist", "connect_read_only", "file_state"]

FileState = tuple[int, int, int, int]
"""What identifies a file's content cheaply: device, inode, size and modification time."""


def file_state(path: str) -> FileState | None:
    """The state of ``path``, or None when it cannot be examined."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def companions_exist(path: str) -> bool:
    """Whether a writer's ``-wal`` or ``-journal`` file is beside ``path``."""
    return any(os.path.lexists(f"{path}{suffix}") for suffix in ("-wal", "-journal"))


def connect_read_only(path: str, busy_timeout_ms: int) -> tuple[sqlite3.Connection, bool]:
    """A read-only connection to an existing file and whether it is ``immutable``.

    Raises ``EventStoreUnavailable`` (not transient) when the path is not a readable SQLite
    file; nothing is ever created or written.
    """
    if not Path(path).is_file():
        raise EventStoreUnavailable(f"no SQLite file at {path!r}", transient=False)
    immutable = not companions_exist(path)
    uri = f"file:{quote(os.fsencode(path), safe='/')}?mode=ro" + (
        "&immutable=1" if immutable else ""
    )
    try:
        connection = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as error:
        raise EventStoreUnavailable(
            f"cannot open SQLite database {path!r} read-only: {error}", transient=False
        ) from error
    try:
        connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as error:
        connection.close()
        raise EventStoreUnavailable(_why(path, error), transient=False) from error
    return connection, immutable


def _why(path: str, error: sqlite3.DatabaseError) -> str:
    if getattr(error, "sqlite_errorname", "") == "SQLITE_NOTADB":
        return f"{path!r} is not a forze store: it is not a SQLite database"
    if os.path.lexists(f"{path}-wal") and not os.path.lexists(f"{path}-shm"):
        return (
            f"cannot read {path!r} read-only: its -wal file holds changes that SQLite reads"
            f" only with a -shm file beside it, which cannot be created there ({error})"
        )
    return f"cannot read SQLite database {path!r} read-only: {error}"
