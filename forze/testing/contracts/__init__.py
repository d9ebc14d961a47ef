"""Behavioural contract suites for the kernel ports; every adapter's tests subclass them.

A suite is an abstract class named ``*Contract`` (so pytest does not collect it on its own)
whose test methods use fixtures built by abstract factory methods. An adapter's test module
subclasses it as ``Test<Adapter>`` and implements the factories. These modules import pytest:
use them from test code only.
"""

from forze.testing.contracts.broker import BrokerContract, BrokerUnderTest, message
from forze.testing.contracts.messaging import IdempotencyStoreContract, recorded_event
from forze.testing.contracts.storage import (
    CacheContract,
    CounterContract,
    ManualClock,
    ObjectStorageContract,
)

__all__ = [
    "BrokerContract",
    "BrokerUnderTest",
    "CacheContract",
    "CounterContract",
    "IdempotencyStoreContract",
    "ManualClock",
    "ObjectStorageContract",
    "message",
    "recorded_event",
]
