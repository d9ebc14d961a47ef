"""``run_process``: run a service's main coroutine, then leave without interpreter teardown.

temporalio's Rust bridge keeps threads that may still drop Python objects while CPython
finalizes, which aborts the process ("Fatal Python error: PyGILState_Release ... finalizing",
temporalio/sdk-python issue 300) after an orderly shutdown. A process that ran a client or
worker ends here: once ``main`` returned (every worker stopped, every connection closed),
standard streams are flushed and the process exits with ``os._exit``, skipping the teardown
in which the crash happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

__all__ = ["run_process"]


def run_process(main: Callable[[], Coroutine[Any, Any, object]]) -> NoReturn:
    """``asyncio.run(main())``, then exit: status 0, or 1 when it raised (after printing the
    traceback). Use as the last line of a worker's ``if __name__ == "__main__":``."""
    status = 0
    try:
        asyncio.run(main())
    except BaseException:  # report it like the interpreter would, then leave as planned
        import traceback

        traceback.print_exc()
        status = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed stream: nothing to flush
                stream.flush()
    os._exit(status)
