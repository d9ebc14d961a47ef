"""``X-Correlation-ID``: taken from the request (or made) and sent back with the response."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forze_fastapi._current import CURRENT, correlation_id
from forze_fastapi.errors import problem_for

__all__ = ["HEADER", "CorrelationIdMiddleware", "correlation_id"]

HEADER = "x-correlation-id"

_ACCEPTED = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
"""What a client's correlation id may be; anything else is replaced by a new one."""


class CorrelationIdMiddleware:
    """An ASGI middleware: the request's ``X-Correlation-ID`` (a new UUID when it has none,
    or one that is not a plain token) is the correlation id of everything the request does,
    and is sent back in the response's ``X-Correlation-ID``. An exception no handler took
    becomes the 500 answer of ``forze_fastapi.errors`` (logged with the id, never shown)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next(
            (
                value.decode("latin-1")
                for name, value in scope["headers"]
                if name == b"x-correlation-id"
            ),
            "",
        )
        value = given if _ACCEPTED.fullmatch(given) else str(uuid.uuid4())
        token = CURRENT.set(value)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((HEADER.encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_id(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as error:
            if started:
                raise  # too late for a response of our own
            await problem_for(error)(scope, receive, send_with_id)
        finally:
            CURRENT.reset(token)
