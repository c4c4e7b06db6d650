"""The errors wagate raises.

Every error wagate raises on purpose derives from :class:`WagateError`::

    WagateError
     ├── InvalidInput (also ValueError)        what the caller gave is wrong
     │    ├── InvalidTenant
     │    ├── InvalidRecipient
     │    ├── InvalidText
     │    └── InvalidPhoneNumber
     ├── SessionStateError                      right call, wrong moment
     │    ├── NotConnected
     │    ├── AlreadyConnected
     │    ├── NotLinked
     │    └── NoPendingQr
     ├── SessionClosed                          the session or gateway was closed
     ├── SubscriberLagged                       a subscriber fell behind its buffer
     ├── ScanRejected                           the (simulated) phone refused a code
     ├── DriverError                            the WhatsApp engine failed
     │    └── PairingFailed
     ├── StoreError                             the session store failed
     │    ├── StoreLocked
     │    └── LeaseLost (also OwnershipError)   a write after this process lost the tenant
     └── OwnershipError                         which process holds a tenant (clusters)
          ├── NotOwner                          another process holds the tenant
          ├── NoOwner                           no process can be reached for the tenant
          └── OwnerTimeout                      the owner did not answer in time

Each error has a stable machine-readable :attr:`WagateError.code` (used by the
REST and Socket.IO adapters as ``{"error": {"code", "message"}}``), a message
that says what happened and what to do, and the ``tenant`` where there is one.
"""

from __future__ import annotations

__all__ = [
    "AlreadyConnected",
    "DriverError",
    "InvalidInput",
    "InvalidPhoneNumber",
    "InvalidRecipient",
    "InvalidTenant",
    "InvalidText",
    "LeaseLost",
    "NoOwner",
    "NoPendingQr",
    "NotConnected",
    "NotLinked",
    "NotOwner",
    "OwnerTimeout",
    "OwnershipError",
    "PairingFailed",
    "ScanRejected",
    "SessionClosed",
    "SessionStateError",
    "StoreError",
    "StoreLocked",
    "SubscriberLagged",
    "WagateError",
]


class WagateError(Exception):
    """The root of every error wagate raises on purpose.

    Attributes:
        code: A stable, machine-readable name of the error, e.g. ``"not_connected"``.
        status_code: The HTTP status adapters answer with (422 bad input, 409 wrong
            state, 404 nothing pending, 502 WhatsApp refused, 503 closed...).
        message: What happened and what to do about it.
        tenant: The tenant concerned, when there is one.
    """

    code: str = "wagate_error"
    status_code: int = 500

    def __init__(self, message: str, *, tenant: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.tenant = tenant

    def __str__(self) -> str:
        if self.tenant is None:
            return self.message
        return f"[tenant {self.tenant!r}] {self.message}"


class InvalidInput(WagateError, ValueError):
    """A value given to wagate is malformed; nothing was changed."""

    code = "invalid_input"
    status_code = 422


class InvalidTenant(InvalidInput):
    """A tenant id is not 1-128 characters of ``[A-Za-z0-9._-]``."""

    code = "invalid_tenant"


class InvalidRecipient(InvalidInput):
    """A recipient is neither an international phone number nor a WhatsApp JID."""

    code = "invalid_recipient"


class InvalidText(InvalidInput):
    """A message text is empty, blank, too long or not encodable."""

    code = "invalid_text"


class InvalidPhoneNumber(InvalidInput):
    """A phone number (for a pairing code) is not a valid international number."""

    code = "invalid_phone_number"


class SessionStateError(WagateError):
    """The call is valid but the session is in a state where it cannot be done."""

    code = "invalid_state"
    status_code = 409


class NotConnected(SessionStateError):
    """The session is not connected to WhatsApp; connect and link it first."""

    code = "not_connected"


class AlreadyConnected(SessionStateError):
    """The session is already linked and connected; log out first to link again."""

    code = "already_connected"


class NotLinked(SessionStateError):
    """The session has no linked WhatsApp account."""

    code = "not_linked"


class NoPendingQr(SessionStateError):
    """There is no QR code waiting to be scanned."""

    code = "no_pending_qr"
    status_code = 404


class SessionClosed(WagateError):
    """The session (or the gateway that owns it) has been closed."""

    code = "session_closed"
    status_code = 503


class SubscriberLagged(WagateError):
    """A subscriber fell further behind than its buffer allows.

    Attributes:
        missed: How many events the subscriber did not receive.
        last_seq: The seq of the last event it did receive (``None`` if none);
            resume from the replay log after this one.
    """

    code = "subscriber_lagged"
    status_code = 409

    def __init__(
        self, message: str, *, missed: int, last_seq: int | None, tenant: str | None = None
    ) -> None:
        super().__init__(message, tenant=tenant)
        self.missed = missed
        self.last_seq = last_seq


class ScanRejected(WagateError):
    """The phone refused a QR code: stale, expired, already used or not a login code."""

    code = "scan_rejected"
    status_code = 422


class DriverError(WagateError):
    """The WhatsApp engine failed; the message carries the engine's own words."""

    code = "driver_error"
    status_code = 502


class PairingFailed(DriverError):
    """A pairing code could not be obtained."""

    code = "pairing_failed"


class StoreError(WagateError):
    """The session store could not be opened, read or written."""

    code = "store_error"
    status_code = 503


class StoreLocked(StoreError):
    """Another process already has this session store open."""

    code = "store_locked"


class OwnershipError(WagateError):
    """In a cluster, no process could act for a tenant as asked (see :mod:`wagate.cluster`)."""

    code = "ownership_error"
    status_code = 503


class NotOwner(OwnershipError):
    """Another process holds the tenant: send commands through the gateway, which routes them.

    Attributes:
        owner: The cluster member that holds the tenant, when known.
    """

    code = "not_owner"

    def __init__(
        self, message: str, *, tenant: str | None = None, owner: str | None = None
    ) -> None:
        super().__init__(message, tenant=tenant)
        self.owner = owner


class NoOwner(OwnershipError):
    """No process can be reached for the tenant now (its owner stopped and none took over yet)."""

    code = "no_owner"


class OwnerTimeout(OwnershipError):
    """The process holding the tenant did not answer a command in time."""

    code = "owner_timeout"
    status_code = 504


class LeaseLost(OwnershipError, StoreError):
    """A write (or event) for a tenant whose lease this process lost was refused."""

    code = "lease_lost"
