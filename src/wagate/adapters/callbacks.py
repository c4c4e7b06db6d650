"""Callbacks: every tenant's events delivered to your own code, in the process.

Callbacks are built into the core: :meth:`wagate.Session.subscribe` (one
tenant) and :meth:`wagate.Gateway.subscribe` (one tenant, or every tenant with
``tenant=None``) take a plain or ``async`` function and return a handle with
``close()``.  Each callback reads its own bounded stream in seq order, starting
with the tenant's current state; one that raises is logged with its tenant and
keeps receiving; one that blocks holds up only itself (a plain function runs in
a worker thread).

Example:
    ```python
    def on_event(event: wagate.Event) -> None:
        print(event.tenant, event.seq, event.wire_name)

    handle = gateway.subscribe(on_event)  # every tenant
    ...
    handle.close()
    ```

Webhooks, which post the same events to HTTP endpoints, live in
:mod:`wagate.adapters.webhooks`.  This module still exports all of that
package's names, where they were public first
(``from wagate.adapters.callbacks import WebhookDispatcher`` keeps working).
"""

from __future__ import annotations

from . import webhooks as _webhooks
from .webhooks import *  # noqa: F403 - the webhook names, public here before they had a package

__all__ = _webhooks.__all__
