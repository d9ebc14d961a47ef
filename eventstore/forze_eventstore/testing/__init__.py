"""Contract suites every event-store and snapshot-store adapter runs.

Subclass a contract in your adapter's tests and implement its factory::

    class TestMyStore(EventStoreContract):
        def open_store(self) -> AbstractAsyncContextManager[EventStore]:
            return my_store_context()

        def open_limited_store(
            self, limits: EventLimits
        ) -> AbstractAsyncContextManager[EventStore]:
            return my_store_context(limits=limits)

Each factory call must give a new, empty store.
"""

from forze_eventstore.testing.archiving import ArchiveContract
from forze_eventstore.testing.event_store import EventStoreContract
from forze_eventstore.testing.snapshots import SnapshotStoreContract

__all__ = ["ArchiveContract", "EventStoreContract", "SnapshotStoreContract"]
