"""What the command line says when the store is not there, not forze's, or too new: one line
on stderr and an exit status a script can act on (3: try again later, 4: not a store this
forze can use, 2: bad input), with nothing changed."""

from __future__ import annotations

import asyncio
import gc
import uuid

import asyncpg
import pytest

from forze.domain.errors import EventStoreUnavailable
from forze_cli import main
from forze_mongo import MongoDatabase, MongoEventStore
from forze_postgres import PostgresEventStore
from tests.cli_stores_support import mongo_case, postgres_case
from tests.mongo_support import mongo_url

UNAVAILABLE, INCOMPATIBLE, INPUT = 3, 4, 2


def _one_line(capsys: pytest.CaptureFixture[str], *parts: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("forze: error: "), err
    assert err.count("\n") == 1, err
    for part in parts:
        assert part in err, err
    return err


async def _sql(dsn: str, sql: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        return list(await connection.fetch(sql))
    finally:
        await connection.close()


def _tables(dsn: str, schema: str) -> list[str]:
    rows = asyncio.run(
        _sql(dsn, f"SELECT tablename FROM pg_tables WHERE schemaname = '{schema}' ORDER BY 1")
    )
    return [str(row[0]) for row in rows]


def test_an_unreachable_postgresql_server_is_exit_3_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql://ops:s3cret@127.0.0.1:1/bank"
    assert main(["streams", "--store", url]) == UNAVAILABLE
    err = _one_line(capsys, "cannot connect to PostgreSQL")
    assert "s3cret" not in err


# PyMongo's server monitor can leave the socket of a refused connection to the garbage
# collector when the client closes mid-attempt (PYTHON-3923); collected here, not in a later
# test.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_unreachable_mongodb_server_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    url = "mongodb://127.0.0.1:1/bank?directConnection=true"
    assert main(["feed", "tail", "--store", url]) == UNAVAILABLE
    _one_line(capsys, "cannot reach MongoDB at mongodb://127.0.0.1:1/bank")
    gc.collect()


def test_a_schema_that_does_not_exist_is_exit_4_and_is_not_created(
    postgres_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = f"nope_{uuid.uuid4().hex[:8]}"
    for command in (["streams"], ["projections", "status"], ["relays", "status"]):
        assert main([*command, "--store", postgres_dsn, "--schema", schema]) == INCOMPATIBLE
        _one_line(capsys, f"schema {schema!r} does not exist")
    rows = asyncio.run(_sql(postgres_dsn, f"SELECT 1 FROM pg_namespace WHERE nspname = '{schema}'"))
    assert rows == []


def test_a_schema_without_forze_tables_is_exit_4(
    postgres_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = f"empty_{uuid.uuid4().hex[:8]}"
    asyncio.run(_sql(postgres_dsn, f'CREATE SCHEMA "{schema}"'))
    try:
        assert main(["stream", "show", "a-1", "--store", postgres_dsn, "--schema", schema]) == 4
        _one_line(capsys, "holds no forze event store")
        assert _tables(postgres_dsn, schema) == []
    finally:
        asyncio.run(_sql(postgres_dsn, f'DROP SCHEMA "{schema}" CASCADE'))


def test_a_schema_migrated_by_a_newer_forze_is_refused_by_the_cli_and_by_migrate(
    postgres_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with postgres_case(postgres_dsn) as case:
        schema = case.notes["schema"]

        async def make_it_newer() -> None:
            async with case.open():
                pass
            await _sql(
                postgres_dsn,
                f"UPDATE \"{schema}\".forze_migrations SET version = 99 WHERE component = 'events'",
            )

        asyncio.run(make_it_newer())
        assert main(["streams", *case.options]) == INCOMPATIBLE
        _one_line(capsys, "was written by a newer forze", "at version 99")

        async def migrate() -> None:
            store = await PostgresEventStore.open(postgres_dsn, schema=schema)
            await store.close()

        with pytest.raises(EventStoreUnavailable, match="newer forze") as refused:
            asyncio.run(migrate())
        assert not refused.value.transient


def test_a_tenant_column_schema_opened_without_a_tenant_names_the_layout(
    postgres_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with postgres_case(postgres_dsn, tenant="acme") as case:

        async def create() -> None:
            async with case.open():
                pass

        asyncio.run(create())
        schema = case.notes["schema"]
        assert main(["streams", "--store", postgres_dsn, "--schema", schema]) == INCOMPATIBLE
        _one_line(capsys, "layout with a tenant column", "tenancy it was created with")


def test_status_where_no_projection_ran_creates_no_table(
    postgres_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with postgres_case(postgres_dsn) as case:

        async def create() -> None:
            async with case.open():
                pass

        asyncio.run(create())
        before = _tables(postgres_dsn, case.notes["schema"])
        capsys.readouterr()
        assert main(["projections", "status", *case.options]) == 0
        assert capsys.readouterr().out.startswith("no projection has run on this store yet")
        assert main(["relays", "status", *case.options]) == 0
        assert main(["sagas", "status", *case.options]) == 0
        assert _tables(postgres_dsn, case.notes["schema"]) == before


def test_a_mongodb_database_without_a_store_or_written_by_a_newer_forze_is_exit_4(
    capsys: pytest.CaptureFixture[str],
) -> None:
    empty = mongo_url(f"forze_test_none_{uuid.uuid4().hex[:8]}")
    assert main(["streams", "--store", empty]) == INCOMPATIBLE
    _one_line(capsys, "holds no forze event store")
    with mongo_case() as case:

        async def make_it_newer() -> None:
            async with case.open():
                pass
            db = MongoDatabase.connect(case.notes["url"])
            try:
                heads = db.collection("event_head")
                await heads.update_one({"_id": "head"}, {"$set": {"format": 7}})
                with pytest.raises(EventStoreUnavailable, match="newer forze"):
                    await MongoEventStore(db).migrate()
            finally:
                await db.close()

        asyncio.run(make_it_newer())
        assert main(["streams", *case.options]) == INCOMPATIBLE
        _one_line(capsys, "was written by a newer forze", "format is 7")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--store", "redis://127.0.0.1/0"], "must be a sqlite:///PATH"),
        (["--store", "sqlite:///x.sqlite", "--db", "x.sqlite"], "not several"),
        (["--db", "x.sqlite", "--schema", "public"], "apply to a PostgreSQL store"),
        (["--store", "mongodb://127.0.0.1/x", "--tenant", "acme"], "apply to a PostgreSQL"),
    ],
    ids=["unknown-scheme", "store-and-db", "schema-on-sqlite", "tenant-on-mongodb"],
)
def test_a_store_option_that_makes_no_sense_is_exit_2(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["streams", *arguments]) == INPUT
    _one_line(capsys, message)


def test_a_bad_store_url_in_the_environment_is_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORZE_STORE", "bank.sqlite")
    assert main(["streams"]) == INPUT
    _one_line(capsys, "FORZE_STORE must be a sqlite:///PATH")
