"""``forze relays status``: every relay kept in a SQLite file, with its lag and holder."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from forze_cli.inspect_store import require_store_file
from forze_cli.projections_cmd import write_table
from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from forze_projections import SQLiteProjectionBackend, feed_lag

__all__ = ["RELAY_PREFIX", "relays_status"]

RELAY_PREFIX = "relay:"
"""The prefix of a relay's checkpoint and lease names (``Relay.checkpoint_name``)."""


async def relays_status(path: Path, out: TextIO, *, stall_seconds: float) -> None:
    """Print each relay's checkpoint, head, lag, whether it is stalled (its oldest unpublished
    event waited over ``stall_seconds``), its holder and its refused messages.

    Reads the file without changing it. The lag counts events of every type: the relay's
    filters live in the code that runs it."""
    require_store_file(path)
    db = SQLiteDatabase(path, read_only=True)
    try:
        events, backend = SQLiteEventStore(db), SQLiteProjectionBackend(db)
        checkpoints = await backend.checkpoints.all()
        rows = []
        for name, position in sorted(checkpoints.items()):
            if not name.startswith(RELAY_PREFIX):
                continue
            lag = await feed_lag(events, position)
            lease = await backend.leases.read(name)
            refused = await backend.failures(name)
            rows.append(
                (
                    name.removeprefix(RELAY_PREFIX),
                    str(position),
                    str(lag.head),
                    str(lag.events),
                    f"{lag.seconds:.1f}",
                    "yes" if lag.seconds > stall_seconds else "no",
                    (lease.holder if lease is not None else None) or "-",
                    str(len(refused)),
                )
            )
    finally:
        db.close()
    if not rows:
        out.write("no relay has published from this file yet\n")
        return
    header = ("RELAY", "CHECKPOINT", "HEAD", "LAG", "LAG_S", "STALLED", "HOLDER", "REFUSED")
    write_table(header, rows, out)
