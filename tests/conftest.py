"""Session-wide fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres_support import create_test_database, drop_test_database


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of a throwaway database for this test session."""
    dsn = create_test_database()
    try:
        yield dsn
    finally:
        drop_test_database(dsn)
