"""``forze events verify`` decodes stored events with the current code and its upcasters,
and ``--app`` runs every command on an application's own runtime (its store, projections
and event types)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from forze import NewEvent
from forze_cli import main
from forze_eventstore import SQLiteEventStore
from tests.cli_stores_support import StoreCase, fill, mongo_case, postgres_case

APP = "tests.verify_app:make_runtime"


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo store (schema version 1 events) with one event of a type the bank lacks."""
    path = tmp_path_factory.mktemp("verify") / "bank.sqlite"
    assert main(["demo", "--db", str(path), "--accounts", "6", "--commands", "80"]) == 0

    async def add_foreign() -> None:
        async with SQLiteEventStore(path) as store:
            await store.append("order-1", [NewEvent("Placed", {"n": 1})], expected_version=0)

    asyncio.run(add_foreign())
    return path


@pytest.fixture
def copy(bank: Path, tmp_path: Path) -> Path:
    """A copy of :func:`bank` a test may change."""
    path = tmp_path / "bank.sqlite"
    shutil.copy2(bank, path)
    return path


def _rows(out: str) -> dict[str, dict[str, object]]:
    records = [json.loads(line) for line in out.splitlines()]
    assert "summary" in records[-1]
    return {str(r["event_type"]): r for r in records[:-1]} | {"summary": records[-1]["summary"]}


def _verify(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["events", "verify", *arguments])
    return code, capsys.readouterr().out


def _opened_positions(path: Path) -> list[int]:
    async def read() -> list[int]:
        async with SQLiteEventStore(path, read_only=True) as store:
            events = await store.read_all(event_types=["AccountOpened"])
            return [event.position for event in events]

    return asyncio.run(read())


def test_the_demo_store_decodes_with_the_demo_code(
    bank: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _verify(capsys, "--db", str(bank))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["TYPE", "SCHEMA", "EVENTS", "FAILED", "FIRST_FAILED", "ERROR"]
    assert any(line.startswith("AccountOpened ") for line in lines)
    assert any(line.startswith("Placed ") and "not checked" in line for line in lines)
    assert lines[-1].startswith("checked ")
    assert "every one decodes; 1 of types this code does not know (not checked)" in lines[-1]


def test_after_a_schema_change_old_events_decode_through_the_upcaster(
    bank: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _verify(
        capsys, "--db", str(bank), "--specs", "tests.verify_app:ACCOUNTS_V2", "--json"
    )
    assert code == 0
    rows = _rows(out)
    assert rows["AccountOpened"]["schema_version"] == 1
    assert (rows["AccountOpened"]["events"], rows["AccountOpened"]["failed"]) == (6, 0)
    assert rows["summary"]["ok"] is True


def test_a_broken_upcaster_is_reported_with_its_count_first_position_and_error(
    bank: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _verify(
        capsys, "--db", str(bank), "--specs", "tests.verify_app:BROKEN_V2", "--json"
    )
    assert code == 1
    row = _rows(out)["AccountOpened"]
    assert (row["events"], row["failed"]) == (6, 6)
    assert row["first_failed_position"] == _opened_positions(bank)[0]
    assert "owner" in str(row["error"])
    assert "schema version 1" in str(row["error"])
    assert _rows(out)["MoneyDeposited"]["failed"] == 0
    code, table = _verify(capsys, "--db", str(bank), "--specs", "tests.verify_app:BROKEN_V2")
    assert code == 1
    assert "6 failed to decode" in table.splitlines()[-1]


def test_a_category_a_type_a_sample_and_a_limit_narrow_what_is_decoded(
    bank: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = _verify(capsys, "--db", str(bank), "--category", "order", "--json")
    assert set(_rows(out)) == {"Placed", "summary"}
    _, out = _verify(capsys, "--db", str(bank), "--type", "AccountOpened", "--json")
    assert _rows(out)["summary"]["checked"] == 6
    _, out = _verify(capsys, "--db", str(bank), "--limit", "10", "--json")
    assert _rows(out)["summary"]["checked"] == 10
    _, everything = _verify(capsys, "--db", str(bank), "--json")
    total = int(str(_rows(everything)["summary"]["checked"]))
    _, half = _verify(capsys, "--db", str(bank), "--sample", "0.5", "--json")
    _, again = _verify(capsys, "--db", str(bank), "--sample", "0.5", "--json")
    sampled = int(str(_rows(half)["summary"]["checked"]))
    assert 0.3 * total < sampled < 0.7 * total
    assert _rows(again)["summary"]["checked"] == sampled, "the same events every run"


def test_strict_fails_on_events_of_types_the_code_does_not_know(
    bank: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _verify(capsys, "--db", str(bank), "--strict")
    assert code == 1
    assert "1 of types this code does not know (failures with --strict)" in out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--specs", "nowhere"], "must look like"),
        (["--specs", "forze_examples.bank:PROJECTIONS"], "is not an AggregateSpec"),
        (["--sample", "0"], "above 0 and at most 1"),
    ],
    ids=["malformed-specs", "not-specs", "zero-sample"],
)
def test_bad_verify_options_are_one_line_and_exit_2(
    bank: Path, arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["events", "verify", "--db", str(bank), *arguments])
    except SystemExit as exited:  # argparse refuses some before main runs
        code = int(str(exited.code))
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_the_applications_runtime_gives_the_store_the_specs_and_the_projections(
    copy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORZE_VERIFY_APP_DB", str(copy))
    code, out = _verify(capsys, "--app", APP, "--json")
    assert code == 0
    assert _rows(out)["AccountOpened"]["failed"] == 0
    monkeypatch.setenv("FORZE_VERIFY_APP_SPEC", "BROKEN_V2")
    assert _verify(capsys, "--app", APP)[0] == 1
    capsys.readouterr()
    assert main(["streams", "--app", APP, "--category", "order"]) == 0
    assert "order-1" in capsys.readouterr().out
    assert main(["projections", "status", "--app", APP]) == 0
    status = capsys.readouterr().out.splitlines()
    assert status[1].split()[0] == "account_balances"
    assert main(["projections", "rebuild", "account_balances", "--app", APP]) == 0
    assert "rebuilt account_balances v1" in capsys.readouterr().out
    assert main(["projections", "rebuild", "nope", "--app", APP]) == 2
    assert "no projection named 'nope' (known: account_balances)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("tests.verify_app", "must look like"),
        ("tests.verify_app:ACCOUNTS_V2", "not callable"),
        ("tests.verify_app:_add_currency", "takes"),
    ],
    ids=["malformed", "not-callable", "not-a-factory"],
)
def test_an_app_reference_that_is_no_runtime_factory_is_one_line(
    reference: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["streams", "--app", reference]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


@pytest.fixture(params=["postgresql", "mongodb"])
def server_store(
    request: pytest.FixtureRequest,
) -> Iterator[StoreCase]:
    """A filled PostgreSQL schema or MongoDB database."""
    if request.param == "postgresql":
        made = postgres_case(request.getfixturevalue("postgres_dsn"))
    else:
        made = mongo_case()
    with made as case:
        asyncio.run(fill(case))
        yield case


def test_verify_reads_postgresql_and_mongodb_stores(
    server_store: StoreCase, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _verify(capsys, *server_store.options, "--json")
    assert code == 0
    rows = _rows(out)
    assert (rows["AccountOpened"]["events"], rows["MoneyDeposited"]["events"]) == (4, 8)
    assert rows["Placed"]["known"] is False
    code, _ = _verify(capsys, *server_store.options, "--specs", "tests.verify_app:BROKEN_V2")
    assert code == 1
