"""``forze sagas status``: each saga dispatcher of a store, and instances on Temporal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from forze_cli._console import write_table
from forze_cli._relays_cmd import (
    CONSUMER_COLUMNS,
    CONSUMER_NUMERIC,
    CONSUMER_STYLES,
    consumer_rows,
)
from forze_cli._stores import StoreTarget

__all__ = ["SAGAS_STATUS_HELP", "SAGA_PREFIX", "sagas_status"]

SAGA_PREFIX = "saga:"
"""The prefix of a dispatcher's checkpoint and lease names (``SagaDispatcher.checkpoint_name``)."""

SAGAS_STATUS_HELP = """\
Each saga dispatcher that ran on the store, read without changing it, with the columns of
`forze relays status` (CHECKPOINT, HEAD, LAG_ANY, LAG_ANY_S, MOVED_S, STALLED, HOLDER), SKIPPED
(the events it recorded as failures) and ERROR (the last of them; "stopped at" while its
checkpoint is before that event). With --temporal and --saga, the instances of each saga named
on that server, by status (running, completed, compensated, failed), from Temporal's
visibility store (it lags the workflows by a moment; the namespace needs the ForzeSaga and
ForzeSagaOutcome search attributes)."""


async def sagas_status(
    target: StoreTarget,
    out: TextIO,
    *,
    stall_seconds: float,
    temporal: str | None = None,
    namespace: str = "default",
    task_queue: str | None = None,
    sagas: Sequence[str] = (),
) -> None:
    """Print each dispatcher's line, then (with ``temporal``) each saga's instance counts."""
    rows = await consumer_rows(target, SAGA_PREFIX, stall_seconds=stall_seconds)
    if rows:
        dispatchers = ("DISPATCHER", *CONSUMER_COLUMNS, "SKIPPED", "ERROR")
        write_table(dispatchers, rows, out, numeric=CONSUMER_NUMERIC, styles=CONSUMER_STYLES)
    else:
        out.write("no saga dispatcher has run on this store yet\n")
    if temporal is None or not sagas:
        return
    counts = await _instance_counts(temporal, namespace, task_queue, sagas)
    out.write("\n")
    header = ("SAGA", "RUNNING", "COMPLETED", "COMPENSATED", "FAILED")
    instances = [(saga, *map(str, found)) for saga, found in counts]
    write_table(header, instances, out, numeric=header[1:])


async def _instance_counts(
    address: str, namespace: str, task_queue: str | None, sagas: Sequence[str]
) -> list[tuple[str, tuple[int, ...]]]:
    from forze_temporal import count_instances  # temporalio only when asked for

    return [
        (saga, await count_instances(address, saga, namespace=namespace, task_queue=task_queue))
        for saga in sagas
    ]
