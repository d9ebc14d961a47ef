"""``S3ObjectStorage``: the ``ObjectStorage`` port on an S3 bucket (aiobotocore)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from forze.domain.errors import InvalidInputError, NotFoundError, StorageUnavailable

from ._client import S3Connection, bounded
from ._keys import full_key, list_prefix, shown
from ._multipart import upload_in_parts
from ._settings import S3Settings

__all__ = ["ObjectInfo", "S3ObjectStorage"]

_CHUNK = 1024 * 1024
"""Bytes asked for per read of a downloaded body."""

_PAGE = 1000
"""Keys per ListObjectsV2 page (S3's most)."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What S3 keeps about a stored object (:meth:`S3ObjectStorage.stat`): its ``key`` (as
    the storage names it, without the settings' prefix), ``size`` in bytes, ``content_type``,
    ``etag`` (quoted as S3 gives it; ``"<hash>-<parts>"`` after a multipart upload) and
    ``last_modified``."""

    key: str
    size: int
    content_type: str
    etag: str
    last_modified: datetime | None


class S3ObjectStorage:
    """A :class:`forze.contracts.ObjectStorage` on S3 (or an S3-compatible store).

    Every object lives under ``settings.prefix + key`` in ``settings.bucket``; keys are
    checked before anything is sent (``InvalidInputError``: empty, more than 1024 UTF-8 bytes
    with the prefix, a control character, a leading '/'). Every call is bounded by the
    settings' timeouts; a failure raises ``StorageUnavailable``, ``transient`` for throttling,
    server errors, timeouts and lost connections, not for refusals S3 would repeat (access
    denied, a missing bucket, bad credentials). The client opens on first use; close it with
    :meth:`close` or use the storage as an ``async with`` block (``s3_module`` does both for
    a runtime).
    """

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self._connection = S3Connection(settings)

    async def __aenter__(self) -> S3ObjectStorage:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client (idempotent); a call after that raises a lasting
        ``StorageUnavailable``."""
        await self._connection.close()

    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        """Store ``data`` under ``key`` with ``content_type``, replacing any object there.

        Up to ``settings.multipart_threshold`` bytes it is one PutObject; above, a multipart
        upload of ``settings.part_size`` parts, aborted on any failure (cancellation
        included) so that S3 keeps no orphan parts. Either way readers see the old object or
        the whole new one, never a part.
        """
        s3_key = full_key(self.settings.prefix, key)
        _check_content_type(content_type)
        body = bytes(data)  # the caller's buffer may change once this returns
        if len(body) > self.settings.multipart_threshold:
            await upload_in_parts(self._connection, s3_key, body, content_type)
            return
        await self._connection.call(
            "put_object",
            f"PutObject of {shown(key)}",
            Key=s3_key,
            Body=body,
            ContentType=content_type,
        )

    async def get(self, key: str) -> bytes:
        """The object's bytes; ``NotFoundError`` when absent.

        The body is read in chunks of 1 MiB, each within ``settings.read_timeout``: a large
        object that keeps arriving is read whole, one that stalls fails (transient)."""
        s3_key = full_key(self.settings.prefix, key)
        what = f"GetObject of {shown(key)}"
        answer = await self._connection.call("get_object", what, Key=s3_key)
        chunks: list[bytes] = []
        async with answer["Body"] as body:
            while chunk := await bounded(
                body.read(_CHUNK), self.settings.read_timeout, what, self.settings.bucket
            ):
                chunks.append(chunk)
        return b"".join(chunks)

    async def stat(self, key: str) -> ObjectInfo:
        """The stored object's size, content type, ETag and time of last change (one
        HeadObject, no body); ``NotFoundError`` when absent."""
        s3_key = full_key(self.settings.prefix, key)
        head = await self._connection.call("head_object", f"HeadObject of {shown(key)}", Key=s3_key)
        return ObjectInfo(
            key=key,
            size=int(head.get("ContentLength", 0)),
            content_type=str(head.get("ContentType", "")),
            etag=str(head.get("ETag", "")),
            last_modified=head.get("LastModified"),
        )

    async def delete(self, key: str) -> bool:
        """Delete the object; ``True`` when it existed.

        S3's DeleteObject answers the same whether the key existed or not (it is
        idempotent), so this first asks HeadObject and deletes only what it found. The two
        calls are not atomic: two concurrent deletes of one key may both answer ``True``.
        On a versioned bucket the delete adds a delete marker; older versions stay.
        """
        s3_key = full_key(self.settings.prefix, key)
        try:
            await self._connection.call("head_object", f"HeadObject of {shown(key)}", Key=s3_key)
        except NotFoundError:
            return False
        await self._connection.call("delete_object", f"DeleteObject of {shown(key)}", Key=s3_key)
        return True

    async def ensure_bucket(self) -> None:
        """Create the settings' bucket unless it exists: for tests and a first start. A
        bucket name another account owns is a lasting ``StorageUnavailable``."""
        if await self._bucket_exists():
            return
        params: dict[str, Any] = {}
        if self.settings.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.settings.region}
        await self._connection.call(
            "create_bucket",
            f"CreateBucket {self.settings.bucket!r}",
            tolerate=("BucketAlreadyOwnedByYou",),
            **params,
        )

    async def check(self) -> None:
        """Raise ``StorageUnavailable`` unless S3 answers and the bucket exists and may be
        used (one HeadBucket; a missing bucket is a lasting failure)."""
        if not await self._bucket_exists():
            raise StorageUnavailable(
                f"S3 bucket {self.settings.bucket!r} does not exist (create it, or call"
                " S3ObjectStorage.ensure_bucket)",
                transient=False,
            )

    async def _bucket_exists(self) -> bool:
        try:
            await self._connection.call("head_bucket", "HeadBucket")
        except NotFoundError:
            return False
        return True

    async def list(self, prefix: str = "") -> builtins.list[str]:
        """Keys that start with ``prefix``, sorted, relative to the settings' prefix.

        Pages through ListObjectsV2 (1000 keys a page, each call bounded) until S3 has no
        more."""
        s3_prefix = list_prefix(self.settings.prefix, prefix)
        cut = len(self.settings.prefix)
        keys: builtins.list[str] = []
        params: dict[str, Any] = {"Prefix": s3_prefix, "MaxKeys": _PAGE}
        while True:
            page = await self._connection.call(
                "list_objects_v2", f"ListObjectsV2 of prefix {shown(prefix)}", **params
            )
            keys.extend(str(found["Key"])[cut:] for found in page.get("Contents") or [])
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return sorted(keys)
            params["ContinuationToken"] = token


def _check_content_type(content_type: object) -> None:
    """``InvalidInputError`` unless ``content_type`` can travel in an HTTP header."""
    if (
        not isinstance(content_type, str)
        or not content_type
        or not all(" " <= c <= "~" for c in content_type)
    ):
        raise InvalidInputError(
            f"content type {content_type!r}: must be a non-empty string of printable ASCII"
        )
