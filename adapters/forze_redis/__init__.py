"""Redis adapters (redis-py asyncio): streams publisher and subscriber, cache, a read-model
query cache kept fresh by its projection, counter and idempotency store. ``redis_module``
provides them to a runtime (``build_runtime``), client lifecycle included.

Needs the ``redis`` extra: ``pip install 'forze[redis]'``.
"""

try:
    import redis.asyncio  # noqa: F401  (only to give the install hint early)
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("forze_redis needs redis-py: pip install 'forze[redis]'") from error

from forze_redis._connection import DEFAULT_TIMEOUT, connect
from forze_redis.cache_aside import KeysOf, cached, invalidate
from forze_redis.dead_letters import DeadLetter, read_dead_letters
from forze_redis.idempotency import RedisIdempotencyStore
from forze_redis.module import redis_module
from forze_redis.read_model_cache import ReadModelCache
from forze_redis.storage import RedisCache, RedisCounter, ttl_milliseconds
from forze_redis.streams_publisher import DATA_FIELD, HEADER_PREFIX, RedisStreamPublisher
from forze_redis.streams_subscriber import RedisStreamSubscriber

__all__ = [
    "DATA_FIELD",
    "DEFAULT_TIMEOUT",
    "HEADER_PREFIX",
    "DeadLetter",
    "KeysOf",
    "ReadModelCache",
    "RedisCache",
    "RedisCounter",
    "RedisIdempotencyStore",
    "RedisStreamPublisher",
    "RedisStreamSubscriber",
    "cached",
    "connect",
    "invalidate",
    "read_dead_letters",
    "redis_module",
    "ttl_milliseconds",
]
