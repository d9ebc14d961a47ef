"""One eventsourcing application, two PostgreSQL recorders: eventsourcing's own and forze's.

Run ``.venv/bin/python benchmarks/eventsourcing_interop.py [--events N] [--accounts N] [--json]``.
The server is the one of ``FORZE_TEST_POSTGRES_DSN`` (an administrative DSN; default
``postgresql://postgres@127.0.0.1:5432/postgres``): the run creates a throwaway database there,
gives each setup its own schema in it, drops both schemas and the database at the end, and
closes every application it made.

The application (``Bank``, with the ``Account`` aggregate: ``open``, ``deposit`` and
``withdraw`` as ``@event`` methods) is the same code in both setups; only the settings passed
to its constructor (``Bank(env={...})``) differ:

* ``eventsourcing.postgres`` (the baseline): ``PERSISTENCE_MODULE=eventsourcing.postgres``
  with ``POSTGRES_DBNAME/HOST/PORT/USER/PASSWORD``, ``POSTGRES_SCHEMA=es_interop`` and a pool
  of one connection per application (``POSTGRES_POOL_SIZE=1``, no overflow).
* ``forze``: ``PERSISTENCE_MODULE=forze_eventsourcing``, ``FORZE_STORE=postgresql://...``
  (the same database) and ``FORZE_SCHEMA=forze_interop`` (forze's default pool).

Setup (not timed): per setup, one application for the single writer and eight for the eight
writers, each opening its pool (and creating its tables) before any clock runs; then
``--accounts`` accounts opened (``open_account``: one ``app.save`` each).

Scenarios (commands per second; ``--events`` deposit commands per scenario and setup; a
command is ``Bank.deposit``: ``repository.get``, ``Account.deposit``, ``app.save``):

* ``commands x1``: one thread with one application, the deposits spread round-robin over
  every account.
* ``commands x8``: eight threads, each with its own application on the same database, each on
  its own accounts (account ``i`` belongs to writer ``i % 8``), so writers never conflict and
  no command is retried; the clock runs from a common start barrier until the last thread ends.

The setups take turns within a scenario (eventsourcing first, then forze). Each figure is one
timed run after a short untimed warm-up (one deposit per account, by the writers of that
scenario). Afterwards every account is read back through a fresh application of each setup,
and the run fails (exit status 1) unless its balance and version equal what the run deposited.
The table's ratio column is forze / eventsourcing at each writer count.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

if TYPE_CHECKING:  # mypy names the file by its path; at run time benchmarks/ is sys.path[0]
    from benchmarks._harness import Results, Stopwatch, base_parser, progress, run_at_once
    from benchmarks._postgres_db import sql, throwaway_database
else:
    from _harness import Results, Stopwatch, base_parser, progress, run_at_once
    from _postgres_db import sql, throwaway_database

DEFAULT_COMMANDS = 5_000
DEFAULT_ACCOUNTS = 200
WRITERS = 8
EVENTSOURCING = "eventsourcing.postgres"
FORZE = "forze"
IMPLEMENTATIONS = [EVENTSOURCING, FORZE]
SCENARIOS = ["commands x1", f"commands x{WRITERS}"]
ES_SCHEMA, FORZE_SCHEMA = "es_interop", "forze_interop"


# --- the application (the same code for both setups) ---------------------------------------


class Account(Aggregate):
    """A bank account."""

    @event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.balance = 0

    @event("Deposited")
    def deposit(self, amount: int) -> None:
        self.balance += amount

    @event("Withdrawn")
    def withdraw(self, amount: int) -> None:
        if amount > self.balance:
            raise ValueError("insufficient funds")
        self.balance -= amount


class Bank(Application[UUID]):
    """Opens accounts and takes deposits; its persistence comes from its settings only."""

    def open_account(self, owner: str) -> UUID:
        account = Account(owner)
        self.save(account)
        return account.id

    def deposit(self, account_id: UUID, amount: int) -> None:
        account: Account = self.repository.get(account_id)
        account.deposit(amount)
        self.save(account)

    def withdraw(self, account_id: UUID, amount: int) -> None:
        account: Account = self.repository.get(account_id)
        account.withdraw(amount)
        self.save(account)

    def account(self, account_id: UUID) -> Account:
        account: Account = self.repository.get(account_id)
        return account


# --- settings and the database --------------------------------------------------------------


def es_env(dsn: str) -> dict[str, str]:
    """eventsourcing's own PostgreSQL recorder on ``dsn``, in schema ``ES_SCHEMA``."""
    parts = urlsplit(dsn)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_SCHEMA": ES_SCHEMA,
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": "0",
    }


def forze_env(dsn: str) -> dict[str, str]:
    """forze's PostgreSQL event store on ``dsn``, in schema ``FORZE_SCHEMA``."""
    return {
        "PERSISTENCE_MODULE": "forze_eventsourcing",
        "FORZE_STORE": dsn,
        "FORZE_SCHEMA": FORZE_SCHEMA,
    }


# --- one setup --------------------------------------------------------------------------------


Command = tuple[UUID, int]
"""One deposit: the account and the amount."""


class Setup:
    """One persistence setup: a single-writer application and ``WRITERS`` more, the accounts
    and the deposits made so far (to check the store against at the end)."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.env = env
        self.apps: list[Bank] = []
        self.ids: list[UUID] = []
        self.expected: dict[UUID, tuple[int, int]] = {}
        """Account id: (balance, version) after every deposit made so far."""

    def open(self, accounts: int) -> None:
        """Make the applications, open their pools, open the accounts (not timed)."""
        for _ in range(1 + WRITERS):  # one after the other: each creates the tables if missing
            app = Bank(env=dict(self.env))
            self.apps.append(app)
            app.recorder.max_notification_id()  # opens the pool before any clock runs
        single = self.apps[0]
        for index in range(accounts):
            account_id = single.open_account(f"owner-{index}")
            self.ids.append(account_id)
            self.expected[account_id] = (0, 1)

    def run(self, app: Bank, commands: Sequence[Command]) -> int:
        """The deposits, one command each, with ``app``; returns how many were made."""
        deposit = app.deposit
        for account_id, amount in commands:
            deposit(account_id, amount)
        return len(commands)

    def booked(self, commands: Sequence[Command]) -> None:
        for account_id, amount in commands:
            balance, version = self.expected[account_id]
            self.expected[account_id] = (balance + amount, version + 1)

    def single(self, commands: Sequence[Command]) -> float:
        """The commands by one writer; returns the seconds they took."""
        with Stopwatch() as watch:
            done = self.run(self.apps[0], commands)
        self.booked(commands[:done])
        return watch.seconds

    def writers(self, parts: Sequence[Sequence[Command]]) -> float:
        """``parts[w]`` by writer ``w``, all at once, each in its own thread with its own
        application; returns the seconds from the common start until the last one ended."""
        seconds, _ = run_at_once(
            [partial(self.run, app, mine) for app, mine in zip(self.apps[1:], parts, strict=True)]
        )
        for mine in parts:
            self.booked(mine)
        return seconds

    def check(self) -> list[str]:
        """Every account read back through a new application: what differs from the plan."""
        problems: list[str] = []
        app = Bank(env=dict(self.env))
        try:
            for account_id in self.ids:
                account = app.account(account_id)
                got = (account.balance, account.version)
                if got != self.expected[account_id]:
                    problems.append(
                        f"{self.name}: account {account_id} has (balance, version) {got},"
                        f" expected {self.expected[account_id]}"
                    )
        finally:
            app.close()
        return problems

    def close(self) -> None:
        for app in self.apps:
            app.close()
        self.apps.clear()


# --- the plan ---------------------------------------------------------------------------------


def amount_of(index: int) -> int:
    return index % 97 + 1


def spread(ids: Sequence[UUID], count: int, offset: int) -> list[Command]:
    """``count`` deposits round-robin over ``ids``."""
    return [(ids[i % len(ids)], amount_of(offset + i)) for i in range(count)]


def split(ids: Sequence[UUID], count: int, offset: int) -> list[list[Command]]:
    """``count`` deposits over ``WRITERS`` writers: writer ``w`` takes the accounts with index
    ``i % WRITERS == w`` and ``count // WRITERS`` deposits (one more for the first
    ``count % WRITERS``), round-robin over its accounts."""
    parts: list[list[Command]] = []
    for writer in range(WRITERS):
        mine = ids[writer::WRITERS]
        share = count // WRITERS + (1 if writer < count % WRITERS else 0)
        parts.append(spread(mine, share, offset + writer * count))
    return parts


def measure(setups: Sequence[Setup], commands: int, results: Results) -> None:
    """Warm up, then time, each scenario, the setups taking turns."""
    for setup in setups:  # warm-up x1: one deposit per account
        setup.single(spread(setup.ids, len(setup.ids), 0))
    for setup in setups:
        seconds = setup.single(spread(setup.ids, commands, 1))
        results.add(SCENARIOS[0], setup.name, commands, seconds)
    for setup in setups:  # warm-up x8: one deposit per account, by the writers
        setup.writers(split(setup.ids, len(setup.ids), 2))
    for setup in setups:
        seconds = setup.writers(split(setup.ids, commands, 3))
        results.add(SCENARIOS[1], setup.name, commands, seconds)


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0], default_events=DEFAULT_COMMANDS)
    parser.add_argument(
        "--accounts",
        type=int,
        default=DEFAULT_ACCOUNTS,
        help=f"accounts opened before the timed commands (default {DEFAULT_ACCOUNTS:,})",
    )
    args = parser.parse_args(argv)
    commands, accounts = int(args.events), int(args.accounts)
    if commands < WRITERS or accounts < WRITERS:
        parser.error(f"--events and --accounts must be at least {WRITERS}")

    results = Results(unit="commands/s")
    problems: list[str] = []
    with throwaway_database("forze_es_interop") as dsn:
        sql(dsn, f'CREATE SCHEMA "{ES_SCHEMA}"')  # eventsourcing creates tables, not schemas
        setups = [Setup(EVENTSOURCING, es_env(dsn)), Setup(FORZE, forze_env(dsn))]
        try:
            for setup in setups:
                progress(f"setup {setup.name}: {1 + WRITERS} applications, {accounts:,} accounts")
                setup.open(accounts)
            progress(f"measuring: {commands:,} deposit commands per scenario")
            measure(setups, commands, results)
            for setup in setups:
                problems += setup.check()
        finally:
            for setup in setups:
                setup.close()
        sql(dsn, f'DROP SCHEMA IF EXISTS "{ES_SCHEMA}" CASCADE')
        sql(dsn, f'DROP SCHEMA IF EXISTS "{FORZE_SCHEMA}" CASCADE')

    results.note(
        f"{accounts:,} accounts per setup; a command is Bank.deposit (repository.get,"
        " Account.deposit, app.save); x8: 8 threads, one Bank each, on disjoint accounts"
        " (no conflicts, no retries)"
    )
    results.note(
        f"{EVENTSOURCING}: POSTGRES_SCHEMA={ES_SCHEMA}, pool of 1 per application;"
        f" {FORZE}: PERSISTENCE_MODULE=forze_eventsourcing, FORZE_SCHEMA={FORZE_SCHEMA}"
    )
    if problems:
        results.note("CHECK FAILED: the stores do not hold what the run deposited")
    else:
        results.note("check: every account's balance and version read back as deposited")
    results.print(
        EVENTSOURCING,
        as_json=bool(args.json),
        scenario_order=SCENARIOS,
        implementation_order=IMPLEMENTATIONS,
    )
    for problem in problems[:20]:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
