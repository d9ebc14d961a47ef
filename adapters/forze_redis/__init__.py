"""Redis adapters (redis-py asyncio): streams publisher and subscriber, cache, counter and
idempotency store.

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
from forze_redis.storage import RedisCache, RedisCounter, ttl_milliseconds
from forze_redis.streams_publisher import DATA_FIELD, HEADER_PREFIX, RedisStreamPublisher
from forze_redis.streams_subscriber import RedisStreamSubscriber

__all__ = [
    "DATA_FIELD",
    "DEFAULT_TIMEOUT",
    "HEADER_PREFIX",
    "DeadLetter",
    "KeysOf",
    "RedisCache",
    "RedisCounter",
    "RedisIdempotencyStore",
    "RedisStreamPublisher",
    "RedisStreamSubscriber",
    "cached",
    "connect",
    "invalidate",
    "read_dead_letters",
    "ttl_milliseconds",
]
