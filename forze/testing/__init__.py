"""Test helpers: given / when / then for aggregates and for usecases.

Contract suites for the kernel's key-value and messaging ports live in
``forze.testing.contracts`` (they import pytest, so import them only from tests).
"""

from forze.testing.aggregates import AggregateGiven, AggregateWhen, given
from forze.testing.usecases import UsecaseScenario

__all__ = ["AggregateGiven", "AggregateWhen", "UsecaseScenario", "given"]
