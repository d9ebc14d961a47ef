"""Socket.IO entry points (python-socketio): the event feed pushed to rooms per stream and
per category, each client catching up from its last position before it goes live, and
read-model documents pushed to rooms per document as their projections write them."""

from forze_socketio._documents import DocumentRoom
from forze_socketio.feed import Authorize, SocketFeed, event_payload

__all__ = ["Authorize", "DocumentRoom", "SocketFeed", "event_payload"]
