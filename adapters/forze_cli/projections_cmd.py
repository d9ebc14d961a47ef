"""``forze projections status | rebuild NAME | reset NAME`` against a SQLite file."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TextIO

from forze.domain.errors import InvalidInputError
from forze_cli.inspect_store import require_forze_store, require_store_file
from forze_cli.progress import ProgressBar
from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from forze_projections import Projection, ProjectionProgress, Projector, SQLiteProjectionBackend

__all__ = [
    "DEFAULT_PROJECTIONS",
    "load_projections",
    "open_projector",
    "projections_command",
    "write_table",
]

DEFAULT_PROJECTIONS = "forze_examples.bank:PROJECTIONS"


def load_projections(reference: str) -> tuple[Projection, ...]:
    """Import ``module:attribute`` naming a ``Projection`` or a sequence of them."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise InvalidInputError(
            f"--projections must look like 'package.module:NAME', not {reference!r}"
        )
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise InvalidInputError(f"cannot load projections {reference!r}: {error}") from None
    if isinstance(found, Projection):
        projections: tuple[object, ...] = (found,)
    elif isinstance(found, list | tuple):
        projections = tuple(found)
    else:
        projections = ()
    if not projections or not all(isinstance(p, Projection) for p in projections):
        raise InvalidInputError(f"{reference!r} is not a Projection or a sequence of them")
    return tuple(p for p in projections if isinstance(p, Projection))


@asynccontextmanager
async def open_projector(
    path: Path, projections: Sequence[Projection], *, read_only: bool = False
) -> AsyncIterator[Projector]:
    """A projector over the events and read models of an existing forze store.

    ``read_only`` opens the file without changing it (for ``status``); otherwise the file must
    already be a forze store: its projection tables are added, never its event table.
    """
    require_store_file(path)
    if not read_only:
        require_forze_store(path)
    db = SQLiteDatabase(path, read_only=read_only)
    try:
        yield Projector(SQLiteEventStore(db), SQLiteProjectionBackend(db), projections)
    finally:
        db.close()


async def projections_command(
    action: str,
    path: Path,
    reference: str,
    out: TextIO,
    *,
    name: str | None = None,
    progress: bool = False,
) -> None:
    """Run one ``forze projections`` action and print its outcome."""
    projections = load_projections(reference)
    async with open_projector(path, projections, read_only=action == "status") as projector:
        if action == "status":
            await _print_status(projector, out)
            return
        assert name is not None  # the parser requires NAME for rebuild and reset
        if action == "reset":
            await projector.reset(name)
            version = projector.projections[name].version
            out.write(f"reset {name} v{version}: checkpoint 0, its documents dropped\n")
            return
        lease = await projector.backend.leases.read(name)
        if lease is not None and lease.holder is not None:
            out.write(f"{name} is run by {lease.holder}: it rebuilds it; waiting for it\n")
            out.flush()
        head = await projector.events.head_position()
        bar = ProgressBar(f"rebuilding {name}", head, force=progress)

        def report(update: ProjectionProgress) -> None:
            bar.update(update.position, total=update.head)

        projector.on_progress = report
        status = await projector.rebuild(name)
        bar.close()
        out.write(
            f"rebuilt {name} v{status.version} to position {status.checkpoint}; "
            f"live version {status.live_version}\n"
        )


async def _print_status(projector: Projector, out: TextIO) -> None:
    rows = []
    for status in await projector.status():
        failures = await projector.backend.failures(status.name)
        if status.live_version != status.version:
            state = f"building (v{status.live_version} serves)"
        elif status.lag_events == 0:
            state = "caught up"
        else:
            state = "behind"
        rows.append(
            (
                status.name,
                f"v{status.version}",
                "-" if status.live_version is None else f"v{status.live_version}",
                str(status.checkpoint),
                str(status.head),
                str(status.lag_events),
                f"{status.lag_seconds:.1f}",
                state,
                status.holder or "-",
                str(len(failures)),
            )
        )
    header = (
        "PROJECTION",
        "VERSION",
        "LIVE",
        "CHECKPOINT",
        "HEAD",
        "LAG",
        "LAG_S",
        "STATE",
        "HOLDER",
        "FAILURES",
    )
    write_table(header, rows, out)


def write_table(header: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO) -> None:
    """Write ``rows`` under ``header`` in left-aligned columns two spaces apart."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        out.write(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            + "\n"
        )
