"""Errors mapped to HTTP once, for every forze route: no stack trace or driver message ever
reaches a client."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from forze.domain.errors import (
    BrokerUnavailable,
    ConcurrencyError,
    DomainError,
    EventStoreUnavailable,
    ForzeError,
    InvalidInputError,
    NotFoundError,
    ReadOnlyOperationError,
    StorageUnavailable,
    StreamDeleted,
)
from forze_fastapi._current import correlation_id

__all__ = [
    "RETRY_AFTER_SECONDS",
    "FieldError",
    "install_error_handlers",
    "problem",
    "problem_for",
]

log = logging.getLogger("forze.http")

RETRY_AFTER_SECONDS = 1
"""The ``Retry-After`` a transient outage of the store answers with."""


class FieldError(InvalidInputError):
    """Bad input in one named request field (a query parameter, a filter's field): 422 with
    ``field`` in the body."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def problem(status: int, error: str, detail: str, **extra: Any) -> JSONResponse:
    """The one error body every forze route answers with: ``{"error", "detail", ...extra,
    "correlation_id"}`` (a transient 503 adds ``Retry-After``)."""
    body = {"error": error, "detail": detail, "correlation_id": correlation_id(), **extra}
    headers = {}
    if status == 503 and extra.get("transient"):
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return JSONResponse(body, status_code=status, headers=headers)


def problem_for(error: Exception) -> JSONResponse:
    """The response a forze error (or any other exception) maps to."""
    if isinstance(error, FieldError):
        return problem(422, "invalid_input", str(error), field=error.field)
    if isinstance(error, InvalidInputError):
        return problem(422, "invalid_input", str(error))
    if isinstance(error, ConcurrencyError):
        return problem(409, "conflict", str(error), actual_version=error.actual)
    if isinstance(error, NotFoundError):
        return problem(404, "not_found", str(error))
    if isinstance(error, StreamDeleted):
        return problem(410, "gone", str(error))
    if isinstance(error, DomainError):
        return problem(422, "domain_error", str(error))
    if isinstance(error, ReadOnlyOperationError):
        return problem(403, "read_only", str(error))
    if isinstance(error, _Outage):
        outage = next(what for kind, what in _OUTAGES.items() if isinstance(error, kind))
        log.warning("the %s is unavailable: %s", outage, error)
        return problem(
            503, "unavailable", f"the {outage} is unavailable; try again", transient=error.transient
        )
    log.error("internal error (correlation %s)", correlation_id(), exc_info=error)
    return problem(500, "internal", "internal error")


_Outage = EventStoreUnavailable | StorageUnavailable | BrokerUnavailable
_OUTAGES: dict[type[Exception], str] = {
    EventStoreUnavailable: "store",
    StorageUnavailable: "object storage",
    BrokerUnavailable: "broker",
}
"""The outages a request can meet, as the client is told of them (503; never the detail)."""


async def _forze(_request: Request, error: Exception) -> JSONResponse:
    return problem_for(error)


def _problems(error: RequestValidationError) -> list[tuple[tuple[Any, ...], str]]:
    """Each problem's location and message; a forze ``Command`` that refused its fields
    (an ``InvalidInputError`` caused by pydantic's error) is opened up to those fields."""
    found: list[tuple[tuple[Any, ...], str]] = []
    for item in error.errors():
        loc = tuple(item.get("loc", ()))
        raised = (item.get("ctx") or {}).get("error")
        cause = getattr(raised, "__cause__", None)
        if isinstance(raised, InvalidInputError) and isinstance(cause, ValidationError):
            for inner in cause.errors(include_url=False, include_input=False):
                found.append(((*loc, *inner["loc"]), str(inner["msg"])))
            continue
        found.append((loc, str(item.get("msg"))))
    return found


async def _validation(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    fields = [
        {"field": ".".join(str(part) for part in loc), "detail": message}
        for loc, message in _problems(error)
    ]
    first = fields[0]["field"] if fields else ""
    return problem(422, "invalid_input", "the request is not valid", field=first, fields=fields)


def install_error_handlers(app: FastAPI) -> None:
    """Map forze errors, request validation errors and any other exception on ``app``:
    bad input 422 (naming the field where one is known), a domain error 422, a conflict
    409, not found 404, a deleted stream 410, the store unavailable 503 (with
    ``Retry-After`` when transient). Any other exception becomes a 500 with no detail in
    ``CorrelationIdMiddleware`` (``install_forze`` adds both)."""
    app.add_exception_handler(ForzeError, _forze)
    app.add_exception_handler(RequestValidationError, _validation)
