"""The sync-to-async bridge: one thread running one event loop, which owns the forze store."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from eventsourcing.persistence import InterfaceError, OperationalError

from forze.contracts import EventStore
from forze_eventsourcing._mapping import translated_errors

__all__ = ["DEFAULT_TIMEOUT", "LoopBridge", "StoreCloser", "StoreOpener"]

T = TypeVar("T")

DEFAULT_TIMEOUT = 60.0
"""Seconds a synchronous call waits for its coroutine before giving up."""

StoreCloser = Callable[[], Awaitable[None] | None]
"""Closes a store, on the bridge's loop: a plain function, or one returning an awaitable
(a coroutine) that the bridge awaits."""

StoreOpener = Callable[[], Coroutine[Any, Any, tuple[EventStore, StoreCloser]]]
"""Opens a store on the bridge's loop: the store and the function that closes it."""


class LoopBridge:
    """A daemon thread running an asyncio event loop, on which a forze store is opened and
    used; synchronous callers hand it coroutines with :meth:`run`.

    Every coroutine runs on that one loop, so any number of threads may call :meth:`run` at
    once. :meth:`close` (idempotent) cancels the loop's tasks, closes the store, stops the
    loop and joins the thread.
    """

    def __init__(self, opener: StoreOpener, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._timeout = timeout
        self._lock = threading.Lock()
        self._closed = False
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, name="forze-eventsourcing-loop", daemon=True
        )
        self._thread.start()
        self.store: EventStore
        self._close_store: StoreCloser
        try:
            with translated_errors():  # a store that cannot open: OperationalError
                self.store, self._close_store = self.run(opener())
        except BaseException:
            self._stop_loop()
            raise

    def _serve(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    @property
    def on_loop_thread(self) -> bool:
        """Whether the calling thread is the loop's own."""
        return threading.get_ident() == self._thread.ident

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result (at most the timeout).

        Refused with ``RuntimeError`` from the loop's own thread (it would wait for itself)
        and with ``InterfaceError`` once the bridge is closed; a call that times out is
        cancelled and raises ``OperationalError``.
        """
        if self.on_loop_thread:
            coro.close()
            raise RuntimeError("a forze_eventsourcing recorder was called on its own loop")
        with self._lock:
            if self._closed:
                coro.close()
                raise InterfaceError("the forze_eventsourcing factory is closed")
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return self._wait(future)

    def _wait(self, future: Future[T]) -> T:
        try:
            return future.result(self._timeout)
        except TimeoutError as error:
            if future.cancel():
                raise OperationalError(
                    f"a forze store call took longer than {self._timeout} s"
                ) from error
            raise

    def spawn(self, coro: Coroutine[Any, Any, None]) -> Future[None]:
        """Start ``coro`` as a task on the loop without waiting; cancel it with the returned
        future's ``cancel()`` (safe from any thread). Tasks still running at :meth:`close`
        are cancelled."""
        with self._lock:
            if self._closed:
                coro.close()
                raise InterfaceError("the forze_eventsourcing factory is closed")
            return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        """Cancel the loop's tasks, close the store, stop the loop and join its thread.

        At interpreter exit (an application never closed, collected by ``__del__``) the
        loop's daemon thread no longer runs: the bridge is only marked closed."""
        if self.on_loop_thread:
            raise RuntimeError("a forze_eventsourcing factory cannot be closed on its own loop")
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if sys.is_finalizing() or not self._thread.is_alive():
                return
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop)
        try:
            self._wait(future)
        finally:
            self._stop_loop()

    async def _shutdown(self) -> None:
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        closing = self._close_store()
        if closing is not None:
            await closing

    def _stop_loop(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop already stopped and closed
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
