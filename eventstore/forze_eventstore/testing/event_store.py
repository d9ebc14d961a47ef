"""The whole event-store contract: every guarantee of the ``EventStore`` port."""

from __future__ import annotations

from forze_eventstore.testing.appends import AppendContract
from forze_eventstore.testing.batches import BatchContract
from forze_eventstore.testing.live import LiveContract
from forze_eventstore.testing.properties import PropertyContract
from forze_eventstore.testing.reads import ReadContract

__all__ = ["EventStoreContract"]


class EventStoreContract(
    AppendContract, BatchContract, ReadContract, LiveContract, PropertyContract
):
    """Subclass in an adapter's tests and implement ``open_store`` (a fresh, empty store).

    Covers ARCHITECTURE.md section 3: atomic appends, the four expected-version forms,
    durable idempotent re-appends, all-or-nothing batches across streams, gap-safe global
    order under concurrent writers, catch-up-then-live subscriptions, and bad input rejected
    with nothing written.
    """
