"""HTTP entry points on FastAPI: command usecases (ETag, If-Match, Idempotency-Key), streams,
the feed and its live Server-Sent Events, and read-model queries of a running runtime, with
errors mapped once and correlation ids; and a web console for operators."""

from forze_fastapi.app import forze_app, install_forze
from forze_fastapi.commands import commands_router
from forze_fastapi.console import console_router
from forze_fastapi.correlation import CorrelationIdMiddleware, correlation_id
from forze_fastapi.errors import FieldError, install_error_handlers, problem, problem_for
from forze_fastapi.events import events_router
from forze_fastapi.read_models import read_models_router

__all__ = [
    "CorrelationIdMiddleware",
    "FieldError",
    "commands_router",
    "console_router",
    "correlation_id",
    "events_router",
    "forze_app",
    "install_error_handlers",
    "install_forze",
    "problem",
    "problem_for",
    "read_models_router",
]
