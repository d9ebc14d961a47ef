"""Socket.IO entry points (python-socketio): the event feed pushed to rooms per stream and
per category, each client catching up from its last position before it goes live."""

from forze_socketio.feed import Authorize, SocketFeed, event_payload

__all__ = ["Authorize", "SocketFeed", "event_payload"]
