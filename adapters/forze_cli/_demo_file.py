"""The demo's SQLite file: marked as the demo's, and the only kind of file the demo replaces.

The demo recreates its database on every run. It writes ``DEMO_APPLICATION_ID`` into the new
file's header (SQLite's ``PRAGMA application_id``) before anything else, so a later run can
tell its own file from anything else at that path: a text file, another application's SQLite
database, or a real forze store. Those are refused unless ``force`` is given; special files and
directories are refused even then. The ``-wal``, ``-shm`` and ``-journal`` companions are
removed only together with a database the demo replaces.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from forze.domain.errors import InvalidInputError

__all__ = ["DEMO_APPLICATION_ID", "create_demo_file", "is_demo_database", "prepare_demo_file"]

DEMO_APPLICATION_ID = 0x465A444D
"""``PRAGMA application_id`` of a forze demo database: the ASCII bytes ``FZDM``."""

_MAGIC = b"SQLite format 3\x00"
_COMPANIONS = ("-wal", "-shm", "-journal")


def is_demo_database(path: Path) -> bool:
    """Whether ``path`` is a regular file whose SQLite header carries the demo's mark.

    Only the first 100 bytes are read; SQLite does not open the file.
    """
    try:
        if not path.is_file():
            return False
        with path.open("rb") as file:
            header = file.read(100)
    except OSError:
        return False
    return (
        len(header) == 100
        and header[:16] == _MAGIC
        and int.from_bytes(header[68:72], "big") == DEMO_APPLICATION_ID
    )


def prepare_demo_file(path: Path, *, force: bool = False) -> None:
    """Replace a previous demo database at ``path`` (or, with ``force``, any regular file).

    Anything else raises ``InvalidInputError`` and nothing is deleted. Then the new, marked,
    empty database is created (see ``create_demo_file``).
    """
    shown = repr(str(path))
    if path.is_dir():
        raise InvalidInputError(f"--db {shown} is a directory, not a database file")
    companions = [Path(f"{path}{suffix}") for suffix in _COMPANIONS]
    if path.is_symlink() or path.exists():
        if not path.is_file():
            raise InvalidInputError(f"--db {shown} is not a regular file: not touching it")
        if not force and not is_demo_database(path):
            raise InvalidInputError(
                f"--db {shown} exists and is not a forze demo database: not touching it"
                " (choose another path, or --force to replace it)"
            )
    else:
        left = [str(c) for c in companions if c.is_symlink() or c.exists()]
        if left and not force:
            raise InvalidInputError(
                f"{left[0]!r} exists without its database {shown}: not touching it"
                " (remove it, or --force to replace it)"
            )
    try:
        for file in (path, *companions):
            file.unlink(missing_ok=True)
    except OSError as error:
        raise InvalidInputError(f"cannot replace {shown}: {error.strerror}") from None
    create_demo_file(path)


def create_demo_file(path: Path) -> None:
    """Create ``path`` (it must not exist) as an empty SQLite database with the demo's mark.

    The mark is written before the journal mode changes, so it sits in the file's own header.
    """
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except OSError as error:
        raise InvalidInputError(f"cannot create {str(path)!r}: {error.strerror}") from None
    try:
        connection = sqlite3.connect(os.fsencode(path), isolation_level=None)
        try:
            connection.execute(f"PRAGMA application_id = {DEMO_APPLICATION_ID}")
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise InvalidInputError(f"cannot create {str(path)!r}: {error}") from None
