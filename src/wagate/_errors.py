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
     ├── OwnershipError                         which process holds a tenant (clusters)
     │    ├── NotOwner                          another process holds the tenant
     │    ├── NoOwner                           no process can be reached for the tenant
     │    └── OwnerTimeout                      the owner did not answer in time
     ├── InternalError                          an unexpected failure (details in the log)
     └── RemoteError                            another process's error of a kind unknown here

Each error class declares, in its class line
(``class NotConnected(SessionStateError, code="not_connected")``), a stable
machine-readable :attr:`WagateError.code` and, where it differs from its base's,
the HTTP :attr:`WagateError.status_code` it is answered with; each error has a
message that says what happened and what to do, and the ``tenant`` where there
is one.

This module is also the one place that maps errors to the outside:
:func:`error_response` turns any exception into the status and the body
``{"error": {"code", "message"}}`` that every transport sends (REST, SSE,
Socket.IO), and :func:`error_from_body` turns such a body back into the same
class (the cluster's command forwarding, the engine's child process).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "AlreadyConnected",
    "DriverError",
    "ErrorResponse",
    "InternalError",
    "InvalidContent",
    "InvalidInput",
    "InvalidInviteLink",
    "InvalidMedia",
    "InvalidParticipants",
    "InvalidPhoneNumber",
    "InvalidRecipient",
    "InvalidSubject",
    "InvalidTenant",
    "InvalidText",
    "InviteNotFound",
    "LeaseLost",
    "MediaFetchFailed",
    "MediaNotFound",
    "MediaTooLarge",
    "NoOwner",
    "NoPendingQr",
    "NotConnected",
    "NotEditable",
    "NotGroupAdmin",
    "NotLinked",
    "NotOwner",
    "OwnerTimeout",
    "OwnershipError",
    "PairingFailed",
    "RateLimited",
    "RemoteError",
    "ScanRejected",
    "SessionClosed",
    "SessionStateError",
    "StoreError",
    "StoreLocked",
    "SubscriberLagged",
    "TooManyNumbers",
    "UnknownMessage",
    "WagateError",
    "error_from_body",
    "error_response",
]

_BY_CODE: dict[str, type[WagateError]] = {}
"""Every error class by the code it declares (the first class to declare a code keeps it)."""


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

    def __init_subclass__(
        cls, *, code: str | None = None, status_code: int | None = None, **kwargs: Any
    ) -> None:
        # Keywords of the class line, so that a class says its answer in one line; the
        # docs' error table reads them there too (docs/hooks/wire_protocol.py).
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
        if status_code is not None:
            cls.status_code = status_code
        if "code" in cls.__dict__:
            _BY_CODE.setdefault(cls.code, cls)

    def __init__(self, message: str, *, tenant: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.tenant = tenant

    def details(self) -> dict[str, Any]:
        """The keywords, besides ``message`` and ``tenant``, that rebuild this error.

        They travel in the bodies that cross to another process of wagate's
        (:func:`error_response` with ``complete=True``), never to clients.
        """
        return {}

    def extras(self) -> dict[str, Any]:
        """Members every client's body carries beside ``"error"`` (none by default)."""
        return {}

    def http_headers(self) -> tuple[tuple[str, str], ...]:
        """HTTP headers that go with its answer (none by default)."""
        return ()

    def __str__(self) -> str:
        if self.tenant is None:
            return self.message
        return f"[tenant {self.tenant!r}] {self.message}"


class InvalidInput(WagateError, ValueError, code="invalid_input", status_code=422):
    """A value given to wagate is malformed; nothing was changed."""


class InvalidTenant(InvalidInput, code="invalid_tenant"):
    """A tenant id is not 1-128 characters of ``[A-Za-z0-9._-]``."""


class InvalidRecipient(InvalidInput, code="invalid_recipient"):
    """A recipient is neither an international phone number nor a WhatsApp JID."""


class InvalidText(InvalidInput, code="invalid_text"):
    """A message text is empty, blank, too long or not encodable."""


class InvalidPhoneNumber(InvalidInput, code="invalid_phone_number"):
    """A phone number (for a pairing code) is not a valid international number."""


class InvalidContent(InvalidInput, code="invalid_content"):
    """A message content is malformed: an unknown kind, a bad field, a caption where none goes."""


class InvalidMedia(InvalidInput, code="invalid_media"):
    """Media is empty, not what its kind takes (a PDF as an ``Image``), or not decodable."""


class MediaTooLarge(InvalidInput, code="media_too_large", status_code=413):
    """Media is past the size limit of its kind."""


class MediaFetchFailed(InvalidInput, code="media_fetch_failed"):
    """Media given as a URL could not be fetched: unreachable, too slow, refused or not allowed."""


class UnknownMessage(InvalidInput, code="unknown_message", status_code=404):
    """A message id this tenant never saw (to reply to, react to, edit or revoke)."""


class NotAGroup(InvalidRecipient, code="not_a_group"):
    """A group call was given a JID that is not a group's (``...@g.us``)."""


class NotInGroup(WagateError, code="not_in_group", status_code=404):
    """The account is not in that group (or the group does not exist)."""


class NotGroupAdmin(WagateError, code="not_group_admin", status_code=403):
    """The engine refused a group change that only the group's admins may make."""


class InvalidSubject(InvalidInput, code="invalid_subject"):
    """A group subject that is empty, blank or over WhatsApp's 100 characters."""


class InvalidParticipants(InvalidInput, code="invalid_participants"):
    """A participant list that is empty, too long, or holds something that is not a person."""


class InvalidInviteLink(InvalidInput, code="invalid_invite_link"):
    """Not a WhatsApp group invite link (``https://chat.whatsapp.com/<code>``) or code."""


class InviteNotFound(WagateError, code="invite_not_found", status_code=404):
    """WhatsApp knows no group by that invite (revoked, expired, or never made)."""


class TooManyNumbers(InvalidInput, code="too_many_numbers"):
    """More phone numbers than one ``check_numbers`` call takes."""


class RateLimited(WagateError, code="rate_limited", status_code=429):
    """Too fast: the tenant's pacing or the API's request limit refused this, for now.

    Attributes:
        retry_after: Seconds until trying again may succeed (HTTP ``Retry-After``).
    """

    def __init__(self, message: str, *, retry_after: float, tenant: str | None = None) -> None:
        super().__init__(message, tenant=tenant)
        self.retry_after = max(0.0, float(retry_after))

    def details(self) -> dict[str, Any]:
        """``retry_after``."""
        return {"retry_after": self.retry_after}

    def extras(self) -> dict[str, Any]:
        """``retryAfter``: whole seconds, as the header says."""
        return {"retryAfter": self.retry_seconds}

    def http_headers(self) -> tuple[tuple[str, str], ...]:
        """``Retry-After``, in whole seconds (rounded up)."""
        return (("Retry-After", str(self.retry_seconds)),)

    @property
    def retry_seconds(self) -> int:
        """:attr:`retry_after` rounded up to whole seconds (at least 1)."""
        return max(1, math.ceil(self.retry_after))


class NotEditable(InvalidInput, code="not_editable", status_code=409):
    """A message cannot be edited: another account sent it, or WhatsApp's edit window has passed."""


class MediaNotFound(WagateError, code="media_not_found", status_code=404):
    """No media of this tenant has that id (another tenant's media is not found either)."""


class SessionStateError(WagateError, code="invalid_state", status_code=409):
    """The call is valid but the session is in a state where it cannot be done."""


class NotConnected(SessionStateError, code="not_connected"):
    """The session is not connected to WhatsApp; connect and link it first."""


class AlreadyConnected(SessionStateError, code="already_connected"):
    """The session is already linked and connected; log out first to link again."""


class NotLinked(SessionStateError, code="not_linked"):
    """The session has no linked WhatsApp account."""


class NoPendingQr(SessionStateError, code="no_pending_qr", status_code=404):
    """There is no QR code waiting to be scanned."""


class SessionClosed(WagateError, code="session_closed", status_code=503):
    """The session (or the gateway that owns it) has been closed."""


class SubscriberLagged(WagateError, code="subscriber_lagged", status_code=409):
    """A subscriber fell further behind than its buffer allows.

    Attributes:
        missed: How many events the subscriber did not receive.
        last_seq: The seq of the last event it did receive (``None`` if none);
            resume from the replay log after this one.
    """

    def __init__(
        self, message: str, *, missed: int, last_seq: int | None, tenant: str | None = None
    ) -> None:
        super().__init__(message, tenant=tenant)
        self.missed = missed
        self.last_seq = last_seq

    def details(self) -> dict[str, Any]:
        """``missed`` and ``last_seq``."""
        return dict(missed=self.missed, last_seq=self.last_seq)  # its keyword arguments


class ScanRejected(WagateError, code="scan_rejected", status_code=422):
    """The phone refused a QR code: stale, expired, already used or not a login code."""


class DriverError(WagateError, code="driver_error", status_code=502):
    """The WhatsApp engine failed; the message carries the engine's own words."""


class PairingFailed(DriverError, code="pairing_failed"):
    """A pairing code could not be obtained."""


class StoreError(WagateError, code="store_error", status_code=503):
    """The session store could not be opened, read or written."""


class StoreLocked(StoreError, code="store_locked"):
    """Another process already has this session store open."""


class OwnershipError(WagateError, code="ownership_error", status_code=503):
    """In a cluster, no process could act for a tenant as asked (see :mod:`wagate.cluster`)."""


class NotOwner(OwnershipError, code="not_owner"):
    """Another process holds the tenant: send commands through the gateway, which routes them.

    Attributes:
        owner: The cluster member that holds the tenant, when known.
    """

    def __init__(
        self, message: str, *, tenant: str | None = None, owner: str | None = None
    ) -> None:
        super().__init__(message, tenant=tenant)
        self.owner = owner

    def details(self) -> dict[str, Any]:
        """``owner``."""
        return {"owner": self.owner}


class NoOwner(OwnershipError, code="no_owner"):
    """No process can be reached for the tenant now (its owner stopped and none took over yet)."""


class OwnerTimeout(OwnershipError, code="owner_timeout", status_code=504):
    """The process holding the tenant did not answer a command in time."""


class LeaseLost(OwnershipError, StoreError, code="lease_lost"):
    """A write (or event) for a tenant whose lease this process lost was refused."""


class InternalError(WagateError, code="internal_error", status_code=500):
    """An unexpected failure: the details go to the server's log, never to the client."""

    def __init__(
        self, message: str = "internal error; see the server log", *, tenant: str | None = None
    ) -> None:
        super().__init__(message, tenant=tenant)


class RemoteError(WagateError, code="remote_error", status_code=500):
    """An error another process answered with, of a class this process does not know.

    It keeps the code and the status it was sent with.
    """

    def __init__(
        self,
        message: str,
        *,
        tenant: str | None = None,
        code: str = "remote_error",
        status_code: int = 500,
    ) -> None:
        super().__init__(message, tenant=tenant)
        # This instance's own code and status; the class keeps its defaults (the registry's).
        vars(self).update(code=code, status_code=status_code)

    def details(self) -> dict[str, Any]:
        """``status_code``: the code is the body's own."""
        return {"status_code": self.status_code}


_BY_CODE[WagateError.code] = WagateError


@attrs.frozen
class ErrorResponse:
    """What a transport answers for an error: the status, the JSON body, HTTP headers.

    Attributes:
        status: The HTTP status (the error class's :attr:`~WagateError.status_code`).
        body: ``{"error": {"code", "message"}}``, plus the class's :meth:`~WagateError.extras`.
        headers: The HTTP headers that go with it (``WWW-Authenticate`` on a 401).
        error: The error answered: the one given, or an :class:`InternalError` for
            any other exception.
    """

    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...]
    error: WagateError


def error_response(exc: BaseException, *, complete: bool = False) -> ErrorResponse:
    """The answer every transport sends for ``exc``.

    A :class:`WagateError` is answered with its class's code and status; any other
    exception with an :class:`InternalError`, whose message gives nothing away
    (log the exception itself where it is caught).

    Args:
        exc: What was raised.
        complete: Also carry the tenant and the error's :meth:`~WagateError.details`
            inside ``"error"``, so that :func:`error_from_body` rebuilds it exactly in
            another process of wagate's.  Never for clients.

    Example:
        ```python
        answer = error_response(NotConnected("link the account first"))
        answer.status, answer.body  # 409, {"error": {"code": "not_connected", "message": ...}}
        ```
    """
    error = exc if isinstance(exc, WagateError) else InternalError()
    inner: dict[str, Any] = {"code": error.code, "message": error.message}
    if complete:
        inner["tenant"] = error.tenant
        inner.update(error.details())
    headers = error.http_headers()
    if error.status_code == 401:
        headers = (("WWW-Authenticate", f'Bearer error="{error.code}"'), *headers)
    return ErrorResponse(error.status_code, {"error": inner, **error.extras()}, headers, error)


def error_from_body(body: Mapping[str, Any], *, status: int | None = None) -> WagateError:
    """The error of a body :func:`error_response` made, as the same class.

    A class that needs more than the body holds (a client's body of an error with
    :meth:`~WagateError.details`), and a code that no class loaded here declares,
    come back as a :class:`RemoteError` keeping the code and the status.

    Args:
        body: ``{"error": {"code", "message", ...}, ...}``.
        status: The status it came with, for a :class:`RemoteError`.
    """
    inner = body.get("error")
    if not isinstance(inner, Mapping):
        inner = {}
    fields = dict(inner)
    code = str(fields.pop("code", None) or WagateError.code)
    message = str(fields.pop("message", None) or "the other process failed without a message")
    tenant = fields.pop("tenant", None)
    cls = _BY_CODE.get(code)
    if cls is not None and cls is not RemoteError:
        try:
            return cls(message, tenant=tenant, **fields)
        except TypeError:  # it needs what this body does not hold
            status = cls.status_code if status is None else status
    status = fields.get("status_code", status)
    return RemoteError(
        message, tenant=tenant, code=code, status_code=500 if status is None else int(status)
    )
