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
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import attrs

from .._commands import (
    ADD_PARTICIPANTS,
    BLOCK,
    CHECK_NUMBERS,
    CONTACT,
    CREATE_GROUP,
    DEMOTE_PARTICIPANTS,
    DOWNLOAD,
    EDIT,
    GROUP,
    GROUP_INVITE_LINK,
    GROUPS,
    JOIN_GROUP,
    LEAVE_GROUP,
    LOGOUT,
    MARK_READ,
    PROFILE_PICTURE,
    PROMOTE_PARTICIPANTS,
    REACT,
    REMOVE_PARTICIPANTS,
    REQUEST_PAIRING_CODE,
    RESTART,
    REVOKE,
    SEND,
    SEND_CHAT_STATE,
    SEND_TEXT,
    SET_GROUP_DESCRIPTION,
    SET_GROUP_SUBJECT,
    SET_PRESENCE,
    STATUS,
    SUBSCRIBE_PRESENCE,
    UNBLOCK,
    Command,
    Param,
)
from .._content import CONTENT_KINDS
from .._errors import (
    InternalError,
    InvalidContent,
    InvalidInput,
    MediaNotFound,
    NoPendingQr,
    RateLimited,
    WagateError,
    error_response,
)
from .._events import (
    Connected,
    Disconnected,
    Event,
    QrGenerated,
    State,
    status_payload,
    to_wire,
    utcnow,
)
from .._gateway import Gateway
from .._hub import Overflow
from .._media import DEFAULT_LIMITS, MediaLimits, sniff
from .._mediastore import check_media_id
from .._pacing import RequestLimit, RequestLimiter
from .._session import Session
from .._telemetry import REQUESTS_LIMITED, TELEMETRY
from .._validate import echo
from .._wire import (
    CONTENT_FIELDS,
    CONTENT_TYPE,
    FILE_NAME,
    MENTIONS,
    MIME_TYPE,
    REPLY_TO,
    result_for,
)
from ..adapters._headers import HeaderLookup
from ..adapters.auth import (
    DEFAULT_COOKIE,
    TENANT_HEADER,
    TENANT_QUERY,
    Authenticator,
    CrossSiteRequest,
    Principal,
    authenticate_request,
)
from ._multipart import FilePart, Form, InvalidForm, boundary_of, parse_form
from ._ranges import RangeNotSatisfiable, byte_range, media_headers
from ._route import FileReply, Reply, Route, encode_json
from ._simulator import SIMULATOR_COMMANDS, SIMULATOR_RECEIVE, SIMULATOR_ROUTES, SIMULATOR_SCAN

__all__ = [
    "INTERNAL_ERROR",
    "MAX_BODY_BYTES",
    "ROUTES",
    "SIMULATOR_COMMANDS",
    "SIMULATOR_RECEIVE",
    "SIMULATOR_SCAN",
    "ApiError",
    "BodyLimit",
    "BodyTooLarge",
    "ClientLeft",
    "CrossSiteRequest",
    "FileReply",
    "Headers",
    "HttpError",
    "InvalidJson",
    "MethodNotAllowed",
    "NoRoute",
    "RangeNotSatisfiable",
    "Reply",
    "RestApi",
    "Route",
    "SendFailed",
    "UnsupportedMediaType",
    "client_left",
    "crash_reply",
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


class ApiError(WagateError, code="bad_request", status_code=400):
    """A request the REST API refuses for a reason of HTTP itself."""


class UnsupportedMediaType(ApiError, code="unsupported_media_type", status_code=415):
    """The body is not ``application/json``."""


class InvalidJson(ApiError, code="invalid_json", status_code=400):
    """The body is not valid JSON."""


class BodyTooLarge(ApiError, code="body_too_large", status_code=413):
    """The body is larger than the API reads."""


class ClientLeft(ApiError, code="client_left", status_code=400):
    """The client closed the connection before sending the whole body (nobody reads the answer)."""


class NoRoute(ApiError, code="not_found", status_code=404):
    """No route answers the request's path."""


class MethodNotAllowed(ApiError, code="method_not_allowed", status_code=405):
    """The route does not answer the request's method."""


class HttpError(ApiError, code="http_error"):
    """Another refusal of the web framework itself; it keeps the framework's status."""

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


class SendFailed(WagateError, code="send_failed", status_code=502):
    """WhatsApp refused the message (HTTP 502); ``payload`` is its ``message:sent``."""

    def __init__(self, message: str, *, payload: JSON, tenant: str) -> None:
        super().__init__(message, tenant=tenant)
        self.payload = payload

    def details(self) -> dict[str, Any]:
        """``payload``."""
        return {"payload": self.payload}

    def extras(self) -> dict[str, Any]:
        """``sent``: the ``message:sent`` payload, beside the error."""
        return {"sent": self.payload}


def reply_for(exc: BaseException) -> Reply:
    """The reply for anything a route raised (:func:`~wagate.error_response`).

    An exception that is not a :class:`~wagate.WagateError` is answered 500
    ``internal_error``; log it where it is caught.
    """
    answer = error_response(exc)
    return Reply(answer.status, answer.body, answer.headers)


error_reply = reply_for
"""The former name of :func:`reply_for`."""


class BodyLimit:
    """Collects a request body's chunks, refusing one over :data:`MAX_BODY_BYTES` early.

    Args:
        length: The ``Content-Length`` the client announced, if any.
        limit: The most bytes to read (the route's; :data:`MAX_BODY_BYTES` by default).

    Raises:
        BodyTooLarge: the announced length is over the limit.
    """

    def __init__(self, length: int | None, limit: int = MAX_BODY_BYTES) -> None:
        if length is not None and length > limit:
            raise BodyTooLarge(f"the body has {length:,} bytes; the limit is {limit:,}")
        self.limit = limit
        self._chunks: list[bytes] = []
        self._size = 0

    def add(self, chunk: bytes) -> None:
        """Keep one more chunk.

        Raises:
            BodyTooLarge: the body is now over the limit.
        """
        self._size += len(chunk)
        if self._size > self.limit:
            raise BodyTooLarge(f"the body is over the limit of {self.limit:,} bytes")
        self._chunks.append(chunk)

    def body(self) -> bytes:
        """The whole body."""
        return b"".join(self._chunks)


def parse_json_body(
    content_type: str | None, body: bytes, *, limit: int = MAX_BODY_BYTES, form: bool = False
) -> object:
    """Decode a JSON request body, refusing other media types, oversized and bad JSON.

    With ``form``, a ``multipart/form-data`` body is read too, as a :class:`Form`.
    """
    if len(body) > limit:
        raise BodyTooLarge(f"the body has {len(body):,} bytes; the limit is {limit:,}")
    if form and (boundary := boundary_of(content_type)) is not None:
        return parse_form(boundary, body)
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json":
        wanted = "application/json or multipart/form-data" if form else "application/json"
        raise UnsupportedMediaType(
            f"send the body as {wanted} (got {echo(media) if media else 'no content type'})"
        )
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        # A body of a million '[' is valid JSON syntax that no parser should recurse into.
        raise InvalidJson("the body is not valid JSON: it is nested too deeply") from None


Headers = HeaderLookup
"""A request's headers (or query), looked up by name (both frameworks' qualify)."""


def answer(route: Route, result: object) -> dict[str, Any]:
    """The JSON answer of a route whose command's result is its answer.

    ``{}`` for none; an object of :data:`~wagate._wire.RESULTS` as its codec writes
    it; a list or a text under the route's :attr:`~Route.key`.
    """
    if result is None:
        return {}
    if isinstance(result, Event):
        data: dict[str, Any] = to_wire(result)[0].data
        return data
    if isinstance(result, (str, list)):
        assert route.key is not None, f"route {route.name} answers a list or text: give it a key"
        if isinstance(result, str):
            return {route.key: result}
        item = route.command.item
        written = result_for(item) if item is not None else None
        codec = written.codec if written is not None else None
        now = utcnow()
        return {route.key: [codec.encode(v, now) if codec else v for v in result]}
    written = result_for(type(result))
    if written is None:
        raise TypeError(f"route {route.name}: no codec writes {result!r}")
    encoded: dict[str, Any] = written.codec.encode(result, utcnow())
    return encoded


def _object(body: object) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidInput("the body must be a JSON object")
    return body


def _field(body: object, param: Param) -> Any:
    body = _object(body)
    name = param.wire
    if name not in body:
        raise InvalidInput(f"the body has no {name!r}")
    value = body[name]
    if param.codec is not None and not isinstance(value, param.type):
        value = param.codec.decode(value, name)
    if not isinstance(value, param.type):
        kind = "a string" if param.type is str else f"a {param.type.__name__}"
        raise InvalidInput(f"{name!r} must be {kind}, got {type(value).__name__}")
    return value


FILE_PART = "file"
"""The name of the file part of a ``POST /api/messages`` form."""
_OCTETS = "application/octet-stream"
MEDIA_KINDS = tuple(cls.kind for cls in CONTENT_KINDS if cls.has_media)
_FORM_FIELDS = tuple(p.wire for p in SEND.params if p.codec is None)  # ``to``


def _schema_type(schema: Mapping[str, Any]) -> str:
    """The JSON type a field's schema names (the non-null one of an ``anyOf``)."""
    for option in schema.get("anyOf", ()):
        if option.get("type") != "null":
            return _schema_type(option)
    kind = schema.get("type")
    return kind if isinstance(kind, str) else "string"


def _form_value(key: str, kind: str, values: list[str]) -> Any:
    if kind == "array":
        return values
    if len(values) != 1:
        raise InvalidForm(f"the form has {len(values)} {key!r} fields; send one")
    value = values[0]
    if kind == "boolean":
        if value.lower() not in ("true", "false"):
            raise InvalidForm(f"{key!r} must be true or false, got {echo(value)}")
        return value.lower() == "true"
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            raise InvalidForm(f"{key!r} must be a number, got {echo(value)}") from None
    return value


def form_body(form: Form) -> dict[str, Any]:
    """A ``POST /api/messages`` form as the JSON body it stands for.

    The fields are the JSON body's (``to``) and its content's (``type``,
    ``caption``, ``fileName``, ``replyTo``, ``mentions`` repeated...); the media is
    the one file part, named :data:`FILE_PART`, whose file name and type stand in
    for ``fileName`` and ``mimeType`` when those fields are not given.

    Raises:
        InvalidForm: no file part, several, or a field given twice or malformed.
        InvalidContent: a kind without media (send those as JSON).
    """
    if len(form.files) != 1 or form.files[0].name != FILE_PART:
        names = ", ".join(repr(f.name) for f in form.files) or "none"
        raise InvalidForm(
            f"a message form takes exactly one file part, named {FILE_PART!r} (got {names})"
        )
    part: FilePart = form.files[0]
    fields = dict(form.fields)
    kind = _form_value(CONTENT_TYPE.key, "string", fields.pop(CONTENT_TYPE.key, []))
    if kind not in MEDIA_KINDS:
        raise InvalidContent(
            f"a form sends media ({', '.join(MEDIA_KINDS)}); send a {echo(kind)} as JSON"
        )
    body: dict[str, Any] = {
        key: _form_value(key, "string", fields.pop(key, [])) for key in _FORM_FIELDS
    }
    content: dict[str, Any] = {CONTENT_TYPE.key: kind, "media": part.data}
    for field in (*CONTENT_FIELDS[kind], REPLY_TO, MENTIONS):
        if field.key in fields:
            content[field.key] = _form_value(
                field.key, _schema_type(field.codec.schema), fields.pop(field.key)
            )
    if part.content_type and part.content_type.split(";")[0].strip() != "application/octet-stream":
        content.setdefault(MIME_TYPE.key, part.content_type.split(";")[0].strip())
    if part.filename and any(f.key == FILE_NAME.key for f in CONTENT_FIELDS[kind]):
        content.setdefault(FILE_NAME.key, part.filename)
    if fields:
        raise InvalidForm(f"a {kind} form has no field {', '.join(map(repr, sorted(fields)))}")
    body.update((p.wire, content) for p in SEND.params if p.codec is not None)
    return body


class RestApi:
    """The REST routes' logic over a :class:`~wagate.Gateway`, for any framework.

    :meth:`handle` does everything a route decides (who is asking, which tenant,
    what is valid, the call, which status and body); a framework module only turns
    its request into ``handle``'s arguments and its :class:`Reply` into a response.

    Args:
        gateway: The gateway holding the tenants' sessions.
        authenticator: Turns a request's token into a principal.
        cookie_name: The cookie a browser's token is read from (``None``: headers only).
        simulator: Enable ``/api/simulator/*`` (only for simulated drivers); by
            default when the gateway is :attr:`~wagate.Gateway.simulated`.
        generate_wait: The most seconds ``POST /api/qr/generate`` waits for the new
            QR code before answering with the state reached so far.
        request_limit: How many requests each principal may make (429 past it);
            ``None``: no limit.
    """

    def __init__(
        self,
        gateway: Gateway,
        authenticator: Authenticator,
        *,
        cookie_name: str | None = DEFAULT_COOKIE,
        simulator: bool | None = None,
        generate_wait: float = 5.0,
        request_limit: RequestLimit | None = None,
    ) -> None:
        self.gateway = gateway
        self.limiter = RequestLimiter(request_limit) if request_limit is not None else None
        """Refuses a principal's requests over ``request_limit`` (429); ``None``: no limit."""
        self.generate_wait = generate_wait
        self.authenticator = authenticator
        self.cookie_name = cookie_name
        self.simulator = gateway.simulated if simulator is None else simulator
        """Whether the simulated-phone routes are served."""
        limits = gateway.media_limits or MediaLimits()
        self.upload_limit = max(map(limits.limit, DEFAULT_LIMITS)) * 4 // 3 + MAX_BODY_BYTES
        """The most bytes ``POST /api/messages`` reads: the largest media, as base64, and more."""
        self.routes = tuple(r for r in ROUTES if self.simulator or not r.simulator)
        """The routes this API answers."""
        self._by_key = {(r.method, r.path): r for r in self.routes}
        if self.simulator:
            for name, handler in SIMULATOR_COMMANDS.items():
                gateway.commands.setdefault(name, handler)

    async def handle(
        self,
        method: str,
        path: str,
        headers: Headers,
        body: Callable[[int], Awaitable[bytes]],
        query: Headers,
        *,
        scheme: str = "http",
        params: Mapping[str, str] | None = None,
    ) -> Reply | FileReply:
        """Answer a request to one of :attr:`routes` (``path`` below the API's prefix).

        ``path`` is the route's own (with its ``{name}`` segments) and ``params``
        the values the framework matched for them.  The body is read (``await
        body(limit)``, refusing more than ``limit`` bytes) only once the request
        is authenticated and only by a route that takes one.  Errors of wagate
        become their JSON reply; any other exception is the framework's to answer
        with a 500.
        """
        try:
            # HEAD answers as GET does (the framework drops the body).
            verb = "GET" if method.upper() == "HEAD" else method.upper()
            route = self._by_key.get((verb, path))
            if route is None:
                return http_error_reply(404, method=method, path=path)
            principal = self.principal(headers, method=method, scheme=scheme)
            if self.limiter is not None:
                try:
                    self.limiter.check((principal.subject, principal.tenants))
                except RateLimited:
                    TELEMETRY.add(REQUESTS_LIMITED)
                    raise
            tenant = self.tenant(principal, headers.get(TENANT_HEADER), query.get(TENANT_QUERY))
            arguments: dict[str, Any] = {}
            if route.body:
                limit = self.upload_limit if route.form else MAX_BODY_BYTES
                payload = parse_json_body(
                    headers.get("content-type"), await body(limit), limit=limit, form=route.form
                )
                if isinstance(payload, Form):
                    payload = form_body(payload)
                arguments = {
                    p.name: _field(payload, p)
                    for p in route.command.params
                    if p.name not in route.path_params
                    and (p.required or p.wire in _object(payload))
                }
            for name in route.path_params:
                arguments[name] = (params or {}).get(name, "")
            if route.streams:
                arguments["range"] = headers.get("range")
                arguments["if_range"] = headers.get("if-range")
            if route.respond is None:  # the command's result is the answer
                result = await self.gateway.run(route.command, tenant, **arguments)
                return Reply(route.status, answer(route, result))
            return await route.respond(self, tenant, arguments)
        except RangeNotSatisfiable as exc:
            reply = reply_for(exc)
            return attrs.evolve(reply, headers=(("Content-Range", f"bytes */{exc.size}"),))
        except WagateError as exc:
            return reply_for(exc)

    # ------------------------------------------------------------------ probes
    def healthz(self) -> Reply:
        """``GET /healthz``: the process is alive (no authentication, no I/O)."""
        return Reply(200, {"status": "alive"})

    async def readyz(self) -> Reply:
        """``GET /readyz``: 200 when the gateway can serve, else 503 with each check's reason."""
        ready = await self.gateway.readiness()
        return Reply(200 if ready.ready else 503, ready.payload())

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

    def refuse_stream(self, headers: HeaderLookup) -> Reply | None:
        """The refusal of a ``GET /api/events`` request by the REST routes' rule, if any.

        Checked before the SSE transport's own: a cookie and a header that disagree
        are refused on the stream as on every route.
        """
        try:
            self.principal(headers)
        except WagateError as exc:
            return reply_for(exc)
        return None

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
    async def status(self, tenant: str, arguments: Mapping[str, Any]) -> Reply:
        """``GET /status``: the session's status."""
        return Reply(200, status_payload(await self.gateway.status(tenant)))

    async def qr(self, tenant: str, arguments: Mapping[str, Any]) -> Reply:
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

    async def generate(self, tenant: str, arguments: Mapping[str, Any]) -> Reply:
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

    async def send(self, tenant: str, arguments: Mapping[str, Any]) -> Reply:
        """``POST /api/send`` ``{to, text}``: send a text message."""
        sent = await self.gateway.send_text(tenant, arguments["to"], arguments["text"])
        payload = to_wire(sent)[0].data
        if not sent.success:
            raise SendFailed(
                sent.error or "WhatsApp refused the message", payload=payload, tenant=tenant
            )
        return Reply(200, payload)

    async def media(self, tenant: str, arguments: Mapping[str, Any]) -> FileReply:
        """``GET /api/media/{id}``: one of the tenant's media, streamed (ranges too).

        Served from the gateway's media store; media the store does not hold yet
        is downloaded first by the session (in whichever process runs it).
        Another tenant's media is not found (404), as media that never existed.
        """
        store = self.gateway.media_store
        media_id = check_media_id(arguments["id"], tenant)
        stored = await store.get(tenant, media_id)
        data: bytes | None = None
        if stored is None or not stored.has_data:
            data = await self.gateway.download(tenant, media_id)
            stored = await store.get(tenant, media_id)
        path = store.file(tenant, media_id) if stored is not None and stored.has_data else None
        size: int | None = None
        if path is not None:
            try:
                size = path.stat().st_size
            except OSError:
                path = None  # removed meanwhile (retention): serve the bytes instead
        if path is None:
            data = data if data is not None else await store.read(tenant, media_id)
            if data is None:
                raise MediaNotFound(f"no media has the id {media_id!r}", tenant=tenant)
            size = len(data)
        assert size is not None
        media = stored.media if stored is not None else None
        mime = media.mime_type if media is not None else sniff(data or b"") or _OCTETS
        etag = f'"{media.sha256}"' if media is not None and media.sha256 else None
        span = byte_range(arguments["range"], size, if_range=arguments["if_range"], etag=etag)
        start, stop = span or (0, size)
        headers = media_headers(mime, media.file_name if media else None, etag)
        headers += (("Content-Length", str(stop - start)),)
        if span is not None:
            headers += (("Content-Range", f"bytes {start}-{stop - 1}/{size}"),)
        return FileReply(206 if span else 200, headers, start, stop, path=path, data=data)

    async def logout(self, tenant: str, arguments: Mapping[str, Any]) -> Reply:
        """``POST /api/logout``: unlink the account."""
        await self.gateway.logout(tenant)
        return Reply(200, status_payload(await self.gateway.status(tenant)))


_NOT_CONNECTED = "The session is not connected."


def _group_route(
    action: str,
    command: Command[..., Any],
    summary: str,
    *,
    key: str | None = None,
    admin: bool = False,
) -> Route:
    """``POST /api/groups/{jid}/<action>``: a group call, its body the other parameters."""
    errors = {
        404: "The account is not in that group.",
        409: _NOT_CONNECTED,
        422: "Not a group's JID, or a bad body.",
    }
    if admin:
        errors[403] = "Only the group's admins may do that."
    return Route(
        method="POST",
        path=f"/api/groups/{{jid}}/{action}",
        command=command,
        name=command.name,
        operation=f"post_groups_{action.replace('/', '_')}",
        summary=summary,
        key=key,
        body=len(command.params) > 1,
        path_params=("jid",),
        errors=errors,
    )


def _contact_route(method: str, action: str, command: Command[..., Any], summary: str) -> Route:
    """``<method> /api/contacts/{jid}<action>``: a call about one person."""
    return Route(
        method=method,
        path=f"/api/contacts/{{jid}}{action}",
        command=command,
        name=command.name,
        operation=f"{method.lower()}_contacts{action.replace('/', '_')}",
        summary=summary,
        path_params=("jid",),
        errors={409: _NOT_CONNECTED, 422: "Not a person's number or JID."},
    )


ROUTES: tuple[Route, ...] = (
    Route(
        method="GET",
        path="/status",
        command=STATUS,
        respond=RestApi.status,
        name="status",
        operation="get_status",
        summary="The session's status",
    ),
    Route(
        method="GET",
        path="/api/qr",
        command=STATUS,
        respond=RestApi.qr,
        name="qr",
        operation="get_qr",
        summary="The pending QR code",
        errors={404: "No QR code is pending; says why."},
    ),
    Route(
        method="POST",
        path="/api/qr/generate",
        command=RESTART,
        respond=RestApi.generate,
        name="generate",
        operation="post_generate",
        summary="Start a login, or replace the pending QR code",
        status=202,
        errors={409: "Already connected; log out first."},
    ),
    Route(
        method="POST",
        path="/api/pairing-code",
        command=REQUEST_PAIRING_CODE,
        name="pairing_code",
        operation="post_pairing_code",
        summary="Log in with a code typed on the phone instead of a QR scan",
        body=True,
        errors={
            409: "Already linked, or no login waiting (generate a QR code first).",
            422: "Not an international phone number.",
            502: "WhatsApp refused to make a code for that number.",
        },
    ),
    Route(
        method="POST",
        path="/api/send",
        command=SEND_TEXT,
        respond=RestApi.send,
        name="send",
        operation="post_send",
        summary="Send a text message",
        body=True,
        errors={
            409: "The session is not connected.",
            422: "A bad recipient, text or body.",
            502: "WhatsApp refused the message.",
        },
    ),
    Route(
        method="POST",
        path="/api/messages",
        command=SEND,
        name="messages",
        operation="post_messages",
        summary="Send a message of any kind (JSON, or a form with a file)",
        body=True,
        form=True,
        errors={
            404: "A replyTo message or a media id the session never saw.",
            409: "The session is not connected.",
            413: "The media is over its kind's limit, or the body over the upload limit.",
            422: "A bad recipient, content, media or form.",
            502: "WhatsApp refused the message, or a media URL could not be fetched.",
        },
    ),
    Route(
        method="POST",
        path="/api/messages/react",
        command=REACT,
        name="react",
        operation="post_react",
        summary="React to a message (an empty emoji removes the reaction)",
        body=True,
        errors={404: "No message of that id.", 409: "The session is not connected."},
    ),
    Route(
        method="POST",
        path="/api/messages/edit",
        command=EDIT,
        name="edit",
        operation="post_edit",
        summary="Edit a text this account sent",
        body=True,
        errors={
            404: "No message of that id.",
            409: "Not this account's, past the edit window, or not connected.",
        },
    ),
    Route(
        method="POST",
        path="/api/messages/revoke",
        command=REVOKE,
        name="revoke",
        operation="post_revoke",
        summary="Delete a message for everyone",
        body=True,
        errors={
            404: "No message of that id.",
            409: "Not this account's message, or not connected.",
        },
    ),
    Route(
        method="POST",
        path="/api/messages/read",
        command=MARK_READ,
        name="read",
        operation="post_read",
        summary="Mark messages of a chat read",
        body=True,
        errors={404: "No message of that id in that chat.", 409: "The session is not connected."},
    ),
    Route(
        method="GET",
        path="/api/groups",
        command=GROUPS,
        key="groups",
        name="groups",
        operation="get_groups",
        summary="The groups the account is in",
        errors={409: "The session is not connected."},
    ),
    Route(
        method="GET",
        path="/api/groups/{jid}",
        command=GROUP,
        name="group",
        operation="get_group",
        summary="A group with its participants and their roles",
        path_params=("jid",),
        errors={
            404: "The account is not in that group.",
            409: "The session is not connected.",
            422: "Not a group's JID.",
        },
    ),
    Route(
        method="POST",
        path="/api/groups",
        command=CREATE_GROUP,
        name="create_group",
        operation="post_groups",
        summary="Make a group with the account as its creator",
        status=201,
        body=True,
        errors={409: _NOT_CONNECTED, 422: "An empty or too long subject, or bad participants."},
    ),
    Route(
        method="POST",
        path="/api/groups/join",
        command=JOIN_GROUP,
        name="join_group",
        operation="post_groups_join",
        summary="Join a group by its invite link",
        key="jid",
        body=True,
        errors={
            404: "WhatsApp knows no group by that invite.",
            409: _NOT_CONNECTED,
            422: "Not an invite link.",
        },
    ),
    _group_route("leave", LEAVE_GROUP, "Leave a group"),
    _group_route("subject", SET_GROUP_SUBJECT, "Rename a group", admin=True),
    _group_route("description", SET_GROUP_DESCRIPTION, "Set a group's description", admin=True),
    *(
        _group_route(
            f"participants/{verb}",
            cmd,
            f"{verb.capitalize()} participants",
            key="results",
            admin=True,
        )
        for verb, cmd in (
            ("add", ADD_PARTICIPANTS),
            ("remove", REMOVE_PARTICIPANTS),
            ("promote", PROMOTE_PARTICIPANTS),
            ("demote", DEMOTE_PARTICIPANTS),
        )
    ),
    _group_route(
        "invite",
        GROUP_INVITE_LINK,
        "The group's invite link (reset: a new one)",
        key="link",
        admin=True,
    ),
    Route(
        method="POST",
        path="/api/contacts/check",
        command=CHECK_NUMBERS,
        name="check_numbers",
        operation="post_contacts_check",
        summary="Which phone numbers are on WhatsApp",
        key="numbers",
        body=True,
        errors={
            409: _NOT_CONNECTED,
            422: "An empty list, more than 1,000 numbers, or one that is not a phone number.",
        },
    ),
    _contact_route("GET", "", CONTACT, "What WhatsApp tells the account about someone"),
    _contact_route("GET", "/picture", PROFILE_PICTURE, "Someone's or a group's profile picture"),
    _contact_route("POST", "/block", BLOCK, "Block someone"),
    _contact_route("POST", "/unblock", UNBLOCK, "Unblock someone"),
    Route(
        method="POST",
        path="/api/presence",
        command=SET_PRESENCE,
        name="presence",
        operation="post_presence",
        summary="Show the account online or offline",
        body=True,
        errors={409: "The session is not connected."},
    ),
    Route(
        method="POST",
        path="/api/presence/subscribe",
        command=SUBSCRIBE_PRESENCE,
        name="subscribe_presence",
        operation="post_subscribe_presence",
        summary="Get a contact's presence as presence:changed events",
        body=True,
        errors={409: "The session is not connected."},
    ),
    Route(
        method="POST",
        path="/api/chats/state",
        command=SEND_CHAT_STATE,
        name="chat_state",
        operation="post_chat_state",
        summary="Show a chat that the account is typing, recording, or stopped",
        body=True,
        errors={409: "The session is not connected."},
    ),
    Route(
        method="GET",
        path="/api/media/{id}",
        command=DOWNLOAD,
        respond=RestApi.media,
        name="media",
        operation="get_media",
        summary="A media's bytes, streamed (range requests too)",
        streams=True,
        path_params=("id",),
        errors={
            404: "No media of that id for this tenant (another tenant's is not found either).",
            409: "The bytes are not here yet and the session is not connected.",
            416: "The range names no byte of the media.",
        },
    ),
    Route(
        method="POST",
        path="/api/logout",
        command=LOGOUT,
        respond=RestApi.logout,
        name="logout",
        operation="post_logout",
        summary="Unlink the account",
        errors={409: "No account is linked."},
    ),
    *SIMULATOR_ROUTES,
)
"""Every REST route, each running one command (FastAPI and Flask register these)."""


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


def crash_reply(method: str, path: str, exc: BaseException) -> Reply:
    """Log an unexpected exception of a request; :data:`INTERNAL_ERROR`, its reply."""
    log.error("unhandled error on %s %s", method, path, exc_info=exc)
    return INTERNAL_ERROR
