"""The saga-runner port: long-running processes driven by the event feed."""

from __future__ import annotations

from typing import Protocol

from forze.contracts.envelopes import RecordedEvent

__all__ = ["SagaRunner"]


class SagaRunner(Protocol):
    """Delivers feed events to saga instances (process managers).

    Guarantees: the instance named by ``(saga, key)`` is started on its first event and
    signalled afterwards (signal-with-start); delivering the same ``event_id`` twice to one
    instance has the effect of delivering it once; instances of one saga run independently.
    """

    async def deliver(self, saga: str, key: str, event: RecordedEvent) -> None:
        """Hand ``event`` to the instance ``key`` of ``saga``, starting it if needed."""
        ...
