"""A multipart upload that completes or is aborted: no orphan parts are left behind on purpose.

CreateMultipartUpload, then UploadPart for every ``part_size`` bytes (a few at a time, each
bounded by ``call_timeout``), then CompleteMultipartUpload with every part's ETag and CRC32
(S3 checks each part and the whole). On any failure, the caller's cancellation included, the
upload is aborted (AbortMultipartUpload, bounded too) before the error is raised, so S3 drops
the parts already stored. Only when the abort itself cannot reach S3 does the upload stay:
it is logged with its id, and a bucket lifecycle rule (``AbortIncompleteMultipartUpload``)
is the safety net for that, as for a process killed mid-upload.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from forze.domain.errors import ForzeError

from ._client import S3Connection
from ._keys import shown

__all__ = ["MAX_PARTS", "upload_in_parts"]

MAX_PARTS = 10_000
"""S3's most parts of one upload: a larger object gets larger parts than ``part_size``."""

_CHECKSUM = "CRC32"

log = logging.getLogger("forze.s3")


async def upload_in_parts(
    connection: S3Connection, s3_key: str, data: bytes, content_type: str
) -> None:
    """Store ``data`` under ``s3_key`` with a multipart upload (see the module)."""
    settings = connection.settings
    what = f"multipart upload of {shown(s3_key)}"
    created = await connection.call(
        "create_multipart_upload",
        what,
        Key=s3_key,
        ContentType=content_type,
        ChecksumAlgorithm=_CHECKSUM,
    )
    upload_id = str(created["UploadId"])
    try:
        size = max(settings.part_size, -(-len(data) // MAX_PARTS))
        parts = await _upload_parts(connection, s3_key, upload_id, data, size, what)
        await connection.call(
            "complete_multipart_upload",
            what,
            Key=s3_key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )
    except BaseException:
        await _abort(connection, s3_key, upload_id, what)
        raise


async def _upload_parts(
    connection: S3Connection, s3_key: str, upload_id: str, data: bytes, size: int, what: str
) -> list[dict[str, Any]]:
    """Upload ``data`` in parts of ``size`` bytes, ``multipart_concurrency`` at a time; the
    parts for CompleteMultipartUpload, in order. The first failure cancels the others and
    is raised as it is (not in an exception group)."""
    starts = range(0, len(data), size)
    parts: list[dict[str, Any]] = [{} for _ in starts]
    pending = iter(enumerate(starts))

    async def worker() -> None:
        for index, start in pending:
            answer = await connection.call(
                "upload_part",
                f"{what}, part {index + 1} of {len(parts)}",
                Key=s3_key,
                UploadId=upload_id,
                PartNumber=index + 1,
                Body=data[start : start + size],
                ChecksumAlgorithm=_CHECKSUM,
            )
            part = {"PartNumber": index + 1, "ETag": answer["ETag"]}
            if answer.get("ChecksumCRC32"):
                part["ChecksumCRC32"] = answer["ChecksumCRC32"]
            parts[index] = part

    workers = min(connection.settings.multipart_concurrency, len(parts))
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(worker())
    except BaseExceptionGroup as failed:
        raise _first(failed) from None
    return parts


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of ``group`` (nested groups looked into)."""
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


async def _abort(connection: S3Connection, s3_key: str, upload_id: str, what: str) -> None:
    """Abort the upload (an upload S3 no longer knows is fine); if S3 cannot be reached, log
    it: the caller's own error is the one raised."""
    try:
        await connection.call(
            "abort_multipart_upload",
            f"aborting the {what}",
            tolerate=("NoSuchUpload",),
            Key=s3_key,
            UploadId=upload_id,
        )
    except ForzeError as error:
        log.warning(
            "S3 multipart upload %s of %s in bucket %r was not aborted: %s",
            upload_id,
            shown(s3_key),
            connection.settings.bucket,
            error,
        )
