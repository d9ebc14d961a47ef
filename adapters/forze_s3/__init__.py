"""Amazon S3 object storage (aiobotocore): the ``ObjectStorage`` port on a bucket.

``S3ObjectStorage`` stores objects under a key prefix of one bucket (``S3Settings``):
multipart uploads above a threshold (aborted on failure), streamed reads, paginated listing,
every call bounded by a timeout and every failure a ``StorageUnavailable`` (``transient``
when trying again may work) or ``NotFoundError``; ``stat`` gives an object's size and
content type (``ObjectInfo``). ``s3_module`` provides the storage to a runtime
(``build_runtime``) as the ``OBJECTS`` port, its client open for the runtime's lifetime.

Needs the ``s3`` extra: ``pip install 'forze[s3]'``.
"""

try:
    import aiobotocore  # noqa: F401  (only to give the install hint early)
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("forze_s3 needs aiobotocore: pip install 'forze[s3]'") from error

from ._settings import S3Settings
from .module import s3_module
from .storage import ObjectInfo, S3ObjectStorage

__all__ = ["ObjectInfo", "S3ObjectStorage", "S3Settings", "s3_module"]
