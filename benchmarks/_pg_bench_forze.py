"""The forze side of ``benchmarks/postgres.py``: ``PostgresEventStore``, the repository and the
projector with ``PostgresProjectionBackend``, all on one ``PostgresDatabase`` (one schema)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import uuid4

from forze.contracts import NewEvent
from forze.domain import DomainEvent
from forze_eventstore import EventCodec, EventSourcedRepository
from forze_examples.bank.account import ACCOUNTS, Account
from forze_examples.bank.events import AccountOpened, MoneyDeposited
from forze_examples.bank.read_model import BALANCES, BALANCES_PROJECTION
from forze_postgres import PostgresDatabase, PostgresEventStore, PostgresProjectionBackend
from forze_postgres.adapter_kit import table_of as rm_table_of
from forze_projections import ProjectionProgress, Projector

if TYPE_CHECKING:  # mypy names the file by its path; at run time benchmarks/ is sys.path[0]
    from benchmarks._harness import Stopwatch
    from benchmarks._pg_bench_plan import (
        BATCH,
        FEED_PAGE,
        Append,
        History,
        Plan,
        Record,
        check_count,
        part_of,
        rounds,
    )
else:
    from _harness import Stopwatch
    from _pg_bench_plan import (
        BATCH,
        FEED_PAGE,
        Append,
        History,
        Plan,
        Record,
        check_count,
        part_of,
        rounds,
    )

__all__ = ["FORZE", "Encoded", "ForzeSide", "Prepared", "encode", "open_side"]

FORZE = "forze"
WATERMARK_WAIT = 120.0
"""How long the feed scenarios wait for transactions elsewhere on the server to finish."""


@dataclass(frozen=True, slots=True)
class Encoded:
    """A scenario's accounts as forze streams, and its appends in order."""

    ids: list[str]
    streams: list[str]
    appends: list[Append]


def encode(histories: Sequence[History], chunk: int) -> Encoded:
    """New account ids and the envelopes ``EventSourcedRepository.save`` would append for
    ``histories``, ``chunk`` events per append (see ``rounds``)."""
    codec = EventCodec.for_specs(ACCOUNTS)
    metadata = {"occurred_at": datetime.now(UTC).isoformat()}
    ids = [uuid4().hex for _ in histories]
    stream_ids = [ACCOUNTS.stream_id(aggregate_id) for aggregate_id in ids]
    streams: list[list[NewEvent]] = []
    for history in histories:
        events: list[DomainEvent] = [
            AccountOpened(owner=history.owner, overdraft_limit=history.overdraft_limit)
        ]
        events += [MoneyDeposited(amount=amount) for amount in history.deposits]
        streams.append([codec.encode(event, metadata) for event in events])
    appends = [
        Append.at(stream_ids[account], streams[account][start:stop], start)
        for account, start, stop in rounds([h.length for h in histories], chunk)
    ]
    return Encoded(ids, stream_ids, appends)


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything the forze scenarios append, prebuilt (the raw side inserts the same rows)."""

    single: Encoded
    writers: list[Encoded]
    batched: Encoded

    @classmethod
    def of(cls, plan: Plan) -> Prepared:
        return cls(
            single=encode(plan.single, 1),
            writers=[encode(histories, 1) for histories in plan.writers],
            batched=encode(plan.batched, BATCH),
        )


async def append_all(store: PostgresEventStore, appends: Sequence[Append]) -> int:
    """``store.append`` of every append in turn, each with its expected version."""
    count = 0
    for stream_id, events, expected, _ in appends:
        await store.append(stream_id, events, expected)
        count += len(events)
    return count


class ForzeSide:
    """forze's scenarios on one database (one schema) of the server."""

    def __init__(
        self, db: PostgresDatabase, store: PostgresEventStore, plan: Plan, stored_before: int = 0
    ) -> None:
        self.db = db
        self.store = store
        self.plan = plan
        self.stored_before = stored_before
        """Events in the store before this plan's (an earlier plan's, on the same tables)."""
        self.prepared = Prepared.of(plan)
        self.repo = EventSourcedRepository(ACCOUNTS, store)
        self.backend = PostgresProjectionBackend(db)

    def following(self, plan: Plan) -> ForzeSide:
        """The scenarios of ``plan`` on the same pool and tables, after this side's."""
        return ForzeSide(self.db, self.store, plan, self.total_events)

    @property
    def total_events(self) -> int:
        """Events in the store once this side's write scenarios ran."""
        return self.stored_before + self.plan.stored_events

    @property
    def events_table(self) -> str:
        """The quoted events table (the raw rebuild reads it too)."""
        return self.db.table("forze_events")

    @property
    def balances_table(self) -> str:
        """The quoted table the rebuild writes."""
        return self.db.table(rm_table_of(BALANCES, BALANCES_PROJECTION.version))

    async def append_single(self, record: Record, part: int = 0, parts: int = 1) -> None:
        """Slice ``part`` of ``parts`` of the single-writer appends (see ``part_of``)."""
        appends = part_of(self.prepared.single.appends, part, parts)
        with Stopwatch() as watch:
            count = await append_all(self.store, appends)
        check_count("forze append-1w", count, sum(len(a[1]) for a in appends))
        record("append-1w", FORZE, count, watch.seconds)

    async def append_writers(self, record: Record) -> None:
        plans = [encoded.appends for encoded in self.prepared.writers]
        with Stopwatch() as watch:
            counts = await asyncio.gather(*(append_all(self.store, p) for p in plans))
        wanted = sum(h.length for writer in self.plan.writers for h in writer)
        check_count("forze append-8w", sum(counts), wanted)
        record("append-8w", FORZE, sum(counts), watch.seconds)

    async def append_batched(self, record: Record) -> None:
        appends = self.prepared.batched.appends
        with Stopwatch() as watch:
            count = await append_all(self.store, appends)
        check_count("forze append-batch", count, sum(h.length for h in self.plan.batched))
        record("append-batch", FORZE, count, watch.seconds)

    async def commands(self, record: Record) -> None:
        """Create each account (open, save), then one deposit per command: load, deposit,
        save; accounts interleaved round by round."""
        histories = self.plan.commands
        ids = [uuid4().hex for _ in histories]
        repo = self.repo
        with Stopwatch() as watch:
            for aggregate_id, history in zip(ids, histories, strict=True):
                account = Account(aggregate_id)
                account.open(history.owner, history.overdraft_limit)
                await repo.save(account)
            count = len(histories)
            for account_index, start, _ in rounds([len(h.deposits) for h in histories], 1):
                account = await repo.load(ids[account_index])
                account.deposit(histories[account_index].deposits[start])
                await repo.save(account)
                count += 1
        check_count("forze append-command", count, sum(h.length for h in histories))
        record("append-command", FORZE, count, watch.seconds)

    async def replay(self, record: Record, *, long: bool = False) -> None:
        """Load every account of ``append-1w`` (``long``: of ``append-batch``), its whole
        stream, no snapshots."""
        ids = (self.prepared.batched if long else self.prepared.single).ids
        histories = self.plan.batched if long else self.plan.single
        repo = self.repo
        replayed = 0
        with Stopwatch() as watch:
            loaded = [await repo.load(aggregate_id) for aggregate_id in ids]
        for account, history in zip(loaded, histories, strict=True):
            if account.balance != history.balance or account.version != history.length:
                raise RuntimeError(f"forze replayed {account.id} wrongly")
            replayed += account.version
        record("replay-long" if long else "replay", FORZE, replayed, watch.seconds)

    async def settle(self) -> None:
        """Wait (untimed) until the feed shows every committed event.

        forze's feed only shows positions no running transaction can still precede (its
        watermark, see ``forze_postgres._event_sql``); depending on how that is computed, a
        transaction left open elsewhere on the server (another test run, an idle-in-transaction
        session) can hide every event this run wrote after it began. Past ``WATERMARK_WAIT``
        seconds, fail naming the oldest sessions holding a transaction id.
        """
        sql = f"SELECT max(position) FROM {self.events_table}"
        deadline = time.monotonic() + WATERMARK_WAIT
        while True:
            async with self.db.connection() as connection:
                stored = int(await connection.fetchval(sql) or 0)
            if await self.store.head_position() >= stored:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"forze's feed is held back for over {WATERMARK_WAIT:.0f} s by"
                    f" transactions open on the server: {await self._blockers()}"
                )
            await asyncio.sleep(0.2)

    async def _blockers(self) -> str:
        async with self.db.connection() as connection:
            rows = await connection.fetch(
                "SELECT pid, datname, state, xact_start, backend_xid, backend_xmin"
                " FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
                " ORDER BY age(backend_xid) DESC LIMIT 5"
            )
        return (
            "; ".join(f"pid {r[0]} in {r[1]} ({r[2]} since {r[3]}, xid {r[4]})" for r in rows)
            or "none found"
        )

    async def feed(self, record: Record) -> None:
        """The whole global feed in pages of ``FEED_PAGE``, JSON-decoded ``RecordedEvent``s."""
        store = self.store
        await self.settle()
        after = count = 0
        with Stopwatch() as watch:
            while page := await store.read_all(after=after, limit=FEED_PAGE):
                count += len(page)
                after = page[-1].position
        if count != self.total_events:
            raise RuntimeError(
                f"forze feed: expected {self.total_events} events, got {count}"
                f" (transactions open on the server: {await self._blockers()})"
            )
        record("feed", FORZE, count, watch.seconds)

    async def rebuild(self, record: Record) -> int:
        """``Projector.rebuild`` of the bank's balances over the whole feed; returns the
        number of batches it committed."""
        await self.settle()
        progressed: list[ProjectionProgress] = []
        projector = Projector(
            self.store,
            self.backend,
            [BALANCES_PROJECTION],
            batch_size=FEED_PAGE,
            on_progress=progressed.append,
        )
        with Stopwatch() as watch:
            status = await projector.rebuild(BALANCES_PROJECTION.name)
        if status.checkpoint != status.head or status.error is not None:
            raise RuntimeError(f"forze rebuild stopped early: {status}")
        handled = progressed[-1].handled if progressed else 0
        if handled != self.total_events:
            raise RuntimeError(
                f"forze rebuild: expected {self.total_events} events, got {handled}"
                f" (transactions open on the server: {await self._blockers()})"
            )
        record("rebuild", FORZE, handled, watch.seconds)
        return len(progressed)


async def open_side(dsn: str, schema: str, plan: Plan, pool_size: int) -> ForzeSide:
    """A pool on ``dsn`` (``pool_size`` connections, all opened now), the event tables made."""
    db = await PostgresDatabase.connect(dsn, schema=schema, min_size=pool_size, max_size=pool_size)
    store = PostgresEventStore(db)
    await store.migrate()
    side = ForzeSide(db, store, plan)
    await side.backend.prepare()
    return side
