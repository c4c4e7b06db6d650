"""Posting one webhook body: the envelope, the signed request, the retries.

Public through :mod:`wagate.adapters.webhooks` (:func:`webhook_body`).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import attrs

from ..._errors import InvalidInput
from ..._events import Event, QrGenerated, from_wire, to_wire
from ..._session import Backoff
from ..._version import __version__
from ._endpoint import WebhookEndpoint
from ._signing import ATTEMPT_HEADER, REPLAY_HEADER, signature_headers

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("wagate.webhooks")

_RESPONSE_READ_LIMIT = 64 * 1024


def webhook_body(event: Event) -> tuple[str, bytes]:
    """Return the wire name and the JSON body a webhook posts for ``event``.

    The body is ``{"event", "tenant", "seq", "data"}``, where ``event`` and ``data``
    are the first message of :func:`wagate.to_wire`.
    """
    message = to_wire(event)[0]
    envelope = {
        "event": message.name,
        "tenant": event.tenant,
        "seq": event.seq,
        "data": message.data,
    }
    body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return message.name, body.encode("utf-8")


def fresh_body(name: str, body: bytes) -> Callable[[], bytes]:
    """What to post for a kept body (backlog, dead letter) at each try.

    A QR code is encoded anew: its ``expiresIn`` counts from the moment it is
    encoded, so the stored body of a ``qr:generated`` would promise a code that
    expired long ago; the event is decoded from its body and encoded again.
    Anything else, and a body that does not decode (written by another version),
    is posted as it was kept.
    """
    if name == QrGenerated.wire_name:
        try:
            event = from_wire(name, json.loads(body)["data"])
        except (ValueError, KeyError, TypeError, InvalidInput):
            pass
        else:
            return lambda: webhook_body(event)[1]
    return lambda: body


def new_client(timeout: float) -> httpx.AsyncClient:
    """The HTTP client a dispatcher posts with when it is given none.

    Raises:
        ImportError: httpx (the ``webhooks`` extra) is not installed.
    """
    try:
        import httpx  # noqa: PLC0415 - the optional extra, imported when used
    except ImportError:
        raise ImportError(
            "webhooks need httpx: install wagate with the 'webhooks' extra "
            "(pip install 'wagate[webhooks]')"
        ) from None
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
        headers={"User-Agent": f"wagate/{__version__}"},
    )


@attrs.frozen(kw_only=True)
class Outcome:
    """How one try (or the last of several) of a delivery ended."""

    ok: bool
    retry: bool = False
    error: str | None = None
    status: int | None = None
    retry_after: float | None = None


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit() and len(text) <= 6:
        return float(text)
    return None  # an HTTP date, or garbage: keep our own backoff


class Delivery:
    """Posts bodies to endpoints, signed, retrying what may succeed later.

    Args:
        client: The HTTP client to post with.
        timeout: Seconds one try may take in all, from connecting to the answer.
        backoff: The delay between tries.
        rng: The jitter of the delays.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        timeout: float,
        backoff: Backoff,
        rng: random.Random,
    ) -> None:
        self.client = client
        self.timeout = timeout
        self.backoff = backoff
        self.rng = rng

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failures in a row (of a post, or of the store)."""
        return self.backoff.delay(failures, self.rng)

    async def deliver(
        self,
        endpoint: WebhookEndpoint,
        body: Callable[[], bytes],
        attempts: int,
        msg_id: str,
        *,
        tried: int = 0,
        replay: bool = False,
    ) -> tuple[Outcome, int]:
        """Post ``body()`` up to ``attempts`` times; return the last outcome and the tries made.

        ``body`` is called at each try: a QR code's body is encoded anew, so that its
        ``expiresIn`` counts from that try.

        ``tried`` is how many tries the delivery had before (a dead letter's), so
        ``Wagate-Attempt`` counts on across replays.
        """
        outcome = Outcome(ok=False, error="not attempted")
        attempt = 0
        for attempt in range(1, attempts + 1):
            outcome = await self._post(
                endpoint, body(), msg_id, attempt=tried + attempt, replay=replay
            )
            if outcome.ok or not outcome.retry or attempt == attempts:
                break
            delay = self.delay(attempt)
            if outcome.retry_after is not None:
                delay = min(max(delay, outcome.retry_after), self.backoff.maximum)
            log.info(
                "webhook %r: %s; try %d of %d in %.2f s",
                endpoint.name,
                outcome.error,
                attempt + 1,
                attempts,
                delay,
            )
            await anyio.sleep(delay)
        return outcome, attempt

    async def _post(
        self, endpoint: WebhookEndpoint, body: bytes, msg_id: str, *, attempt: int, replay: bool
    ) -> Outcome:
        import httpx  # noqa: PLC0415 - the optional extra, loaded by the dispatcher already

        headers = {
            "Content-Type": "application/json",
            **signature_headers(endpoint.secret, body, msg_id=msg_id),
            ATTEMPT_HEADER: str(attempt),
            REPLAY_HEADER: "true" if replay else "false",
        }
        try:
            with anyio.fail_after(self.timeout):
                async with self.client.stream(
                    "POST", endpoint.url, content=body, headers=headers, follow_redirects=False
                ) as response:
                    status = response.status_code
                    phrase = response.reason_phrase
                    location = response.headers.get("location")
                    retry_after = _retry_after(response.headers.get("retry-after"))
                    read = 0
                    async for chunk in response.aiter_raw():
                        read += len(chunk)
                        if read > _RESPONSE_READ_LIMIT:
                            break
        except (TimeoutError, httpx.TimeoutException):
            return Outcome(ok=False, retry=True, error=f"timed out after {self.timeout:g} s")
        except httpx.TransportError as exc:
            return Outcome(
                ok=False, retry=True, error=f"connection failed: {type(exc).__name__}: {exc}"
            )
        except Exception as exc:  # noqa: BLE001 - any other failure is this delivery's, not ours
            return Outcome(ok=False, error=f"request failed: {type(exc).__name__}: {exc}")
        if 200 <= status < 300:
            return Outcome(ok=True, status=status)
        if 300 <= status < 400:
            return Outcome(
                ok=False,
                status=status,
                error=f"HTTP {status} {phrase}: a redirect to {location!r}, not followed; "
                "configure the endpoint with its final URL",
            )
        retry = status >= 500 or status in (408, 429)
        return Outcome(
            ok=False,
            retry=retry,
            status=status,
            error=f"HTTP {status} {phrase}",
            retry_after=retry_after,
        )
