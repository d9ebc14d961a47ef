"""SQLite files the tests make: another application's database beside forze's stores."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def foreign_database(path: Path, *, journal_mode: str = "DELETE") -> None:
    """Make ``path`` another application's SQLite database (one table, one row)."""
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA journal_mode = {journal_mode}")
    connection.execute("CREATE TABLE users (name TEXT)")
    connection.execute("INSERT INTO users VALUES ('ann')")
    connection.commit()
    connection.close()
