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
    """Log every operation's outcome and duration, with its usecase's name and correlation id."""
    log = logger or logging.getLogger("forze.usecase")

    async def middleware(ctx: ExecutionContext, payload: Any, call_next: Handler) -> Any:
        started = time.perf_counter()
        name = ctx.usecase or type(payload).__name__  # a context made outside Runtime.execute
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
    attempts: int = 12, *, base_delay: float = 0.002, max_delay: float = 0.2
) -> Middleware:
    """Run a command again (from scratch) when it fails with ``ConcurrencyError``.

    Queries are never retried, nor commands whose caller expects a version
    (``ExecutionContext.expected_version``: its conflict is the caller's answer). The command
    must load state inside the usecase (as ``ctx.aggregates(spec).edit(...)`` does) so that
    a retry sees the new state. The last
    error is raised when every one of ``attempts`` runs conflicted.

    Between runs it waits with exponential back-off and full jitter: after the n-th conflict
    in a row, a random time from 0 to ``min(base_delay * 2 ** (n - 1), max_delay)`` seconds.
    The randomness spreads the retries of commands that conflicted together, so they stop
    conflicting again. The defaults (12 attempts, 2 ms doubling up to 0.2 s: at most about
    1 s of waiting in all) let 20 concurrent edits of one aggregate, each a few milliseconds
    long, all succeed. To tune it:

    - more writers of one aggregate at once: raise ``attempts`` (each extra attempt adds up
      to ``max_delay`` of waiting);
    - slower edits (a remote store, an awaited call between load and save): raise
      ``max_delay`` to about ``writers x edit duration``, so the last waits spread them apart;
    - ``attempts=1`` turns retries off (conflicts reach the caller at once).

    A command that often exhausts its attempts edits an aggregate too hot for one stream:
    split it, or make the command commutative.
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    backoff = Backoff(base_delay, max_delay, jitter=1.0)

    async def middleware(ctx: ExecutionContext, payload: Any, call_next: Handler) -> Any:
        if ctx.kind is OperationKind.QUERY or ctx.expected_version is not None:
            return await call_next(ctx, payload)  # a caller's precondition is its answer
        for attempt in range(1, attempts + 1):
            try:
                return await call_next(ctx, payload)
            except ConcurrencyError:
                if attempt == attempts:
                    raise
                await asyncio.sleep(backoff.delay(attempt))
        raise AssertionError("unreachable")

    return middleware
