"""``S3Settings``: where the bucket is, how long a call may take, and when to go multipart."""

from __future__ import annotations

import re
from dataclasses import dataclass

from forze.domain.errors import InvalidInputError

from ._keys import check_key_text

__all__ = ["MIB", "MIN_PART_SIZE", "S3Settings"]

MIB = 1024 * 1024
"""One mebibyte."""

MIN_PART_SIZE = 5 * MIB
"""S3's smallest part of a multipart upload (the last part excepted)."""

MAX_PART_SIZE = 5 * 1024 * MIB
"""S3's largest part, and its largest object stored by a single PutObject."""

_BUCKET = re.compile(r"[A-Za-z0-9._-]{3,255}")
"""What botocore itself accepts as a bucket name (AWS wants 3-63 lowercase characters for
new buckets; older ones and S3-compatible stores may have others)."""


@dataclass(frozen=True, slots=True)
class S3Settings:
    """Which bucket (and key prefix) to use, where S3 is, and how long any call may take.

    ``prefix`` is put before every key (``"tenant-a/"`` keeps a tenant's objects apart);
    keys given to and returned by the storage never include it. ``endpoint_url`` is empty
    for AWS itself (``http://127.0.0.1:5055`` for a local moto server); credentials are
    taken from the environment, as botocore does, when not given. ``path_style`` addresses
    the bucket in the URL's path rather than its host name (MinIO and other S3-compatible
    stores often need it; botocore picks path style itself for an IP-address endpoint).

    Every call is bounded: ``connect_timeout`` and ``read_timeout`` per HTTP attempt,
    ``max_attempts`` attempts in all (botocore's standard retry mode, with back-off), and
    ``call_timeout`` seconds for a whole call, retries included; reading a downloaded body
    is bounded by ``read_timeout`` per chunk instead, so that a large object that keeps
    arriving is not cut off while a stalled one is.

    ``put`` of more than ``multipart_threshold`` bytes (at least 5 MiB) uploads it in parts
    of ``part_size`` bytes (5 MiB to 5 GiB, as S3 requires), ``multipart_concurrency`` parts
    at a time; a smaller object is one PutObject.
    """

    bucket: str
    prefix: str = ""
    region: str = "us-east-1"
    endpoint_url: str = ""
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    path_style: bool = False
    connect_timeout: float = 3.0
    read_timeout: float = 30.0
    max_attempts: int = 3
    call_timeout: float = 60.0
    multipart_threshold: int = 8 * MIB
    part_size: int = 8 * MIB
    multipart_concurrency: int = 4

    def __post_init__(self) -> None:
        if not (_BUCKET.fullmatch(self.bucket) or self.bucket.startswith("arn:")):
            raise InvalidInputError(
                f"S3 bucket {self.bucket!r}: 3 to 255 letters, digits, '.', '-' or '_'"
                " (or an access point ARN)"
            )
        if self.prefix:
            check_key_text(self.prefix, "S3 key prefix")
        for name in ("connect_timeout", "read_timeout", "call_timeout"):
            seconds = getattr(self, name)
            if not seconds > 0:
                raise InvalidInputError(f"S3Settings.{name} must be positive, got {seconds!r}")
        if self.max_attempts < 1 or self.multipart_concurrency < 1:
            raise InvalidInputError(
                "S3Settings.max_attempts and multipart_concurrency must be >= 1"
            )
        if not MIN_PART_SIZE <= self.part_size <= MAX_PART_SIZE:
            raise InvalidInputError(
                f"S3Settings.part_size must be 5 MiB to 5 GiB (S3's limits), got {self.part_size}"
            )
        if not MIN_PART_SIZE <= self.multipart_threshold <= MAX_PART_SIZE:
            raise InvalidInputError(
                "S3Settings.multipart_threshold must be 5 MiB to 5 GiB (the largest single"
                f" PutObject), got {self.multipart_threshold}"
            )
