"""Port keys of the read side."""

from __future__ import annotations

from forze.execution import PortKey
from forze_projections.backend import ProjectionBackend

__all__ = ["PROJECTION_BACKEND"]

PROJECTION_BACKEND: PortKey[ProjectionBackend] = PortKey("projection_backend")
"""Where projectors write: versioned read models, checkpoints and units of work."""
