"""``ReadModelCache`` on a real Redis in front of a real read model (PostgreSQL): after the
projector commits a batch, readers get the new documents, whatever the interleaving of a
reader and the projector; rebuilds and new versions going live forget every value."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from forze import BrokerUnavailable, NewEvent, ReadModelSpec, ReadModelStores, RecordedEvent
from forze.domain.errors import InvalidInputError
from forze_postgres import PostgresEventStore, PostgresProjectionBackend
from forze_projections import CommitHook, Projection, ProjectionFailed, Projector
from forze_redis import ReadModelCache, RedisCache, cached, connect
from tests.postgres_support import fresh_schema
from tests.redis_support import REDIS_URL, delete_prefixed, new_prefix


class Balance(BaseModel):
    account: str
    balance: int = 0


BALANCES = ReadModelSpec("balances", Balance, key="account")
KEYS_OF = {"Deposited": lambda e: [f"balance:{e.data['account']}"]}


@dataclass
class Bank:
    """An event store and projection backend on PostgreSQL, a Redis cache in front of the
    balances, and knobs to pause the projection's handler and to change what it computes."""

    store: PostgresEventStore
    backend: PostgresProjectionBackend
    client: Redis
    namespace: str
    factor: int = 1
    in_unit: asyncio.Event = field(default_factory=asyncio.Event)
    proceed: asyncio.Event | None = None
    loads: int = 0

    def pause(self) -> None:
        """Make the next handler call wait (in its unit) until ``proceed`` is set."""
        self.in_unit.clear()
        self.proceed = asyncio.Event()

    def cache(self, *, hold_seconds: float = 60.0, load_seconds: float = 30.0) -> ReadModelCache:
        return ReadModelCache(
            self.client,
            self.namespace,
            KEYS_OF,
            hold_seconds=hold_seconds,
            load_seconds=load_seconds,
        )

    def projection(
        self, hook: CommitHook, version: int = 1, factor: int | None = None
    ) -> Projection:
        async def deposited(event: RecordedEvent, read_models: ReadModelStores) -> None:
            store = read_models(BALANCES)
            account = event.data["account"]
            found = await store.get(account) or Balance(account=account)
            times = self.factor if factor is None else factor
            await store.upsert(
                Balance(account=account, balance=found.balance + times * event.data["amount"])
            )
            self.in_unit.set()
            if self.proceed is not None:
                await self.proceed.wait()

        return Projection(
            "balances",
            version,
            {"Deposited": deposited},
            read_models=(BALANCES,),
            commit_hook=hook,
        )

    async def deposit(self, account: str, amount: int) -> int:
        stored = await self.store.append(
            f"account-{account}", [NewEvent("Deposited", {"account": account, "amount": amount})]
        )
        return stored.position

    async def read(self, account: str = "a") -> Balance | None:
        """What a query on the read model answers now."""
        self.loads += 1
        return await self.backend.serving()(BALANCES).get(account)

    async def balance(self, cache: ReadModelCache, account: str = "a") -> int | None:
        found = await cache.get(
            f"balance:{account}", lambda: self.read(account), as_type=Balance | None
        )
        return None if found is None else found.balance

    async def raw(self, key: str) -> bytes | None:
        value = await self.client.get("{" + self.namespace + "}:v:" + key)
        assert value is None or isinstance(value, bytes)
        return value


@pytest.fixture
async def bank(postgres_dsn: str) -> AsyncIterator[Bank]:
    async with AsyncExitStack() as stack:
        db = await stack.enter_async_context(fresh_schema(postgres_dsn))
        store = PostgresEventStore(db, poll_interval=0.02)
        await store.migrate()
        stack.push_async_callback(store.close)
        client = connect(REDIS_URL)
        stack.push_async_callback(client.aclose)
        namespace = new_prefix()
        stack.push_async_callback(delete_prefixed, client, "{" + namespace + "}")
        bank = Bank(store, PostgresProjectionBackend(db), client, namespace)
        yield bank
        if bank.proceed is not None:
            bank.proceed.set()  # a test that failed midway leaves no handler waiting


def paused(
    bank: Bank, account: str = "a"
) -> tuple[Callable[[], Awaitable[Balance | None]], asyncio.Event, asyncio.Event]:
    """A load that reads the read model, says so, then waits to be released."""
    loaded, release = asyncio.Event(), asyncio.Event()

    async def load() -> Balance | None:
        found = await bank.read(account)
        loaded.set()
        await release.wait()
        return found

    return load, loaded, release


async def test_a_projected_event_is_what_the_next_read_returns(bank: Bank) -> None:
    cache = bank.cache()
    projector = Projector(bank.store, bank.backend, [bank.projection(cache)])
    await bank.deposit("a", 10)
    await projector.catch_up()
    assert await bank.balance(cache) == 10
    assert await bank.balance(cache) == 10
    assert bank.loads == 1  # the second read was a hit
    await bank.deposit("a", 5)
    await projector.catch_up()
    assert await bank.balance(cache) == 15
    async with projector:  # live, batch by batch
        for amount in (1, 2, 3):
            await projector.wait_until(await bank.deposit("a", amount), timeout=10)
            assert await bank.balance(cache) == 15 + sum(range(1, amount + 1))
        await projector.wait_until(await bank.deposit("b", 7), timeout=10)
        assert await bank.balance(cache, "b") == 7


async def test_an_absent_document_is_cached_and_its_creation_invalidates_it(bank: Bank) -> None:
    cache = bank.cache()
    projector = Projector(bank.store, bank.backend, [bank.projection(cache)])
    await bank.deposit("a", 1)
    await projector.catch_up()
    assert await bank.balance(cache, "b") is None
    assert await bank.balance(cache, "b") is None
    assert bank.loads == 1
    await bank.deposit("b", 4)
    await projector.catch_up()
    assert await bank.balance(cache, "b") == 4


async def test_a_value_loaded_before_the_commit_is_not_cached_after_it(bank: Bank) -> None:
    """The race: a reader loads the old document, the projector commits and invalidates,
    then the reader stores what it loaded. The store is refused."""
    cache = bank.cache()
    projector = Projector(bank.store, bank.backend, [bank.projection(cache)])
    await bank.deposit("a", 10)
    await projector.catch_up()
    load, loaded, release = paused(bank)
    reader = asyncio.ensure_future(cache.get("balance:a", load, as_type=Balance | None))
    await loaded.wait()  # the reader holds balance 10
    await bank.deposit("a", 5)
    await projector.catch_up()  # committed and invalidated
    release.set()
    old = await reader
    assert old == Balance(account="a", balance=10)  # what it read, returned, not cached:
    assert await bank.raw("balance:a") is None
    assert await bank.balance(cache) == 15


async def test_a_value_loaded_before_the_batch_and_stored_during_it_is_refused(bank: Bank) -> None:
    cache = bank.cache()
    projector = Projector(bank.store, bank.backend, [bank.projection(cache)])
    await bank.deposit("a", 10)
    await projector.catch_up()
    load, loaded, release = paused(bank)
    reader = asyncio.ensure_future(cache.get("balance:a", load, as_type=Balance | None))
    await loaded.wait()
    bank.pause()
    await bank.deposit("a", 5)
    batch = asyncio.ensure_future(projector.catch_up())
    await bank.in_unit.wait()  # the batch wrote balance 15, not committed yet
    release.set()
    assert (await reader) == Balance(account="a", balance=10)
    assert await bank.raw("balance:a") is None
    assert bank.proceed is not None
    bank.proceed.set()
    await batch
    assert await bank.balance(cache) == 15


async def test_reads_during_a_batch_go_to_the_read_model_and_cache_nothing(bank: Bank) -> None:
    cache = bank.cache()
    projector = Projector(bank.store, bank.backend, [bank.projection(cache)])
    await bank.deposit("a", 10)
    await projector.catch_up()
    assert await bank.balance(cache) == 10
    bank.pause()
    await bank.deposit("a", 5)
    batch = asyncio.ensure_future(projector.catch_up())
    await bank.in_unit.wait()
    before = bank.loads
    assert await bank.balance(cache) == 10  # committed state, read through
    assert await bank.balance(cache) == 10
    assert bank.loads == before + 2
    assert await bank.raw("balance:a") is None
    assert bank.proceed is not None
    bank.proceed.set()
    await batch
    assert await bank.balance(cache) == 15
    assert await bank.balance(cache) == 15
    assert bank.loads == before + 3


async def test_deleting_before_the_commit_is_what_leaves_a_stale_value(bank: Bank) -> None:
    """The hazard ``ReadModelCache`` removes: the bare helpers, invalidating as the batch
    begins, let a reader cache the old document for good (the same interleaving as above)."""
    plain = RedisCache(bank.client, prefix="{" + bank.namespace + "}:plain:")

    class DeleteFirst:
        @asynccontextmanager
        async def around(self, events: object) -> AsyncIterator[None]:
            await plain.delete("balance:a")
            yield

    projector = Projector(bank.store, bank.backend, [bank.projection(DeleteFirst())])
    await bank.deposit("a", 10)
    await projector.catch_up()
    bank.pause()
    await bank.deposit("a", 5)
    batch = asyncio.ensure_future(projector.catch_up())
    await bank.in_unit.wait()
    await cached(plain, "balance:a", 60, lambda: _balance_of(bank))
    assert bank.proceed is not None
    bank.proceed.set()
    await batch
    assert await cached(plain, "balance:a", 60, lambda: _balance_of(bank)) == 10  # stale


async def _balance_of(bank: Bank) -> int | None:
    found = await bank.read()
    return None if found is None else found.balance


async def test_a_load_slower_than_load_seconds_is_not_cached(bank: Bank) -> None:
    cache = bank.cache(load_seconds=0.5)

    async def slow() -> int:
        await asyncio.sleep(0.7)
        return 1

    assert await cache.get("k", slow) == 1
    assert await bank.raw("k") is None

    async def fast() -> int:
        return 2

    assert await cache.get("k", fast) == 2
    assert await cache.get("k", slow) == 2


async def test_a_failed_batch_clears_its_marks(bank: Bank) -> None:
    cache = bank.cache()
    projector = Projector(bank.store, bank.backend, [bank.projection(cache)])
    await bank.deposit("a", 10)
    await projector.catch_up()
    await bank.store.append("account-a", [NewEvent("Deposited", {"account": "a"})])  # no amount
    with pytest.raises(Exception, match="amount"):
        await projector.catch_up()
    assert await bank.client.exists("{" + bank.namespace + "}:d:balance:a") == 0
    assert await bank.balance(cache) == 10
    assert await bank.raw("balance:a") is not None


async def test_an_event_keys_of_fails_on_forgets_every_key_and_the_projection_goes_on(
    bank: Bank,
) -> None:
    cache = bank.cache()
    projector = Projector(bank.store, bank.backend, [bank.projection(cache)])
    await bank.deposit("a", 10)
    await projector.catch_up()
    assert await bank.balance(cache) == 10
    await bank.store.append("account-x", [NewEvent("Deposited", {"amount": 1})])  # no account
    with pytest.raises(ProjectionFailed):  # the handler fails on it: the policy applies
        await projector.catch_up()
    assert await bank.client.exists("{" + bank.namespace + "}:all") == 0
    before = bank.loads
    assert await bank.balance(cache) == 10
    assert bank.loads == before + 1  # forgotten with every other key


async def test_marks_left_by_a_dead_projector_expire(bank: Bank) -> None:
    cache = bank.cache(hold_seconds=1.0)
    projector = Projector(bank.store, bank.backend, [bank.projection(cache)])
    await bank.deposit("a", 10)
    await projector.catch_up()
    events = await bank.store.read_all(after=0)
    unit = cache.around(list(events))
    await unit.__aenter__()  # marked, then never cleared (the projector died)
    assert await bank.balance(cache) == 10
    assert await bank.raw("balance:a") is None  # read through while marked
    await asyncio.sleep(1.1)
    assert await bank.balance(cache) == 10
    assert await bank.raw("balance:a") is not None
    await unit.__aexit__(None, None, None)  # (only to close the generator)


@pytest.mark.parametrize("running", [False, True], ids=["idle", "running"])
async def test_rebuilding_the_live_version_forgets_every_value(bank: Bank, running: bool) -> None:
    """With no runner the rebuild runs here; with one (``async with``), the runner does it."""
    cache = bank.cache()
    projector = Projector(bank.store, bank.backend, [bank.projection(cache)])
    await bank.deposit("a", 10)
    await bank.deposit("b", 1)
    await projector.catch_up()
    assert (await bank.balance(cache), await bank.balance(cache, "b")) == (10, 1)
    bank.factor = 2  # the handler now computes something else
    async with AsyncExitStack() as stack:
        if running:
            await stack.enter_async_context(projector)
        await projector.rebuild("balances")
        assert (await bank.balance(cache), await bank.balance(cache, "b")) == (20, 2)


async def test_while_the_live_version_rebuilds_readers_see_it_fill(bank: Bank) -> None:
    """The rebuild empties the read models: a value cached before is not served meanwhile,
    even for a document no batch applied so far touches."""
    cache = bank.cache()
    projector = Projector(bank.store, bank.backend, [bank.projection(cache)], batch_size=1)
    await bank.deposit("a", 10)
    await bank.deposit("b", 1)
    await projector.catch_up()
    assert await bank.balance(cache, "b") == 1
    bank.pause()
    rebuild = asyncio.ensure_future(projector.rebuild("balances"))
    await bank.in_unit.wait()  # the first batch (a's event) is being applied
    assert await bank.balance(cache, "b") is None
    assert bank.proceed is not None
    bank.proceed.set()
    await rebuild
    assert (await bank.balance(cache), await bank.balance(cache, "b")) == (10, 1)


async def test_a_new_version_going_live_forgets_every_value(bank: Bank) -> None:
    cache = bank.cache()
    await bank.deposit("a", 10)
    await Projector(bank.store, bank.backend, [bank.projection(cache)]).catch_up()
    assert await bank.balance(cache) == 10
    v2 = Projector(bank.store, bank.backend, [bank.projection(cache, version=2, factor=3)])
    await v2.catch_up()
    assert await bank.backend.live_version("balances") == 2
    assert await bank.balance(cache) == 30


async def test_the_first_version_going_live_forgets_nothing_yet_answers(bank: Bank) -> None:
    cache = bank.cache()
    assert await bank.balance(cache) is None  # not yet live: "nothing yet", cached
    await bank.deposit("a", 10)
    await Projector(bank.store, bank.backend, [bank.projection(cache)]).catch_up()
    assert await bank.balance(cache) == 10


async def test_redis_down_stalls_the_projection_and_reads_go_to_the_read_model(bank: Bank) -> None:
    down = connect("redis://127.0.0.1:1/0", timeout_seconds=0.5)
    try:
        cache = ReadModelCache(down, bank.namespace, KEYS_OF)
        projector = Projector(bank.store, bank.backend, [bank.projection(cache)])
        await bank.deposit("a", 10)
        with pytest.raises(BrokerUnavailable):
            await projector.catch_up()
        assert await bank.backend.checkpoints.load("balances@v1") == 0
        assert await bank.balance(cache) is None  # loaded, not cached
    finally:
        await down.aclose()


async def test_invalidate_and_clear(bank: Bank) -> None:
    cache = bank.cache()
    values = iter(range(100))

    async def load() -> int:
        return next(values)

    assert await cache.get("x", load) == 0
    assert await cache.get("y", load) == 1
    await cache.invalidate(["x"])
    assert (await cache.get("x", load), await cache.get("y", load)) == (2, 1)
    await cache.clear()
    assert (await cache.get("x", load), await cache.get("y", load)) == (3, 4)


@pytest.mark.parametrize("namespace", ["", "a{b}"])
def test_a_namespace_must_be_usable_as_a_hash_tag(namespace: str) -> None:
    with pytest.raises(InvalidInputError):
        ReadModelCache(Redis(), namespace, KEYS_OF)
