"""eventsourcing's example application (BankAccounts), application and event-sourced
projection cases, run with ``PERSISTENCE_MODULE=forze_eventsourcing`` on the in-memory,
the SQLite, the PostgreSQL and the MongoDB forze stores (PostgreSQL: a fresh schema of the
session's test database per test; MongoDB: a fresh database; dropped after it)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import unittest
import uuid
from typing import Any
from unittest import TestCase, mock
from uuid import UUID

import asyncpg
import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.tests import application as es_app_tests
from eventsourcing.tests import projection as es_projection_tests

from forze_eventsourcing import ForzeFactory
from tests.mongo_support import drop_databases, mongo_url

_SETTINGS = ("PERSISTENCE_MODULE", "FORZE_STORE", "FORZE_SCHEMA")


class _ForzeEnv(TestCase):
    """Sets ``PERSISTENCE_MODULE=forze_eventsourcing`` and ``FORZE_STORE`` (``store``:
    ``memory``, a SQLite file of the test's own, ``postgres``: a schema of the test's
    own, or ``mongo``: a database of the test's own) for the test, and closes every
    ``ForzeFactory`` the test made (eventsourcing's cases do not always close their
    applications)."""

    store = "memory"
    postgres_dsn = ""
    """The session's test database (``postgres`` only), set before ``setUp``."""
    _schema = ""
    _mongo_database = ""

    def setUp(self) -> None:
        super().setUp()
        self._dir = tempfile.mkdtemp(prefix="forze_es_app_")
        self._saved = {key: os.environ.get(key) for key in _SETTINGS}
        os.environ["PERSISTENCE_MODULE"] = "forze_eventsourcing"
        os.environ.pop("FORZE_SCHEMA", None)
        if self.store == "memory":
            os.environ["FORZE_STORE"] = "memory"
        elif self.store == "sqlite":
            os.environ["FORZE_STORE"] = f"sqlite:///{self._dir}/app.db"
        elif self.store == "mongo":
            self._mongo_database = f"forze_test_es_{uuid.uuid4().hex[:12]}"
            os.environ["FORZE_STORE"] = mongo_url(self._mongo_database)
        else:
            self._schema = f"es_{uuid.uuid4().hex[:12]}"
            os.environ["FORZE_STORE"] = self.postgres_dsn
            os.environ["FORZE_SCHEMA"] = self._schema
        self._factories: list[ForzeFactory] = []
        original = ForzeFactory.__init__
        factories = self._factories

        def init(factory: ForzeFactory, *args: Any, **kwargs: Any) -> None:
            original(factory, *args, **kwargs)
            factories.append(factory)

        patcher = mock.patch.object(ForzeFactory, "__init__", init)
        patcher.start()
        self.addCleanup(patcher.stop)

    def tearDown(self) -> None:
        try:
            for factory in self._factories:  # the example never closes its application
                factory.close()
        finally:
            for key, value in self._saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            shutil.rmtree(self._dir, ignore_errors=True)
            if self._schema:
                asyncio.run(_drop_schema(self.postgres_dsn, self._schema))
            if self._mongo_database:
                asyncio.run(drop_databases([self._mongo_database]))
            super().tearDown()


async def _drop_schema(dsn: str, schema: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


class _PostgresEnv(_ForzeEnv):
    """A fresh schema of the session's PostgreSQL test database."""

    store = "postgres"

    @pytest.fixture(autouse=True)
    def _database(self, postgres_dsn: str) -> None:
        """Keep the session's test database (runs before ``setUp``)."""
        self.postgres_dsn = postgres_dsn


class TestMemoryExampleApplication(_ForzeEnv, es_app_tests.ExampleApplicationTestCase):
    """BankAccounts on the in-memory store."""

    expected_factory_topic = "forze_eventsourcing:ForzeFactory"


class TestSQLiteExampleApplication(TestMemoryExampleApplication):
    """BankAccounts on the SQLite store."""

    store = "sqlite"


class TestMemoryApplication(_ForzeEnv, es_app_tests.ApplicationTestCase):
    """eventsourcing's application cases on the in-memory store."""

    @pytest.mark.filterwarnings("always::DeprecationWarning")
    def test_application_log(self) -> None:
        """eventsourcing's case, which records the DeprecationWarning of ``app.log`` with
        ``catch_warnings(record=True)``: let the warning be recorded, not raised."""
        super().test_application_log()


class TestSQLiteApplication(TestMemoryApplication):
    """The same on the SQLite store."""

    store = "sqlite"


class TestMemoryEventSourcedProjection(
    _ForzeEnv, es_projection_tests.EventSourcedProjectionTestCase
):
    """eventsourcing's event-sourced projection case (an application followed by a process
    recorder through a subscription) on the in-memory store: one store per application."""


class TestSQLiteEventSourcedProjection(TestMemoryEventSourcedProjection):
    """The same on the SQLite store: both applications share one file."""

    store = "sqlite"


class TestPostgresExampleApplication(_PostgresEnv, TestMemoryExampleApplication):
    """BankAccounts on the PostgreSQL store."""


class TestPostgresApplication(_PostgresEnv, TestMemoryApplication):
    """eventsourcing's application cases on the PostgreSQL store."""

    @unittest.skip(
        "eventsourcing's ApplicationTestCase.test_save_returns_recording_event hard-codes"
        " notification ids: it asserts the first save's recording has id 1"
        " (eventsourcing/tests/application.py line 220), then 2, 3 and 4 (lines 224-229);"
        " PostgreSQL's ids are positions (transaction id << 20, plus an offset):"
        " test_save_returns_recordings_with_increasing_ids checks the same relatively"
    )
    def test_save_returns_recording_event(self) -> None:
        """Skipped: see the reason."""

    def test_save_returns_recordings_with_increasing_ids(self) -> None:
        """eventsourcing's case, with the ids the store gave."""
        app = Application[UUID]()
        assert app.save() == []
        assert app.save(None) == []
        (first,) = app.save(Aggregate())
        (second,) = app.save(Aggregate())
        third, fourth = app.save(Aggregate(), Aggregate())
        ids = [r.notification.id for r in (first, second, third, fourth)]
        assert ids == sorted(set(ids))
        assert ids[3] == ids[2] + 1  # one save's events: consecutive positions
        assert [n.id for n in app.recorder.select_notifications(None, 10)] == ids
        app.close()


class TestPostgresEventSourcedProjection(_PostgresEnv, TestMemoryEventSourcedProjection):
    """eventsourcing's event-sourced projection case on the PostgreSQL store: both
    applications share one schema."""


class TestMongoExampleApplication(TestMemoryExampleApplication):
    """BankAccounts on the MongoDB store."""

    store = "mongo"


class TestMongoApplication(TestMemoryApplication):
    """eventsourcing's application cases on the MongoDB store."""

    store = "mongo"


class TestMongoEventSourcedProjection(TestMemoryEventSourcedProjection):
    """eventsourcing's event-sourced projection case on the MongoDB store: both
    applications share one database."""

    store = "mongo"
