"""``ForzeFactory``: eventsourcing's infrastructure factory for forze stores."""

from __future__ import annotations

import threading

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    InterfaceError,
    ProcessRecorder,
)
from eventsourcing.utils import Environment, EnvType, resolve_topic

from forze_eventsourcing._bridge import LoopBridge
from forze_eventsourcing._mapping import category_name
from forze_eventsourcing._stores import FORZE_SCHEMA, FORZE_STORE, FORZE_TENANT, store_opener
from forze_eventsourcing.recorders import (
    ForzeAggregateRecorder,
    ForzeApplicationRecorder,
    ForzeProcessRecorder,
    ForzeTrackingRecorder,
)

__all__ = ["ForzeFactory"]


class ForzeFactory(InfrastructureFactory[ForzeTrackingRecorder]):
    """Makes recorders backed by one forze store, opened at the first recorder on the
    factory's own event-loop thread (see the package docstring); :meth:`close` closes it."""

    FORZE_STORE = FORZE_STORE
    FORZE_SCHEMA = FORZE_SCHEMA
    FORZE_TENANT = FORZE_TENANT

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        self._opener = store_opener(
            self.env.get(FORZE_STORE, "memory"),
            schema=self.env.get(FORZE_SCHEMA, "public"),
            tenant=self.env.get(FORZE_TENANT) or None,
        )
        self._bridge: LoopBridge | None = None
        self._bridge_lock = threading.Lock()
        self._closed = False

    @property
    def bridge(self) -> LoopBridge:
        """The loop thread and its store, started on first use."""
        with self._bridge_lock:
            if self._closed:
                raise InterfaceError("the forze_eventsourcing factory is closed")
            if self._bridge is None:
                self._bridge = LoopBridge(self._opener)
            return self._bridge

    def _categories(self, purpose: str) -> tuple[str, str]:
        name = self.env.name
        return category_name(name, purpose), category_name(name, "tracking")

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        """A recorder of the category ``{app}_{purpose}`` (snapshots: ``{app}_snapshots``)."""
        return ForzeAggregateRecorder(self.bridge, *self._categories(purpose))

    def application_recorder(self) -> ApplicationRecorder:
        """A recorder of the category ``{app}_events`` with notifications."""
        return ForzeApplicationRecorder(self.bridge, *self._categories("events"))

    def tracking_recorder(
        self, tracking_recorder_class: type[ForzeTrackingRecorder] | None = None
    ) -> ForzeTrackingRecorder:
        """A tracking recorder (of ``TRACKING_RECORDER_TOPIC``'s class when set), which
        keeps tracking in the category ``{app}_tracking``."""
        if tracking_recorder_class is None:
            topic = self.env.get(self.TRACKING_RECORDER_TOPIC)
            tracking_recorder_class = resolve_topic(topic) if topic else ForzeTrackingRecorder
        assert tracking_recorder_class is not None
        if not issubclass(tracking_recorder_class, ForzeTrackingRecorder):
            raise TypeError(f"{tracking_recorder_class} is not a ForzeTrackingRecorder")
        return tracking_recorder_class(self.bridge, *self._categories("events"))

    def process_recorder(self) -> ProcessRecorder:
        """A process recorder: events in ``{app}_events``, tracking in ``{app}_tracking``."""
        return ForzeProcessRecorder(self.bridge, *self._categories("events"))

    def close(self) -> None:
        """Stop subscriptions, close the store and stop the loop thread (idempotent)."""
        with self._bridge_lock:
            self._closed = True
            bridge, self._bridge = self._bridge, None
        if bridge is not None:
            bridge.close()
        super().close()
