"""The ``forze`` command line: the demo and inspection of SQLite event stores."""

from forze_cli.demo import DemoConfig, DemoReport, run_demo
from forze_cli.feed import format_event, tail_feed
from forze_cli.inspect_store import list_streams, open_existing, show_stream
from forze_cli.latency import YieldingEventStore
from forze_cli.main import build_parser, main
from forze_cli.progress import ProgressBar

__all__ = [
    "DemoConfig",
    "DemoReport",
    "ProgressBar",
    "YieldingEventStore",
    "build_parser",
    "format_event",
    "tail_feed",
    "list_streams",
    "open_existing",
    "show_stream",
    "main",
    "run_demo",
]
