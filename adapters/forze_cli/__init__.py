"""The ``forze`` command line: the demo and inspection of SQLite event stores."""

from forze_cli.demo import DemoConfig, DemoReport, run_demo
from forze_cli.demo_file import (
    DEMO_APPLICATION_ID,
    create_demo_file,
    is_demo_database,
    prepare_demo_file,
)
from forze_cli.feed import format_event, tail_feed
from forze_cli.inspect_store import (
    list_streams,
    open_existing,
    require_forze_store,
    require_store_file,
    show_stream,
)
from forze_cli.latency import YieldingEventStore
from forze_cli.main import build_parser, main
from forze_cli.progress import ProgressBar
from forze_cli.projections_cmd import (
    DEFAULT_PROJECTIONS,
    load_projections,
    open_projector,
    projections_command,
    write_table,
)
from forze_cli.relays_cmd import CONSUMER_COLUMNS, RELAY_PREFIX, consumer_rows, relays_status
from forze_cli.sagas_cmd import SAGA_PREFIX, sagas_status

__all__ = [
    "DEMO_APPLICATION_ID",
    "create_demo_file",
    "is_demo_database",
    "prepare_demo_file",
    "require_forze_store",
    "DEFAULT_PROJECTIONS",
    "load_projections",
    "open_projector",
    "projections_command",
    "CONSUMER_COLUMNS",
    "RELAY_PREFIX",
    "SAGA_PREFIX",
    "consumer_rows",
    "relays_status",
    "sagas_status",
    "write_table",
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
    "require_store_file",
    "main",
    "run_demo",
]
