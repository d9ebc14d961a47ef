"""A local TCP proxy that can cut the network silently, for partition tests.

``TcpProxy`` listens on 127.0.0.1 (a random port) and forwards every connection to a target
address. :meth:`TcpProxy.partition` stops forwarding in both directions without telling
anyone: sockets stay open, no reset is sent, bytes are read and thrown away, as a dropped
link looks to both ends. :meth:`TcpProxy.heal` resumes forwarding. A connection that lost
bytes during the partition is closed on heal (its byte stream is broken, as TCP would give
it up after retransmitting in vain); idle connections survive, as they do a real partition.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

__all__ = ["TcpProxy"]

_CHUNK = 65536


@dataclass(eq=False)
class _Pair:
    """One proxied connection: the client's side and the target's side."""

    client: asyncio.StreamWriter
    target: asyncio.StreamWriter
    lost_bytes: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def close(self) -> None:
        for writer in (self.client, self.target):
            writer.close()


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target_host``:``target_port`` until partitioned."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.partitioned = False
        self._server: asyncio.Server | None = None
        self._pairs: set[_Pair] = set()

    async def start(self) -> TcpProxy:
        """Listen on a free port of 127.0.0.1 (see :attr:`port`)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def partition(self) -> None:
        """Stop forwarding, silently, in both directions (new connections included)."""
        self.partitioned = True

    def heal(self) -> None:
        """Forward again; close the connections that lost bytes meanwhile."""
        self.partitioned = False
        for pair in [p for p in self._pairs if p.lost_bytes]:
            pair.close()

    async def close(self) -> None:
        """Stop listening and close every proxied connection."""
        if self._server is not None:
            self._server.close()
        pairs, self._pairs = list(self._pairs), set()
        for pair in pairs:
            pair.close()
            for task in pair.tasks:
                task.cancel()
        for pair in pairs:
            for task in pair.tasks:
                with contextlib.suppress(BaseException):
                    await task
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> TcpProxy:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        pair = _Pair(writer, target_writer)
        self._pairs.add(pair)
        pair.tasks = [
            asyncio.create_task(self._pump(pair, reader, target_writer)),
            asyncio.create_task(self._pump(pair, target_reader, writer)),
        ]
        await asyncio.gather(*pair.tasks, return_exceptions=True)
        pair.close()
        self._pairs.discard(pair)

    async def _pump(
        self, pair: _Pair, source: asyncio.StreamReader, sink: asyncio.StreamWriter
    ) -> None:
        try:
            while chunk := await source.read(_CHUNK):
                if self.partitioned:
                    pair.lost_bytes = True
                    continue
                sink.write(chunk)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            pair.close()
