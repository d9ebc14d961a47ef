"""Port keys of the read side."""

from __future__ import annotations

from typing import TYPE_CHECKING

from forze.execution import PortKey
from forze_projections.backend import ProjectionBackend

if TYPE_CHECKING:
    from forze_projections.projector import Projector

__all__ = ["PROJECTION_BACKEND", "PROJECTOR"]

PROJECTION_BACKEND: PortKey[ProjectionBackend] = PortKey("projection_backend")
"""Where projectors write: versioned read models, checkpoints and units of work."""

PROJECTOR: PortKey[Projector] = PortKey("projector")
"""The projector a backend's module runs for the runtime's lifetime (``projections=``): ask it
for ``status()``, ``rebuild(name)`` or ``catch_up()``."""
