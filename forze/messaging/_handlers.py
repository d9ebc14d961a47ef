"""What a consumer calls for a message: a usecase or a message handler, and ``idempotent``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias

from pydantic import BaseModel, ValidationError

from forze.contracts import IdempotencyStore, Message
from forze.domain.errors import ForzeError, InvalidInputError, MalformedMessage, WiringError
from forze.execution import ExecutionContext, Runtime, Usecase
from forze.execution._payloads import payload_types
from forze.messaging.envelope import message_data

__all__ = ["ClaimedElsewhere", "MessageHandler", "Route", "idempotent"]

MessageHandler: TypeAlias = Callable[[ExecutionContext, Message], Awaitable[object]]
"""``handler(ctx, message)``: handles one message in the context the consumer opened for it
(``message_data(message)`` is its body)."""

Route: TypeAlias = Usecase[Any, Any] | MessageHandler
"""What a consumer maps an event type to: a usecase, whose payload is built from the
message's data, or a :data:`MessageHandler`."""

Call: TypeAlias = Callable[[Message, Mapping[str, Any]], Awaitable[object]]
"""A route bound to a runtime: ``call(message, context_arguments)``."""


class ClaimedElsewhere(ForzeError):
    """Another consumer holds the idempotency claim of this message: try again later."""


def bind(route: Route, runtime: Runtime) -> Call:
    """``route`` as a call the consumer makes with a message and the context's arguments.

    A usecase is checked against ``runtime`` now (``WiringError``); its payload is the message
    data validated as the pydantic model its handler takes, or the data itself (a handler
    taking ``dict``, a ``Mapping`` or ``Any``). Data that does not validate is a
    ``MalformedMessage``.
    """
    if not isinstance(route, Usecase):
        handler = route

        async def call_handler(message: Message, arguments: Mapping[str, Any]) -> object:
            message_data(message)
            return await handler(runtime.context(**arguments), message)

        return call_handler
    usecase: Usecase[Any, Any] = route
    runtime.check(usecase)
    to_payload = _payload_maker(usecase)

    async def call_usecase(message: Message, arguments: Mapping[str, Any]) -> object:
        payload = to_payload(message)
        return await runtime.execute(usecase, payload, **arguments)

    return call_usecase


def _payload_maker(usecase: Usecase[Any, Any]) -> Callable[[Message], object]:
    accepted = payload_types(usecase.handler)
    if accepted is None or any(issubclass(dict, cls) for cls in accepted):
        return message_data
    models = [cls for cls in accepted if issubclass(cls, BaseModel)]
    if len(models) != 1:
        raise WiringError(
            f"usecase {usecase.name!r} cannot take a message: its payload must be one pydantic"
            " model, a dict (the message data) or Any"
        )
    model = models[0]

    def make(message: Message) -> object:
        try:
            return model.model_validate(message_data(message))
        except MalformedMessage:
            raise
        except ValidationError as error:
            problem = f"{error.error_count()} error(s), first at {_first_place(error)}"
        except InvalidInputError as error:  # a Command's own validation, translated already
            problem = str(error)
        raise MalformedMessage(f"message {message.id!r}: data is not a {model.__name__}: {problem}")

    return make


def _first_place(error: ValidationError) -> str:
    return ".".join(map(str, error.errors()[0]["loc"])) or "(root)"


def idempotent(
    handler: MessageHandler, store: IdempotencyStore, *, ttl_seconds: float | None = None
) -> MessageHandler:
    """``handler`` run at most once per message id, for effects that are not events (an
    e-mail, a call to another system): the first delivery claims the id in ``store``, runs
    ``handler`` and stores its result (a JSON-able mapping; anything else is stored as
    ``{}``); a later delivery gets the stored result back without running it. A failed run
    releases the claim so a retry can run it again; a delivery finding the claim held by a
    consumer still running (or one that died: ``ttl_seconds`` ends its claim) raises
    :class:`ClaimedElsewhere`, which the consumer retries with back-off.
    """

    async def call(ctx: ExecutionContext, message: Message) -> object:
        key = f"message:{message.id}"
        if not await store.reserve(key, ttl_seconds=ttl_seconds):
            stored = await store.result(key)
            if stored is None:
                raise ClaimedElsewhere(f"message {message.id!r} is being handled elsewhere")
            return stored
        try:
            result = await handler(ctx, message)
        except BaseException:
            await store.release(key)
            raise
        await store.complete(key, dict(result) if isinstance(result, Mapping) else {})
        return result

    return call
