"""Wiring a projection backend into a runtime."""

from __future__ import annotations

from forze.execution import CHECKPOINTS, READ_MODELS, DepsModule
from forze_projections.backend import ProjectionBackend
from forze_projections.keys import PROJECTION_BACKEND

__all__ = ["projection_module"]


def projection_module(backend: ProjectionBackend, *, name: str = "projections") -> DepsModule:
    """Provide ``backend``, its checkpoints, and its live read models for ``ctx.read_models``."""
    module = DepsModule(name)
    module.provide(PROJECTION_BACKEND, backend)
    module.provide(READ_MODELS, backend.serving())
    module.provide(CHECKPOINTS, backend.checkpoints)
    return module
