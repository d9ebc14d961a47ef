"""eventsourcing's own recorder test cases, run on ``forze_eventsourcing`` over the
in-memory, the SQLite, the PostgreSQL and the MongoDB forze stores (a fresh store per
recorder: on PostgreSQL a fresh schema of the session's test database, on MongoDB a fresh
database, dropped after the test)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import unittest
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import pytest
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    DataError,
    InfrastructureFactory,
    InfrastructureFactoryError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProcessRecorder,
    StoredEvent,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.tests import persistence as es_tests
from eventsourcing.utils import Environment

from forze_eventsourcing import (
    ForzeAggregateRecorder,
    ForzeApplicationRecorder,
    ForzeFactory,
    ForzeProcessRecorder,
    ForzeTrackingRecorder,
)
from tests.mongo_support import drop_databases, mongo_url


class _Stores(unittest.TestCase):
    """Makes factories on a fresh store each (``store`` = ``memory``, ``sqlite``,
    ``postgres`` or ``mongo``) and closes them after the test."""

    store = "memory"
    postgres_dsn = ""
    """The session's test database (``postgres`` stores only), set by :meth:`_database`."""

    def setUp(self) -> None:
        super().setUp()
        self.open_stores()

    def tearDown(self) -> None:
        try:
            self.close_stores()
        finally:
            super().tearDown()

    def open_stores(self) -> None:
        """Start the test's list of factories and its directory of SQLite files."""
        self._factories: list[ForzeFactory] = []
        self._dir = Path(tempfile.mkdtemp(prefix="forze_es_"))

        self._schemas: list[str] = []
        self._databases: list[str] = []

    def close_stores(self) -> None:
        """Close the test's factories, delete its SQLite files and drop its schemas."""
        try:
            for factory in self._factories:
                factory.close()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)
            if self._schemas:
                asyncio.run(_drop_schemas(self.postgres_dsn, self._schemas))
            if self._databases:
                asyncio.run(drop_databases(self._databases))

    def store_env(self) -> Environment:
        """The environment of a factory on a fresh store."""
        env = {"PERSISTENCE_MODULE": "forze_eventsourcing"}
        if self.store == "memory":
            env["FORZE_STORE"] = "memory"
        elif self.store == "sqlite":
            env["FORZE_STORE"] = f"sqlite:///{self._dir / f'store{len(self._factories)}.db'}"
        elif self.store == "mongo":
            database = f"forze_test_es_{uuid4().hex[:12]}"
            self._databases.append(database)
            env["FORZE_STORE"] = mongo_url(database)
        else:
            schema = f"es_{uuid4().hex[:12]}"
            self._schemas.append(schema)
            env.update(FORZE_STORE=self.postgres_dsn, FORZE_SCHEMA=schema)
        return Environment(env=env)

    def new_factory(self) -> ForzeFactory:
        """A factory on a fresh store, closed after the test."""
        factory = InfrastructureFactory.construct(self.store_env())
        assert isinstance(factory, ForzeFactory)
        self._factories.append(factory)
        return factory


async def _drop_schemas(dsn: str, schemas: list[str]) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        for schema in schemas:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


class _PostgresStores(_Stores):
    """Fresh schemas of the session's PostgreSQL test database."""

    store = "postgres"

    @pytest.fixture(autouse=True)
    def _database(self, postgres_dsn: str) -> None:
        """Keep the session's test database (runs before ``setUp``)."""
        self.postgres_dsn = postgres_dsn


class TestMemoryAggregateRecorder(_Stores, es_tests.AggregateRecorderTestCase):
    """eventsourcing's aggregate recorder cases on the in-memory store."""

    def create_recorder(self) -> AggregateRecorder:
        return self.new_factory().aggregate_recorder()


class TestSQLiteAggregateRecorder(TestMemoryAggregateRecorder):
    """The same on the SQLite store."""

    store = "sqlite"


class TestMemoryApplicationRecorder(
    _Stores, es_tests.ApplicationRecorderTestCase[ApplicationRecorder]
):
    """eventsourcing's application recorder cases on the in-memory store."""

    def create_recorder(self) -> ApplicationRecorder:
        return self.new_factory().application_recorder()

    def test_insert_subscribe(self) -> None:
        """eventsourcing's optional subscription case."""
        self.optional_test_insert_subscribe()


class TestSQLiteApplicationRecorder(TestMemoryApplicationRecorder):
    """The same on the SQLite store."""

    store = "sqlite"


class TestMemoryTrackingRecorder(_Stores, es_tests.TrackingRecorderTestCase):
    """eventsourcing's tracking recorder cases on the in-memory store."""

    def create_recorder(self) -> TrackingRecorder:
        return self.new_factory().tracking_recorder()


class TestSQLiteTrackingRecorder(TestMemoryTrackingRecorder):
    """The same on the SQLite store."""

    store = "sqlite"


class TestMemoryProcessRecorder(_Stores, es_tests.ProcessRecorderTestCase):
    """eventsourcing's process recorder cases on the in-memory store."""

    def create_recorder(self) -> ProcessRecorder:
        return self.new_factory().process_recorder()


class TestSQLiteProcessRecorder(TestMemoryProcessRecorder):
    """The same on the SQLite store."""

    store = "sqlite"


class TestMemoryNonInterleaving(_Stores, es_tests.NonInterleavingNotificationIDsBaseCase):
    """eventsourcing's non-interleaving notification ids case on the in-memory store."""

    def create_recorder(self) -> ApplicationRecorder:
        return self.new_factory().application_recorder()


class TestSQLiteNonInterleaving(TestMemoryNonInterleaving):
    """The same on the SQLite store."""

    store = "sqlite"


class CustomTrackingRecorder(ForzeTrackingRecorder):
    """A subclass, for the factory's ``tracking_recorder(cls)`` and its topic setting."""


class TestMemoryFactory(_Stores, es_tests.InfrastructureFactoryTestCase[ForzeFactory]):
    """eventsourcing's infrastructure factory cases on the in-memory store."""

    def setUp(self) -> None:
        self.open_stores()
        self.env = self.store_env()
        es_tests.InfrastructureFactoryTestCase.setUp(self)

    def tearDown(self) -> None:
        try:
            es_tests.InfrastructureFactoryTestCase.tearDown(self)
        finally:
            self.close_stores()

    def expected_factory_class(self) -> type[ForzeFactory]:
        return ForzeFactory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return ForzeAggregateRecorder

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return ForzeApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return ForzeTrackingRecorder

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return CustomTrackingRecorder

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return ForzeProcessRecorder


class TestSQLiteFactory(TestMemoryFactory):
    """The same on the SQLite store."""

    store = "sqlite"


class TestPostgresAggregateRecorder(_PostgresStores, TestMemoryAggregateRecorder):
    """eventsourcing's aggregate recorder cases on the PostgreSQL store."""


class TestPostgresApplicationRecorder(_PostgresStores, TestMemoryApplicationRecorder):
    """eventsourcing's application recorder cases on the PostgreSQL store, whose
    notification ids (positions) are large and sparse."""

    EXPECT_CONTIGUOUS_NOTIFICATION_IDS = False

    @unittest.skip(
        "eventsourcing's ApplicationRecorderTestCase.test_insert_select hard-codes"
        " notification ids: it asserts insert_events() returns [1, 2]"
        " (eventsourcing/tests/persistence.py line 282), then ids 1, 2, 3 (lines 308-457);"
        " PostgreSQL's ids are positions (transaction id << 20, plus an offset):"
        " test_insert_select_sparse_ids checks the same with the ids the store gave"
    )
    def test_insert_select(self) -> None:
        """Skipped: see the reason."""

    def test_insert_select_sparse_ids(self) -> None:
        """eventsourcing's test_insert_select, relative to the ids the inserts returned."""
        recorder = self.create_recorder()
        assert isinstance(recorder, ApplicationRecorder)
        assert recorder.max_notification_id() is None
        first, second = uuid4(), uuid4()
        one, two = _ids(recorder, [_event(first, 1, "topic1"), _event(first, 2, "topic2")])
        assert two == one + 1
        (three,) = _ids(recorder, [_event(second, 1, "topic3")])
        assert three > two
        ids = [one, two, three]
        assert [n.id for n in recorder.select_notifications(None, 10)] == ids
        assert [n.id for n in recorder.select_notifications(one, 3)] == ids
        assert [n.id for n in recorder.select_notifications(one, 2)] == [one, two]
        assert [n.id for n in recorder.select_notifications(two, 3)] == [two, three]
        assert [n.id for n in recorder.select_notifications(three, 3)] == [three]
        assert [n.id for n in recorder.select_notifications(one, 10, stop=two)] == [one, two]
        found = recorder.select_notifications(None, 10, topics=["topic1", "topic3"])
        assert [n.id for n in found] == [one, three]
        assert [n.topic for n in found] == ["topic1", "topic3"]
        assert recorder.select_notifications(two, 10, inclusive_of_start=False)[0].id == three
        assert [n.id for n in recorder.select_notifications(None, 10, stop=one)] == [one]
        assert recorder.max_notification_id() == three


class TestPostgresTrackingRecorder(_PostgresStores, TestMemoryTrackingRecorder):
    """eventsourcing's tracking recorder cases on the PostgreSQL store."""


class TestPostgresProcessRecorder(_PostgresStores, TestMemoryProcessRecorder):
    """eventsourcing's process recorder cases on the PostgreSQL store."""


class TestPostgresNonInterleaving(_PostgresStores, TestMemoryNonInterleaving):
    """eventsourcing's non-interleaving notification ids case on the PostgreSQL store."""


class TestPostgresFactory(_PostgresStores, TestMemoryFactory):
    """eventsourcing's infrastructure factory cases on the PostgreSQL store."""


class TestMongoAggregateRecorder(TestMemoryAggregateRecorder):
    """eventsourcing's aggregate recorder cases on the MongoDB store."""

    store = "mongo"


class TestMongoApplicationRecorder(TestMemoryApplicationRecorder):
    """eventsourcing's application recorder cases on the MongoDB store (a fresh database
    numbers its positions 1, 2, 3...)."""

    store = "mongo"


class TestMongoTrackingRecorder(TestMemoryTrackingRecorder):
    """eventsourcing's tracking recorder cases on the MongoDB store."""

    store = "mongo"


class TestMongoProcessRecorder(TestMemoryProcessRecorder):
    """eventsourcing's process recorder cases on the MongoDB store."""

    store = "mongo"


class TestMongoNonInterleaving(TestMemoryNonInterleaving):
    """eventsourcing's non-interleaving notification ids case on the MongoDB store."""

    store = "mongo"


class TestMongoFactory(TestMemoryFactory):
    """eventsourcing's infrastructure factory cases on the MongoDB store."""

    store = "mongo"


def _ids(
    recorder: AggregateRecorder, events: list[StoredEvent], tracking: Tracking | None = None
) -> list[int]:
    """The notification ids an insert returned."""
    ids = recorder.insert_events(events, tracking=tracking)
    assert ids is not None
    return list(ids)


def _event(originator_id: UUID | str, version: int, topic: str = "topic") -> StoredEvent:
    return StoredEvent(originator_id, version, topic, f"state{version}".encode())


class TestMemoryForzeMapping(_Stores):
    """What the forze mapping adds to, or changes from, eventsourcing's recorders."""

    def named_factory(self, name: str) -> ForzeFactory:
        """A factory of the application ``name`` on a fresh store."""
        factory = self.new_factory()
        factory.env.name = name
        return factory

    def test_notification_ids_skip_other_categories(self) -> None:
        factory = self.named_factory("Bank-Accounts")
        events = factory.application_recorder()
        snapshots = factory.aggregate_recorder("snapshots")
        account = uuid4()
        assert events.insert_events([_event(account, 1)]) == [1]
        snapshots.insert_events([_event(account, 1, "snapshot")])
        assert events.insert_events([_event(account, 2)]) == [3]
        snapshots.insert_events([_event(account, 2, "snapshot")])
        assert isinstance(events, ApplicationRecorder)
        assert [n.id for n in events.select_notifications(None, 10)] == [1, 3]
        assert events.max_notification_id() == 3
        assert len(snapshots.select_events(account)) == 2

    def test_a_subscription_follows_only_its_category(self) -> None:
        factory = self.named_factory("bank")
        events = factory.application_recorder()
        snapshots = factory.aggregate_recorder("snapshots")
        account = uuid4()
        events.insert_events([_event(account, 1)])
        snapshots.insert_events([_event(account, 1, "snapshot")])
        assert isinstance(events, ApplicationRecorder)
        seen: list[int] = []
        with events.subscribe(gt=None) as subscription:
            for notification in subscription:
                seen.append(notification.id)
                if len(seen) == 2:
                    break
                snapshots.insert_events([_event(account, 2, "snapshot")])
                events.insert_events([_event(account, 2)])
        assert seen == [1, 4]

    def test_one_insert_keeps_its_order_across_originators(self) -> None:
        recorder = self.new_factory().application_recorder()
        first, second = uuid4(), "order-42"
        batch = [_event(first, 0), _event(second, 0), _event(first, 1)]
        assert recorder.insert_events(batch) == [1, 2, 3]
        found = recorder.select_notifications(None, 10)
        assert [(n.originator_id, n.originator_version) for n in found] == [
            (first, 0),
            (second, 0),
            (first, 1),
        ]
        assert recorder.select_events(second) == [_event(second, 0)]
        assert recorder.select_events(first, desc=True) == batch[2::-2]

    def test_a_version_below_the_last_recorded_is_refused(self) -> None:
        recorder = self.new_factory().aggregate_recorder("snapshots")
        originator = uuid4()
        recorder.insert_events([_event(originator, 5)])
        with pytest.raises(IntegrityError):
            recorder.insert_events([_event(originator, 3)])
        assert recorder.select_events(originator) == [_event(originator, 5)]

    def test_concurrent_equal_tracking_records_conflict(self) -> None:
        factory = self.new_factory()
        recorders = [factory.process_recorder() for _ in range(8)]

        def insert(recorder: ProcessRecorder) -> bool:
            try:
                recorder.insert_events([_event(uuid4(), 1)], tracking=Tracking("up", 1))
            except IntegrityError:
                return False
            return True

        with ThreadPoolExecutor(max_workers=8) as executor:
            outcomes = list(executor.map(insert, recorders))
        assert outcomes.count(True) == 1
        assert recorders[0].max_tracking_id("up") == 1
        assert len(recorders[0].select_notifications(None, 100)) == 1

    def test_a_closed_factory_refuses_calls(self) -> None:
        factory = self.new_factory()
        recorder = factory.application_recorder()
        factory.close()
        factory.close()
        with pytest.raises(InterfaceError):
            recorder.max_notification_id()
        with pytest.raises(InterfaceError):
            factory.application_recorder()

    def test_a_call_from_the_loop_thread_is_refused(self) -> None:
        recorder = self.new_factory().application_recorder()
        assert isinstance(recorder, ForzeApplicationRecorder)

        async def call_back() -> str:
            try:
                recorder.max_notification_id()
            except RuntimeError as error:
                return str(error)
            return "not refused"

        assert "own loop" in recorder.bridge.run(call_back())

    def test_store_errors_are_translated(self) -> None:
        recorder = self.new_factory().application_recorder()
        with pytest.raises(DataError):
            recorder.insert_events([_event(uuid4(), 1, "t" * 201)])
        assert recorder.max_notification_id() is None

    def test_an_unknown_store_setting_is_refused(self) -> None:
        env = Environment(env={"PERSISTENCE_MODULE": "forze_eventsourcing", "FORZE_STORE": "x"})
        with pytest.raises(InfrastructureFactoryError):
            InfrastructureFactory.construct(env)


class TestSQLiteForzeMapping(TestMemoryForzeMapping):
    """The same on the SQLite store, and what a file keeps."""

    store = "sqlite"

    def test_a_reopened_file_keeps_everything(self) -> None:
        env = self.store_env()
        first = ForzeFactory(env)
        self._factories.append(first)
        originator = uuid4()
        first.process_recorder().insert_events([_event(originator, 1)], tracking=Tracking("up", 7))
        first.close()
        again = ForzeFactory(env)
        self._factories.append(again)
        recorder = again.process_recorder()
        assert recorder.select_events(originator) == [_event(originator, 1)]
        assert recorder.max_tracking_id("up") == 7
        assert recorder.max_notification_id() == 1

    def test_a_store_that_cannot_open_is_an_operational_error(self) -> None:
        env = Environment(env={"FORZE_STORE": f"sqlite:///{self._dir}/missing/dir/es.db"})
        factory = ForzeFactory(env)
        self._factories.append(factory)
        before = set(threading.enumerate())
        with pytest.raises(OperationalError):
            factory.application_recorder()
        assert set(threading.enumerate()) - before == set()  # the loop thread is gone


class TestPostgresSettings(_PostgresStores):
    """``FORZE_STORE=postgresql://...``, ``FORZE_SCHEMA`` and ``FORZE_TENANT``."""

    def postgres_factory(self, schema: str, **more: str) -> ForzeFactory:
        """A factory on ``schema`` of the test database (dropped after the test)."""
        if schema not in self._schemas:
            self._schemas.append(schema)
        env = {"FORZE_STORE": self.postgres_dsn, "FORZE_SCHEMA": schema, **more}
        factory = ForzeFactory(Environment(env=env))
        self._factories.append(factory)
        return factory

    def test_tenants_share_a_schema_apart(self) -> None:
        schema = f"es_{uuid4().hex[:12]}"
        acme = self.postgres_factory(schema, FORZE_TENANT="acme").application_recorder()
        other = self.postgres_factory(schema, FORZE_TENANT="other").application_recorder()
        originator = uuid4()
        acme.insert_events([_event(originator, 1)])
        assert isinstance(other, ApplicationRecorder)
        assert other.select_events(originator) == []
        assert other.max_notification_id() is None
        assert acme.select_events(originator) == [_event(originator, 1)]

    def test_the_app_prefixed_setting_wins_and_a_reopened_schema_keeps_everything(
        self,
    ) -> None:
        schema = f"es_{uuid4().hex[:12]}"
        env = {
            "FORZE_STORE": "memory",
            "BANK_FORZE_STORE": self.postgres_dsn,
            "BANK_FORZE_SCHEMA": schema,
        }
        self._schemas.append(schema)
        first = ForzeFactory(Environment("bank", env))
        self._factories.append(first)
        originator = uuid4()
        (position,) = _ids(
            first.process_recorder(), [_event(originator, 1)], tracking=Tracking("up", 7)
        )
        first.close()
        again = self.postgres_factory(schema)
        again.env.name = "bank"
        recorder = again.process_recorder()
        assert recorder.select_events(originator) == [_event(originator, 1)]
        assert recorder.max_tracking_id("up") == 7
        assert recorder.max_notification_id() == position

    def test_an_unreachable_server_is_an_operational_error(self) -> None:
        env = {"FORZE_STORE": "postgresql://postgres@127.0.0.1:1/nowhere"}
        factory = ForzeFactory(Environment(env=env))
        self._factories.append(factory)
        before = set(threading.enumerate())
        with pytest.raises(OperationalError):
            factory.application_recorder()
        assert set(threading.enumerate()) - before == set()  # the loop thread is gone

    def test_postgres_scheme_is_accepted(self) -> None:
        env = {"FORZE_STORE": "postgres://postgres@127.0.0.1:1/nowhere"}
        factory = ForzeFactory(Environment(env=env))
        self._factories.append(factory)
        with pytest.raises(OperationalError):
            factory.application_recorder()

    def test_returned_ids_are_the_stored_positions(self) -> None:
        """One insert's parts (several originators, a tracking record) and concurrent
        inserts: every returned id is the position the store gave the event."""
        factory = self.postgres_factory(f"es_{uuid4().hex[:12]}")
        recorder = factory.process_recorder()
        assert isinstance(recorder, ProcessRecorder)
        first, second = uuid4(), uuid4()
        batch = [_event(first, 1), _event(second, 1), _event(first, 2), _event(first, 3)]
        returned = _ids(recorder, batch, tracking=Tracking("up", 1))
        recorders = [factory.application_recorder() for _ in range(6)]

        def insert(index: int) -> list[int]:
            found: list[int] = []
            for _ in range(5):
                originator = uuid4()
                events = [_event(originator, v) for v in range(1, 4)]
                found += _ids(recorders[index], events)
            return found

        with ThreadPoolExecutor(max_workers=6) as executor:
            for ids in executor.map(insert, range(6)):
                returned += ids
        stored = recorder.select_notifications(None, 1000)
        assert sorted(returned) == [n.id for n in stored]
        assert [(n.originator_id, n.originator_version) for n in stored[:4]] == [
            (e.originator_id, e.originator_version) for e in batch
        ]
