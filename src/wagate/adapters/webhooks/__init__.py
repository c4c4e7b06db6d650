"""Webhooks: every tenant's events posted to HTTP endpoints, signed, durable, retried.

Needs the ``webhooks`` extra (httpx).  A :class:`WebhookDispatcher` attached to a
:class:`~wagate.Gateway` posts every event of the tenants each
:class:`WebhookEndpoint` asks for, as JSON::

    {"event": "message:received", "tenant": "acme", "seq": 42, "data": {...}}

``event`` and ``data`` are the first message of :func:`wagate.to_wire`, the same
payload Socket.IO and SSE carry.  Each request is signed the Standard Webhooks
way (``webhook-id``: ``tenant:seq``, the same on every try; ``webhook-timestamp``;
``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body``),
which the ``standardwebhooks`` library checks given :func:`standard_secret`, and
wagate's own way (``Wagate-Timestamp``; ``Wagate-Signature``: ``v1=`` and the hex
HMAC-SHA256 of ``timestamp + "." + body``), which :func:`verify_signature` checks.
Receivers deduplicate by ``webhook-id``.  Each endpoint's events wait in a
durable backlog in the dead-letter store until they are delivered or dead-lettered.

Example:
    ```python
    from wagate.adapters.webhooks import WebhookDispatcher, WebhookEndpoint, SQLiteDeadLetters

    async with Gateway(driver_factory) as gateway, WebhookDispatcher(
        gateway,
        [WebhookEndpoint(url="https://crm.example.com/wa", secret=CRM_SECRET, tenant="acme")],
        dead_letters=SQLiteDeadLetters("webhooks.db"),
    ) as webhooks:
        ...
        await webhooks.replay()  # once the endpoint is back up
    ```

On the receiving side:

    ```python
    verify_signature(SECRET, request.headers, await request.body())  # raises SignatureError
    # or: standardwebhooks.Webhook(standard_secret(SECRET)).verify(body, dict(request.headers))
    ```

The parts: the endpoint and its checks, the delivery (envelope, signed request,
retries), each endpoint's durable backlog and its worker, the dispatcher (with
replay), the signatures (both ends) and the stores of backlogs and dead letters.
These names were first public from :mod:`wagate.adapters.callbacks`, which still
exports them.
"""

from __future__ import annotations

from .._headers import HeaderLookup
from ._deadletters import (
    BacklogEntry,
    DeadLetter,
    DeadLetterStore,
    MemoryDeadLetters,
    SQLiteDeadLetters,
)
from ._delivery import webhook_body
from ._dispatcher import ReplayReport, WebhookDispatcher
from ._endpoint import WebhookEndpoint
from ._signing import (
    ATTEMPT_HEADER,
    DEFAULT_TOLERANCE,
    MIN_SECRET_BYTES,
    REPLAY_HEADER,
    SIGNATURE_HEADER,
    STANDARD_ID_HEADER,
    STANDARD_SIGNATURE_HEADER,
    STANDARD_TIMESTAMP_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    StaleTimestamp,
    delivery_id,
    sign,
    sign_standard,
    signature_headers,
    standard_secret,
    verify_signature,
)

__all__ = [
    "ATTEMPT_HEADER",
    "DEFAULT_TOLERANCE",
    "MIN_SECRET_BYTES",
    "REPLAY_HEADER",
    "SIGNATURE_HEADER",
    "STANDARD_ID_HEADER",
    "STANDARD_SIGNATURE_HEADER",
    "STANDARD_TIMESTAMP_HEADER",
    "TIMESTAMP_HEADER",
    "BacklogEntry",
    "DeadLetter",
    "DeadLetterStore",
    "HeaderLookup",
    "MemoryDeadLetters",
    "ReplayReport",
    "SQLiteDeadLetters",
    "SignatureError",
    "StaleTimestamp",
    "WebhookDispatcher",
    "WebhookEndpoint",
    "delivery_id",
    "sign",
    "sign_standard",
    "signature_headers",
    "standard_secret",
    "verify_signature",
    "webhook_body",
]
