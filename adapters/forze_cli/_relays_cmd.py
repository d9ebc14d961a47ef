"""``forze relays status``: every relay kept in a store, with its lag, stall and errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from forze_cli._console import write_table
from forze_cli._stores import StoreTarget, open_store
from forze_projections import ProjectionFailure, feed_lag, stuck_seconds

__all__ = [
    "CONSUMER_COLUMNS",
    "CONSUMER_NUMERIC",
    "CONSUMER_STYLES",
    "RELAYS_STATUS_HELP",
    "RELAY_PREFIX",
    "consumer_rows",
    "relays_status",
]

RELAY_PREFIX = "relay:"
"""The prefix of a relay's checkpoint and lease names (``Relay.checkpoint_name``)."""

RELAYS_STATUS_HELP = """\
Each relay that ran on the store (took its lease or saved a checkpoint), read without changing it:
CHECKPOINT and HEAD positions; LAG_ANY, the events of any type after its checkpoint, and
LAG_ANY_S, how long the oldest of them has waited (the relay's event-type and category
filters live in the code that runs it, so these count events it will pass over too; a running
relay moves its checkpoint past those, so at rest both are 0); MOVED_S, seconds since its
checkpoint last moved; STALLED, yes when it is behind and its checkpoint has not moved for
--stall-seconds, counted from the later of its last move and the arrival of the oldest waiting
event (a relay working through an old backlog is not stalled); HOLDER, the process running it;
REFUSED, the failures it recorded (messages the broker refused); ERROR, the last of them,
when and at which position ("stopped at" while its checkpoint is before that event: the relay
stopped there). Errors a relay is retrying (a broker outage) are not stored: only its own
process sees them, in Relay.status().last_error."""

_ERROR_CHARS = 160
"""The ERROR column's width at most (the whole text: ``Relay.failures()``)."""


async def relays_status(target: StoreTarget, out: TextIO, *, stall_seconds: float) -> None:
    """Print each relay's checkpoint, head, lag, how long ago its checkpoint moved, whether it
    is stalled, its holder, refused messages and last recorded failure (``RELAYS_STATUS_HELP``
    says what each column means). Reads the store without changing it."""
    rows = await consumer_rows(target, RELAY_PREFIX, stall_seconds=stall_seconds)
    if not rows:
        out.write("no relay has published from this store yet\n")
        return
    header = ("RELAY", *CONSUMER_COLUMNS, "REFUSED", "ERROR")
    write_table(header, rows, out, numeric=CONSUMER_NUMERIC, styles=CONSUMER_STYLES)


CONSUMER_COLUMNS = ("CHECKPOINT", "HEAD", "LAG_ANY", "LAG_ANY_S", "MOVED_S", "STALLED", "HOLDER")
"""The columns every feed consumer's status line has between its name and its failures."""

CONSUMER_NUMERIC = ("CHECKPOINT", "HEAD", "LAG_ANY", "LAG_ANY_S", "MOVED_S")
"""The columns of ``CONSUMER_COLUMNS`` that hold numbers (right-aligned)."""

CONSUMER_STYLES: dict[str, Callable[[str], str]] = {
    "STALLED": lambda cell: "bold red" if cell == "yes" else "green",
    "REFUSED": lambda cell: "" if cell == "0" else "red",
    "SKIPPED": lambda cell: "" if cell == "0" else "red",
    "ERROR": lambda cell: "" if cell == "-" else "red",
}
"""On a terminal: a stalled consumer, its failures and last error stand out."""


async def consumer_rows(
    target: StoreTarget, prefix: str, *, stall_seconds: float
) -> list[tuple[str, ...]]:
    """A status line for each feed consumer of the store whose checkpoint or lease name starts
    with ``prefix``: its name, ``CONSUMER_COLUMNS``, its failure count and last failure."""
    async with open_store(target) as store:
        events, backend = store.events, store.backend
        checkpoints = await backend.checkpoints.all()
        named = {*checkpoints, *await backend.leases.names()}
        rows: list[tuple[str, ...]] = []
        for name in sorted(n for n in named if n.startswith(prefix)):
            position = checkpoints.get(name, 0)
            lag = await feed_lag(events, position)
            moved_at = await backend.checkpoints.moved_at(name)
            now = datetime.now(UTC)
            stuck = stuck_seconds(lag, moved_at, now=now)
            lease = await backend.leases.read(name)
            failures = await backend.failures(name)
            rows.append(
                (
                    name.removeprefix(prefix),
                    str(position),
                    str(lag.head),
                    str(lag.events),
                    f"{lag.seconds:.1f}",
                    "-" if moved_at is None else f"{(now - moved_at).total_seconds():.1f}",
                    "yes" if stuck > stall_seconds else "no",
                    (lease.holder if lease is not None else None) or "-",
                    str(len(failures)),
                    _error(failures[-1], position) if failures else "-",
                )
            )
    return rows


def _error(failure: ProjectionFailure, checkpoint: int) -> str:
    """The ERROR cell: when, where (and whether the relay stopped there), and why."""
    what = "stopped at" if failure.position > checkpoint else "at"
    text = f"{failure.at:%Y-%m-%dT%H:%M:%SZ} {what} {failure.position}: {failure.error}"
    text = " ".join(text.split())  # one line
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"
