"""The ``forze`` command line: running the command the arguments name."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from forze.domain.errors import (
    EventStoreUnavailable,
    ForzeError,
    InvalidInputError,
    StorageUnavailable,
)
from forze_cli._archive_cmd import ArchiveOptions, archive_command
from forze_cli._arguments import target_of
from forze_cli._console import RICH_HINT, require_rich
from forze_cli._demo import DemoConfig, run_demo
from forze_cli._es_import_cmd import EventsourcingImportOptions, import_eventsourcing_command
from forze_cli._feed import tail_feed
from forze_cli._inspect_store import list_streams, show_stream
from forze_cli._parser import build_parser
from forze_cli._projections_cmd import confirm_by_typing, projections_command
from forze_cli._relays_cmd import relays_status
from forze_cli._sagas_cmd import sagas_status
from forze_cli._serve_cmd import serve, store_module
from forze_cli._transfer_cmd import ExportOptions, export_command, import_command
from forze_cli._verify_cmd import VerifyOptions, verify_events

__all__ = ["EXIT_INCOMPATIBLE", "EXIT_INPUT", "EXIT_UNAVAILABLE", "build_parser", "main"]

EXIT_INPUT = 2
"""Exit status for bad arguments or input: a malformed option, a missing stream or file."""
EXIT_UNAVAILABLE = 3
"""Exit status when the store cannot be reached now (down, unreachable, too slow): trying
again later may work."""
EXIT_INCOMPATIBLE = 4
"""Exit status when the store is not one this forze can use: no such schema or database, no
forze tables there, tables in the other tenancy layout, or a store a newer forze wrote."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad arguments or input)."""
    arguments = build_parser().parse_args(argv)
    try:
        require_rich()
    except ImportError:
        sys.stderr.write(f"forze: error: {RICH_HINT}\n")
        return 2
    try:
        if arguments.command == "demo":
            config = DemoConfig(
                path=arguments.db,
                accounts=arguments.accounts,
                commands=arguments.commands,
                workers=arguments.workers,
                seed=arguments.seed,
                progress=arguments.progress,
                force=arguments.force,
            )
            report = asyncio.run(run_demo(config, sys.stdout))
            return 0 if report.mismatches == 0 else 1
        if arguments.command == "serve":
            module = store_module(target_of(arguments))
            asyncio.run(serve(module, host=arguments.host, port=arguments.port))
            return 0
        if arguments.command == "streams":
            asyncio.run(
                list_streams(
                    target_of(arguments),
                    sys.stdout,
                    category=arguments.category,
                    limit=arguments.limit,
                    as_json=arguments.json,
                )
            )
            return 0
        if arguments.command == "projections":
            asks = arguments.action == "reset" and not arguments.yes
            asyncio.run(
                projections_command(
                    arguments.action,
                    target_of(arguments),
                    arguments.projections,
                    sys.stdout,
                    name=getattr(arguments, "name", None),
                    progress=getattr(arguments, "progress", False),
                    confirm=confirm_by_typing(sys.stdin, sys.stderr) if asks else None,
                )
            )
            return 0
        if arguments.command == "export":
            exported = ExportOptions(
                after=arguments.after,
                up_to=arguments.up_to,
                categories=arguments.categories,
                chunk_events=arguments.chunk_events,
            )
            asyncio.run(
                export_command(
                    target_of(arguments),
                    arguments.to,
                    sys.stdout,
                    exported,
                    progress=arguments.progress,
                )
            )
            return 0
        if arguments.command == "import" and arguments.system == "eventsourcing":
            asyncio.run(
                import_eventsourcing_command(
                    target_of(arguments),
                    EventsourcingImportOptions.of(arguments),
                    sys.stdout,
                    progress=arguments.progress,
                )
            )
            return 0
        if arguments.command == "import":
            if arguments.source is None:
                raise InvalidInputError("forze import takes --from DIR, or eventsourcing URL")
            asyncio.run(
                import_command(
                    target_of(arguments),
                    arguments.source,
                    sys.stdout,
                    batch_events=arguments.batch_events,
                    progress=arguments.progress,
                )
            )
            return 0
        if arguments.command == "archive":
            archiving = ArchiveOptions(
                closed_by=tuple(arguments.closed_by),
                older_than_days=arguments.older_than,
                categories=tuple(arguments.categories),
                dry_run=arguments.dry_run,
            )
            asyncio.run(archive_command(target_of(arguments), arguments.to, sys.stdout, archiving))
            return 0
        if arguments.command == "events":
            options = VerifyOptions(
                specs=arguments.specs,
                categories=arguments.categories,
                event_types=arguments.types,
                sample=arguments.sample,
                limit=arguments.limit,
                strict=arguments.strict,
            )
            target = target_of(arguments)
            ok = asyncio.run(verify_events(target, sys.stdout, options, as_json=arguments.json))
            return 0 if ok else 1
        if arguments.command == "relays":
            asyncio.run(
                relays_status(
                    target_of(arguments), sys.stdout, stall_seconds=arguments.stall_seconds
                )
            )
            return 0
        if arguments.command == "sagas":
            asyncio.run(
                sagas_status(
                    target_of(arguments),
                    sys.stdout,
                    stall_seconds=arguments.stall_seconds,
                    temporal=arguments.temporal,
                    namespace=arguments.namespace,
                    task_queue=arguments.task_queue,
                    sagas=arguments.sagas,
                )
            )
            return 0
        if arguments.command == "feed":
            asyncio.run(
                tail_feed(
                    target_of(arguments),
                    sys.stdout,
                    last=arguments.last,
                    follow=arguments.follow,
                    count=arguments.count,
                    event_types=arguments.types,
                    categories=arguments.categories,
                    as_json=arguments.json,
                )
            )
            return 0
        asyncio.run(
            show_stream(
                target_of(arguments),
                arguments.stream_id,
                sys.stdout,
                limit=arguments.limit,
                as_json=arguments.json,
                archive=arguments.archive,
            )
        )
        return 0
    except KeyboardInterrupt:
        return 130
    except (EventStoreUnavailable, StorageUnavailable) as error:
        sys.stderr.write(f"forze: error: {error}\n")
        return EXIT_UNAVAILABLE if error.transient else EXIT_INCOMPATIBLE
    except ForzeError as error:
        sys.stderr.write(f"forze: error: {error}\n")
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
