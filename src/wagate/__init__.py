"""wagate: embeddable, multi-tenant WhatsApp gateways for Python applications.

A :class:`Session` per WhatsApp account logs in with a QR code (or a pairing
code), stays linked across restarts, sends messages, and emits typed events;
a :class:`Gateway` holds many tenants' sessions in one process.

Example:
    ```python
    from wagate import Session, QrGenerated, Connected
    from wagate.drivers.simulator import SimulatedDriver

    async with Session("acme", driver=SimulatedDriver()) as session:
        await session.connect()
        async for event in session.events():
            ...
    ```
"""

from ._errors import (
    AlreadyConnected,
    DriverError,
    ErrorResponse,
    InternalError,
    InvalidInput,
    InvalidPhoneNumber,
    InvalidRecipient,
    InvalidTenant,
    InvalidText,
    LeaseLost,
    NoOwner,
    NoPendingQr,
    NotConnected,
    NotLinked,
    NotOwner,
    OwnershipError,
    OwnerTimeout,
    PairingFailed,
    RemoteError,
    ScanRejected,
    SessionClosed,
    SessionStateError,
    StoreError,
    StoreLocked,
    SubscriberLagged,
    WagateError,
    error_from_body,
    error_response,
)
from ._events import (
    Account,
    Connected,
    Connecting,
    Disconnected,
    DisconnectReason,
    Event,
    Gap,
    MessageReceived,
    MessageSent,
    PairingCode,
    QrGenerated,
    State,
    Status,
)
from ._gateway import CommandHandler, DriverFactory, Gateway, Ownership
from ._hub import Backplane, Hub, Overflow, Subscription
from ._session import Backoff, Callback, CallbackSubscription, Session
from ._store import MemoryStore, SessionStore, SQLiteStore, StoredSession
from ._sync import SyncGateway, SyncSession, SyncSubscription
from ._validate import MAX_TEXT_LENGTH
from ._version import __version__
from ._wire import WireMessage, from_wire, status_payload, to_wire

__all__ = [
    "MAX_TEXT_LENGTH",
    "Account",
    "AlreadyConnected",
    "Backoff",
    "Backplane",
    "Callback",
    "CallbackSubscription",
    "CommandHandler",
    "Connected",
    "Connecting",
    "DisconnectReason",
    "Disconnected",
    "DriverError",
    "DriverFactory",
    "ErrorResponse",
    "Event",
    "Gap",
    "Gateway",
    "Hub",
    "InternalError",
    "InvalidInput",
    "InvalidPhoneNumber",
    "InvalidRecipient",
    "InvalidTenant",
    "InvalidText",
    "LeaseLost",
    "MemoryStore",
    "MessageReceived",
    "MessageSent",
    "NoOwner",
    "NoPendingQr",
    "NotConnected",
    "NotLinked",
    "NotOwner",
    "Overflow",
    "OwnerTimeout",
    "Ownership",
    "OwnershipError",
    "PairingCode",
    "PairingFailed",
    "QrGenerated",
    "RemoteError",
    "SQLiteStore",
    "ScanRejected",
    "Session",
    "SessionClosed",
    "SessionStateError",
    "SessionStore",
    "State",
    "Status",
    "StoreError",
    "StoreLocked",
    "StoredSession",
    "SubscriberLagged",
    "Subscription",
    "SyncGateway",
    "SyncSession",
    "SyncSubscription",
    "WagateError",
    "WireMessage",
    "__version__",
    "error_from_body",
    "error_response",
    "from_wire",
    "status_payload",
    "to_wire",
]
