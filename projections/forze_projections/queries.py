"""Query pieces every read-model store shares: cursors, filter values and field kinds."""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from forze.contracts import ReadModelSpec, SortKey
from forze.domain.errors import InvalidInputError, WiringError
from forze_eventstore.rules import check_text, refuse_unstorable

__all__ = [
    "MAX_KEY_LENGTH",
    "FieldValues",
    "check_document",
    "check_key",
    "decode_cursor",
    "document_json",
    "encode_cursor",
    "field_words",
    "json_kind",
    "jsonable",
    "quote_identifier",
    "quote_string",
    "schema_kinds",
    "search_words",
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


_WORD = re.compile(r"[^\W_]+")
MAX_WORD = 200
"""Characters of a word that search looks at: longer words are cut, in documents and queries
alike (PostgreSQL's text-search lexemes stop at 2,047 bytes)."""


def search_words(text: str) -> list[str]:
    """The words of ``text`` as every store searches them: ``text`` casefolded (``ß`` matches
    ``ss``), its accents and other combining marks dropped after compatibility decomposition
    (``é`` matches ``e``, ``ﬁ`` matches ``fi``), then split into runs of letters and digits
    (anything else separates words, ``_`` included), each cut to :data:`MAX_WORD` characters.

    :meth:`forze.contracts.ReadModelStore.search` finds the documents in which every word of
    the query starts some word of some search field.
    """
    if text.isascii():
        folded = text.lower()
    else:  # decomposed both before and after casefolding, as Unicode's NFKC_Casefold is
        once = unicodedata.normalize("NFKD", text).casefold()
        decomposed = unicodedata.normalize("NFKD", once)
        folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return [word[:MAX_WORD] for word in _WORD.findall(folded)]


def field_words(value: Any) -> list[str]:
    """The :func:`search_words` of a search field's JSON value: of a string, or of every
    string in a list; other values have none."""
    if isinstance(value, str):
        return search_words(value)
    if isinstance(value, list):
        return [word for item in value if isinstance(item, str) for word in search_words(item)]
    return []


_SURROGATE = re.compile("[\ud800-\udfff]")

MAX_KEY_LENGTH = 500
"""Most characters of a read-model document's key on every store (at most 2,000 UTF-8 bytes,
which PostgreSQL's primary-key index holds)."""


def check_key(name: str, key: object) -> str:
    """``key`` if every store can keep it as a key of read model ``name``: a string of at most
    :data:`MAX_KEY_LENGTH` characters without NUL or surrogates; ``InvalidInputError``
    otherwise."""
    if type(key) is str and len(key) <= MAX_KEY_LENGTH and key.isascii() and "\x00" not in key:
        return key  # the common case, decided in C: every read and write asks
    if not isinstance(key, str):
        raise InvalidInputError(f"{name} key must be a string, got {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"{name} key of {len(key)} characters is longer than {MAX_KEY_LENGTH}"
        )
    check_text(key, f"{name} key")
    return key


def jsonable(value: Any) -> Any:
    """``value`` in JSON form (pydantic's rules); ``InvalidInputError`` when it has none."""
    try:
        return to_jsonable_python(value)
    except PydanticSerializationError as error:
        raise InvalidInputError(f"value {value!r} is not JSON-able: {error}") from error


def document_json(name: str, data: Mapping[str, Any]) -> str:
    """The JSON text of the document ``data`` of read model ``name``, which every store then
    validates with the spec's model; refused as :func:`check_document` refuses."""
    raw = jsonable(data)
    encoded = json.dumps(raw)
    check_document(name, encoded, raw)
    return encoded


def check_document(name: str, encoded: str, document: Mapping[str, Any]) -> None:
    """Refuse a document of read model ``name`` holding NUL or a surrogate in a key or string
    (PostgreSQL cannot keep them, so no store does). ``encoded`` is its JSON text, ASCII or
    not, which is scanned first: only a document whose text may hold one is walked."""
    suspect = "\\u0000" in encoded or "\\ud" in encoded
    if suspect or (not encoded.isascii() and _SURROGATE.search(encoded) is not None):
        refuse_unstorable(document, f"{name} document")


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
            result = adapter.dump_python(adapter.validate_python(value), mode="json")
        except (ValidationError, PydanticSerializationError) as error:
            raise InvalidInputError(f"bad value {value!r} for {field!r}: {error}") from error
        if isinstance(result, str):
            check_text(result, f"value for {field!r}")
        elif isinstance(result, list | dict):
            refuse_unstorable(result, f"value for {field!r}")
        return result


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
