"""The REST API's logic, once, for every framework.

Each framework module (``fastapi``, ``flask``) only translates: request ->
:class:`RestApi` call -> response.  Everything a route decides (who is asking,
which tenant, what is valid, which status code) is decided here, so the two
integrations answer byte for byte the same.  The routes act through the
gateway's tenant commands (:meth:`~wagate.Gateway.command`), so in a cluster they
answer the same whichever process a request reaches.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import anyio
import attrs

from .._errors import (
    InternalError,
    InvalidInput,
    NoPendingQr,
    NotConnected,
    WagateError,
    error_response,
)
from .._events import (
    Connected,
    Disconnected,
    QrGenerated,
    State,
    Status,
    status_payload,
    to_wire,
)
from .._gateway import Gateway
from .._hub import Overflow
from .._session import Session
from .._validate import echo, validate_text
from ..adapters._headers import HeaderLookup
from ..adapters.auth import (
    DEFAULT_COOKIE,
    Authenticator,
    CrossSiteRequest,
    Principal,
    authenticate_request,
)

__all__ = [
    "INTERNAL_ERROR",
    "MAX_BODY_BYTES",
    "ApiError",
    "BodyTooLarge",
    "ClientLeft",
    "CrossSiteRequest",
    "HttpError",
    "InvalidJson",
    "MethodNotAllowed",
    "NoRoute",
    "Reply",
    "RestApi",
    "SendFailed",
    "UnsupportedMediaType",
    "client_left",
    "encode_json",
    "error_reply",
    "http_error_reply",
    "parse_json_body",
    "reply_for",
]

log = logging.getLogger("wagate")

MAX_BODY_BYTES = 1_048_576
"""The largest request body the REST routes read (1 MiB); larger ones get 413."""

JSON = dict[str, Any]


class ApiError(WagateError):
    """A request the REST API refuses for a reason of HTTP itself."""

    code = "bad_request"
    status_code = 400


class UnsupportedMediaType(ApiError):
    """The body is not ``application/json``."""

    code = "unsupported_media_type"
    status_code = 415


class InvalidJson(ApiError):
    """The body is not valid JSON."""

    code = "invalid_json"
    status_code = 400


class BodyTooLarge(ApiError):
    """The body is larger than the API reads."""

    code = "body_too_large"
    status_code = 413


class ClientLeft(ApiError):
    """The client closed the connection before sending the whole body (nobody reads the answer)."""

    code = "client_left"
    status_code = 400


class NoRoute(ApiError):
    """No route answers the request's path."""

    code = "not_found"
    status_code = 404


class MethodNotAllowed(ApiError):
    """The route does not answer the request's method."""

    code = "method_not_allowed"
    status_code = 405


class HttpError(ApiError):
    """Another refusal of the web framework itself; it keeps the framework's status."""

    code = "http_error"

    def __init__(self, message: str, *, tenant: str | None = None, status_code: int = 400) -> None:
        super().__init__(message, tenant=tenant)
        vars(self).update(status_code=status_code)  # this instance's; the class keeps 400

    def details(self) -> dict[str, Any]:
        """``status_code``."""
        return {"status_code": self.status_code}


def client_left(method: str, path: str) -> ClientLeft:
    """The error for a client that left mid-body, noted in the log at debug level only.

    A client going away is no fault of the server's: logging it as an error would let
    anyone with a token fill the log with tracebacks.
    """
    error = ClientLeft("the client went away before sending the whole body")
    log.debug("%s %s: %s", method, path, error.message)
    return error


class SendFailed(WagateError):
    """WhatsApp refused the message (HTTP 502); ``payload`` is its ``message:sent``."""

    code = "send_failed"
    status_code = 502

    def __init__(self, message: str, *, payload: JSON, tenant: str) -> None:
        super().__init__(message, tenant=tenant)
        self.payload = payload

    def details(self) -> dict[str, Any]:
        """``payload``."""
        return {"payload": self.payload}

    def extras(self) -> dict[str, Any]:
        """``sent``: the ``message:sent`` payload, beside the error."""
        return {"sent": self.payload}


@attrs.frozen
class Reply:
    """A framework-neutral response: status, JSON body, extra headers."""

    status: int
    body: JSON
    headers: tuple[tuple[str, str], ...] = ()

    def content(self) -> bytes:
        """The body as the bytes every framework sends (compact UTF-8 JSON)."""
        return encode_json(self.body)


def encode_json(body: object) -> bytes:
    """Encode a JSON body the one way both integrations send it."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def reply_for(exc: BaseException) -> Reply:
    """The reply for anything a route raised (:func:`~wagate.error_response`).

    An exception that is not a :class:`~wagate.WagateError` is answered 500
    ``internal_error``; log it where it is caught.
    """
    answer = error_response(exc)
    return Reply(answer.status, answer.body, answer.headers)


error_reply = reply_for
"""The former name of :func:`reply_for`."""


def parse_json_body(content_type: str | None, body: bytes) -> object:
    """Decode a JSON request body, refusing other media types, oversized and bad JSON."""
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"the body has {len(body):,} bytes; the limit is {MAX_BODY_BYTES:,}")
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaType(
            f"send the body as application/json (got {echo(media) if media else 'no content type'})"
        )
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        # A body of a million '[' is valid JSON syntax that no parser should recurse into.
        raise InvalidJson("the body is not valid JSON: it is nested too deeply") from None


def _simulated_phone(session: Session) -> Any:
    phone = getattr(session.driver, "phone", None)
    if phone is None:
        raise NotConnected("this gateway has no simulated phones", tenant=session.tenant)
    return phone


async def _simulator_scan(session: Session, args: Mapping[str, Any]) -> Status:
    phone = _simulated_phone(session)
    qr = session.status.qr
    if qr is None:
        raise NoPendingQr(
            "no QR code is pending: POST /api/qr/generate first", tenant=session.tenant
        )
    events = session.events()
    try:
        phone.scan(qr.code)
        # Answer with the state the scan led to, not the one before it.
        with anyio.move_on_after(5):
            async for event in events:
                if isinstance(event, (Connected, Disconnected)):
                    break
    finally:
        events.close()
    return session.status


async def _simulator_receive(session: Session, args: Mapping[str, Any]) -> JSON:
    message_id = _simulated_phone(session).receive_message(args["from"], args["text"])
    return {"id": message_id}


SIMULATOR_COMMANDS = {"simulator.scan": _simulator_scan, "simulator.receive": _simulator_receive}
"""The gateway commands behind ``/api/simulator/*`` (run where the tenant's session is)."""


def _field(body: object, name: str) -> str:
    if not isinstance(body, Mapping):
        raise InvalidInput("the body must be a JSON object")
    if name not in body:
        raise InvalidInput(f"the body has no {name!r}")
    value = body[name]
    if not isinstance(value, str):
        raise InvalidInput(f"{name!r} must be a string, got {type(value).__name__}")
    return value


class RestApi:
    """The REST routes' logic over a :class:`~wagate.Gateway`.

    Args:
        gateway: The gateway holding the tenants' sessions.
        authenticator: Turns a request's token into a principal.
        cookie_name: The cookie a browser's token is read from (``None``: headers only).
        simulator: Enable ``/api/simulator/*`` (only for simulated drivers).
        generate_wait: The most seconds ``POST /api/qr/generate`` waits for the new
            QR code before answering with the state reached so far.
    """

    def __init__(
        self,
        gateway: Gateway,
        authenticator: Authenticator,
        *,
        cookie_name: str | None = DEFAULT_COOKIE,
        simulator: bool = False,
        generate_wait: float = 5.0,
    ) -> None:
        self.gateway = gateway
        self.generate_wait = generate_wait
        self.authenticator = authenticator
        self.cookie_name = cookie_name
        self.simulator = simulator
        if simulator:
            for name, handler in SIMULATOR_COMMANDS.items():
                gateway.commands.setdefault(name, handler)

    # ------------------------------------------------------------------ who is asking
    def principal(
        self, headers: HeaderLookup, *, method: str = "GET", scheme: str = "http"
    ) -> Principal:
        """Authenticate a request by its ``Authorization`` header and cookie.

        :func:`~wagate.adapters.auth.authenticate_request`, the rule of every
        transport: a header and a cookie that disagree are refused, and a change
        authenticated by the cookie alone must come from the same site.

        Raises:
            AuthenticationError: no token, a bad one, or two that disagree.
            CrossSiteRequest: a cookie-authenticated change from another site.
        """
        return authenticate_request(
            self.authenticator,
            headers=headers,
            cookie_name=self.cookie_name,
            method=method,
            scheme=scheme,
        )

    @staticmethod
    def tenant(principal: Principal, header: str | None = None, query: str | None = None) -> str:
        """The tenant a request acts on (:meth:`Principal.choose`, the rule of every transport).

        Raises:
            Forbidden: the tenant named is not granted.
            TenantRequired: the principal has several tenants and none was chosen.
        """
        return principal.choose(header, query)

    async def session(self, tenant: str) -> Session:
        """The tenant's session, created on first use."""
        return await self.gateway.session(tenant)

    # ------------------------------------------------------------------ routes
    async def status(self, tenant: str) -> Reply:
        """``GET /status``: the session's status."""
        return Reply(200, status_payload(await self.gateway.status(tenant)))

    async def qr(self, tenant: str) -> Reply:
        """``GET /api/qr``: the pending QR code, or 404 saying why there is none."""
        status = await self.gateway.status(tenant)
        if status.qr is None:
            why = {
                State.CONNECTED: "the session is connected: no QR code is needed",
                State.CONNECTING: "the session is connecting: the QR code is on its way",
                State.DISCONNECTED: "no login is in progress: POST /api/qr/generate to start one",
            }.get(status.state, "no QR code is pending")
            raise NoPendingQr(why, tenant=tenant)
        return Reply(200, {"tenant": tenant, **status_payload(status)["qr"]})

    async def generate(self, tenant: str) -> Reply:
        """``POST /api/qr/generate``: start a login, or replace the pending QR (202).

        Answers with the state the login reached: the new QR code as soon as the
        engine produces it (within :attr:`generate_wait` seconds), else ``connecting``.
        """
        # Only what happens from now on: the QR pending before the restart is stale.
        events = self.gateway.hub.subscribe(tenant, overflow=Overflow.GAP, initial=False)
        try:
            await self.gateway.restart(tenant)
            with anyio.move_on_after(self.generate_wait):
                async for event in events:
                    if isinstance(event, (QrGenerated, Connected, Disconnected)):
                        break
        finally:
            events.close()
        return Reply(202, status_payload(await self.gateway.status(tenant)))

    async def send(self, tenant: str, body: object) -> Reply:
        """``POST /api/send`` ``{to, text}``: send a text message."""
        to = _field(body, "to")
        text = _field(body, "text")
        sent = await self.gateway.send_text(tenant, to, text)
        payload = to_wire(sent)[0].data
        if not sent.success:
            raise SendFailed(
                sent.error or "WhatsApp refused the message", payload=payload, tenant=tenant
            )
        return Reply(200, payload)

    async def logout(self, tenant: str) -> Reply:
        """``POST /api/logout``: unlink the account."""
        await self.gateway.logout(tenant)
        return Reply(200, status_payload(await self.gateway.status(tenant)))

    # ------------------------------------------------------------------ simulator
    def _check_simulator(self, tenant: str) -> None:
        if not self.simulator:
            raise NotConnected("this gateway has no simulated phones", tenant=tenant)

    async def simulator_scan(self, tenant: str) -> Reply:
        """``POST /api/simulator/scan``: the tenant's simulated phone scans the pending QR."""
        self._check_simulator(tenant)
        status = await self.gateway.command(tenant, "simulator.scan")
        return Reply(200, status_payload(status))

    async def simulator_receive(self, tenant: str, body: object) -> Reply:
        """``POST /api/simulator/receive`` ``{from, text}``: a contact writes to the account."""
        sender = _field(body, "from")
        text = validate_text(_field(body, "text"))
        self._check_simulator(tenant)
        sent = await self.gateway.command(
            tenant, "simulator.receive", {"from": sender, "text": text}
        )
        return Reply(200, {"id": sent["id"], "from": sender, "text": text})


def http_error_reply(
    status: int,
    *,
    method: str,
    path: str,
    detail: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Reply:
    """The reply for an error the framework itself raised (unknown route, wrong method...)."""
    error: WagateError
    if status == 404:
        error = NoRoute(f"no route {path}")
    elif status == 405:
        error = MethodNotAllowed(f"{method} is not allowed on {path}")
    elif status == 413:
        error = BodyTooLarge(detail or "the request was refused")
    else:
        error = HttpError(detail or "the request was refused", status_code=status)
    reply = reply_for(error)
    return attrs.evolve(reply, headers=reply.headers + headers)


INTERNAL_ERROR = reply_for(InternalError())
"""The reply to an unexpected exception: the details go to the log, never to the client."""
