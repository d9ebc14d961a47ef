"""Contract: a stored event id re-sent with other content is refused, never answered silently.

``EventStore`` guarantee 3: the same id at the same place with the same type, data and
metadata is an idempotent re-append (``occurred_at``, ``correlation_id`` and the W3C trace
context may differ); with another type, data or metadata it raises ``DuplicateEventIdError``
naming the id.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from forze.contracts import EventStore, NewEvent
from forze.domain.errors import DuplicateEventIdError
from forze_eventstore.testing.base import StoreFactory
from forze_eventstore.testing.helpers import new_event

__all__ = ["ResentContract"]

_ORIGINAL = NewEvent(
    "Placed",
    {"items": [{"sku": "a-1", "qty": 2}], "total": 12.5, "rush": True},
    {
        "correlation_id": "c-1",
        "causation_id": "m-1",
        "actor": "ann",
        "occurred_at": "2026-01-01T00:00:00+00:00",
    },
)

_CHANGES: dict[str, tuple[str, dict[str, Any]]] = {
    "type": ("event type", {"event_type": "Cancelled"}),
    "data-value": ("data", {"data": {**_ORIGINAL.data, "total": 13}}),
    "data-missing-key": ("data", {"data": {"items": _ORIGINAL.data["items"], "total": 12.5}}),
    "data-bool-for-number": ("data", {"data": {**_ORIGINAL.data, "total": True}}),
    "metadata-actor": ("metadata", {"metadata": {**_ORIGINAL.metadata, "actor": "bob"}}),
    "metadata-causation": ("metadata", {"metadata": {**_ORIGINAL.metadata, "causation_id": "m-2"}}),
    "metadata-extra": ("metadata", {"metadata": {**_ORIGINAL.metadata, "tenant": "t-2"}}),
}


class ResentContract(StoreFactory):
    """Re-sent event ids: the same event returns the original result, another is an error."""

    @pytest.mark.parametrize("change", list(_CHANGES))
    async def test_a_stored_id_resent_with_other_content_is_a_duplicate_naming_the_id(
        self, store: EventStore, change: str
    ) -> None:
        differs, fields = _CHANGES[change]
        first = await store.append("order-1", [_ORIGINAL], 0)
        changed = replace(_ORIGINAL, **fields)
        with pytest.raises(DuplicateEventIdError) as refused:
            await store.append("order-1", [changed], 0)
        assert refused.value.event_id == _ORIGINAL.event_id
        assert refused.value.differs == differs
        assert str(_ORIGINAL.event_id) in str(refused.value)
        with pytest.raises(DuplicateEventIdError):
            await store.append("order-1", [changed])
        with pytest.raises(DuplicateEventIdError):
            await store.append_many([("order-2", [new_event()], 0), ("order-1", [changed], 0)])
        assert [e.event_id for e in await store.read_all()] == [_ORIGINAL.event_id]
        assert await store.append("order-1", [_ORIGINAL], 0) == first

    async def test_a_changed_event_later_in_a_resent_batch_is_a_duplicate(
        self, store: EventStore
    ) -> None:
        batch = [new_event(n=1), new_event(n=2), new_event(n=3)]
        await store.append("order-1", batch)
        resent = [batch[0], batch[1], replace(batch[2], data={"n": 4})]
        with pytest.raises(DuplicateEventIdError) as refused:
            await store.append("order-1", resent)
        assert refused.value.event_id == batch[2].event_id
        assert (refused.value.stored_version, refused.value.differs) == (3, "data")

    async def test_a_resend_differing_in_timestamp_correlation_or_form_only_is_the_same_event(
        self, store: EventStore
    ) -> None:
        first = await store.append("order-1", [_ORIGINAL], 0)
        resent = replace(
            _ORIGINAL,
            data={"rush": True, "total": 12.5, "items": ({"qty": 2.0, "sku": "a-1"},)},
            metadata={
                "occurred_at": "2026-01-01T00:00:05+00:00",
                "actor": "ann",
                "causation_id": "m-1",
                "correlation_id": "c-2",
            },
        )
        assert await store.append("order-1", [resent], 0) == first
        assert await store.append_many([("order-1", [resent], 0)]) == [first]
        (stored,) = await store.read_all()
        assert stored.metadata == _ORIGINAL.metadata
        with pytest.raises(DuplicateEventIdError, match="different data"):
            await store.append("order-1", [replace(resent, data={**resent.data, "rush": 1})])

    async def test_a_resend_in_another_trace_is_the_same_event(self, store: EventStore) -> None:
        traced = replace(
            _ORIGINAL,
            metadata={**_ORIGINAL.metadata, "traceparent": f"00-{'1' * 32}-{'2' * 16}-01"},
        )
        first = await store.append("order-1", [traced], 0)
        retried = replace(
            traced,
            metadata={
                **_ORIGINAL.metadata,
                "traceparent": f"00-{'3' * 32}-{'4' * 16}-01",
                "tracestate": "vendor=x",
            },
        )

        assert await store.append("order-1", [retried], 0) == first
        assert await store.append("order-1", [_ORIGINAL], 0) == first
        (stored,) = await store.read_all()
        assert stored.metadata["traceparent"] == traced.metadata["traceparent"]
