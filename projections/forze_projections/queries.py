"""Query pieces every read-model store shares: cursors and filter values."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from forze.contracts import SortKey
from forze.domain.errors import InvalidInputError

__all__ = ["FieldValues", "decode_cursor", "encode_cursor"]


def encode_cursor(values: list[Any], order: Sequence[SortKey]) -> str:
    """An opaque cursor: base64 of the JSON of the sort and of the last item's sort values."""
    sort = [[key.field, key.descending] for key in order]
    payload = json.dumps({"sort": sort, "values": values}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode("ascii")


def decode_cursor(cursor: str, order: Sequence[SortKey]) -> list[Any]:
    """The sort values of a cursor made by :func:`encode_cursor` for the same ``order``.

    A malformed cursor, or one made for another sort, raises ``InvalidInputError``.
    """
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        sort, values = decoded["sort"], decoded["values"]
    except (ValueError, binascii.Error, KeyError, TypeError) as error:
        raise InvalidInputError(f"malformed cursor {cursor!r}") from error
    if sort != [[key.field, key.descending] for key in order] or not (
        isinstance(values, list) and len(values) == len(order)
    ):
        raise InvalidInputError("the cursor belongs to a query with a different sort")
    return values


class FieldValues:
    """Reads filter values as the type of the model's field (``"1984"`` for an int is 1984).

    Unknown fields and values that do not fit the field raise ``InvalidInputError``; the
    result is the JSON-mode value the stores compare documents with.
    """

    def __init__(self, name: str, model: type[BaseModel]) -> None:
        self.name = name
        self.model = model
        self._adapters: dict[str, TypeAdapter[Any]] = {}

    def adapter(self, field: str) -> TypeAdapter[Any]:
        """The validator of ``field``; ``InvalidInputError`` when the model has no such field."""
        info = self.model.model_fields.get(field)
        if info is None:
            raise InvalidInputError(f"{self.name} has no field {field!r}")
        adapter = self._adapters.get(field)
        if adapter is None:
            annotation: Any = info.annotation
            adapter = self._adapters[field] = TypeAdapter(annotation)
        return adapter

    def __call__(self, field: str, value: Any) -> Any:
        """``value`` validated as ``field``'s type, in JSON mode."""
        adapter = self.adapter(field)
        try:
            return adapter.dump_python(adapter.validate_python(value), mode="json")
        except (ValidationError, PydanticSerializationError) as error:
            raise InvalidInputError(f"bad value {value!r} for {field!r}: {error}") from error
