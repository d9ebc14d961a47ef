"""The eventsourcing side of ``benchmarks/postgres.py``: eventsourcing 9's Postgres persistence
(``PERSISTENCE_MODULE=eventsourcing.postgres``), synchronous, so its 8 writers are 8 threads,
each with its own ``Application`` (its own one-connection pool)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate as EsAggregate
from eventsourcing.domain import event
from eventsourcing.persistence import ApplicationRecorder, StoredEvent

if TYPE_CHECKING:  # mypy names the file by its path; at run time benchmarks/ is sys.path[0]
    from benchmarks._harness import Stopwatch, run_at_once
    from benchmarks._pg_bench_plan import (
        BATCH,
        FEED_PAGE,
        History,
        Plan,
        Record,
        check_count,
        part_of,
        rounds,
    )
else:
    from _harness import Stopwatch, run_at_once
    from _pg_bench_plan import BATCH, FEED_PAGE, History, Plan, Record, check_count, part_of, rounds

__all__ = ["EVENTSOURCING", "EsSide", "es_env", "open_side"]

EVENTSOURCING = "eventsourcing"


class EsAccount(EsAggregate):
    """The bank account as an eventsourcing aggregate (its method bodies apply the events)."""

    @event("AccountOpened")
    def __init__(self, owner: str, overdraft_limit: int) -> None:
        self.owner = owner
        self.overdraft_limit = overdraft_limit
        self.balance = 0

    def deposit(self, amount: int) -> None:
        if amount <= 0:
            raise ValueError("a deposit must be positive")
        self._deposited(amount)

    @event("MoneyDeposited")
    def _deposited(self, amount: int) -> None:
        self.balance += amount


class EsBank(Application[UUID]):
    """The application whose recorder stores the events (table ``esbank_events``)."""


def es_env(
    host: str, port: int, user: str, password: str, dbname: str, schema: str, pool_size: int
) -> dict[str, str]:
    """The ``POSTGRES_*`` settings of an eventsourcing Postgres application."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": user,
        "POSTGRES_PASSWORD": password,
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "0",
    }


Inserts = list[list[StoredEvent]]
"""``recorder.insert_events`` calls, in order."""


def stored(app: EsBank, histories: Sequence[History]) -> tuple[list[UUID], list[list[StoredEvent]]]:
    """New aggregates made by running ``histories`` through ``EsAccount`` (not saved), and
    their events as the application's mapper stores them."""
    ids: list[UUID] = []
    streams: list[list[StoredEvent]] = []
    for history in histories:
        account = EsAccount(owner=history.owner, overdraft_limit=history.overdraft_limit)
        for amount in history.deposits:
            account.deposit(amount)
        ids.append(account.id)
        streams.append([app.mapper.to_stored_event(e) for e in account.collect_events()])
    return ids, streams


def inserts(app: EsBank, histories: Sequence[History], chunk: int) -> tuple[list[UUID], Inserts]:
    """Aggregate ids and the recorder calls for ``histories``, ``chunk`` events per call, in
    the order of ``rounds``."""
    ids, streams = stored(app, histories)
    calls = [
        streams[account][start:stop]
        for account, start, stop in rounds([h.length for h in histories], chunk)
    ]
    return ids, calls


def insert_all(recorder: ApplicationRecorder, calls: Sequence[list[StoredEvent]]) -> int:
    """Every call in turn: one transaction each (the primary key on (id, version) is the
    version check)."""
    count = 0
    for events in calls:
        recorder.insert_events(events)
        count += len(events)
    return count


class EsSide:
    """eventsourcing's scenarios: ``app`` for the single-writer ones, ``writers`` for 8w."""

    def __init__(
        self, app: EsBank, writers: Sequence[EsBank], plan: Plan, stored_before: int = 0
    ) -> None:
        self.app = app
        self.writers = list(writers)
        self.plan = plan
        self.stored_before = stored_before
        """Events in the store before this plan's (an earlier plan's, on the same tables)."""
        self.single_ids, self.single = inserts(app, plan.single, 1)
        self.writer_calls = [inserts(app, histories, 1)[1] for histories in plan.writers]
        self.batched_ids, self.batched = inserts(app, plan.batched, BATCH)
        for application in (app, *self.writers):  # open each pool before any clock runs
            application.recorder.max_notification_id()

    def following(self, plan: Plan) -> EsSide:
        """The scenarios of ``plan`` with the same applications, after this side's."""
        return EsSide(self.app, self.writers, plan, self.stored_before + self.plan.stored_events)

    def append_single(self, record: Record, part: int = 0, parts: int = 1) -> None:
        """Slice ``part`` of ``parts`` of the single-writer appends (see ``part_of``)."""
        recorder = self.app.recorder
        calls = part_of(self.single, part, parts)
        with Stopwatch() as watch:
            count = insert_all(recorder, calls)
        check_count("eventsourcing append-1w", count, sum(len(c) for c in calls))
        record("append-1w", EVENTSOURCING, count, watch.seconds)

    def append_writers(self, record: Record) -> None:
        calls = self.writer_calls
        if len(self.writers) < len(calls):
            raise RuntimeError("fewer writer applications than writers")
        seconds, counts = run_at_once(
            [
                partial(insert_all, app.recorder, mine)
                for app, mine in zip(self.writers, calls, strict=False)
            ]
        )
        wanted = sum(h.length for writer in self.plan.writers for h in writer)
        check_count("eventsourcing append-8w", sum(counts), wanted)
        record("append-8w", EVENTSOURCING, sum(counts), seconds)

    def append_batched(self, record: Record) -> None:
        recorder = self.app.recorder
        with Stopwatch() as watch:
            count = insert_all(recorder, self.batched)
        check_count("eventsourcing append-batch", count, sum(h.length for h in self.plan.batched))
        record("append-batch", EVENTSOURCING, count, watch.seconds)

    def commands(self, record: Record) -> None:
        """Create each account (``app.save``), then one deposit per command:
        ``repository.get``, deposit, ``app.save``; accounts interleaved round by round."""
        app, histories = self.app, self.plan.commands
        with Stopwatch() as watch:
            ids: list[UUID] = []
            for history in histories:
                account = EsAccount(owner=history.owner, overdraft_limit=history.overdraft_limit)
                app.save(account)
                ids.append(account.id)
            count = len(histories)
            for account_index, start, _ in rounds([len(h.deposits) for h in histories], 1):
                loaded: EsAccount = app.repository.get(ids[account_index])
                loaded.deposit(histories[account_index].deposits[start])
                app.save(loaded)
                count += 1
        check_count("eventsourcing append-command", count, sum(h.length for h in histories))
        record("append-command", EVENTSOURCING, count, watch.seconds)

    def replay(self, record: Record, *, long: bool = False) -> None:
        """``repository.get`` of every account of ``append-1w`` (``long``: of
        ``append-batch``), no snapshots, no cache."""
        repository = self.app.repository
        ids = self.batched_ids if long else self.single_ids
        histories = self.plan.batched if long else self.plan.single
        with Stopwatch() as watch:
            loaded: list[EsAccount] = [repository.get(account_id) for account_id in ids]
        replayed = 0
        for account, history in zip(loaded, histories, strict=True):
            if account.balance != history.balance or account.version != history.length:
                raise RuntimeError(f"eventsourcing replayed {account.id} wrongly")
            replayed += account.version
        record("replay-long" if long else "replay", EVENTSOURCING, replayed, watch.seconds)

    def feed(self, record: Record) -> None:
        """Every notification in pages of ``FEED_PAGE`` (``select_notifications``), each
        event's state decoded by the application's transcoder (JSON to a dict)."""
        recorder = self.app.recorder
        decode = self.app.mapper.transcoder.decode
        start, count = 1, 0
        with Stopwatch() as watch:
            while page := recorder.select_notifications(start, FEED_PAGE):
                for notification in page:
                    decode(notification.state)
                count += len(page)
                start = page[-1].id + 1
        check_count("eventsourcing feed", count, self.stored_before + self.plan.stored_events)
        record("feed", EVENTSOURCING, count, watch.seconds)

    def close(self) -> None:
        for application in (self.app, *self.writers):
            application.close()


def open_side(env: Mapping[str, str], plan: Plan) -> EsSide:
    """The main application and one application per writer, all with the settings ``env``;
    each creates the tables if missing (one after the other, before any timing)."""
    apps: list[EsBank] = []
    try:
        apps.append(EsBank(env=dict(env)))
        for _ in plan.writers:
            apps.append(EsBank(env=dict(env)))
        return EsSide(apps[0], apps[1:], plan)
    except BaseException:
        for app in apps:
            app.close()
        raise
