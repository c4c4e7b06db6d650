"""Transports that carry wagate's events to browsers and services.

- :mod:`wagate.adapters.auth`: authenticators (JWT) and where tokens come from.
- :mod:`wagate.adapters.socketio`: a python-socketio (ASGI) server, one room per tenant.
- :mod:`wagate.adapters.sse`: Server-Sent Events for Starlette/FastAPI and WSGI/Flask.
- :mod:`wagate.adapters.callbacks`: callbacks, in the process.
- :mod:`wagate.adapters.webhooks`: signed webhooks, with durable backlogs and dead letters.

Every transport sends what :func:`wagate.to_wire` produces and starts a client
with :func:`current_messages`, so a page that opens late shows the truth at once.
This package imports no optional dependency; each adapter module imports its own.
"""

from __future__ import annotations

from datetime import datetime

from .._events import (
    PairingCode,
    WireMessage,
    WireNaming,
    status_message,
    to_wire,
    utcnow,
)
from .._gateway import Gateway

__all__ = ["current_messages"]


def current_messages(
    gateway: Gateway, tenant: str, *, naming: WireNaming = "colon", now: datetime | None = None
) -> list[WireMessage]:
    """The messages that tell a client that just connected where ``tenant`` stands.

    Always a ``connection:status`` (:meth:`~wagate.Gateway.known_status`: in a
    cluster, the state the tenant's owner last published; ``disconnected`` for a
    tenant this process knows nothing of), then the pending ``qr:generated`` and
    ``pairing:code``, if any, with ``expiresIn`` counted from ``now``.  They
    describe the state after every event published so far; live events follow them.

    Args:
        gateway: The gateway holding the tenant's session.
        tenant: The tenant.
        naming: ``"colon"`` or ``"dash"`` (``connection-status``, ``qr-code``).
        now: The moment to count QR expiry from (default: the current time).
    """
    now = now or utcnow()
    status = gateway.known_status(tenant)
    messages = [status_message(status, naming=naming, now=now)]
    if status.qr is not None:
        messages.extend(to_wire(status.qr, naming=naming, now=now))
        for event in gateway.hub.current(tenant):
            if isinstance(event, PairingCode):
                messages.extend(to_wire(event, naming=naming, now=now))
    return messages
