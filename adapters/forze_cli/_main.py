"""The ``forze`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from forze.domain.errors import ForzeError
from forze_cli._console import RICH_HINT, require_rich
from forze_cli._demo import DemoConfig, run_demo
from forze_cli._feed import tail_feed
from forze_cli._inspect_store import list_streams, show_stream
from forze_cli._projections_cmd import (
    DEFAULT_PROJECTIONS,
    confirm_by_typing,
    projections_command,
)
from forze_cli._relays_cmd import RELAYS_STATUS_HELP, relays_status
from forze_cli._sagas_cmd import SAGAS_STATUS_HELP, sagas_status

__all__ = ["build_parser", "main"]

DEFAULT_DB = Path("forze-demo.sqlite")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


MAX_COUNT = 2**63 - 1
"""The largest count or limit the commands take: SQLite's largest integer."""
MAX_ACCOUNTS = 1_000_000
MAX_COMMANDS = 100_000_000
MAX_WORKERS = 1_000


def _whole(text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < low:
        raise argparse.ArgumentTypeError(
            f"{text!r} must be at least {low}" if low else f"{text!r} must not be negative"
        )
    if value > high:
        raise argparse.ArgumentTypeError(f"{text!r} must be at most {high}")
    return value


def _positive(text: str) -> int:
    return _whole(text, 1, MAX_COUNT)


def _natural(text: str) -> int:
    return _whole(text, 0, MAX_COUNT)


def _at_most(high: int) -> Callable[[str], int]:
    def whole(text: str) -> int:
        return _whole(text, 1, high)

    return whole


def _positive_seconds(text: str) -> float:
    """A number of seconds above 0 (``inf`` and ``nan`` refused)."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"seconds must be above 0 and finite, not {text!r}")
    return seconds


def _status_command(
    commands: Any, name: str, summary: str, status_summary: str, description: str, what: str
) -> argparse.ArgumentParser:
    """``forze NAME status --db F --stall-seconds S``: the parser of its ``status`` action."""
    parser = commands.add_parser(name, help=summary)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    actions.required = True
    status: argparse.ArgumentParser = actions.add_parser(
        "status", help=status_summary, description=description
    )
    status.add_argument("--db", type=Path, default=DEFAULT_DB, help="SQLite file")
    status.add_argument(
        "--stall-seconds",
        type=_positive_seconds,
        default=60.0,
        help=f"report a {what} stalled when it is behind and its checkpoint has not moved for"
        " longer (default 60)",
    )
    return status


def _text(text: str) -> str:
    """Refuse text that is not valid UTF-8 (undecodable argv bytes arrive as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not valid UTF-8") from None
    return text


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``forze`` command."""
    parser = _Parser(prog="forze", description="forze: event-sourced services toolkit.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    demo = commands.add_parser("demo", help="run the bank example end to end on SQLite")
    demo.add_argument(
        "--db", type=Path, default=DEFAULT_DB, help="SQLite file (a previous demo's is recreated)"
    )
    demo.add_argument("--force", action="store_true", help="replace --db even if no demo made it")
    demo.add_argument(
        "--accounts", type=_at_most(MAX_ACCOUNTS), default=100, help="accounts to open"
    )
    demo.add_argument(
        "--commands", type=_at_most(MAX_COMMANDS), default=5000, help="commands to run"
    )
    demo.add_argument("--workers", type=_at_most(MAX_WORKERS), default=8, help="concurrent workers")
    demo.add_argument("--seed", type=int, default=7, help="random seed")
    demo.add_argument("--progress", action="store_true", help="draw progress bars off a TTY")

    streams = commands.add_parser("streams", help="list the streams of a SQLite store")
    streams.add_argument("--db", type=Path, default=DEFAULT_DB, help="SQLite file")
    streams.add_argument("--category", type=_text, help="only streams of this category")
    streams.add_argument("--limit", type=_positive, help="at most this many streams")

    stream = commands.add_parser("stream", help="inspect one stream")
    actions = stream.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    actions.required = True
    show = actions.add_parser("show", help="print the events of a stream")
    show.add_argument(
        "stream_id", metavar="ID", type=_text, help="the stream id, e.g. account-00001"
    )
    show.add_argument("--db", type=Path, default=DEFAULT_DB, help="SQLite file")
    show.add_argument("--limit", type=_positive, help="at most this many events")
    show.add_argument("--json", action="store_true", help="one JSON object per line")

    feed = commands.add_parser("feed", help="read the global feed")
    feed_actions = feed.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    feed_actions.required = True
    tail = feed_actions.add_parser("tail", help="print the latest events, optionally following")
    tail.add_argument("--db", type=Path, default=DEFAULT_DB, help="SQLite file")
    tail.add_argument(
        "--last",
        type=_natural,
        default=10,
        help="start N matching events (of --type and --category) before the head (default 10)",
    )
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    tail.add_argument(
        "--count", type=_positive, help="print at most this many events (without -f, the newest)"
    )
    tail.add_argument(
        "--type", action="append", dest="types", type=_text, help="only this event type"
    )
    tail.add_argument(
        "--category", action="append", dest="categories", type=_text, help="only this category"
    )
    tail.add_argument("--json", action="store_true", help="one JSON object per line")
    projections = commands.add_parser("projections", help="status, rebuild or reset projections")
    projection_actions = projections.add_subparsers(
        dest="action", metavar="ACTION", parser_class=_Parser
    )
    projection_actions.required = True
    for action, text in (
        ("status", "checkpoint, lag and state of every projection"),
        ("rebuild", "rebuild one projection from the start of the feed"),
        ("reset", "forget one projection's checkpoint and documents"),
    ):
        sub = projection_actions.add_parser(action, help=text)
        if action != "status":
            sub.add_argument("name", metavar="NAME", type=_text, help="the projection's name")
        sub.add_argument("--db", type=Path, default=DEFAULT_DB, help="SQLite file")
        sub.add_argument(
            "--projections",
            type=_text,
            help="module:NAME of a Projection or a sequence of them (default: "
            + (
                "the projections recorded in the file"
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
    _status_command(
        commands,
        "relays",
        "status of the relays publishing the feed",
        "checkpoint, lag, stalled, holder and errors of every relay",
        RELAYS_STATUS_HELP,
        "relay",
    )
    saga_status = _status_command(
        commands,
        "sagas",
        "status of the saga dispatchers and instances",
        "checkpoint, lag, stalled and errors of every dispatcher; instances by status",
        SAGAS_STATUS_HELP,
        "dispatcher",
    )
    saga_status.add_argument("--temporal", type=_text, help="HOST:PORT of the Temporal frontend")
    saga_status.add_argument("--namespace", type=_text, default="default", help="its namespace")
    saga_status.add_argument("--task-queue", type=_text, help="count this task queue's only")
    saga_status.add_argument(
        "--saga", dest="sagas", action="append", type=_text, default=[], help="a saga to count"
    )
    return parser


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
        if arguments.command == "streams":
            asyncio.run(
                list_streams(
                    arguments.db, sys.stdout, category=arguments.category, limit=arguments.limit
                )
            )
            return 0
        if arguments.command == "projections":
            asks = arguments.action == "reset" and not arguments.yes
            asyncio.run(
                projections_command(
                    arguments.action,
                    arguments.db,
                    arguments.projections,
                    sys.stdout,
                    name=getattr(arguments, "name", None),
                    progress=getattr(arguments, "progress", False),
                    confirm=confirm_by_typing(sys.stdin, sys.stderr) if asks else None,
                )
            )
            return 0
        if arguments.command == "relays":
            asyncio.run(
                relays_status(arguments.db, sys.stdout, stall_seconds=arguments.stall_seconds)
            )
            return 0
        if arguments.command == "sagas":
            asyncio.run(
                sagas_status(
                    arguments.db,
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
                    arguments.db,
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
                arguments.db,
                arguments.stream_id,
                sys.stdout,
                limit=arguments.limit,
                as_json=arguments.json,
            )
        )
        return 0
    except KeyboardInterrupt:
        return 130
    except ForzeError as error:
        sys.stderr.write(f"forze: error: {error}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
