"""Signing webhook deliveries, and checking them on the receiving side.

Each delivery carries two signatures of the same body, made with the endpoint's
secret:

- wagate's own: ``Wagate-Timestamp`` and ``Wagate-Signature: v1=<hex>``, checked
  with :func:`verify_signature`;
- the `Standard Webhooks <https://www.standardwebhooks.com/>`_ one:
  ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64>``,
  the HMAC-SHA256 of ``id.timestamp.body``, checked with the ``standardwebhooks``
  library (``Webhook(standard_secret(secret)).verify(body, headers)``) or any
  other implementation of the spec.

A Standard Webhooks secret is ``whsec_`` and the base64 of the key bytes.  A
wagate secret written that way is read that way (its key is the decoded bytes);
any other secret's key is its UTF-8 bytes, and :func:`standard_secret` gives the
``whsec_`` form of it for a Standard Webhooks library.  ``Wagate-Signature``
always uses the secret's UTF-8 bytes as they are, as it always did.
Public through :mod:`wagate.adapters.webhooks`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import time
from collections.abc import Mapping
from typing import Any

from ..._errors import InvalidInput, WagateError
from .._headers import HeaderLookup

TIMESTAMP_HEADER = "Wagate-Timestamp"
"""The request header holding the Unix time (seconds) at which a delivery was signed."""

SIGNATURE_HEADER = "Wagate-Signature"
"""The request header holding ``v1=<hex HMAC-SHA256 of timestamp + "." + body>``."""

MIN_SECRET_BYTES = 16
"""The shortest secret (or ``whsec_`` key) accepted, in bytes (see :func:`standard_secret`)."""

DEFAULT_TOLERANCE = 300
"""How far (seconds) a signed timestamp may be from the receiver's clock by default."""

STANDARD_ID_HEADER = "webhook-id"
"""The Standard Webhooks header naming the delivery: ``<tenant>:<seq>``, the same on every try.

Receivers deduplicate by it: a retried, re-sent or replayed delivery keeps its id.
"""

STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
"""The Standard Webhooks header holding the Unix time (seconds) the try was signed at."""

STANDARD_SIGNATURE_HEADER = "webhook-signature"
"""The Standard Webhooks signature header: ``v1,<base64 HMAC-SHA256 of id.timestamp.body>``."""

ATTEMPT_HEADER = "Wagate-Attempt"
"""The request header counting the tries of this delivery: ``1`` for the first, across replays."""

REPLAY_HEADER = "Wagate-Replay"
"""The request header: ``true`` when a dead letter is posted again by a replay, else ``false``."""

STANDARD_SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's prefix, not a secret
_MAX_TIMESTAMP_DIGITS = 12

# ---------------------------------------------------------------------------------
# Signing and verifying


class SignatureError(WagateError, code="invalid_signature"):
    """A webhook request's signature is missing, malformed or wrong: reject the request."""


class StaleTimestamp(SignatureError, code="stale_timestamp"):
    """A webhook request was signed too long ago (or in the future): possibly a replay.

    Attributes:
        age: Seconds between the signed timestamp and the receiver's clock
            (negative when the timestamp is in the future).
    """

    def __init__(self, message: str, *, age: float, tenant: str | None = None) -> None:
        super().__init__(message, tenant=tenant)
        self.age = age

    def details(self) -> dict[str, Any]:
        """``age``."""
        return {"age": self.age}


def _secret_bytes(secret: object) -> bytes:
    if isinstance(secret, str):
        raw = secret.encode("utf-8")
    elif isinstance(secret, (bytes, bytearray)):
        raw = bytes(secret)
    else:
        raise InvalidInput(f"a webhook secret must be str or bytes, got {type(secret).__name__}")
    if len(raw) < MIN_SECRET_BYTES or not raw.strip():
        raise InvalidInput(
            f"a webhook secret must be at least {MIN_SECRET_BYTES} bytes; "
            "generate one with secrets.token_urlsafe(32)"
        )
    return raw


def _body_bytes(body: object) -> bytes:
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise InvalidInput(f"the body must be the raw request bytes, got {type(body).__name__}")


def _digest(key: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """Return the ``Wagate-Signature`` value for ``body`` signed at ``timestamp``.

    Args:
        secret: The endpoint's secret.
        body: The exact request body.
        timestamp: Unix time in whole seconds.

    Raises:
        InvalidInput: the secret is too short or not str/bytes.
    """
    _check_timestamp(timestamp)
    return "v1=" + _digest(_secret_bytes(secret), timestamp, _body_bytes(body))


def signature_headers(
    secret: str | bytes,
    body: bytes,
    *,
    timestamp: int | None = None,
    msg_id: str | None = None,
) -> dict[str, str]:
    """Return the signature headers for posting ``body``.

    What the dispatcher sends; also handy to test a receiver.  With ``msg_id``
    the Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``,
    ``webhook-signature``) come too, signed at the same time.

    Args:
        secret: The endpoint's secret.
        body: The exact request body.
        timestamp: Unix time in whole seconds (default: now).
        msg_id: The ``webhook-id`` (see :func:`delivery_id`).
    """
    stamp = int(time.time()) if timestamp is None else timestamp
    headers = {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(secret, body, stamp)}
    if msg_id is not None:
        headers[STANDARD_ID_HEADER] = msg_id
        headers[STANDARD_TIMESTAMP_HEADER] = str(stamp)
        headers[STANDARD_SIGNATURE_HEADER] = sign_standard(secret, msg_id, body, stamp)
    return headers


def _header(headers: object, name: str) -> str | None:
    value: object = None
    get = getattr(headers, "get", None)
    if callable(get):
        value = get(name)
    if value is None and isinstance(headers, Mapping):
        wanted = name.lower()
        for key, item in headers.items():
            if isinstance(key, str) and key.lower() == wanted:
                value = item
                break
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if not isinstance(value, str):
        raise SignatureError(f"the {name} header is not text")
    return value


def verify_signature(
    secret: str | bytes,
    headers: HeaderLookup | Mapping[str, str] | tuple[str, str],
    body: bytes | str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Check that a webhook request was signed with ``secret``, recently.

    Use it on the raw body, before parsing it.

    Example:
        ```python
        @app.post("/wa-hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            try:
                verify_signature(SECRET, request.headers, body)
            except SignatureError as exc:
                return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, 401)
            event = json.loads(body)
            ...
        ```

    Args:
        secret: The endpoint's secret.
        headers: The request's headers (anything with ``get``, looked up
            case-insensitively), or the pair ``(timestamp, signature)`` of their values.
        body: The raw request body.
        tolerance: How many seconds the timestamp may differ from ``now``.
        now: The receiver's Unix time (default: the clock).

    Raises:
        SignatureError: a header is missing or malformed, or the signature does not match.
        StaleTimestamp: the timestamp is more than ``tolerance`` seconds old or ahead.
        InvalidInput: the secret or the tolerance is invalid.
    """
    key = _secret_bytes(secret)
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, (int, float))
        or not math.isfinite(tolerance)
        or tolerance <= 0
    ):
        raise InvalidInput(f"tolerance must be a positive number of seconds, got {tolerance!r}")
    if isinstance(headers, tuple):
        if len(headers) != 2:
            raise InvalidInput("give the headers, or the pair (timestamp, signature)")
        stamp_value, signature_value = headers
        if not isinstance(stamp_value, str) or not isinstance(signature_value, str):
            raise SignatureError("the timestamp and signature must be strings")
    else:
        stamp_value = _header(headers, TIMESTAMP_HEADER) or ""
        signature_value = _header(headers, SIGNATURE_HEADER) or ""
    if not stamp_value:
        raise SignatureError(f"the {TIMESTAMP_HEADER} header is missing")
    if not signature_value:
        raise SignatureError(f"the {SIGNATURE_HEADER} header is missing")
    stamp_text = stamp_value.strip()
    if not (
        stamp_text.isascii() and stamp_text.isdigit() and len(stamp_text) <= _MAX_TIMESTAMP_DIGITS
    ):
        raise SignatureError(f"the {TIMESTAMP_HEADER} header is not a Unix time in seconds")
    stamp = int(stamp_text)
    expected = _digest(key, stamp, _body_bytes(body))
    candidates = [part.strip() for part in signature_value.split(",")]
    versioned = [c[3:] for c in candidates if c.startswith("v1=")]
    if not versioned:
        raise SignatureError(f"the {SIGNATURE_HEADER} header has no v1= signature")
    # Compare against every candidate, so the time taken does not tell which matched.
    matched = False
    for candidate in versioned:
        matched |= hmac.compare_digest(candidate.encode("ascii", "replace"), expected.encode())
    if not matched:
        raise SignatureError("the signature does not match the body and timestamp")
    age = (time.time() if now is None else now) - stamp
    if abs(age) > tolerance:
        when = f"{age:.0f} s old" if age > 0 else f"{-age:.0f} s in the future"
        raise StaleTimestamp(
            f"the request was signed {when}; at most {tolerance:g} s is accepted "
            "(a replayed request, or a clock out of sync)",
            age=age,
        )


def _standard_key(secret: object) -> bytes:
    """The HMAC key of the Standard Webhooks signature for ``secret``."""
    if isinstance(secret, str) and secret.startswith(STANDARD_SECRET_PREFIX):
        encoded = secret[len(STANDARD_SECRET_PREFIX) :]
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(
                "a secret starting with 'whsec_' is a Standard Webhooks secret: what follows "
                "must be base64 (make one with standard_secret(secrets.token_bytes(32)))"
            ) from None
        if len(key) < MIN_SECRET_BYTES:
            raise InvalidInput(
                f"the key of this 'whsec_' secret is {len(key)} bytes; "
                f"at least {MIN_SECRET_BYTES} are needed"
            )
        return key
    return _secret_bytes(secret)


def standard_secret(secret: str | bytes) -> str:
    """Return ``secret`` as a Standard Webhooks library takes it: ``whsec_`` + base64 of the key.

    A ``whsec_`` secret comes back as it is; any other is the base64 of its
    UTF-8 bytes, so that ``standardwebhooks.Webhook(standard_secret(secret))``
    checks what wagate signed.  Also the way to make a new secret:
    ``standard_secret(secrets.token_bytes(32))``.

    Example:
        ```python
        from standardwebhooks import Webhook

        Webhook(standard_secret(SECRET)).verify(body, dict(request.headers))
        ```

    Raises:
        InvalidInput: the secret is too short, not str/bytes, or a malformed ``whsec_`` one.
    """
    key = _standard_key(secret)
    if isinstance(secret, str) and secret.startswith(STANDARD_SECRET_PREFIX):
        return secret
    return STANDARD_SECRET_PREFIX + base64.b64encode(key).decode("ascii")


def delivery_id(tenant: str, seq: int, event: str = "") -> str:
    """Return the ``webhook-id`` of the delivery of ``tenant``'s event ``seq``: ``tenant:seq``.

    The same for every try, re-send and replay of that event, and for every
    endpoint; tenant ids hold no ``:``.  A ``stream:gap`` notice (``event``) is
    ``tenant:gap:seq``, apart from the event of that seq.
    """
    return f"{tenant}:gap:{seq}" if event == "stream:gap" else f"{tenant}:{seq}"


def sign_standard(secret: str | bytes, msg_id: str, body: bytes, timestamp: int) -> str:
    """Return the Standard Webhooks ``webhook-signature`` value for ``body``.

    Args:
        secret: The endpoint's secret (see :func:`standard_secret` for its key).
        msg_id: The ``webhook-id``.
        body: The exact request body.
        timestamp: Unix time in whole seconds (the ``webhook-timestamp``).

    Raises:
        InvalidInput: the secret or the timestamp is invalid.
    """
    _check_timestamp(timestamp)
    signed = f"{msg_id}.{timestamp}.".encode() + _body_bytes(body)
    digest = hmac.new(_standard_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def _check_timestamp(timestamp: object) -> None:
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp < 0:
        raise InvalidInput(f"timestamp must be a non-negative integer, got {timestamp!r}")
