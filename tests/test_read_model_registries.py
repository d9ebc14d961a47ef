"""Every ReadModelStores registry gives one store per spec and refuses a clashing spec."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from forze import WiringError
from forze.contracts import ReadModelSpec, ReadModelStores
from forze_eventstore import SQLiteDatabase
from forze_postgres import PostgresReadModelStores
from forze_projections.adapter_kit import InMemoryReadModelStores, SQLiteReadModelStores
from tests.postgres_support import fresh_schema


class Note(BaseModel):
    id: str
    text: str = ""


class Other(BaseModel):
    id: str
    size: int = 0


NOTES = ReadModelSpec(name="registry_notes", model=Note)
CLASH = ReadModelSpec(name="registry_notes", model=Other)


def _check(stores: ReadModelStores) -> None:
    assert stores(NOTES) is stores(NOTES)
    with pytest.raises(WiringError, match="registry_notes"):
        stores(CLASH)


def test_the_in_memory_registry_keeps_one_store_per_spec() -> None:
    _check(InMemoryReadModelStores())


def test_the_sqlite_registry_keeps_one_store_per_spec() -> None:
    _check(SQLiteReadModelStores(SQLiteDatabase(":memory:")))


async def test_the_postgres_registry_keeps_one_store_per_spec(postgres_dsn: str) -> None:
    async with fresh_schema(postgres_dsn) as db:
        _check(PostgresReadModelStores(db))
