"""``MongoDatabase``: the database (and collection prefix) forze's collections live in."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pymongo
from pymongo import AsyncMongoClient, uri_parser
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from forze.domain.errors import InvalidInputError
from forze_mongo.errors import translated

__all__ = ["Document", "MongoDatabase"]

Document = dict[str, Any]
"""A BSON document as PyMongo reads and writes it."""

_DATABASE_NAME = re.compile(r"[A-Za-z0-9_-]{1,63}")
_COLLECTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,119}")


def _check_database_name(name: object) -> str:
    if not isinstance(name, str) or not _DATABASE_NAME.fullmatch(name):
        raise InvalidInputError(
            f"MongoDB database name {name!r}: use 1 to 63 letters, digits, '_' or '-'"
        )
    return name


def check_collection_name(name: object, what: str = "collection name") -> str:
    """``name`` when it is an identifier MongoDB (and every compatible server) accepts as a
    collection name: a letter or ``_``, then letters, digits or ``_``, at most 120
    characters; ``InvalidInputError`` otherwise. Names are never pasted into commands
    unchecked (a ``$`` or a ``.`` in one means something else to MongoDB)."""
    if not isinstance(name, str) or not _COLLECTION_NAME.fullmatch(name):
        raise InvalidInputError(
            f"MongoDB {what} {name!r}: use a letter or '_', then letters, digits or '_'"
            " (at most 120 characters)"
        )
    return name


def _check_timeout(timeout: object) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise InvalidInputError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    return float(timeout)


class MongoDatabase:
    """One MongoDB database on an ``AsyncMongoClient``, and the prefix of forze's
    collections in it (``forze_`` by default: ``forze_events``, ``forze_checkpoints``...).

    Tenancy works as a schema does on PostgreSQL: give each tenant its own ``database`` (or
    its own ``prefix``) and its stores never see another's documents.

    Every operation runs within ``timeout`` seconds (PyMongo's client-side operation
    timeout, which also bounds the server's work with ``maxTimeMS``); a slower answer is a
    transient ``EventStoreUnavailable``. :meth:`connect` owns the client it makes and
    :meth:`close` closes it; a client you pass in stays yours.
    """

    def __init__(
        self,
        client: AsyncMongoClient[Document],
        database: str,
        *,
        prefix: str = "forze_",
        timeout: float = 10.0,
    ) -> None:
        self.client = client
        self.check_names(database, prefix)
        self.name = database
        self.prefix = prefix
        self.timeout = _check_timeout(timeout)
        self.database: AsyncDatabase[Document] = client.get_database(database)
        self._owns_client = False

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        database: str | None = None,
        prefix: str = "forze_",
        timeout: float = 10.0,
        client_options: Mapping[str, Any] | None = None,
    ) -> MongoDatabase:
        """A database on a new client for ``url`` (closed by :meth:`close`).

        ``database`` defaults to the one the URL names, else ``forze``. The client stores
        UUIDs in the standard representation, reads dates as aware UTC datetimes, and gives
        up on a server it cannot reach after ``timeout`` seconds; ``client_options`` adds
        any other ``AsyncMongoClient`` option.
        """
        options: dict[str, Any] = {
            "uuidRepresentation": "standard",
            "tz_aware": True,
            "serverSelectionTimeoutMS": int(timeout * 1000),
            "connectTimeoutMS": int(timeout * 1000),
        }
        options.update(client_options or {})
        try:
            name = database or uri_parser.parse_uri(url)["database"] or "forze"
        except (pymongo.errors.ConfigurationError, pymongo.errors.InvalidURI) as error:
            raise InvalidInputError(f"MongoDB URL {url!r}: {error}") from error
        cls.check_names(name, prefix)
        _check_timeout(timeout)
        try:
            client: AsyncMongoClient[Document] = AsyncMongoClient(url, **options)
        except (pymongo.errors.ConfigurationError, ValueError, TypeError) as error:
            raise InvalidInputError(f"MongoDB client options: {error}") from error
        handle = cls(client, name, prefix=prefix, timeout=timeout)
        handle._owns_client = True
        return handle

    @staticmethod
    def check_names(database: str | None, prefix: str) -> None:
        """Refuse, with ``InvalidInputError``, a database name or collection prefix MongoDB
        would not take (``None`` stands for the URL's database)."""
        if database is not None:
            _check_database_name(database)
        if prefix:
            check_collection_name(prefix, "collection prefix")

    def collection(self, name: str) -> AsyncCollection[Document]:
        """The collection ``prefix + name`` (``name`` checked by
        :func:`check_collection_name`)."""
        return self.database.get_collection(check_collection_name(self.prefix + name))

    @contextmanager
    def operation(self, what: str) -> Iterator[None]:
        """A block whose MongoDB operations run within :attr:`timeout` seconds, with their
        errors translated (``what`` begins the message)."""
        with translated(what), pymongo.timeout(self.timeout):
            yield

    async def close(self) -> None:
        """Close the client when :meth:`connect` made it."""
        if self._owns_client:
            await self.client.close()
