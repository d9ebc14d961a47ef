"""The parser of every ``forze`` command."""

from __future__ import annotations

import argparse
from pathlib import Path

from forze_cli._arguments import (
    MAX_ACCOUNTS,
    MAX_COMMANDS,
    MAX_WORKERS,
    Parser,
    at_most,
    categories_option,
    natural,
    positive,
    rate,
    status_command,
    store_options,
    text,
)
from forze_cli._projections_cmd import DEFAULT_PROJECTIONS
from forze_cli._relays_cmd import RELAYS_STATUS_HELP
from forze_cli._sagas_cmd import SAGAS_STATUS_HELP
from forze_cli._stores import DEFAULT_DB
from forze_cli._verify_cmd import DEFAULT_SPECS

__all__ = ["build_parser"]

_EPILOG = """\
exit status: 0 done; 1 the demo found a mismatch, or events verify an event that fails;
2 bad arguments or input; 3 the store cannot be reached now (try again); 4 the store is
not one this forze can use (no such schema or database, no forze tables, or written by a
newer forze); 130 interrupted."""


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``forze`` command."""
    parser = Parser(
        prog="forze",
        description="forze: event-sourced services toolkit.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True

    demo = commands.add_parser("demo", help="run the bank example end to end on SQLite")
    demo.add_argument(
        "--db", type=Path, default=DEFAULT_DB, help="SQLite file (a previous demo's is recreated)"
    )
    demo.add_argument("--force", action="store_true", help="replace --db even if no demo made it")
    demo.add_argument(
        "--accounts", type=at_most(MAX_ACCOUNTS), default=100, help="accounts to open"
    )
    demo.add_argument(
        "--commands", type=at_most(MAX_COMMANDS), default=5000, help="commands to run"
    )
    demo.add_argument("--workers", type=at_most(MAX_WORKERS), default=8, help="concurrent workers")
    demo.add_argument("--seed", type=int, default=7, help="random seed")
    demo.add_argument("--progress", action="store_true", help="draw progress bars off a TTY")

    serve_parser = commands.add_parser(
        "serve",
        help="serve the bank's API and the web console",
        description="Serve the bank example's HTTP API and the web console (streams, events,"
        " correlations, the live feed, projections with rebuild and reset) on localhost.",
    )
    store_options(serve_parser, creates=True, app=False)
    serve_parser.add_argument("--host", type=text, default="127.0.0.1", help="address to bind")
    serve_parser.add_argument(
        "--port", type=at_most(65535), default=8000, help="port to bind (default 8000)"
    )

    streams = commands.add_parser("streams", help="list the streams of a store")
    store_options(streams)
    streams.add_argument("--category", type=text, help="only streams of this category")
    streams.add_argument("--limit", type=positive, help="at most this many streams")
    streams.add_argument("--json", action="store_true", help="one JSON object per line")

    stream = commands.add_parser("stream", help="inspect one stream")
    actions = stream.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    actions.required = True
    show = actions.add_parser("show", help="print the events of a stream")
    show.add_argument(
        "stream_id", metavar="ID", type=text, help="the stream id, e.g. account-00001"
    )
    store_options(show)
    show.add_argument(
        "--archive",
        type=text,
        help="where the stream's archived events are (directory or s3://BUCKET/PREFIX)",
    )
    show.add_argument("--limit", type=positive, help="at most this many events")
    show.add_argument("--json", action="store_true", help="one JSON object per line")

    feed = commands.add_parser("feed", help="read the global feed")
    feed_actions = feed.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    feed_actions.required = True
    tail = feed_actions.add_parser("tail", help="print the latest events, optionally following")
    store_options(tail)
    tail.add_argument(
        "--last",
        type=natural,
        default=10,
        help="start N matching events (of --type and --category) before the head (default 10)",
    )
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    tail.add_argument(
        "--count", type=positive, help="print at most this many events (without -f, the newest)"
    )
    tail.add_argument(
        "--type", action="append", dest="types", type=text, help="only this event type"
    )
    categories_option(tail)
    tail.add_argument("--json", action="store_true", help="one JSON object per line")
    export = commands.add_parser(
        "export",
        help="write the event log to a directory as compressed JSON-lines chunks",
        description="Write the events of a position range (optionally of some categories)"
        " to a directory as gzip-compressed JSON-lines chunks with a manifest and their"
        " SHA-256 checksums. Run it again with the same options to finish an interrupted"
        " export.",
    )
    store_options(export)
    export.add_argument("--to", required=True, type=text, help="the directory (or file:///PATH)")
    export.add_argument("--after", type=natural, default=0, help="only events after it")
    export.add_argument("--up-to", type=positive, help="only events up to it (default: the head)")
    categories_option(export)
    export.add_argument(
        "--chunk-events",
        type=at_most(10_000_000),
        default=50_000,
        help="events per chunk (default 50,000)",
    )
    export.add_argument("--progress", action="store_true", help="draw the bar off a TTY")
    import_parser = commands.add_parser(
        "import",
        help="append an export, or an eventsourcing database, to a store (created when missing)",
        description="forze import --from DIR appends the events of an export to a store, each"
        " chunk checked against its checksum first: the same streams, versions, event ids and"
        " order. forze import eventsourcing URL copies the stored events of an eventsourcing"
        " application (its PostgreSQL or SQLite database) as forze_eventsourcing records them,"
        " in batches, and reports the topics no forze event type names. Run either again to"
        " finish an interrupted import.",
    )
    store_options(import_parser, creates=True)
    import_parser.add_argument(
        "system",
        nargs="?",
        choices=["eventsourcing"],
        help="eventsourcing: import an eventsourcing database instead of an export",
    )
    import_parser.add_argument(
        "database",
        nargs="?",
        type=text,
        help="the eventsourcing database: postgresql://... or sqlite:///PATH",
    )
    import_parser.add_argument("--from", dest="source", type=text, help="the export's directory")
    import_parser.add_argument(
        "--table",
        type=text,
        help="eventsourcing: the application's events table (default: the only one)",
    )
    import_parser.add_argument(
        "--application",
        type=text,
        help="eventsourcing: the application's name (needed for a SQLite database, whose"
        " table is stored_events)",
    )
    import_parser.add_argument(
        "--text-ids",
        action="store_true",
        help="eventsourcing, SQLite: keep originator ids as text (default: UUIDs when they are)",
    )
    import_parser.add_argument(
        "--specs",
        type=text,
        help="eventsourcing: module:NAME of AggregateSpecs whose event types the topics are"
        " checked against (default: the --app's)",
    )
    import_parser.add_argument(
        "--batch-events",
        type=at_most(100_000),
        default=1_000,
        help="events per append (default 1,000)",
    )
    import_parser.add_argument("--progress", action="store_true", help="draw the bar off a TTY")
    archive = commands.add_parser(
        "archive",
        help="move cold streams' events to object storage",
        description="Move the events of every cold stream, all but its last, to a directory"
        " or S3 prefix as checked, gzip-compressed JSON-lines segments; the store keeps a"
        " segment row per object and reads the stream whole through the archive (stream show"
        " --archive, an application's archive= option). The feed (read_all) no longer holds"
        " archived events: rebuild projections before archiving. Run it again at will.",
    )
    store_options(archive)
    archive.add_argument(
        "--to", required=True, type=text, help="the directory, file:///PATH or s3://BUCKET/PREFIX"
    )
    archive.add_argument(
        "--closed-by",
        action="append",
        dest="closed_by",
        type=text,
        default=[],
        help="cold when the last event is of this type (repeat for several)",
    )
    archive.add_argument(
        "--older-than",
        type=at_most(36_500),
        metavar="DAYS",
        help="cold when the last event is at least this many days old",
    )
    categories_option(archive, default=[])
    archive.add_argument("--dry-run", action="store_true", help="count, move nothing")
    events = commands.add_parser("events", help="check the stored events")
    event_actions = events.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    event_actions.required = True
    verify = event_actions.add_parser(
        "verify",
        help="decode stored events with the current code and upcasters",
        description="Decode every stored event (or a sample, or some categories or types)"
        " with the current code and its upcasters, as a repository would, and report each"
        " event type and stored schema version that fails, with the count, the first"
        " failing position and the first error. Exit status 1 when any fails.",
    )
    store_options(verify)
    verify.add_argument(
        "--specs",
        type=text,
        help="module:NAME of an AggregateSpec or a sequence of them (default: the --app's,"
        f" else the demo's, {DEFAULT_SPECS})",
    )
    categories_option(verify)
    verify.add_argument(
        "--type", action="append", dest="types", type=text, help="only this event type"
    )
    verify.add_argument(
        "--sample", type=rate, help="decode this share of the events (0 < RATE <= 1), by id"
    )
    verify.add_argument("--limit", type=positive, help="stop after this many events")
    verify.add_argument(
        "--strict", action="store_true", help="events of types the code lacks fail too"
    )
    verify.add_argument("--json", action="store_true", help="one JSON object per line")
    projections = commands.add_parser("projections", help="status, rebuild or reset projections")
    projection_actions = projections.add_subparsers(
        dest="action", metavar="ACTION", parser_class=Parser
    )
    projection_actions.required = True
    for action, summary in (
        ("status", "checkpoint, lag and state of every projection"),
        ("rebuild", "rebuild one projection from the start of the feed"),
        ("reset", "forget one projection's checkpoint and documents"),
    ):
        sub = projection_actions.add_parser(action, help=summary)
        if action != "status":
            sub.add_argument("name", metavar="NAME", type=text, help="the projection's name")
        store_options(sub)
        sub.add_argument(
            "--projections",
            type=text,
            help="module:NAME of a Projection or a sequence of them (default: "
            + (
                "the projections recorded in the store"
                if action == "status"
                else f"the demo's, {DEFAULT_PROJECTIONS}"
            )
            + ")",
        )
        if action == "rebuild":
            sub.add_argument("--progress", action="store_true", help="draw the bar off a TTY")
        if action == "reset":
            sub.add_argument(
                "-y",
                "--yes",
                action="store_true",
                help="reset without asking to type the name (needed when stdin is not a TTY)",
            )
    status_command(
        commands,
        "relays",
        "status of the relays publishing the feed",
        "checkpoint, lag, stalled, holder and errors of every relay",
        RELAYS_STATUS_HELP,
        "relay",
    )
    saga_status = status_command(
        commands,
        "sagas",
        "status of the saga dispatchers and instances",
        "checkpoint, lag, stalled and errors of every dispatcher; instances by status",
        SAGAS_STATUS_HELP,
        "dispatcher",
    )
    saga_status.add_argument("--temporal", type=text, help="HOST:PORT of the Temporal frontend")
    saga_status.add_argument("--namespace", type=text, default="default", help="its namespace")
    saga_status.add_argument("--task-queue", type=text, help="count this task queue's only")
    saga_status.add_argument(
        "--saga", dest="sagas", action="append", type=text, default=[], help="a saga to count"
    )
    return parser
