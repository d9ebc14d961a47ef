"""Read-model field names are input: specs admit plain names only, and the SQL stores quote
every name they use, so a hostile name neither runs as SQL nor widens a query.

The stores' side is also a contract case (``ReadModelNamesContract``) that every read-model
store runs; these are the issue's exploits, replayed on the real databases.
"""

from __future__ import annotations

import re
import uuid
import warnings
from collections.abc import AsyncIterator

import asyncpg
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forze.contracts import Filter, Query, ReadModelSpec
from forze.contracts.read_models import FIELD_NAME
from forze.domain.errors import InvalidInputError
from forze_eventstore import SQLiteDatabase
from forze_postgres import PostgresDatabase
from forze_postgres.read_models import PostgresReadModelStore
from forze_projections.adapter_kit import SQLiteReadModelStore
from forze_projections.testing.read_model_names import unchecked_spec
from tests.postgres_support import fresh_schema


def _model(**fields: object) -> type[pydantic.BaseModel]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model: type[pydantic.BaseModel] = pydantic.create_model(
            "Doc",
            id=(str, ...),
            **{name: (kind, None) for name, kind in fields.items()},  # type: ignore[call-overload]
        )
    return model


@given(st.text(min_size=1, max_size=70))
def test_a_spec_admits_a_field_name_only_when_it_is_plain(name: str) -> None:
    try:
        model = _model(**{name: str})
    except Exception:  # pydantic refuses some names itself
        return
    if name not in model.model_fields or name == "id":
        return
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
        assert ReadModelSpec("docs", model).model is model
    else:
        with pytest.raises(InvalidInputError, match=re.escape(repr(name))):
            ReadModelSpec("docs", model)


@pytest.mark.parametrize("name", ["x'); DROP TABLE t; --", 'a"b', "größe", "1st", "a" * 64])
def test_a_spec_names_the_field_that_is_not_plain(name: str) -> None:
    with pytest.raises(InvalidInputError, match="is not a plain name") as raised:
        ReadModelSpec("docs", _model(**{name: str}))
    assert repr(name) in str(raised.value)
    assert not FIELD_NAME.fullmatch(name)


def test_a_spec_admits_plain_names_up_to_63_characters() -> None:
    name = "A_" + "b1" * 30 + "c"
    assert ReadModelSpec("docs", _model(**{name: str}), indexes=(name,)).indexes == (name,)


@pytest.fixture
async def db(postgres_dsn: str) -> AsyncIterator[PostgresDatabase]:
    async with fresh_schema(postgres_dsn) as database:
        yield database


async def test_a_search_field_name_cannot_drop_another_postgres_table(
    db: PostgresDatabase,
) -> None:
    canary = f'"{db.schema}".canary'
    async with db.connection() as connection:
        await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"')
        await connection.execute(f"CREATE TABLE {canary} (x int)")
    field = f"x') IN ('string') THEN NULL::tsvector END)) STORED); DROP TABLE {canary}; --"
    model = _model(**{field: str})
    spec = unchecked_spec(f"evil_{uuid.uuid4().hex[:8]}", model, search_fields=(field,))
    store = PostgresReadModelStore(db, spec)
    await store.upsert(model(id="a", **{field: "hello"}))
    assert [document.id for document in await store.search("hello")] == ["a"]
    async with db.connection() as connection:
        assert await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", canary)


async def test_a_field_name_cannot_widen_a_postgres_filter(db: PostgresDatabase) -> None:
    field = "n' OR TRUE OR '"
    model = _model(**{field: int})
    store = PostgresReadModelStore(db, unchecked_spec("widen", model, indexes=(field,)))
    for key, value in [("a", 1), ("b", 12345)]:
        await store.upsert(model(id=key, **{field: value}))
    page = await store.find(Query((Filter(field, "eq", 12345),)))
    assert [document.id for document in page.items] == ["b"]


@pytest.mark.parametrize("field", ["n') OR 1 OR ('", "n' OR 1 OR '"])
async def test_a_field_name_cannot_widen_a_sqlite_filter(field: str) -> None:
    model = _model(**{field: int})
    store = SQLiteReadModelStore(
        SQLiteDatabase(":memory:"), unchecked_spec("widen", model, indexes=(field,))
    )
    for key, value in [("a", 1), ("b", 12345)]:
        await store.upsert(model(id=key, **{field: value}))
    page = await store.find(Query((Filter(field, "eq", 12345),)))
    assert [document.id for document in page.items] == ["b"]
    assert await store.count([Filter(field, "eq", 12345)]) == 1


def test_a_postgres_literal_keeps_its_meaning_whatever_the_server_does_with_backslashes() -> None:
    from forze_postgres._pg_fields import pg_string

    assert pg_string("it's") == "'it''s'"
    assert pg_string("a\\'b") == "E'a\\\\''b'"
    with pytest.raises(InvalidInputError):
        pg_string("nul\x00")


async def test_a_backslash_name_reads_the_same_with_standard_conforming_strings_off(
    postgres_dsn: str,
) -> None:
    field = "back\\' OR TRUE --"
    model = _model(**{field: int})
    schema = f"s_{uuid.uuid4().hex[:12]}"
    pool = await asyncpg.create_pool(
        postgres_dsn, min_size=1, max_size=2, server_settings={"standard_conforming_strings": "off"}
    )
    try:
        db = PostgresDatabase(pool, schema=schema)
        store = PostgresReadModelStore(db, unchecked_spec("bs", model, indexes=(field,)))
        for key, value in [("a", 1), ("b", 2)]:
            await store.upsert(model(id=key, **{field: value}))
        page = await store.find(Query((Filter(field, "eq", 2),)))
        assert [document.id for document in page.items] == ["b"]
        async with pool.acquire() as connection:
            assert await connection.fetchval("SHOW standard_conforming_strings") == "off"
            await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await pool.close()
