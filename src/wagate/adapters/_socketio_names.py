"""The names of the Socket.IO events the adapter answers and sends besides the wire's.

Apart from :mod:`wagate.adapters.socketio` so that :mod:`wagate.contract` can name
them without python-socketio installed.
"""

from __future__ import annotations

ERROR_EVENT = "error"
"""The event that carries ``{"error": {"code", "message"}}`` to one socket."""

JOIN_EVENT = "join"
"""The client event asking for a granted tenant's events (``"acme"`` or ``{"tenant"}``)."""

LEAVE_EVENT = "leave"
"""The client event asking for a tenant's events no more."""
