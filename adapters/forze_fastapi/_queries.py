"""Read-model queries from request parameters, checked against the model's fields."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, get_args

from pydantic import BaseModel, TypeAdapter, ValidationError

from forze.contracts import Filter, FilterOp, SortKey
from forze_fastapi.errors import FieldError

__all__ = ["parse_filters", "parse_sort"]

_OPS: frozenset[str] = frozenset(get_args(FilterOp))


def parse_filters(model: type[BaseModel], given: Sequence[str]) -> tuple[Filter, ...]:
    """``field:op:value`` texts as filters: the field must be the model's, the op one of
    ``eq ne lt le gt ge in`` (``in`` takes comma-separated values), and each value is
    converted to the field's type; ``FieldError`` names the bad one."""
    filters = []
    for text in given:
        field, _, rest = text.partition(":")
        op, colon, raw = rest.partition(":")
        if not colon:
            raise FieldError("filter", f"filter {text[:80]!r}: write field:op:value")
        info = model.model_fields.get(field)
        if info is None:
            raise FieldError(
                "filter", f"filter {text[:80]!r}: {model.__name__} has no field {field!r}"
            )
        if op not in _OPS:
            raise FieldError("filter", f"filter {text[:80]!r}: op {op!r} is none of {sorted(_OPS)}")
        adapter: TypeAdapter[Any] = TypeAdapter(Any if info.annotation is None else info.annotation)
        values = raw.split(",") if op == "in" else [raw]
        try:
            converted = [_converted(adapter, value) for value in values]
        except ValidationError as error:
            message = error.errors()[0].get("msg", "not a valid value")
            raise FieldError(f"filter {field}", f"filter {text[:80]!r}: {message}") from None
        filters.append(Filter(field, op, tuple(converted) if op == "in" else converted[0]))  # type: ignore[arg-type]
    return tuple(filters)


def _converted(adapter: TypeAdapter[Any], value: str) -> Any:
    """``value`` as the field's type: JSON first (numbers, booleans, null), else the text."""
    try:
        return adapter.validate_json(value)
    except ValidationError:
        return adapter.validate_python(value)


def parse_sort(model: type[BaseModel], given: str | None) -> tuple[SortKey, ...]:
    """``field,-other`` as sort keys (``-`` for descending), each a field of the model."""
    if not given:
        return ()
    keys = []
    for part in given.split(","):
        name = part.removeprefix("-")
        if name not in model.model_fields:
            raise FieldError("sort", f"sort {part[:80]!r}: {model.__name__} has no field {name!r}")
        keys.append(SortKey(name, descending=part.startswith("-")))
    return tuple(keys)
