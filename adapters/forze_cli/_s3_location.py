"""``s3://BUCKET/PREFIX`` locations of ``forze export`` and ``forze import``.

The endpoint and region come from the environment variables the AWS tools read
(``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``; ``AWS_REGION`` or ``AWS_DEFAULT_REGION``),
the credentials from botocore's usual chain (``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, a profile, an instance role).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from forze.contracts import ObjectStorage
from forze.domain.errors import InvalidInputError

if TYPE_CHECKING:
    from forze_s3 import S3Settings

__all__ = ["s3_settings", "s3_storage"]


def s3_settings(bucket: str, environ: Mapping[str, str] = os.environ) -> S3Settings:
    """The ``S3Settings`` of ``bucket`` from the environment (see the module)."""
    try:
        from forze_s3 import S3Settings
    except ImportError:
        raise InvalidInputError("s3:// locations need forze_s3: pip install 'forze[s3]'") from None
    endpoint = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL") or ""
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return S3Settings(bucket=bucket, endpoint_url=endpoint, region=region)


@asynccontextmanager
async def s3_storage(bucket: str) -> AsyncIterator[ObjectStorage]:
    """The bucket's object storage, checked (S3 answers, the bucket exists), closed after."""
    settings = s3_settings(bucket)
    from forze_s3 import S3ObjectStorage

    async with S3ObjectStorage(settings) as storage:
        await storage.check()
        yield storage
