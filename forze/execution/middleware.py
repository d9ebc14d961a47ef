"""Ready-made middleware: logging and retrying commands on concurrency conflicts."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from forze.domain.errors import ConcurrencyError
from forze.execution.backoff import Backoff
from forze.execution.context import ExecutionContext, OperationKind
from forze.execution.usecase import Handler, Middleware

__all__ = ["logging_middleware", "retry_on_conflict"]


def logging_middleware(logger: logging.Logger | None = None) -> Middleware:
    """Log every operation's outcome and duration, with its correlation id."""
    log = logger or logging.getLogger("forze.usecase")

    async def middleware(ctx: ExecutionContext, payload: Any, call_next: Handler) -> Any:
        started = time.perf_counter()
        name = type(payload).__name__
        try:
            result = await call_next(ctx, payload)
        except Exception as error:
            log.warning(
                "%s failed after %.1f ms: %s (correlation %s)",
                name,
                (time.perf_counter() - started) * 1000,
                error,
                ctx.correlation_id,
            )
            raise
        log.info(
            "%s done in %.1f ms (correlation %s)",
            name,
            (time.perf_counter() - started) * 1000,
            ctx.correlation_id,
        )
        return result

    return middleware


def retry_on_conflict(
    attempts: int = 5, *, base_delay: float = 0.002, max_delay: float = 0.2
) -> Middleware:
    """Run a command again (from scratch) when it fails with ``ConcurrencyError``.

    Waits with jittered exponential back-off between attempts; the last error is raised when
    every attempt conflicted. Queries are never retried. The command must load state inside
    the usecase (as ``ctx.aggregates(spec).edit(...)`` does) so a retry sees the new state.
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    backoff = Backoff(base_delay, max_delay, jitter=0.5)

    async def middleware(ctx: ExecutionContext, payload: Any, call_next: Handler) -> Any:
        if ctx.kind is OperationKind.QUERY:
            return await call_next(ctx, payload)
        for attempt in range(1, attempts + 1):
            try:
                return await call_next(ctx, payload)
            except ConcurrencyError:
                if attempt == attempts:
                    raise
                await asyncio.sleep(backoff.delay(attempt))
        raise AssertionError("unreachable")

    return middleware
