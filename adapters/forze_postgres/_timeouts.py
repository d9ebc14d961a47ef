"""How long a ``PostgresDatabase`` waits for PostgreSQL, and how it notices a silent peer.

A statement waits at most ``command_timeout`` seconds for its answer, and a new connection
``connect_timeout`` seconds for the server. TCP keepalives, on both ends of every
connection, find a peer that went silent (a network partition drops packets without a
reset, and TCP alone would keep retrying for about 15 minutes): after ``keepalive_idle``
seconds without traffic a probe is sent every ``keepalive_interval`` seconds, and after
``keepalive_count`` unanswered probes the connection is dropped. The same total bounds how
long sent data may stay unacknowledged (``TCP_USER_TIMEOUT``). The client's side is set on
its socket (where the platform has the options), the server's with its
``tcp_keepalives_*`` and ``tcp_user_timeout`` settings, so that the server, too, ends the
sessions (and their locks) of a client it can no longer reach.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from forze.domain.errors import InvalidInputError

__all__ = [
    "DEFAULT_COMMAND_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_KEEPALIVE_COUNT",
    "DEFAULT_KEEPALIVE_IDLE",
    "DEFAULT_KEEPALIVE_INTERVAL",
    "SCHEMA_CHANGE_TIMEOUT",
    "Timeouts",
]

DEFAULT_CONNECT_TIMEOUT = 10.0
"""Seconds a new connection waits for the server (asyncpg's own default is 60)."""
DEFAULT_COMMAND_TIMEOUT = 30.0
"""Seconds a statement waits for its answer (asyncpg's own default is no limit)."""
DEFAULT_KEEPALIVE_IDLE = 10.0
"""Seconds without traffic before the first keepalive probe (the OS default is 2 hours)."""
DEFAULT_KEEPALIVE_INTERVAL = 5.0
"""Seconds between two unanswered keepalive probes."""
DEFAULT_KEEPALIVE_COUNT = 3
"""Unanswered probes after which the connection is dropped."""

SCHEMA_CHANGE_TIMEOUT = 3600.0
"""Seconds a schema change may take instead of the command timeout: a migration step or an
index build reads a whole table, and may first wait for another process's. (A silent peer
is still found by the keepalives.)"""

_KEEPALIVE_MOST = 32767
"""The longest keepalive idle time or interval Linux accepts, in seconds."""
_SILENT_MOST = 2_147_483
"""The longest ``tcp_user_timeout`` PostgreSQL accepts, in seconds (an int of ms)."""

_CLOSE_WITHIN = 30.0
"""Seconds ``close`` waits for connections in use when there is no command timeout."""


@dataclass(frozen=True)
class Timeouts:
    """The waiting limits and keepalive settings of one database (see the module docstring).

    ``command`` None means no limit; ``keepalive_idle`` None leaves keepalives to the
    operating system and the server's configuration.
    """

    connect: float = DEFAULT_CONNECT_TIMEOUT
    command: float | None = DEFAULT_COMMAND_TIMEOUT
    keepalive_idle: float | None = DEFAULT_KEEPALIVE_IDLE
    keepalive_interval: float = DEFAULT_KEEPALIVE_INTERVAL
    keepalive_count: int = DEFAULT_KEEPALIVE_COUNT

    def __post_init__(self) -> None:
        _positive("connect_timeout", self.connect)
        if self.command is not None:
            _positive("command_timeout", self.command)
        if self.keepalive_idle is not None:
            _positive("keepalive_idle", self.keepalive_idle, _KEEPALIVE_MOST)
        _positive("keepalive_interval", self.keepalive_interval, _KEEPALIVE_MOST)
        if isinstance(self.keepalive_count, bool) or not isinstance(self.keepalive_count, int):
            raise InvalidInputError(f"keepalive_count must be an int, not {self.keepalive_count!r}")
        if not 1 <= self.keepalive_count <= 100:
            raise InvalidInputError(
                f"keepalive_count must be between 1 and 100, not {self.keepalive_count}"
            )

    @property
    def close_within(self) -> float:
        """Seconds ``close`` waits for connections in use before it terminates them."""
        return self.command if self.command is not None else _CLOSE_WITHIN

    def pool_options(self) -> dict[str, Any]:
        """``asyncpg.create_pool`` keyword arguments that apply these settings."""
        options: dict[str, Any] = {"timeout": self.connect, "command_timeout": self.command}
        if self.keepalive_idle is not None:
            idle, interval = _seconds(self.keepalive_idle), _seconds(self.keepalive_interval)
            silent = min(idle + interval * self.keepalive_count, _SILENT_MOST)
            options["server_settings"] = {
                "tcp_keepalives_idle": str(idle),
                "tcp_keepalives_interval": str(interval),
                "tcp_keepalives_count": str(self.keepalive_count),
                "tcp_user_timeout": str(silent * 1000),
            }
            options["init"] = _keepalive_setter(idle, interval, self.keepalive_count, silent)
        return options


def _positive(name: str, value: object, most: float = math.inf) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= most
    ):
        bound = "" if most == math.inf else f" up to {most:g}"
        raise InvalidInputError(
            f"{name} must be a positive number of seconds{bound}, not {value!r}"
        )


def _seconds(value: float) -> int:
    """Whole seconds, at least 1 (what the socket options and server settings take)."""
    return max(1, math.ceil(value))


def _keepalive_setter(
    idle: int, interval: int, count: int, silent: int
) -> Callable[[Any], Awaitable[None]]:
    """The pool's ``init``: set the keepalive options on each new connection's socket."""

    async def init(connection: Any) -> None:
        # asyncpg has no keepalive parameters; its connection keeps its transport here
        transport = getattr(connection, "_transport", None)
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            set_keepalive(sock, idle, interval, count, silent)

    return init


def set_keepalive(sock: Any, idle: int, interval: int, count: int, silent: int) -> None:
    """Turn on TCP keepalives on ``sock`` with these settings (those the platform has)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", idle),
        ("TCP_KEEPALIVE", idle),  # macOS's name for the idle time
        ("TCP_KEEPINTVL", interval),
        ("TCP_KEEPCNT", count),
        ("TCP_USER_TIMEOUT", silent * 1000),
    ):
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)
