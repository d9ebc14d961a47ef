"""``forze import eventsourcing URL``: an ``eventsourcing`` database into a forze store.

The copy is ``forze_eventsourcing.importing.import_eventsourcing``'s (its docstring has what
it keeps and how it resumes); this module draws the progress bar and prints the report: the
events copied and, per topic, how many events it has and whether a forze event type of the
application (``--app``) or of ``--specs`` has that name.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TextIO

from forze.domain.errors import InvalidInputError
from forze_cli._console import write_table
from forze_cli._progress import ProgressBar
from forze_cli._stores import StoreTarget, open_store
from forze_cli._verify_cmd import load_specs
from forze_eventstore import TransferProgress

__all__ = ["EventsourcingImportOptions", "import_eventsourcing_command"]


@dataclass(frozen=True, slots=True)
class EventsourcingImportOptions:
    """What ``forze import eventsourcing`` reads and how: see ``import_eventsourcing``."""

    database: str
    table: str | None = None
    application: str | None = None
    text_ids: bool = False
    batch_events: int = 1_000
    specs: str | None = None

    @classmethod
    def of(cls, arguments: argparse.Namespace) -> EventsourcingImportOptions:
        """The options the command line gave; ``InvalidInputError`` when the database's
        URL is missing or ``--from`` is given too."""
        if arguments.database is None or arguments.source is not None:
            raise InvalidInputError(
                "forze import eventsourcing takes the database's URL, and no --from"
            )
        return cls(
            database=arguments.database,
            table=arguments.table,
            application=arguments.application,
            text_ids=arguments.text_ids,
            batch_events=arguments.batch_events,
            specs=arguments.specs,
        )


async def import_eventsourcing_command(
    target: StoreTarget,
    options: EventsourcingImportOptions,
    out: TextIO,
    *,
    progress: bool = False,
) -> None:
    """Copy the eventsourcing database's events into the store (created when missing) and
    print what was copied and which topics no forze event type names."""
    try:
        from forze_eventsourcing.importing import import_eventsourcing
    except ImportError as error:  # the extra is not installed
        raise InvalidInputError(
            f"forze import eventsourcing needs the eventsourcing extra: pip install"
            f" 'forze[eventsourcing]' ({error})"
        ) from error
    known = None if options.specs is None else load_specs(options.specs).event_types
    async with open_store(target, create=True) as store:
        if known is None and store.codec is not None:
            known = store.codec.event_types
        bar = ProgressBar("importing", 0, force=progress)

        def report(update: TransferProgress) -> None:
            bar.update(update.done, total=update.total)

        with bar:
            result = await import_eventsourcing(
                options.database,
                store.events,
                table=options.table,
                application=options.application,
                text_ids=options.text_ids,
                batch_events=options.batch_events,
                known_types=known,
                on_progress=report,
            )
    rate = result.imported / result.seconds if result.seconds > 0 else 0.0
    earlier = f" ({result.earlier:,} by earlier runs)" if result.earlier else ""
    out.write(
        f"imported {result.imported:,} events{earlier} of {result.table} into the category"
        f" {result.category} in {result.seconds:.1f} s ({rate:,.0f} events/s); the last"
        f" notification id copied is {result.last_notification_id}\n"
    )
    _write_topics(out, result.topics, result.unmapped, known)


def _write_topics(
    out: TextIO,
    topics: Mapping[str, int],
    unmapped: tuple[str, ...],
    known: Collection[str] | None,
) -> None:
    if not topics:
        return
    missing = set(unmapped)
    rows = [
        [topic, f"{count:,}", "no" if topic in missing else "yes"]
        for topic, count in topics.items()
    ]
    write_table(["topic", "events", "forze event type"], rows, out, numeric=["events"])
    where = "checked against the given event types" if known is not None else "no --specs or --app"
    out.write(f"{len(missing)} of {len(topics)} topics map to no forze event type ({where})\n")
