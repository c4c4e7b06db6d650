"""Socket.IO: every tenant's events pushed to authenticated browsers, one room per tenant.

A python-socketio ``AsyncServer`` (ASGI) that

- authenticates each connection (``auth: {token}``, ``Authorization: Bearer``, or
  a cookie; a query parameter only if named) and refuses a missing, bad or
  expired token with ``connect_error`` data ``{"message", "data": {"error":
  {"code", "message"}}}``;
- puts the socket in the room of each tenant its principal is granted (or of the
  ones it asks for with ``auth: {token, tenants: [...]}``), and in no other;
- right after connect sends each of those tenants' current ``connection:status``
  and pending ``qr:generated`` (:func:`~wagate.adapters.current_messages`), then
  every live event of the tenant, as :func:`wagate.to_wire` encodes it (colon
  names, or with ``naming="dash"`` ``qr-code`` / ``connection-status``);
- answers ``join`` / ``leave`` (``"acme"`` or ``{"tenant": "acme"}``) for granted
  tenants, with the ack ``{"ok": true, "tenant"}``; anything else gets an
  ``error`` event (and ack) ``{"error": {"code", "message"}}``;
- disconnects a socket when its token expires (after an ``error`` event with the
  code ``token_expired``);
- refuses, with an ``error`` event and ack, every other client event: one named
  ``connect``, ``disconnect`` or ``connect_error`` (:data:`RESERVED_EVENTS`:
  python-socketio would run its own handlers for them) is ``reserved_event``, an
  unknown one ``unknown_event``, extra arguments or a malformed packet
  ``invalid_input``.

**Recovery.**  socket.io's connection-state recovery, over the hub's replay log:
the CONNECT answer carries a ``pid`` and each event an offset ``"<tenant>:<seq>"``
as its last argument; a client that reconnects with ``{pid, offset}`` in its auth
(a stock ``socket.io-client`` does) gets exactly what it missed and
``socket.recovered``; when the log lost some of it, ``stream:gap`` and the
current state.  A pid or offset wagate did not make: ``invalid_recovery_state``.

**Fan-out.**  The adapter reads the hub once (one subscription for every
tenant), encodes each event once, and emits it to the tenant's room, never per
socket.  A client that joins takes its snapshot and its room in one step with
respect to that stream, so it misses and repeats nothing.

**Several processes.**  Pass python-socketio's ``AsyncRedisManager`` (or any
client manager) as ``client_manager``: an event of a session held by process A
reaches sockets connected to process B.  Each process sends its own sessions'
events; the welcome snapshot comes from the process the socket is connected to
(a tenant whose session lives elsewhere reads ``disconnected`` until its next
event, unless the gateway is in a cluster, whose processes know each other's
states), and a state event in flight while a socket joins may reach it twice
(deduplicate by ``seq``).  In a cluster (:mod:`wagate.cluster`) each process's hub
carries every tenant's events: with a Redis manager the adapter sends only its
own sessions' events (:attr:`wagate.Hub.local`), so each reaches a socket once.

Example:
    ```python
    sio = SocketIOAdapter(gateway, JWTAuthenticator(secret))
    app = FastAPI(lifespan=...)  # enter `gateway` and `sio` in the lifespan
    app.mount("/socket.io", sio.asgi_app(socketio_path=""))
    # or on its own:  uvicorn.run(sio.asgi_app(manage_gateway=True))
    ```
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import socketio
from socketio.async_pubsub_manager import AsyncPubSubManager

from .._errors import InternalError, InvalidInput, SessionClosed, WagateError, error_response
from .._events import Event, WireNaming
from .._gateway import Gateway
from .._hub import Overflow, Subscription
from .._validate import validate_tenant
from ._socketio_fanout import RoomBroadcast
from ._socketio_names import ERROR_EVENT, JOIN_EVENT, LEAVE_EVENT
from ._socketio_protocol import (
    MALFORMED,
    RENAMED,
    RESERVED_EVENTS,
    InvalidRecoveryState,
    packet_class,
    parse_recovery,
)
from ._socketio_recovery import Welcome, emits, fresh, welcomes
from .auth import (
    DEFAULT_COOKIE,
    Authenticator,
    Principal,
    TokenExpired,
    authenticate_request,
    headers_from_environ,
)

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

__all__ = [
    "ERROR_EVENT",
    "RESERVED_EVENTS",
    "InvalidRecoveryState",
    "ReservedEvent",
    "SocketIOAdapter",
    "UnknownEvent",
]

log = logging.getLogger("wagate")


class ReservedEvent(InvalidInput, code="reserved_event"):
    """A client sent an event named ``connect``, ``disconnect`` or ``connect_error``."""


class UnknownEvent(InvalidInput, code="unknown_event"):
    """A client sent an event that the server does not answer (only ``join`` and ``leave``)."""


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


def _error(error: WagateError) -> dict[str, Any]:
    return error_response(error).body


def _room(tenant: str) -> str:
    # A prefix keeps tenant rooms apart from python-socketio's per-socket rooms
    # (named by sid), whatever a tenant is called.
    return "tenant:" + tenant


def _requested_tenants(auth: object) -> set[str] | None:
    if not isinstance(auth, Mapping):
        return None
    if "tenants" in auth:
        value = auth["tenants"]
        if not isinstance(value, list) or not value:
            raise InvalidInput("'tenants' in the auth payload must be a non-empty list of ids")
        return {validate_tenant(item) for item in value}
    if "tenant" in auth:
        return {validate_tenant(auth["tenant"])}
    return None


def _one_argument(event: str, args: tuple[Any, ...]) -> object:
    if len(args) > 1:
        raise InvalidInput(
            f"{event!r} takes one argument, a tenant id or {{tenant}}; got {len(args)}"
        )
    return args[0] if args else None


def _tenant_of(data: object) -> str:
    if isinstance(data, Mapping):
        data = data.get("tenant")
    return validate_tenant(data)


class SocketIOAdapter:
    """Serves a gateway's events over Socket.IO.

    Use it as an async context manager around the server's life (it reads the
    hub and expires tokens in the background); :meth:`asgi_app` is the ASGI
    application to serve or mount.

    Args:
        gateway: The gateway whose tenants' events are sent.
        authenticator: Turns a connection's token into a principal.
        naming: ``"colon"`` (``qr:generated``...) or ``"dash"`` (``qr-code``,
            ``connection-status``).
        server: An ``AsyncServer`` of your own to add the handlers to (its
            ``async_mode`` must be ``"asgi"``); by default one is made.
        client_manager: python-socketio's client manager, e.g.
            ``socketio.AsyncRedisManager(url)`` for several processes.
        cors_allowed_origins: Origins allowed to connect; ``None`` (python-socketio's
            default) allows only the server's own origin.
        cookie_name: The cookie holding the token (``None``: do not read cookies).
        query_param: A query parameter that may hold the token; off unless named.
        namespace: The Socket.IO namespace.
        recovery: Speak socket.io's connection-state recovery: a pid at connect
            and an offset as the last argument of every event, so that a client
            that reconnects gets what it missed (python-socketio clients' handlers
            then receive the offset as a second argument).  ``False``: no pid, no
            offsets, a snapshot after every reconnect.
        server_options: More ``AsyncServer`` options (``ping_interval``...).
    """

    def __init__(
        self,
        gateway: Gateway,
        authenticator: Authenticator,
        *,
        naming: WireNaming = "colon",
        server: Any = None,
        client_manager: Any = None,
        cors_allowed_origins: str | list[str] | None = None,
        cookie_name: str | None = DEFAULT_COOKIE,
        query_param: str | None = None,
        namespace: str = "/",
        recovery: bool = True,
        **server_options: Any,
    ) -> None:
        if naming not in ("colon", "dash"):
            raise InvalidInput(f"naming must be 'colon' or 'dash', got {naming!r}")
        if server is None:
            server = socketio.AsyncServer(
                async_mode="asgi",
                client_manager=client_manager,
                cors_allowed_origins=cors_allowed_origins,
                **server_options,
            )
        elif client_manager is not None or server_options:
            raise InvalidInput("give either a server or options to build one, not both")
        self.gateway = gateway
        self.authenticator = authenticator
        self.naming: WireNaming = naming
        self.server: Any = server
        """The python-socketio ``AsyncServer``."""
        self.namespace = namespace
        self.recovery = recovery
        self.cookie_name = cookie_name
        self.query_param = query_param
        self._pubsub = isinstance(server.manager, AsyncPubSubManager)
        self._principals: dict[str, Principal] = {}
        self._rooms: dict[str, set[str]] = {}
        self._lock = anyio.Lock()
        self._held: deque[Event] = deque()
        self._subscription: Subscription | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._expiry: list[tuple[float, str]] = []
        self._expiry_changed = anyio.Event()
        self._pids: dict[str, str] = {}
        self._broadcast = RoomBroadcast(server, namespace)
        # The packet class is python-socketio's seam for its wire format ("serializer"):
        # ours keeps client events away from the reserved handlers and adds the pid.
        server.packet_class = packet_class(server.packet_class, self._pids)
        server.on("connect", self._on_connect, namespace=namespace)
        server.on("disconnect", self._on_disconnect, namespace=namespace)
        server.on(JOIN_EVENT, self._on_join, namespace=namespace)
        server.on(LEAVE_EVENT, self._on_leave, namespace=namespace)
        server.on("*", self._on_other, namespace=namespace)

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Self:
        if self._tg is not None:
            raise RuntimeError("a SocketIOAdapter can be entered once at a time")
        # With a pub/sub manager every process's sockets get what this one emits: send
        # only the events of this process's own sessions (the whole hub otherwise).
        hub = self.gateway.hub.local if self._pubsub else self.gateway.hub
        self._subscription = hub.subscribe(
            None, overflow=Overflow.GAP, initial=False, label="socketio"
        )
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        tg.start_soon(self._pump, self._subscription)
        tg.start_soon(self._expire)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tg, self._tg = self._tg, None
        if self._subscription is not None:
            self._subscription.close()
        try:
            if tg is not None:
                tg.cancel_scope.cancel()
                await tg.__aexit__(exc_type, exc, tb)
        finally:
            await self._stop_engine_service()

    async def _stop_engine_service(self) -> None:
        """Stop the task in which python-socketio's engine watches its sockets.

        The engine starts it at its first connection and never stops it by itself:
        left running, it keeps the server, its handlers and so the gateway alive
        after the adapter is gone.  The next connection starts it again, so a
        server that outlives one ``async with adapter`` keeps its ping checks.
        """
        engine = self.server.eio
        task = getattr(engine, "service_task_handle", None)
        if task is None:
            return
        with anyio.move_on_after(5, shield=True):
            # The task makes its stop event when it first runs; until then, cancel it.
            if getattr(engine, "service_task_event", None) is not None:
                await self.server.shutdown()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        engine.service_task_handle = None
        engine.service_task_event = None
        engine.start_service_task = True

    @property
    def connected(self) -> int:
        """How many authenticated sockets this process holds."""
        return len(self._principals)

    def asgi_app(
        self,
        other_asgi_app: ASGIApp | None = None,
        *,
        socketio_path: str = "socket.io",
        manage_gateway: bool = False,
    ) -> ASGIApp:
        """The ASGI application: Socket.IO at ``/<socketio_path>/``.

        Without ``other_asgi_app`` the app runs the adapter during the server's
        lifespan (and the gateway too, with ``manage_gateway=True``), so
        ``uvicorn.run(adapter.asgi_app(manage_gateway=True))`` is a whole server.
        With one, lifespan events go to that app, whose lifespan must enter
        the gateway and the adapter (``async with gateway, adapter: yield``).
        """
        inner = socketio.ASGIApp(
            self.server, other_asgi_app=other_asgi_app, socketio_path=socketio_path
        )

        async def app(
            scope: MutableMapping[str, Any],
            receive: Callable[[], Awaitable[Any]],
            send: Callable[[Any], Awaitable[None]],
        ) -> None:
            if scope["type"] == "lifespan" and other_asgi_app is None:
                await self._lifespan(receive, send, manage_gateway)
            else:
                await inner(scope, receive, send)

        return app

    async def _lifespan(
        self,
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
        manage_gateway: bool,
    ) -> None:
        await receive()  # lifespan.startup
        started = False
        try:
            async with contextlib.AsyncExitStack() as stack:
                if manage_gateway:
                    await stack.enter_async_context(self.gateway)
                await stack.enter_async_context(self)
                started = True
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
        except Exception as exc:
            log.exception("the Socket.IO adapter failed to %s", "stop" if started else "start")
            kind = "shutdown" if started else "startup"
            await send({"type": f"lifespan.{kind}.failed", "message": str(exc)})
            return
        await send({"type": "lifespan.shutdown.complete"})

    # ------------------------------------------------------------------ fan-out
    async def _pump(self, subscription: Subscription) -> None:
        async for event in subscription:
            # Held outside the lock, so a join that flushes first sends it in order.
            self._held.append(event)
            async with self._lock:
                await self._flush()

    async def _flush(self) -> None:
        """Emit every event read from the hub but not yet sent (under the lock)."""
        subscription = self._subscription
        while True:
            if self._held:
                event: Event | None = self._held.popleft()
            elif subscription is not None:
                event = subscription.receive_nowait()
            else:
                event = None
            if event is None:
                return
            try:
                await self._emit_event(event)
            except Exception:
                log.exception(
                    "Socket.IO: could not emit %s (seq %d) of tenant %r",
                    type(event).__name__,
                    event.seq,
                    event.tenant,
                )

    def _has_listeners(self, room: str) -> bool:
        if self._pubsub:
            return True  # listeners may be connected to another process
        participants = self.server.manager.get_participants(self.namespace, room)
        return next(iter(participants), None) is not None

    async def _emit_event(self, event: Event) -> None:
        room = _room(event.tenant)
        if not self._has_listeners(room):
            return
        for name, args in emits(self.gateway, event, self.naming, offsets=self.recovery):
            await self._broadcast.emit(name, args, room)

    async def _enter(self, sid: str, welcome: Welcome) -> bool:
        """Send a socket its welcome to a tenant, then let it into the tenant's room."""
        try:
            async with self._lock:
                # Everything the fan-out read is sent to the room (without this socket);
                # the welcome's subscription holds what came since the welcome began.
                await self._flush()
                if sid not in self._principals:
                    return False  # disconnected meanwhile
                first = list(welcome.first)
                while (event := welcome.subscription.receive_nowait()) is not None:
                    first.extend(emits(self.gateway, event, self.naming, offsets=self.recovery))
                await self.server.enter_room(sid, _room(welcome.tenant), namespace=self.namespace)
                self._rooms.setdefault(sid, set()).add(welcome.tenant)
                for name, args in first:
                    await self.server.emit(name, args, to=sid, namespace=self.namespace)
        finally:
            welcome.subscription.close()
        return True

    async def _join(self, sid: str, tenant: str) -> bool:
        return await self._enter(sid, fresh(self.gateway, tenant, self.naming))

    async def _welcome(self, sid: str, starts: list[Welcome]) -> None:
        try:
            for welcome in starts:
                try:
                    if not await self._enter(sid, welcome):
                        return
                except Exception:
                    log.exception(
                        "Socket.IO: could not welcome socket %s to tenant %r", sid, welcome.tenant
                    )
        finally:
            for welcome in starts:
                welcome.subscription.close()

    # ------------------------------------------------------------------ handlers
    async def _on_connect(self, sid: str, environ: Mapping[str, Any], auth: object = None) -> None:
        tg = self._tg
        try:
            principal, tenants = self._authenticate(environ, auth)
            recovery = parse_recovery(auth) if self.recovery else None
        except WagateError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message, _error(exc)) from None
        except Exception:
            log.exception("Socket.IO: authenticating a connection failed")
            error: WagateError = InternalError("the server could not check the credentials")
            raise socketio.exceptions.ConnectionRefusedError(error.message, _error(error)) from None
        if tg is None:
            error = SessionClosed("the server is not ready: the Socket.IO adapter is not running")
            raise socketio.exceptions.ConnectionRefusedError(error.message, _error(error))
        pid, starts = await welcomes(self.gateway, tenants, self.naming, recovery)
        if self.recovery:
            self._pids[sid] = pid  # python-socketio's CONNECT answer carries it
        self._principals[sid] = principal
        self._broadcast.attach(sid, environ)
        if principal.expires_at is not None:
            self._expire_at(principal.expires_at.timestamp(), sid)
        # After the handler returns python-socketio sends CONNECT; the welcome runs
        # after that, so the client sees its snapshot once it is connected.
        tg.start_soon(self._welcome, sid, starts)

    def _authenticate(self, environ: Mapping[str, Any], auth: object) -> tuple[Principal, set[str]]:
        principal = authenticate_request(
            self.authenticator,
            headers=headers_from_environ(environ),
            query=environ.get("QUERY_STRING"),
            auth=auth if isinstance(auth, Mapping) else {},
            cookie_name=self.cookie_name,
            query_param=self.query_param,
        )
        requested = _requested_tenants(auth)
        if requested is None:
            return principal, set(principal.tenants)
        for tenant in sorted(requested):
            principal.check(tenant)
        return principal, requested

    async def _on_disconnect(self, sid: str, *reason: Any) -> None:
        self._broadcast.detach(sid)
        self._pids.pop(sid, None)
        self._principals.pop(sid, None)
        self._rooms.pop(sid, None)

    async def _refuse(self, sid: str, error: WagateError) -> dict[str, Any]:
        payload = _error(error)
        await self.server.emit(ERROR_EVENT, payload, to=sid, namespace=self.namespace)
        return payload

    def _principal(self, sid: str) -> Principal:
        principal = self._principals.get(sid)
        if principal is None:
            raise SessionClosed("this socket is not connected")
        if principal.expired():
            raise TokenExpired("the token has expired; reconnect with a fresh one")
        return principal

    async def _on_join(self, sid: str, *args: Any) -> dict[str, Any]:
        try:
            principal = self._principal(sid)
            tenant = _tenant_of(_one_argument("join", args))
            principal.check(tenant)
        except WagateError as exc:
            return await self._refuse(sid, exc)
        # A repeated join changes nothing (and sends no second snapshot to amplify).
        if tenant not in self._rooms.get(sid, ()):
            await self._join(sid, tenant)
        return {"ok": True, "tenant": tenant}

    async def _on_leave(self, sid: str, *args: Any) -> dict[str, Any]:
        try:
            self._principal(sid)
            tenant = _tenant_of(_one_argument("leave", args))
        except WagateError as exc:
            return await self._refuse(sid, exc)
        await self.server.leave_room(sid, _room(tenant), namespace=self.namespace)
        self._rooms.get(sid, set()).discard(tenant)
        return {"ok": True, "tenant": tenant}

    async def _on_other(self, event: object, sid: str, *args: Any) -> dict[str, Any]:
        error: WagateError
        if event == MALFORMED:
            error = InvalidInput("an event must be a JSON list whose first item is its name")
        elif isinstance(event, str) and event.startswith(RENAMED):
            name = event.removeprefix(RENAMED)
            error = ReservedEvent(
                f"{name!r} is a name Socket.IO reserves: a client may not send it as an event"
            )
        else:
            shown = repr(event) if len(repr(event)) <= 40 else repr(event)[:40] + "..."
            error = UnknownEvent(f"unknown event {shown}: this server answers 'join' and 'leave'")
        return await self._refuse(sid, error)

    # ------------------------------------------------------------------ token expiry
    def _expire_at(self, when: float, sid: str) -> None:
        heapq.heappush(self._expiry, (when, sid))
        if len(self._expiry) > 2 * len(self._principals) + 64:
            # Drop entries of sockets that are gone, so churn cannot grow the heap.
            self._expiry = [(t, s) for t, s in self._expiry if s in self._principals]
            heapq.heapify(self._expiry)
        if self._expiry[0][1] == sid:
            self._expiry_changed.set()

    async def _expire(self) -> None:
        while True:
            self._expiry_changed = anyio.Event()
            now = time.time()
            while self._expiry and self._expiry[0][0] <= now:
                _, sid = heapq.heappop(self._expiry)
                principal = self._principals.get(sid)
                if principal is None:
                    # Its principal is gone but the socket may not be: it goes too.
                    if self.server.manager.is_connected(sid, self.namespace):
                        await self._drop_expired(sid)
                elif principal.expired():
                    await self._drop_expired(sid)
            delay = self._expiry[0][0] - now if self._expiry else math.inf
            with anyio.move_on_after(delay):
                await self._expiry_changed.wait()

    async def _drop_expired(self, sid: str) -> None:
        error = TokenExpired("the token has expired; reconnect with a fresh one")
        try:
            await self.server.emit(ERROR_EVENT, _error(error), to=sid, namespace=self.namespace)
            await self.server.disconnect(sid, namespace=self.namespace)
        except Exception:
            log.exception("Socket.IO: could not disconnect expired socket %s", sid)
        self._principals.pop(sid, None)
        self._rooms.pop(sid, None)
