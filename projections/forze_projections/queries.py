"""Query pieces every read-model store shares: cursors, filter values and field kinds."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from forze.contracts import ReadModelSpec, SortKey
from forze.domain.errors import InvalidInputError, WiringError

__all__ = [
    "FieldValues",
    "decode_cursor",
    "encode_cursor",
    "json_kind",
    "quote_identifier",
    "quote_string",
    "schema_kinds",
    "store_for_spec",
]


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


def _no_nul(text: str, what: str) -> None:
    if "\x00" in text:
        raise InvalidInputError(f"{what} {text!r} contains NUL")


def quote_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier (``"`` doubled), as SQLite and PostgreSQL read it.

    A name with NUL, which no SQL identifier can hold, raises ``InvalidInputError``.
    """
    _no_nul(name, "identifier")
    return '"' + name.replace('"', '""') + '"'


def quote_string(text: str) -> str:
    """``text`` as a standard SQL string literal (``'`` doubled); ``InvalidInputError`` for
    NUL. Backslashes stay plain: SQLite never escapes with them (PostgreSQL needs its own
    quoting, which a server setting can change)."""
    _no_nul(text, "SQL text")
    return "'" + text.replace("'", "''") + "'"


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


_SCHEMA_KINDS = {"null": "null", "boolean": "bool", "integer": "number", "number": "number"}
_SCHEMA_KINDS |= {"string": "string", "array": "list", "object": "list"}


def json_kind(value: Any) -> str:
    """The kind of a JSON value: ``null``, ``bool``, ``number``, ``string`` or ``list``
    (arrays and objects, which stores compare as JSON text)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "list"


def schema_kinds(schema: Any, defs: Mapping[str, Any], depth: int = 0) -> set[str] | None:
    """The :func:`json_kind` kinds a field's JSON schema allows, or ``None`` when that cannot
    be told (stores then compare the field by kind first, then by value)."""
    if not isinstance(schema, Mapping) or depth > 20:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return schema_kinds(defs.get(ref.rsplit("/", 1)[-1]), defs, depth + 1)
    kinds: set[str] = set()
    known = False
    for combinator in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(combinator, ()):
            found = schema_kinds(option, defs, depth + 1)
            if found is None:
                return None
            kinds |= found
            known = True
    declared = schema.get("type")
    if declared is not None:
        names = [declared] if isinstance(declared, str) else list(declared)
        if not all(name in _SCHEMA_KINDS for name in names):
            return None
        kinds |= {_SCHEMA_KINDS[name] for name in names}
    elif "const" in schema or "enum" in schema:
        values = [schema["const"]] if "const" in schema else list(schema["enum"])
        kinds |= {json_kind(value) for value in values}
    elif not known:
        return None
    return kinds


class _OfSpec(Protocol):
    @property
    def spec(self) -> ReadModelSpec[Any]: ...


S = TypeVar("S", bound=_OfSpec)


def store_for_spec(stores: dict[str, S], spec: ReadModelSpec[Any], make: Callable[[], S]) -> S:
    """The store ``stores`` keeps for ``spec.name``, made by ``make()`` on first use.

    What every ``ReadModelStores`` registry does: asking twice for one spec gives one store,
    and a different spec under a name already in use raises ``WiringError``.
    """
    store = stores.get(spec.name)
    if store is None:
        store = stores[spec.name] = make()
    elif store.spec != spec:
        raise WiringError(f"read model {spec.name!r} is already used with another spec")
    return store
