"""Sagas on Temporal: each saga instance a workflow, each step an activity.

- :class:`TemporalSagaRunner`: the ``SagaRunner`` a ``SagaDispatcher`` delivers through
  (signal-with-start of workflow ``<saga>-<key>``).
- :class:`SagaWorker`: runs the instances and their steps in a worker process.
- :func:`temporal_module`: one client per runtime, providing the ``SAGAS`` port.
- :func:`ensure_search_attributes`: registers the search attributes the instances carry.
- :func:`run_process`: ends a worker process without the SDK's crash at interpreter exit.

See docs/sagas.md.
"""

from forze_temporal.module import temporal_module
from forze_temporal.process import run_process
from forze_temporal.runner import TemporalSagaRunner, workflow_id
from forze_temporal.search import count_instances, ensure_search_attributes, instance_counts
from forze_temporal.worker import PASSED_THROUGH, SagaWorker
from forze_temporal.workflow import SagaWorkflow

__all__ = [
    "PASSED_THROUGH",
    "SagaWorker",
    "SagaWorkflow",
    "TemporalSagaRunner",
    "count_instances",
    "ensure_search_attributes",
    "instance_counts",
    "run_process",
    "temporal_module",
    "workflow_id",
]
