"""EventSourcedRepository and EventCodec: loading, saving, snapshots, time travel, upcasting."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from hypothesis import given as hypothesis_given
from hypothesis import settings
from hypothesis import strategies as st

from forze import (
    AggregateSpec,
    ConcurrencyError,
    DomainEvent,
    EventType,
    InvalidInputError,
    NotFoundError,
    RecordedEvent,
    SerializationError,
    StreamNotFound,
    UnknownEventTypeError,
    Upcaster,
    WiringError,
)
from forze_eventstore import (
    EventCodec,
    EventSourcedRepositories,
    EventSourcedRepository,
    InMemoryEventStore,
    InMemorySnapshotStore,
)
from forze_examples.bank import ACCOUNTS, Account, AccountOpened, MoneyDeposited


def repository(
    store: InMemoryEventStore | None = None, snapshots: InMemorySnapshotStore | None = None
) -> EventSourcedRepository[Account]:
    return EventSourcedRepository(ACCOUNTS, store or InMemoryEventStore(), snapshots=snapshots)


async def open_with_deposits(repo: EventSourcedRepository[Account], deposits: int) -> None:
    async with repo.create("a") as account:
        account.open("ann")
    for amount in range(1, deposits + 1):
        async with repo.edit("a") as account:
            account.deposit(amount)


class TestLoadingAndSaving:
    async def test_a_missing_aggregate_is_not_found(self) -> None:
        with pytest.raises(StreamNotFound):
            await repository().load("nobody")

    async def test_saving_appends_pending_events_and_clears_them(self) -> None:
        repo = repository()
        account = ACCOUNTS.factory("a")
        account.open("ann")
        account.deposit(5)
        result = await repo.save(account)
        assert result is not None
        assert (result.version, account.version, account.pending_events) == (2, 2, ())
        assert await repo.save(account) is None

    async def test_an_aggregate_saved_by_someone_else_meanwhile_conflicts(self) -> None:
        repo = repository()
        await open_with_deposits(repo, 1)
        first, second = await repo.load("a"), await repo.load("a")
        first.deposit(1)
        second.deposit(2)
        await repo.save(first)
        with pytest.raises(ConcurrencyError):
            await repo.save(second)
        assert (await repo.load("a")).balance == 2

    async def test_creating_an_existing_aggregate_conflicts(self) -> None:
        repo = repository()
        await open_with_deposits(repo, 0)
        with pytest.raises(ConcurrencyError):
            async with repo.create("a") as account:
                account.open("bob")

    async def test_an_aggregate_it_makes_refuses_an_event_its_spec_does_not_declare(self) -> None:
        opened_only = AggregateSpec(
            ACCOUNTS.name, ACCOUNTS.factory, (EventType("AccountOpened", AccountOpened),)
        )
        repo = EventSourcedRepository(opened_only, InMemoryEventStore())
        async with repo.create("a") as account:
            account.open("ann")

        with pytest.raises(WiringError, match="Account emitted MoneyDeposited, an event class"):
            async with repo.edit("a") as account:
                account.deposit(5)

        assert await repo.history("a") == [AccountOpened(owner="ann", overdraft_limit=0)]

    async def test_an_edit_that_raises_saves_nothing(self) -> None:
        repo = repository()
        await open_with_deposits(repo, 1)

        async def change_my_mind() -> None:
            async with repo.edit("a") as account:
                account.deposit(100)
                raise RuntimeError("changed my mind")

        with pytest.raises(RuntimeError):
            await change_my_mind()
        assert (await repo.load("a")).balance == 1

    async def test_execute_retries_an_action_after_a_conflict(self) -> None:
        store = InMemoryEventStore()
        repo = repository(store)
        await open_with_deposits(repo, 0)
        original = store.append
        rivals = [MoneyDeposited(amount=10)]

        async def rival_first(*args: object, **kwargs: object) -> object:
            if rivals:
                await repository(store).append("a", [rivals.pop()])
            return await original(*args, **kwargs)  # type: ignore[arg-type]

        store.append = rival_first  # type: ignore[method-assign,assignment]
        calls: list[int] = []

        def deposit(account: Account) -> int:
            calls.append(account.version)
            account.deposit(1)
            return len(calls)

        assert await repo.execute("a", deposit) == 2
        assert calls == [1, 2]
        assert (await repo.load("a")).balance == 11

    async def test_a_past_version_can_be_loaded(self) -> None:
        repo = repository()
        await open_with_deposits(repo, 4)
        past = await repo.load("a", at_version=3)
        assert (past.version, past.balance) == (3, 1 + 2)
        with pytest.raises(NotFoundError):
            await repo.load("a", at_version=9)
        with pytest.raises(InvalidInputError):
            await repo.load("a", at_version=0)

    @pytest.mark.parametrize(
        "at_version",
        [2**31, 2**63, True, "3", 2.0],
        ids=["2**31", "2**63", "bool", "str", "float"],
    )
    async def test_a_past_version_no_stream_can_have_is_invalid_input_naming_at_version(
        self, at_version: object
    ) -> None:
        repo = repository()
        await open_with_deposits(repo, 1)
        with pytest.raises(InvalidInputError, match="at_version"):
            await repo.load("a", at_version=at_version)  # type: ignore[arg-type]
        with pytest.raises(NotFoundError, match="has no version 2147483647"):
            await repo.load("a", at_version=2**31 - 1)

    async def test_history_and_direct_appends_use_domain_events(self) -> None:
        repo = repository()
        await repo.append("a", [AccountOpened(owner="ann", overdraft_limit=0)])
        await repo.append("a", [MoneyDeposited(amount=3)], expected_version=1)
        assert await repo.history("a") == [
            AccountOpened(owner="ann", overdraft_limit=0),
            MoneyDeposited(amount=3),
        ]


class TestSnapshots:
    async def test_a_snapshot_is_taken_each_time_the_stream_crosses_a_multiple(self) -> None:
        snapshots = InMemorySnapshotStore()
        repo = repository(snapshots=snapshots)
        await open_with_deposits(repo, 60)
        snapshot = await snapshots.load("account-a")
        assert snapshot is not None
        assert snapshot.version == 50
        assert snapshot.state["balance"] == sum(range(1, 50))

    async def test_loading_uses_the_snapshot_and_the_tail(self) -> None:
        store, snapshots = InMemoryEventStore(), InMemorySnapshotStore()
        repo = repository(store, snapshots)
        await open_with_deposits(repo, 60)
        reads: list[int | None] = []
        original = store.read_stream

        async def spy(stream_id: str, **kwargs: object) -> object:
            reads.append(kwargs.get("from_version"))  # type: ignore[arg-type]
            return await original(stream_id, **kwargs)  # type: ignore[arg-type]

        store.read_stream = spy  # type: ignore[method-assign,assignment]
        account = await repo.load("a")
        assert reads == [51]
        assert (account.version, account.balance) == (61, sum(range(1, 61)))

    async def test_a_snapshot_of_another_schema_version_is_ignored(self) -> None:
        store, snapshots = InMemoryEventStore(), InMemorySnapshotStore()
        await open_with_deposits(repository(store, snapshots), 55)
        snapshot = await snapshots.load("account-a")
        assert snapshot is not None
        await snapshots.save(
            type(snapshot)("account-a", 56, 99, {"balance": -1, "owner": "?", "opened": True})
        )
        account = await repository(store, snapshots).load("a")
        assert account.balance == sum(range(1, 56))

    async def test_time_travel_before_the_snapshot_replays_from_the_start(self) -> None:
        store, snapshots = InMemoryEventStore(), InMemorySnapshotStore()
        repo = repository(store, snapshots)
        await open_with_deposits(repo, 55)
        assert (await repo.load("a", at_version=11)).balance == sum(range(1, 11))


class Renamed(DomainEvent):
    full_name: str


def recorded(
    data: dict[str, object], schema_version: object = 1, event_type: str = "Renamed"
) -> RecordedEvent:
    return RecordedEvent(
        event_id=uuid4(),
        event_type=event_type,
        data=data,
        metadata={"schema_version": schema_version},
        stream_id="person-1",
        version=1,
        position=7,
        recorded_at=datetime.now(UTC),
    )


class Nested(DomainEvent):
    payload: object


class TestCodec:
    codec = EventCodec(
        [EventType("Renamed", Renamed, schema_version=3)],
        [
            Upcaster("Renamed", 1, lambda d: {"first": d["name"], "last": ""}),
            Upcaster("Renamed", 2, lambda d: {"full_name": f"{d['first']} {d['last']}".strip()}),
        ],
    )

    def test_old_data_is_upcast_one_version_at_a_time(self) -> None:
        assert self.codec.decode(recorded({"name": "Ada"})) == Renamed(full_name="Ada")
        assert self.codec.decode(recorded({"first": "A", "last": "L"}, 2)) == Renamed(
            full_name="A L"
        )

    def test_an_unknown_type_is_a_clear_error_naming_where_it_is(self) -> None:
        with pytest.raises(UnknownEventTypeError, match=r"'Vanished'.*position 7"):
            self.codec.decode(recorded({}, event_type="Vanished"))

    def test_an_unknown_type_says_to_declare_it_in_the_spec_that_records_it(self) -> None:
        with pytest.raises(UnknownEventTypeError) as unknown:
            self.codec.decode(recorded({}, event_type="Vanished"))
        assert str(unknown.value).endswith(
            ": add EventType('Vanished', <its class>) to the events of the AggregateSpec that"
            " records it, and pass that spec to the repository, projection or saga that reads it"
        )

    def test_data_from_a_newer_schema_is_refused(self) -> None:
        with pytest.raises(SerializationError, match="schema version 4"):
            self.codec.decode(recorded({"full_name": "x"}, 4))

    def test_data_that_does_not_fit_the_class_is_refused(self) -> None:
        with pytest.raises(SerializationError, match="position 7"):
            self.codec.decode(recorded({"full_name": 12}, 3))

    def test_encoding_an_unmapped_class_is_refused(self) -> None:
        with pytest.raises(InvalidInputError, match="MoneyDeposited"):
            self.codec.encode(MoneyDeposited(amount=1))

    def test_an_event_nested_too_deep_to_serialise_is_bad_input_naming_its_type(self) -> None:
        payload: object = 1
        for _ in range(400):
            payload = [payload]
        codec = EventCodec([EventType("Nested", Nested)])
        with pytest.raises(InvalidInputError, match=r"'Nested' \(Nested\) cannot be stored"):
            codec.encode(Nested(payload=payload))

    def test_an_upcaster_that_fails_is_a_serialization_error_naming_where(self) -> None:
        with pytest.raises(
            SerializationError,
            match=r"from schema version 1 .*position 7 \(stream 'person-1', version 1\).*KeyError",
        ):
            self.codec.decode(recorded({"unexpected": "shape"}))

    def test_a_missing_upcaster_is_a_clear_error(self) -> None:
        codec = EventCodec([EventType("Renamed", Renamed, schema_version=2)])
        with pytest.raises(SerializationError, match="no upcaster"):
            codec.decode(recorded({"name": "x"}))

    @pytest.mark.parametrize(
        ("event_type", "data", "schema_version", "says"),
        [
            ("Vanished", {}, 1, "unknown event type 'Vanished'"),
            ("Renamed", {"full_name": "x"}, 4, "has schema version 4"),
            ("Renamed", {"full_name": "x"}, 0, "has schema version 0"),
            ("Renamed", {"unexpected": "shape"}, 1, "the upcaster of 'Renamed'"),
            ("Renamed", {"first": "A"}, 2, "the upcaster of 'Renamed'"),
            ("Renamed", {"full_name": ["A"]}, 3, "field 'full_name'"),
        ],
        ids=[
            "unknown-type",
            "newer-schema",
            "schema-zero",
            "upcaster-fails",
            "upcaster-missing-key",
            "data-does-not-fit",
        ],
    )
    def test_an_event_that_cannot_be_decoded_raises_serialization_error_naming_where_it_is(
        self, event_type: str, data: dict[str, object], schema_version: int, says: str
    ) -> None:
        stored = RecordedEvent(
            event_id=uuid4(),
            event_type=event_type,
            data=data,
            metadata={"schema_version": schema_version},
            stream_id="person-2",
            version=4,
            position=9,
            recorded_at=datetime.now(UTC),
        )
        with pytest.raises(SerializationError) as refused:
            self.codec.decode(stored)
        message = str(refused.value)
        assert says in message
        assert "position 9" in message
        assert "stream 'person-2'" in message
        assert "version 4" in message
        assert "\n" not in message

    def test_a_missing_upcaster_names_the_stream_version_and_position(self) -> None:
        codec = EventCodec([EventType("Renamed", Renamed, schema_version=2)])
        with pytest.raises(
            SerializationError,
            match=r"no upcaster .* version 1 .*position 7 \(stream 'person-1', version 1\)",
        ):
            codec.decode(recorded({"name": "x"}))

    def test_data_an_upcaster_makes_that_does_not_fit_the_class_names_where_it_is(self) -> None:
        codec = EventCodec(
            [EventType("Renamed", Renamed, schema_version=2)],
            [Upcaster("Renamed", 1, lambda d: {"full_name": None})],
        )
        with pytest.raises(
            SerializationError,
            match=r"position 7 \(stream 'person-1', version 1\) as Renamed \(stored in schema"
            r" version 1, upcast to 2\): field 'full_name': Input should be a valid string",
        ):
            codec.decode(recorded({"name": "x"}))

    @settings(max_examples=50, deadline=None)
    @hypothesis_given(name=st.text(max_size=30))
    def test_encoding_then_decoding_gives_the_same_event(self, name: str) -> None:
        event = Renamed(full_name=name)
        new = self.codec.encode(event, {"actor": "ann"})
        assert new.metadata == {"actor": "ann", "schema_version": 3}
        stored = recorded(dict(new.data), new.metadata["schema_version"])
        assert self.codec.decode(stored) == event


@settings(max_examples=25, deadline=None)
@hypothesis_given(amounts=st.lists(st.integers(1, 1000), min_size=1, max_size=120))
def test_loading_with_snapshots_equals_loading_without(amounts: list[int]) -> None:
    async def scenario() -> None:
        store, snapshots = InMemoryEventStore(), InMemorySnapshotStore()
        with_snapshots = repository(store, snapshots)
        async with with_snapshots.create("a") as account:
            account.open("ann")
        for amount in amounts:
            async with with_snapshots.edit("a") as account:
                account.deposit(amount)
        fast = await with_snapshots.load("a")
        slow = await repository(store).load("a")
        assert fast.snapshot_state() == slow.snapshot_state()
        assert fast.version == slow.version == len(amounts) + 1

    asyncio.run(scenario())


def test_two_different_aggregate_specs_under_one_name_are_refused() -> None:
    repositories = EventSourcedRepositories(InMemoryEventStore())
    assert repositories(ACCOUNTS).spec is repositories(ACCOUNTS).spec
    renamed = AggregateSpec(
        ACCOUNTS.name, ACCOUNTS.factory, (EventType("AccountOpened", AccountOpened),)
    )
    with pytest.raises(
        WiringError, match=f"two different aggregate specs are named {ACCOUNTS.name!r}"
    ):
        repositories(renamed)
