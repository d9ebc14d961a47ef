"""The saga definitions a worker process runs, by name: what the sandboxed workflow looks up.

A Temporal workflow is made by the SDK (no constructor arguments), inside a sandbox that
imports the workflow module afresh for every run. This module is passed through the sandbox
(imported once), so the workflow finds here the definitions the worker registered.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from forze.domain.errors import WiringError
from forze_projections.sagas import Saga

__all__ = ["register", "saga_named"]

_SAGAS: dict[str, Saga[Any]] = {}


def register(sagas: Iterable[Saga[Any]]) -> None:
    """Make ``sagas`` known to the workflows of this process; ``WiringError`` when another
    definition of one of their names is registered already."""
    for saga in sagas:
        known = _SAGAS.setdefault(saga.name, saga)
        if known is not saga:
            raise WiringError(f"two different sagas named {saga.name!r} in one worker process")


def saga_named(name: str) -> Saga[Any]:
    """The registered saga ``name``."""
    saga = _SAGAS.get(name)
    if saga is None:
        known = ", ".join(sorted(_SAGAS)) or "none"
        raise WiringError(f"no saga {name!r} is registered in this worker (registered: {known})")
    return saga
