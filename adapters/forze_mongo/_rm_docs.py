"""Read-model documents as MongoDB documents, and back.

A document of a read model is stored as the BSON document of its JSON-mode dump::

    {_id: "<key>", <stored name>: <value>, ..., <shadows>, _w: [<search entries>],
     _rev: "<token>"}

so every value is one MongoDB and its tools can query. Dates, UUIDs and decimals are the
strings of the JSON dump: they compare as every other store compares them, and equality on
them works on every MongoDB-compatible server (the nx-27017 emulator cannot match binary
UUIDs). ``_rev`` is a new random token at every write: a patch replaces the document only
while the token it read is there. ``_w`` (when the spec has search fields) holds the search
entries (see :func:`entries`). Documents are only ever written whole (a replacement, never
``$set``, which nx-27017 turns ``true`` into ``1`` with), and read back by validating the JSON
of their fields with the spec's model, as the in-memory store reads its documents.

What MongoDB cannot store is refused with ``InvalidInputError`` before anything is written: a
key starting with ``$`` or holding ``.`` inside a value, an integer beyond 64 bits, a float
that is not finite, and a stored document over 16 MiB (MongoDB's ``maxBsonObjectSize``).
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

import bson
from bson.errors import InvalidDocument
from bson.raw_bson import RawBSONDocument
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError

from forze.contracts import ReadModelSpec
from forze.domain.errors import InvalidInputError, SerializationError
from forze_mongo._rm_fields import MongoField
from forze_projections.queries import check_key, document_json, field_words

__all__ = ["MAX_DOCUMENT", "PREFIX", "DocumentCodec", "check_value", "entries"]

M = TypeVar("M", bound=BaseModel)

MAX_DOCUMENT = 16 * 1024 * 1024
"""The largest BSON document MongoDB stores (``maxBsonObjectSize``), in bytes."""

PREFIX = 20
"""Search entries hold each word's prefixes up to this many characters, and longer words
whole (see :func:`entries`)."""

_INT64 = range(-(2**63), 2**63)


def _refuse(what: str, problem: str) -> InvalidInputError:
    return InvalidInputError(f"{what}: MongoDB cannot store it: {problem}")


def check_value(value: Any, what: str) -> None:
    """Refuse (``InvalidInputError`` naming ``what``) a JSON value MongoDB cannot store: an
    integer beyond 64 bits, a float that is not finite, or, in an object at any depth, a
    key that starts with ``$`` or holds ``.``. NUL and surrogates are refused earlier, by
    the checks every read-model store shares."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if isinstance(item, int):
            if item not in _INT64:
                raise _refuse(what, f"the integer {item} does not fit in 64 bits")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise _refuse(what, f"{item} is not a finite number")
        elif isinstance(item, Mapping):
            for key, member in item.items():
                if key.startswith("$") or "." in key:
                    raise _refuse(what, f"the key {key!r} starts with '$' or holds '.'")
                stack.append(member)
        elif isinstance(item, list | tuple):
            stack.extend(item)


def entries(words: Iterable[str]) -> list[str]:
    """The search entries of a document whose search fields hold ``words``: every prefix of
    every word up to :data:`PREFIX` characters, and every longer word whole, once each.

    A query word of at most :data:`PREFIX` characters starts some word exactly when it is an
    entry; a longer one can only start a longer word, which is an entry whole.
    """
    found: dict[str, None] = {}
    for word in words:
        for end in range(1, min(len(word), PREFIX) + 1):
            found[word[:end]] = None
        found[word] = None
    return list(found)


class DocumentCodec(Generic[M]):
    """Validates documents of one read model into what MongoDB stores, and loads them back.

    ``fields`` tells how each field is stored (``forze_mongo._rm_fields.mongo_fields``).
    """

    def __init__(self, spec: ReadModelSpec[M], fields: Mapping[str, MongoField]) -> None:
        self.spec = spec
        self.fields = fields

    def validated(self, data: Mapping[str, Any]) -> tuple[M, str, RawBSONDocument]:
        """``data`` validated by the spec's model: the model, its key and its document;
        ``InvalidInputError`` for a bad one, or one MongoDB cannot store."""
        name = self.spec.name
        encoded = document_json(name, data)
        try:
            model = self.spec.model.model_validate_json(encoded)
            document = model.model_dump(mode="json")
        except (ValidationError, PydanticSerializationError) as error:
            raise InvalidInputError(f"invalid {name} document: {error}") from error
        if document[self.spec.key] is None:
            raise InvalidInputError(f"{name}: key field {self.spec.key!r} is null")
        key = check_key(name, str(document[self.spec.key]))
        return model, key, self.stored(key, document)

    def dumped(self, document: M) -> tuple[str, RawBSONDocument]:
        """The key and stored document of model ``document``, validated again."""
        try:
            data = document.model_dump(mode="json", warnings=False)
        except PydanticSerializationError as error:
            raise InvalidInputError(f"invalid {self.spec.name} document: {error}") from error
        _, key, stored = self.validated(data)
        return key, stored

    def stored(self, key: str, document: Mapping[str, Any]) -> RawBSONDocument:
        """The BSON of JSON-mode ``document`` with key ``key`` (its fields, shadows, search
        entries and a new revision); ``InvalidInputError`` for one MongoDB cannot store."""
        what = f"{self.spec.name} document {key[:80]!r}"
        stored: dict[str, Any] = {"_id": key}
        for field, info in self.fields.items():
            value = document.get(field)
            check_value(value, what)
            stored[info.stored] = value
            stored.update(info.shadows(value))
        if self.spec.search_fields:
            words = (w for name in self.spec.search_fields for w in field_words(document.get(name)))
            stored["_w"] = entries(words)
        stored["_rev"] = secrets.token_hex(8)
        try:
            encoded = bson.encode(stored)
        except (InvalidDocument, OverflowError, ValueError) as error:
            raise _refuse(what, str(error)) from error
        if len(encoded) > MAX_DOCUMENT:
            raise _refuse(what, f"it takes {len(encoded)} bytes as BSON, over {MAX_DOCUMENT}")
        return RawBSONDocument(encoded)

    def fields_of(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """The fields a stored ``document`` holds, by field name."""
        return {f: document[i.stored] for f, i in self.fields.items() if i.stored in document}

    def load(self, document: Mapping[str, Any]) -> M:
        """The model of a stored ``document``; ``SerializationError`` when it no longer fits
        the model (or holds what is not JSON, which only another writer can store)."""
        try:
            return self.spec.model.model_validate_json(json.dumps(self.fields_of(document)))
        except (ValidationError, TypeError, ValueError) as error:
            raise SerializationError(
                f"a stored {self.spec.name} document no longer fits "
                f"{self.spec.model.__name__}; rebuild the read model: {error}"
            ) from error
