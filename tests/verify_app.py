"""An application for the ``events verify`` and ``--app`` tests: the bank after a schema change.

``AccountOpened`` gained a ``currency`` in schema version 2; events stored in version 1 are
lifted by an upcaster (``ACCOUNTS_V2``). ``BROKEN_V2`` has a broken upcaster: it renames
``owner``, so version-1 events no longer decode. :func:`make_runtime` is the application's
runtime factory on the SQLite file ``FORZE_VERIFY_APP_DB`` names, its aggregate spec chosen by
``FORZE_VERIFY_APP_SPEC`` (``ACCOUNTS_V2`` unless set).
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from forze import DomainEvent, EventType, Runtime, Upcaster, Usecase, build_runtime
from forze.execution import ExecutionContext
from forze_examples.bank import ACCOUNTS, PROJECTIONS, OpenAccount
from forze_projections import sqlite_module


class AccountOpenedV2(DomainEvent):
    """An account was opened, now in a currency."""

    owner: str
    overdraft_limit: int
    currency: str


def _add_currency(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "currency": "EUR"}


def _rename_owner(data: dict[str, Any]) -> dict[str, Any]:
    changed = {key: value for key, value in data.items() if key != "owner"}
    return {**changed, "holder": data["owner"], "currency": "EUR"}


def _spec(upcast: Any) -> Any:
    return replace(
        ACCOUNTS,
        events=(
            EventType("AccountOpened", AccountOpenedV2, schema_version=2),
            *ACCOUNTS.events[1:],
        ),
        upcasters=(Upcaster("AccountOpened", 1, upcast),),
    )


ACCOUNTS_V2 = _spec(_add_currency)
BROKEN_V2 = _spec(_rename_owner)


async def _open(ctx: ExecutionContext, command: OpenAccount) -> None:
    """Not run by the tests: it declares the spec the application's usecases use."""
    spec = BROKEN_V2 if os.environ.get("FORZE_VERIFY_APP_SPEC") == "BROKEN_V2" else ACCOUNTS_V2
    await ctx.aggregates(spec).load(command.account_id)


def make_runtime() -> Runtime:
    """The application's runtime: its store, its projections, its aggregate spec."""
    spec = BROKEN_V2 if os.environ.get("FORZE_VERIFY_APP_SPEC") == "BROKEN_V2" else ACCOUNTS_V2
    return build_runtime(
        sqlite_module(os.environ["FORZE_VERIFY_APP_DB"], projections=PROJECTIONS),
        usecases=[Usecase.command("open_account", _open, spec)],
    )
