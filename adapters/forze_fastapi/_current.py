"""The correlation id of the request being handled (set by ``CorrelationIdMiddleware``)."""

from __future__ import annotations

import contextvars

__all__ = ["CURRENT", "correlation_id"]

CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "forze_correlation_id", default=None
)


def correlation_id() -> str | None:
    """The correlation id of the request being handled, if any."""
    return CURRENT.get()
