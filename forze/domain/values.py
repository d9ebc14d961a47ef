"""Immutable building blocks: value objects, commands and domain events."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from forze.domain.errors import InvalidInputError

__all__ = ["Command", "DomainEvent", "ValueObject"]


class ValueObject(BaseModel):
    """An immutable value compared by its fields (a pydantic model, frozen, no extra fields)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Command(BaseModel):
    """An immutable request to change state; handled by a usecase.

    A command is input: one that fails validation, whether made as ``Deposit(...)`` or read
    with ``Deposit.model_validate(...)`` / ``model_validate_json(...)``, raises
    ``InvalidInputError`` naming each field that is wrong (the pydantic error is its
    ``__cause__``), never a raw pydantic ``ValidationError``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise _refused(type(self), error) from error

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:
        """Validate ``obj`` into a command; ``InvalidInputError`` naming the bad fields."""
        try:
            return super().model_validate(obj, **options)
        except ValidationError as error:
            raise _refused(cls, error) from error

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **options: Any) -> Self:
        """Validate a JSON text into a command; ``InvalidInputError`` naming the bad fields."""
        try:
            return super().model_validate_json(json_data, **options)
        except ValidationError as error:
            raise _refused(cls, error) from error

    @classmethod
    def model_validate_strings(cls, obj: Any, **options: Any) -> Self:
        """Validate string values into a command; ``InvalidInputError`` naming bad fields."""
        try:
            return super().model_validate_strings(obj, **options)
        except ValidationError as error:
            raise _refused(cls, error) from error


class DomainEvent(BaseModel):
    """An immutable fact that happened in the domain.

    Event classes carry no type name of their own: an ``AggregateSpec`` maps each class to a
    stable type name explicitly, so renaming a class never changes what is stored.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")


def _refused(cls: type[BaseModel], error: ValidationError) -> InvalidInputError:
    """The ``InvalidInputError`` for a command of ``cls`` that failed validation.

    Validating through ``model_validate`` runs ``Command.__init__`` inside pydantic, which
    wraps the error that ``__init__`` raised: that error is returned as it is.
    """
    problems = error.errors(include_url=False, include_input=False)
    if len(problems) == 1 and not problems[0]["loc"]:
        raised = problems[0].get("ctx", {}).get("error")
        if isinstance(raised, InvalidInputError):
            return raised
    described = []
    for problem in problems:
        nested = problem.get("ctx", {}).get("error")  # a command inside this one was refused
        message = str(nested) if isinstance(nested, InvalidInputError) else problem["msg"]
        where = _path(problem["loc"])
        described.append(f"field {where!r}: {message}" if where else message)
    return InvalidInputError(f"invalid {cls.__name__}: {'; '.join(described)}")


def _path(loc: tuple[int | str, ...]) -> str:
    """``('items', 0, 'sku')`` as ``items[0].sku``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text
