"""Contract suites every read-side adapter runs (they import pytest and hypothesis).

- ``CheckpointStoreContract``: implement ``make_checkpoints``.
- ``ReadModelStoreContract``: implement ``make_store(spec)``; the suite stores ``Book``s.
- ``ProjectorContract``: implement ``open_backend``, an async context manager giving a fresh,
  empty event store and projection backend (they may share one database; each call must give
  new, empty ones, as the kill test opens a second pair)::

      class TestMyBackend(ProjectorContract):
          @asynccontextmanager
          async def open_backend(self) -> AsyncIterator[tuple[EventStore, ProjectionBackend]]:
              async with my_database() as db:
                  yield MyEventStore(db, poll_interval=0.02), MyProjectionBackend(db)

  Use a short subscription poll interval: the live cases wait for the projector to notice new
  events. The projector suite's handlers are not idempotent, so an event applied twice shows.
- ``RelayContract``: store → relay → broker; implement ``open_broker`` (as ``BrokerContract``).
- ``ConsumerContract``: store → relay → broker → consumer → store; implement ``open_broker``
  and ``send_malformed``. ``LostAcks`` wraps a subscriber so that each message's first ack is
  lost after its handler committed.
"""

from forze_projections.testing.checkpoints import CheckpointStoreContract
from forze_projections.testing.consumer import ConsumerContract
from forze_projections.testing.consumer_support import LostAcks
from forze_projections.testing.projector import ProjectorContract
from forze_projections.testing.projector_support import (
    HISTORY,
    MIRROR,
    TALLIES,
    Flaky,
    Pause,
    Tally,
    append,
    documents,
    fold,
    tallies,
)
from forze_projections.testing.projector_typed import (
    BAD_SCORE,
    SCORES,
    Scored,
    append_scores,
    score_fold,
    scored,
    scores,
)
from forze_projections.testing.read_models import BOOKS, Book, ReadModelStoreContract
from forze_projections.testing.relay import RelayContract

__all__ = [
    "BAD_SCORE",
    "BOOKS",
    "HISTORY",
    "MIRROR",
    "SCORES",
    "TALLIES",
    "Book",
    "CheckpointStoreContract",
    "ConsumerContract",
    "Flaky",
    "LostAcks",
    "Pause",
    "ProjectorContract",
    "ReadModelStoreContract",
    "RelayContract",
    "Scored",
    "Tally",
    "append",
    "append_scores",
    "documents",
    "fold",
    "score_fold",
    "scored",
    "scores",
    "tallies",
]
