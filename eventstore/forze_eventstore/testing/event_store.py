"""The whole event-store contract: every guarantee of the ``EventStore`` port."""

from __future__ import annotations

from forze_eventstore.testing.appends import AppendContract
from forze_eventstore.testing.batches import BatchContract
from forze_eventstore.testing.input import InputContract
from forze_eventstore.testing.limits import LimitsContract
from forze_eventstore.testing.live import LiveContract
from forze_eventstore.testing.pages import PageBudgetContract
from forze_eventstore.testing.properties import PropertyContract
from forze_eventstore.testing.reads import ReadContract
from forze_eventstore.testing.resent import ResentContract

__all__ = ["EventStoreContract"]


class EventStoreContract(
    AppendContract,
    BatchContract,
    ReadContract,
    LiveContract,
    PropertyContract,
    InputContract,
    ResentContract,
    LimitsContract,
    PageBudgetContract,
):
    """Subclass in an adapter's tests and implement ``open_store`` (a fresh, empty store)
    and ``open_limited_store`` (the same, constructed with the given ``EventLimits``).

    Covers ARCHITECTURE.md section 3: atomic appends, the four expected-version forms,
    durable idempotent re-appends (a reused id with other content refused), all-or-nothing
    batches across streams, gap-safe global order under concurrent writers,
    catch-up-then-live subscriptions, and bad input (unstorable text, out-of-range positions
    and versions) rejected the same way on every store with nothing written, the
    ``EventLimits`` enforced at append, and read pages bounded in bytes.
    """
