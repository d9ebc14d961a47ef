"""An `eventsourcing <https://eventsourcing.readthedocs.io>`_ persistence module backed by a
forze event store.

Select it the usual way, ``PERSISTENCE_MODULE=forze_eventsourcing``, and choose the store
with ``FORZE_STORE`` (read like every eventsourcing setting: ``{APPNAME}_FORZE_STORE``
first, then ``FORZE_STORE``):

- ``memory`` (the default): a new ``forze_eventstore.InMemoryEventStore`` per factory;
- ``sqlite:///PATH``: ``forze_eventstore.SQLiteEventStore(PATH)``, SQLAlchemy's spelling:
  ``sqlite:///events.db`` is relative to the working directory, ``sqlite:////var/es.db``
  absolute;
- ``postgresql://user:password@host/database`` (or ``postgres://...``):
  ``forze_postgres.PostgresEventStore`` on ``PostgresDatabase.connect(dsn, schema=...,
  tenant=...)``, its tables migrated at opening; the schema is ``FORZE_SCHEMA`` (default
  ``public``), the tenant ``FORZE_TENANT`` (optional: the tenant-column layout, where
  tenants share the schema's tables), both read the same way. ``forze_postgres`` is
  imported only then.
- ``mongodb://host:port/database`` (or ``mongodb+srv://...``):
  ``forze_mongo.MongoEventStore`` on ``MongoDatabase.connect(url)``, its collections and
  indexes made at opening; the database is the URL's path (default ``forze``).
  ``forze_mongo`` is imported only then.

A store that cannot be opened (a server that cannot be reached) raises
``OperationalError`` at the first recorder.

How it runs
-----------
eventsourcing is synchronous and forze is asynchronous. Each factory starts (at its first
recorder) one daemon thread running its own asyncio event loop; the store is opened and
used only on that loop, and every recorder method hands a coroutine to it and waits for the
result (at most 60 s, then ``OperationalError``). Any number of threads may call recorders
at once; a call from the loop's own thread raises ``RuntimeError``. ``factory.close()``
(idempotent, called by ``Application.close()``) cancels subscriptions, closes the store,
stops the loop and joins the thread; a recorder used afterwards raises ``InterfaceError``.

The mapping
-----------
- **Category**: ``{app}_{purpose}``, where ``app`` is the application's name (the factory
  environment's ``name``) lower-cased, or ``stored`` when empty, and ``purpose`` is
  ``events`` (application and process recorders), ``snapshots``, or the aggregate
  recorder's purpose; every character but ``a-z``, ``0-9`` and ``_`` becomes ``_``, so a
  category never holds a ``-`` (and ``My-App`` and ``my_app`` share one).
- **Stream**: an originator's records are the stream ``{category}-{originator_id}``.
- **Event**: ``event_type`` is the record's topic (at most 200 characters, forze's limit),
  ``data`` is ``{"state": base64(state)}``, ``metadata`` is ``{"originator_version": v,
  "originator_id_type": "uuid" | "str"}``; every event id is a random UUID.
- **Versions**: forze versions are 1-based and dense, eventsourcing's start at 0 or 1 and
  may skip (snapshots), so the record's version lives in the metadata. An insert reads
  each originator's last event and requires new versions strictly increasing and above it
  (else ``IntegrityError``), then makes ONE ``append_many`` with exact expected versions
  for every stream of the call (a part per run of one originator's events, in the given
  order), so it is atomic. A stream moved by a concurrent writer meanwhile makes the store
  raise ``ConcurrencyError``: the insert checks again and retries (20 times at most), so
  only a real conflict (a version already recorded) raises ``IntegrityError``.
- **Notifications**: a notification id is the event's global forze position; notifications
  are the events of the recorder's category (``read_all`` filtered by category, and by
  event type for ``topics``). The ids an insert returns are computed from each part's
  ``AppendResult`` (its last position, the part's events taking the positions just
  before it): the memory and SQLite stores and PostgreSQL all give one append's events
  consecutive positions. PostgreSQL's positions are large and sparse: the transaction id
  shifted left by 20 bits, plus the event's offset in the transaction's block;
  ``forze_append_many`` inserts the whole batch at ``base + n``, ``n`` the event's ordinal
  in the batch, and its fallback (the parts appended one by one in one transaction) gives
  each part ``max(block) + 1 ..``, so a part's events are consecutive either way.
  MongoDB reserves one ``append_many``'s positions as one consecutive block, in the
  order of its parts.
- **Tracking**: the tracking of upstream application ``U`` is the stream
  ``{app}_tracking-{U}``, one event ``eventsourcing.Tracking`` with ``data
  {"notification_id": n}`` per record; ``n`` must be above the stream's last one (else
  ``IntegrityError``). A process recorder appends the tracking event in the same
  ``append_many`` as the events, at an exact expected version, so the two are atomic and
  a concurrent tracking write conflicts.
- **Errors**: ``ConcurrencyError`` and ``DuplicateEventIdError`` become ``IntegrityError``,
  ``InvalidInputError`` (an over-long topic, say) ``DataError``, ``EventStoreUnavailable``
  ``OperationalError``.
- **Subscriptions**: eventsourcing's pulling ``ListenNotifySubscription``, woken by a task
  on the loop that follows the store's ``subscribe`` for the recorder's category.

Differences from eventsourcing's own recorders
----------------------------------------------
- Notification ids are global positions of the store: they have gaps wherever other
  categories' events (snapshots, tracking records, other applications sharing a store)
  took a position, on PostgreSQL between transactions, and on MongoDB where an append
  that gave up left its reserved positions unused. They increase and never
  interleave within one insert, but a process recorder's ids are not consecutive (its
  tracking records take positions), and an application's first id is 1 only on a fresh
  memory or SQLite store.
- An originator's records must be inserted in increasing version order: inserting a
  version below one already recorded (a snapshot taken at an older version after a newer
  one, say) raises ``IntegrityError`` where eventsourcing's SQL recorders accept it.
- ``max_notification_id`` scans the category forward from the highest position the
  recorder has seen (the whole category on its first call).
- eventsourcing's ``CREATE_TABLE`` setting is ignored (forze stores create their schema).
- Topics are limited to 200 characters and records to forze's event size (4 MiB of JSON,
  the state taking 4/3 of its bytes in base64).

Moving an application's data
----------------------------
:func:`import_eventsourcing` (``forze import eventsourcing URL`` on the command line)
copies an application's stored events from eventsourcing's own PostgreSQL or SQLite
database into a forze store, as this package records them; the application then runs on
the copy unchanged (``forze_eventsourcing.importing`` has the details).
"""

from forze_eventsourcing._subscription import ForzeSubscription
from forze_eventsourcing.factory import ForzeFactory
from forze_eventsourcing.importing import IMPORT_CATEGORY, EventsourcingImport, import_eventsourcing
from forze_eventsourcing.recorders import (
    ForzeAggregateRecorder,
    ForzeApplicationRecorder,
    ForzeProcessRecorder,
    ForzeTrackingRecorder,
)

__all__ = [
    "IMPORT_CATEGORY",
    "EventsourcingImport",
    "ForzeAggregateRecorder",
    "ForzeApplicationRecorder",
    "ForzeFactory",
    "ForzeProcessRecorder",
    "ForzeSubscription",
    "ForzeTrackingRecorder",
    "import_eventsourcing",
]

for _public in (
    EventsourcingImport,
    ForzeAggregateRecorder,
    ForzeApplicationRecorder,
    ForzeFactory,
    ForzeProcessRecorder,
    ForzeSubscription,
    ForzeTrackingRecorder,
    import_eventsourcing,
):
    _public.__module__ = __name__  # stable topics: "forze_eventsourcing:ForzeFactory"
del _public
