"""``forze demo``: the bank example end to end on an embedded SQLite file."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from forze import (
    EVENT_STORE,
    READ_MODELS,
    ConcurrencyError,
    DomainError,
    ExecutionContext,
    Handler,
    Middleware,
    Query,
    Runtime,
    SortKey,
    build_runtime,
    retry_on_conflict,
)
from forze_cli._console import line_writer, write_table
from forze_cli._demo_file import prepare_demo_file
from forze_cli._latency import YieldingEventStore
from forze_cli._progress import ProgressBar
from forze_eventstore import (
    SQLiteDatabase,
    SQLiteEventStore,
    SQLiteSnapshotStore,
    event_store_module,
)
from forze_examples.bank import (
    ACCOUNTS,
    BALANCES,
    BALANCES_PROJECTION,
    DEPOSIT,
    OPEN_ACCOUNT,
    TRANSFER,
    WITHDRAW,
    Deposit,
    OpenAccount,
    Transfer,
    Withdraw,
)
from forze_mock import MockDepsModule
from forze_projections import (
    PROJECTION_BACKEND,
    ProjectionProgress,
    Projector,
    SQLiteProjectionBackend,
    projection_module,
)

__all__ = ["DemoConfig", "DemoReport", "run_demo"]

OWNERS = ("ann", "bob", "chloe", "dmitri", "eve", "farah", "gus", "hana", "ivan", "jun")


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """What the demo runs: where, how many accounts and commands, how many workers.

    ``force`` lets the demo replace a file at ``path`` that is not a demo database of its own.
    """

    path: Path
    accounts: int = 100
    commands: int = 5000
    workers: int = 8
    seed: int = 7
    progress: bool = False
    force: bool = False


@dataclass(slots=True)
class DemoReport:
    """What the demo measured, phase by phase: ``(phase, events, seconds)``."""

    phases: list[tuple[str, int, float]] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    conflicts: int = 0
    mismatches: int = 0
    top: list[tuple[str, str, int]] = field(default_factory=list)


async def run_demo(config: DemoConfig, out: TextIO) -> DemoReport:
    """Run every phase, print the result table to ``out`` and return the report.

    The file at ``config.path`` is recreated only if an earlier demo made it (see
    ``prepare_demo_file``); anything else there raises ``InvalidInputError`` untouched.
    """
    report = DemoReport()
    prepare_demo_file(config.path, force=config.force)
    database = SQLiteDatabase(config.path, synchronous="NORMAL")
    try:
        sqlite_store = SQLiteEventStore(database)
        store = YieldingEventStore(sqlite_store)
        real = event_store_module(store, snapshots=SQLiteSnapshotStore(database))
        projections = projection_module(SQLiteProjectionBackend(database))
        middleware = [retry_on_conflict(attempts=20), _count_conflicts(report)]
        async with build_runtime(
            real,
            projections,
            MockDepsModule(),
            usecases=(OPEN_ACCOUNT, DEPOSIT, WITHDRAW, TRANSFER),
            middleware=middleware,
        ) as runtime:
            await _write(runtime, config, report)
            await _replay(runtime, config, report)
            await _project(runtime, config, report)
    finally:
        database.close()
    _print(report, config, out)
    return report


def _count_conflicts(report: DemoReport) -> Middleware:
    async def middleware(ctx: ExecutionContext, payload: Any, call_next: Handler) -> Any:
        try:
            return await call_next(ctx, payload)
        except ConcurrencyError:
            report.conflicts += 1
            raise

    return middleware


async def _write(runtime: Runtime, config: DemoConfig, report: DemoReport) -> None:
    rng = random.Random(config.seed)
    ids = [f"{n:05d}" for n in range(config.accounts)]
    started = time.perf_counter()
    with ProgressBar("opening accounts", len(ids), force=config.progress) as bar:
        for account_id in ids:
            owner = f"{rng.choice(OWNERS)} {account_id}"
            command = OpenAccount(
                account_id=account_id, owner=owner, overdraft_limit=rng.choice((0, 500))
            )
            await runtime.execute(OPEN_ACCOUNT, command)
            bar.advance()
    commands: asyncio.Queue[Callable[[], Awaitable[object]]] = asyncio.Queue()
    for n in range(config.commands):
        commands.put_nowait(_random_command(runtime, rng, ids, n))
    with ProgressBar("running commands", config.commands, force=config.progress) as bar:

        async def worker() -> None:
            while not commands.empty():
                command = commands.get_nowait()
                try:
                    await command()
                    report.accepted += 1
                except DomainError:
                    report.rejected += 1
                bar.advance()

        await asyncio.gather(*(worker() for _ in range(config.workers)))
    head = await runtime.port(EVENT_STORE).head_position()
    report.phases.append(("write (commands)", head, time.perf_counter() - started))


def _random_command(
    runtime: Runtime, rng: random.Random, ids: list[str], n: int
) -> Callable[[], Awaitable[object]]:
    hot = ids[: max(2, len(ids) // 10)]
    account = rng.choice(hot if rng.random() < 0.5 else ids)
    amount = rng.randint(1, 400)
    kind = rng.random()
    if kind < 0.45:
        return lambda: runtime.execute(DEPOSIT, Deposit(account_id=account, amount=amount))
    if kind < 0.75:
        return lambda: runtime.execute(WITHDRAW, Withdraw(account_id=account, amount=amount))
    target = rng.choice([i for i in hot if i != account] or ids)
    transfer = Transfer(transfer_id=f"t{n}", from_account=account, to_account=target, amount=amount)
    return lambda: runtime.execute(TRANSFER, transfer)


async def _replay(runtime: Runtime, config: DemoConfig, report: DemoReport) -> None:
    store = runtime.port(EVENT_STORE)
    head = await store.head_position()
    started, position = time.perf_counter(), 0
    with ProgressBar("replaying feed", head, force=config.progress) as bar:
        while position < head:
            page = await store.read_all(after=position, limit=1000)
            position = page[-1].position
            bar.update(position)
    report.phases.append(("feed read", head, time.perf_counter() - started))
    repository = runtime.context().aggregates(ACCOUNTS)
    started, loaded = time.perf_counter(), 0
    for n in range(config.accounts):
        account = await repository.load(f"{n:05d}")
        loaded += account.version
    report.phases.append(("aggregate load", loaded, time.perf_counter() - started))


async def _project(runtime: Runtime, config: DemoConfig, report: DemoReport) -> None:
    store = runtime.port(EVENT_STORE)
    bar = ProgressBar("building balances", await store.head_position(), force=config.progress)
    reports: list[ProjectionProgress] = []

    def progress(update: ProjectionProgress) -> None:
        reports.append(update)
        bar.update(update.position, total=update.head)

    projector = Projector(
        store, runtime.port(PROJECTION_BACKEND), [BALANCES_PROJECTION], on_progress=progress
    )
    with bar:
        await projector.catch_up()
    last = reports[-1]
    report.phases.append(("balance projection", last.handled, last.seconds))
    balances = runtime.port(READ_MODELS)(BALANCES)
    repository = runtime.context().aggregates(ACCOUNTS)
    for n in range(config.accounts):
        account = await repository.load(f"{n:05d}")
        row = await balances.get(account.id)
        if row is None or row.balance != account.balance:
            report.mismatches += 1
    page = await balances.find(Query(sort=(SortKey("balance", descending=True),), limit=5))
    report.top = [(row.account_id, row.owner, row.balance) for row in page.items]


def _print(report: DemoReport, config: DemoConfig, out: TextIO) -> None:
    out.write(
        f"\nforze demo: {config.accounts} accounts, {config.commands} commands, "
        f"{config.workers} workers, SQLite file {_shown(config.path)}\n\n"
    )
    phases = [
        (phase, str(events), f"{seconds:.2f}", f"{events / seconds if seconds > 0 else 0.0:,.0f}")
        for phase, events, seconds in report.phases
    ]
    header = ("PHASE", "EVENTS", "SECONDS", "EVENTS/S")
    write_table(header, phases, out, numeric=header[1:])
    out.write(
        f"\ncommands accepted {report.accepted}, refused by the domain {report.rejected}, "
        f"conflicts retried {report.conflicts}\n"
    )
    verdict = "all match" if report.mismatches == 0 else f"{report.mismatches} MISMATCHES"
    good = "bold green" if report.mismatches == 0 else "bold red"
    line_writer(out)([("read model vs aggregates: ", ""), (verdict, good)])
    out.write("\n")
    top = [(account_id, owner, f"{balance / 100:.2f}") for account_id, owner, balance in report.top]
    write_table(("ACCOUNT", "OWNER", "BALANCE"), top, out, numeric=("BALANCE",))


def _shown(path: Path) -> str:
    """``path`` as printable text (bytes that are not UTF-8 become escapes)."""
    return str(path).encode("utf-8", "backslashreplace").decode("utf-8")
