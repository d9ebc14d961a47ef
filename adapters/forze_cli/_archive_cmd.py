"""``forze archive``: cold streams' events to object storage, a segment row left in the store.

The location is a directory (a path, or ``file:///path``) or an S3 prefix
(``s3://bucket/prefix``), as for ``forze export``. See ``forze_eventstore.archiving`` for what
moves, what stays and how reads stay whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TextIO, cast

from forze.domain.errors import InvalidInputError
from forze_cli._stores import StoreTarget, open_store
from forze_cli._transfer_cmd import open_location
from forze_eventstore import ArchivePolicy, archive_cold_streams
from forze_eventstore.adapter_kit import StreamArchives

__all__ = ["ArchiveOptions", "archive_command"]


@dataclass(frozen=True, slots=True)
class ArchiveOptions:
    """Which streams ``forze archive`` calls cold: the last event is of a ``closed_by``
    type and/or ``older_than_days`` old, in ``categories`` (all when empty)."""

    closed_by: tuple[str, ...] = ()
    older_than_days: float | None = None
    categories: tuple[str, ...] = ()
    dry_run: bool = False

    def policy(self) -> ArchivePolicy:
        """The archive policy these options name (``InvalidInputError`` without one)."""
        if not self.closed_by and self.older_than_days is None:
            raise InvalidInputError("say which streams are cold: --closed-by, --older-than")
        return ArchivePolicy(
            closed_by=frozenset(self.closed_by),
            older_than=None
            if self.older_than_days is None
            else timedelta(days=self.older_than_days),
            categories=frozenset(self.categories) or None,
        )


async def archive_command(
    target: StoreTarget, location: str, out: TextIO, options: ArchiveOptions
) -> None:
    """Archive the cold streams of the store ``target`` names to ``location``."""
    policy = options.policy()
    async with (
        open_store(target, write=True) as store,
        open_location(location) as (storage, prefix),
    ):
        if not hasattr(store.events, "archive_segment"):
            raise InvalidInputError(f"{target.describe()} cannot archive streams")
        report = await archive_cold_streams(
            cast(StreamArchives, store.events),
            storage,
            policy,
            prefix=prefix,
            dry_run=options.dry_run,
        )
    if options.dry_run:
        out.write(
            f"would archive {report.streams:,} streams: {report.events:,} events"
            " (a dry run: nothing moved)\n"
        )
        return
    rate = report.events / report.seconds if report.seconds > 0 else 0.0
    raced = f"; {report.raced:,} archived by another run meanwhile" if report.raced else ""
    out.write(
        f"archived {report.streams:,} streams: {report.events:,} events in"
        f" {report.segments:,} segments ({report.bytes:,} bytes) to {location} in"
        f" {report.seconds:.1f} s ({rate:,.0f} events/s){raced}\n"
    )
