"""``commands_router``: a runtime's command usecases as ``POST`` endpoints, with HTTP's own
concurrency vocabulary (``ETag``, ``If-Match``) and ``Idempotency-Key``.

Annotations here are evaluated when the routes are made (no ``from __future__ import
annotations``): FastAPI reads each route's body model, a local, from them."""

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from forze.contracts import AppendResult, IdempotencyStore
from forze.domain.errors import ConcurrencyError, WiringError
from forze.execution import OperationKind, Runtime, Usecase
from forze_fastapi._current import correlation_id
from forze_fastapi.errors import FieldError, problem, problem_for

__all__ = ["commands_router"]

_ETAG = re.compile(r'"(\d{1,10})"')
_KEY = re.compile(r"[\x21-\x7e]{1,200}")
"""An ``Idempotency-Key``: 1 to 200 visible ASCII characters."""

IDEMPOTENCY_TTL_SECONDS = 24 * 3600.0
"""How long a completed ``Idempotency-Key`` replays its response."""


def commands_router(
    runtime: Runtime,
    usecases: Sequence[Usecase[Any, Any]],
    *,
    idempotency: IdempotencyStore | None = None,
    prefix: str = "/commands",
) -> APIRouter:
    """``POST /commands/<usecase name>`` for each command usecase of ``usecases``, whose
    request body is the usecase's pydantic command (422 naming the field when it is bad).

    - The answer is ``{"result": ..., "saved": [{stream_id, version, position}, ...]}``,
      with the last saved stream's version as ``ETag``.
    - ``If-Match: "<version>"`` runs the command expecting the aggregate it changes at that
      version: another version answers 412 and stores nothing. A concurrency conflict
      without ``If-Match`` answers 409.
    - ``Idempotency-Key`` (with ``idempotency``): the first request with a key runs; a
      repeat with the same body replays the stored answer (``Idempotent-Replayed: true``)
      and stores nothing; the same key with another body answers 422, and one still
      running 409. Without ``idempotency`` the header is refused (422), never ignored.
    - ``X-Correlation-ID`` becomes the events' ``correlation_id``.
    """
    router = APIRouter(prefix=prefix, tags=["commands"])
    for usecase in usecases:
        if usecase.kind is not OperationKind.COMMAND:
            raise WiringError(f"usecase {usecase.name!r} is a query: it is no command route")
        _route(router, runtime, usecase, idempotency)
    return router


def _command_model(usecase: Usecase[Any, Any]) -> type[BaseModel]:
    types = usecase.payload_types()
    models = [t for t in types or () if isinstance(t, type) and issubclass(t, BaseModel)]
    if len(models) != 1:
        raise WiringError(
            f"usecase {usecase.name!r}: a command route needs a handler whose payload is"
            " annotated with one pydantic model"
        )
    return models[0]


def _route(
    router: APIRouter,
    runtime: Runtime,
    usecase: Usecase[Any, Any],
    idempotency: IdempotencyStore | None,
) -> None:
    model = _command_model(usecase)

    async def run(
        command: Annotated[model, Body()],  # type: ignore[valid-type]
        if_match: Annotated[str | None, Header()] = None,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        expected = None if if_match is None else _expected_version(if_match)
        if idempotency_key is None:
            return await _execute(runtime, usecase, command, expected)
        if idempotency is None:
            raise FieldError("Idempotency-Key", "this service keeps no idempotency keys")
        if not _KEY.fullmatch(idempotency_key):
            raise FieldError("Idempotency-Key", "an Idempotency-Key is 1 to 200 visible characters")
        return await _once(
            idempotency,
            f"{usecase.name}:{idempotency_key}",
            command,
            expected,
            lambda: _execute(runtime, usecase, command, expected),
        )

    run.__name__ = f"command_{usecase.name}"
    router.add_api_route(
        f"/{usecase.name}",
        run,
        methods=["POST"],
        summary=f"Run {usecase.name}",
        responses={409: {"description": "conflict"}, 412: {"description": "If-Match failed"}},
    )


def _expected_version(if_match: str) -> int:
    found = _ETAG.fullmatch(if_match.strip())
    if found is None:
        raise FieldError("If-Match", 'If-Match must be one ETag this service sent: "<version>"')
    return int(found[1])


async def _execute(
    runtime: Runtime, usecase: Usecase[Any, Any], command: BaseModel, expected: int | None
) -> JSONResponse:
    saved: list[AppendResult] = []
    try:
        result = await runtime.execute(
            usecase,
            command,
            correlation_id=correlation_id(),
            expected_version=expected,
            saved=saved,
        )
    except ConcurrencyError as error:
        if expected is None:
            raise
        response = problem_for(error)
        response.status_code = 412
        return _retitled(response, "precondition_failed")
    body = {
        "result": jsonable_encoder(result),
        "saved": [
            {"stream_id": s.stream_id, "version": s.version, "position": s.position} for s in saved
        ],
    }
    headers = {"ETag": f'"{saved[-1].version}"'} if saved else {}
    return JSONResponse(body, headers=headers)


def _retitled(response: JSONResponse, error: str) -> JSONResponse:
    body = json.loads(bytes(response.body))
    body["error"] = error
    return JSONResponse(body, status_code=response.status_code)


async def _once(
    store: IdempotencyStore,
    key: str,
    command: BaseModel,
    expected: int | None,
    run: Any,
) -> JSONResponse:
    """Run ``run()`` once per key; replay its stored answer for a repeat of the same body."""
    fingerprint = hashlib.sha256(
        json.dumps([command.model_dump(mode="json"), expected], sort_keys=True).encode()
    ).hexdigest()
    if not await store.reserve(key, ttl_seconds=IDEMPOTENCY_TTL_SECONDS):
        stored = await store.result(key)
        if stored is None:
            return problem(409, "conflict", "a request with this Idempotency-Key is running")
        if stored["fingerprint"] != fingerprint:
            raise FieldError("Idempotency-Key", "this Idempotency-Key was used with another body")
        headers = {"Idempotent-Replayed": "true", **stored["headers"]}
        return JSONResponse(stored["body"], status_code=stored["status"], headers=headers)
    try:
        response: JSONResponse = await run()
    except BaseException:
        await store.release(key)
        raise
    if response.status_code >= 500:
        await store.release(key)
        return response
    etag = response.headers.get("etag")
    await store.complete(
        key,
        {
            "fingerprint": fingerprint,
            "status": response.status_code,
            "body": json.loads(bytes(response.body)),
            "headers": {} if etag is None else {"ETag": etag},
        },
    )
    return response
