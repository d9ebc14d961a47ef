"""The console's projection controls: status as JSON, rebuilds in the background, resets."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from forze.domain.errors import NotFoundError, WiringError
from forze.execution import Runtime
from forze_projections import PROJECTOR, ProjectionStatus, Projector

__all__ = ["ProjectionControls"]

log = logging.getLogger("forze.console")


@dataclass
class ProjectionControls:
    """Status, rebuild and reset of the runtime's projector, for the console.

    A rebuild runs as a task of this process (it outlives the request that asked for it,
    so the browser can follow its progress); a second request for the same projection while
    one runs joins it. Its outcome (or error) is kept for the status until the next one.
    """

    runtime: Runtime
    _rebuilds: dict[str, asyncio.Task[ProjectionStatus]] = field(default_factory=dict)
    _outcomes: dict[str, str] = field(default_factory=dict)

    def projector(self) -> Projector | None:
        """The runtime's projector, or ``None`` when it has none."""
        try:
            return self.runtime.port(PROJECTOR)
        except WiringError:
            return None

    async def statuses(self) -> list[dict[str, Any]]:
        """Every projection's status, with ``rebuilding`` and the last rebuild's ``outcome``."""
        projector = self.projector()
        if projector is None:
            return []
        found = []
        for status in await projector.status():
            task = self._rebuilds.get(status.name)
            found.append(
                {
                    "name": status.name,
                    "version": status.version,
                    "live_version": status.live_version,
                    "checkpoint": status.checkpoint,
                    "head": status.head,
                    "lag_events": status.lag_events,
                    "lag_seconds": round(status.lag_seconds, 3),
                    "state": status.state.value,
                    "holder": status.holder,
                    "error": status.error,
                    "rebuilding": task is not None and not task.done(),
                    "outcome": self._outcomes.get(status.name),
                }
            )
        return found

    def start_rebuild(self, name: str) -> None:
        """Start rebuilding projection ``name`` unless its rebuild already runs here."""
        projector = self.projector()
        if projector is None:
            raise WiringError("the runtime has no projector")
        if name not in projector.projections:
            raise NotFoundError(f"no projection named {name!r}")
        running = self._rebuilds.get(name)
        if running is not None and not running.done():
            return
        self._outcomes.pop(name, None)
        task = asyncio.create_task(projector.rebuild(name), name=f"forze console rebuild {name}")
        self._rebuilds[name] = task
        task.add_done_callback(lambda done: self._finished(name, done))

    def _finished(self, name: str, task: asyncio.Task[ProjectionStatus]) -> None:
        if task.cancelled():
            self._outcomes[name] = "cancelled"
            return
        error = task.exception()
        if error is None:
            self._outcomes[name] = "rebuilt"
            return
        log.warning("the console's rebuild of %s failed: %s", name, error)
        self._outcomes[name] = f"failed: {error}"

    async def reset(self, name: str) -> None:
        """Reset projection ``name`` (``ProjectionBusy`` while a runner holds it)."""
        projector = self.projector()
        if projector is None:
            raise WiringError("the runtime has no projector")
        if name not in projector.projections:
            raise NotFoundError(f"no projection named {name!r}")
        await projector.reset(name)
        self._outcomes[name] = "reset"
