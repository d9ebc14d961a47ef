"""Immutable building blocks: value objects, commands and domain events."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Command", "DomainEvent", "ValueObject"]


class ValueObject(BaseModel):
    """An immutable value compared by its fields (a pydantic model, frozen, no extra fields)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Command(BaseModel):
    """An immutable request to change state; handled by a usecase."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class DomainEvent(BaseModel):
    """An immutable fact that happened in the domain.

    Event classes carry no type name of their own: an ``AggregateSpec`` maps each class to a
    stable type name explicitly, so renaming a class never changes what is stored.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
