"""The saga-runner port: long-running processes driven by the event feed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from forze.contracts.envelopes import RecordedEvent

__all__ = ["SagaRunner"]


class SagaRunner(Protocol):
    """Delivers feed events to saga instances (process managers); a dispatcher feeds it.

    Guarantees: the instance named by ``(saga, key)`` is started by an event that starts that
    saga and signalled with the later ones (signal-with-start); an event that does not start
    the saga is ignored while no instance of the key runs; delivering the same ``event_id``
    twice to one instance has the effect of delivering it once; instances of one saga run
    independently. ``deliver`` returns once the runner durably accepted the event (a
    transient ``BrokerUnavailable`` when it could not: the dispatcher tries again).
    """

    async def deliver(self, saga: str, key: str, event: RecordedEvent) -> None:
        """Hand ``event`` to the instance ``key`` of ``saga``, starting it if needed."""
        ...

    async def counts(self, saga: str) -> Mapping[str, int]:
        """How many instances of ``saga`` are ``running``, ``completed``, ``compensated`` and
        ``failed``; empty when the runner cannot count (a server without visibility)."""
        ...
