"""The ``forze`` command line's argument types and shared options."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from forze_cli._stores import DEFAULT_DB, STORE_ENV, StoreTarget, store_target

__all__ = [
    "MAX_ACCOUNTS",
    "MAX_COMMANDS",
    "MAX_COUNT",
    "MAX_WORKERS",
    "Parser",
    "at_most",
    "categories_option",
    "natural",
    "positive",
    "positive_seconds",
    "rate",
    "status_command",
    "store_options",
    "target_of",
    "text",
]


class Parser(argparse.ArgumentParser):
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


def positive(text: str) -> int:
    return _whole(text, 1, MAX_COUNT)


def natural(text: str) -> int:
    return _whole(text, 0, MAX_COUNT)


def categories_option(parser: argparse.ArgumentParser, **extra: Any) -> None:
    """``--category C`` (repeatable) into ``categories``: only events or streams of them."""
    parser.add_argument(
        "--category",
        action="append",
        dest="categories",
        type=text,
        help="only this category (repeat for several)",
        **extra,
    )


def at_most(high: int) -> Callable[[str], int]:
    def whole(text: str) -> int:
        return _whole(text, 1, high)

    return whole


def positive_seconds(text: str) -> float:
    """A number of seconds above 0 (``inf`` and ``nan`` refused)."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"seconds must be above 0 and finite, not {text!r}")
    return seconds


_STORE_HELP = (
    "a sqlite:///PATH, postgresql://... or mongodb://... URL (default: $"
    + STORE_ENV
    + f", else {DEFAULT_DB})"
)


def store_options(
    parser: argparse.ArgumentParser, *, creates: bool = False, app: bool = True
) -> None:
    """``--store URL`` or ``--db FILE`` (or ``--app``), and PostgreSQL's ``--schema`` and
    ``--tenant``."""
    if app:
        parser.add_argument(
            "--app",
            type=text,
            help="package.module:NAME of a function returning your application's Runtime:"
            " its store, projections and event types instead of --store",
        )
    parser.add_argument("--store", type=text, help=_STORE_HELP)
    parser.add_argument(
        "--db",
        type=Path,
        help="a SQLite file, the same as --store sqlite:///FILE"
        + (" (created when missing)" if creates else ""),
    )
    parser.add_argument(
        "--schema", type=text, help="PostgreSQL: the schema of forze's tables (default public)"
    )
    parser.add_argument(
        "--tenant", type=text, help="PostgreSQL: the tenant, in the tenant-column layout"
    )


def target_of(arguments: argparse.Namespace) -> StoreTarget:
    return store_target(
        db=arguments.db,
        store=arguments.store,
        schema=arguments.schema,
        tenant=arguments.tenant,
        app=getattr(arguments, "app", None),
    )


def status_command(
    commands: Any, name: str, summary: str, status_summary: str, description: str, what: str
) -> argparse.ArgumentParser:
    """``forze NAME status --db F --stall-seconds S``: the parser of its ``status`` action."""
    parser = commands.add_parser(name, help=summary)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    actions.required = True
    status: argparse.ArgumentParser = actions.add_parser(
        "status", help=status_summary, description=description
    )
    store_options(status)
    status.add_argument(
        "--stall-seconds",
        type=positive_seconds,
        default=60.0,
        help=f"report a {what} stalled when it is behind and its checkpoint has not moved for"
        " longer (default 60)",
    )
    return status


def rate(text: str) -> float:
    """A share above 0 and at most 1."""
    try:
        rate = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < rate <= 1:
        raise argparse.ArgumentTypeError(f"the sample must be above 0 and at most 1, not {text}")
    return rate


def text(text: str) -> str:
    """Refuse text that is not valid UTF-8 (undecodable argv bytes arrive as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not valid UTF-8") from None
    return text
