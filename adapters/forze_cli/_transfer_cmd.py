"""``forze export`` and ``forze import``: the event log to object storage and back.

The location is a directory (a path, or ``file:///path``) or an S3 prefix
(``s3://bucket/prefix``, with ``forze_s3``; see ``forze_cli._s3_location`` for the endpoint
and credentials). See ``forze_eventstore.export`` for the format and what an import
reproduces.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from forze.contracts import ObjectStorage
from forze.domain.errors import InvalidInputError
from forze_cli._progress import ProgressBar
from forze_cli._stores import StoreTarget, open_store
from forze_eventstore import (
    DirectoryObjectStorage,
    TransferProgress,
    export_events,
    import_events,
    read_manifest,
)

__all__ = ["ExportOptions", "export_command", "import_command", "open_location"]


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """What ``forze export`` writes: events after ``after`` up to ``up_to`` (default: the
    head), of ``categories`` (default: all), ``chunk_events`` per file."""

    after: int = 0
    up_to: int | None = None
    categories: Sequence[str] | None = None
    chunk_events: int = 50_000


@asynccontextmanager
async def open_location(location: str) -> AsyncIterator[tuple[ObjectStorage, str]]:
    """The object storage and key prefix ``location`` names."""
    if location.startswith("s3://"):
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        if not bucket:
            raise InvalidInputError(f"{location!r}: an S3 location is s3://BUCKET/PREFIX")
        from forze_cli._s3_location import s3_storage

        async with s3_storage(bucket) as storage:
            yield storage, prefix.strip("/")
        return
    if "://" in location and not location.startswith("file://"):
        scheme = location.split("://")[0]
        raise InvalidInputError(
            f"the location must be a directory, file:///PATH or s3://BUCKET/PREFIX,"
            f" not {scheme}://..."
        )
    yield DirectoryObjectStorage(_directory(location)), ""


def _directory(location: str) -> Path:
    path = Path(location.removeprefix("file://"))
    if path.exists() and not path.is_dir():
        raise InvalidInputError(f"{str(path)!r} is a file: an export is a directory")
    return path


async def export_command(
    target: StoreTarget,
    location: str,
    out: TextIO,
    options: ExportOptions,
    *,
    progress: bool = False,
) -> None:
    """Export the store's events to ``location`` (going on with an interrupted export)."""
    async with open_store(target) as store, open_location(location) as (storage, prefix):
        bar = ProgressBar("exporting", 0, force=progress)

        def report(update: TransferProgress) -> None:
            bar.update(update.done, total=update.total)

        with bar:
            manifest = await export_events(
                store.events,
                storage,
                prefix,
                after=options.after,
                up_to=options.up_to,
                categories=options.categories,
                chunk_events=options.chunk_events,
                source=target.describe(),
                on_progress=report,
            )
    out.write(
        f"exported {manifest.events:,} events (positions {manifest.after + 1} to"
        f" {manifest.up_to}) in {len(manifest.chunks)} chunks to {location}\n"
    )


async def import_command(
    target: StoreTarget,
    location: str,
    out: TextIO,
    *,
    batch_events: int = 1_000,
    progress: bool = False,
) -> None:
    """Import the export at ``location`` into the store (created or migrated when needed)."""
    async with open_location(location) as (storage, prefix):
        manifest = await read_manifest(storage, prefix)
        if manifest is None:
            raise InvalidInputError(f"no export at {location!r}: no manifest.json there")
        async with open_store(target, create=True) as store:
            bar = ProgressBar("importing", manifest.events, force=progress)

            def report(update: TransferProgress) -> None:
                bar.update(update.done, total=update.total)

            with bar:
                result = await import_events(
                    storage, prefix, store.events, batch_events=batch_events, on_progress=report
                )
    rate = result.imported / result.seconds if result.seconds > 0 else 0.0
    skipped = f" ({result.skipped:,} already there)" if result.skipped else ""
    out.write(
        f"imported {result.imported:,} events{skipped} from {location} in"
        f" {result.seconds:.1f} s ({rate:,.0f} events/s)\n"
    )
