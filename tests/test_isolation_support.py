"""Helpers shared by the transport tests: tokens, a uvicorn server on an OS port, linked tenants.

(No tests here; the name keeps it next to the tests that use it.)
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import anyio
import jwt
import uvicorn

from wagate import Connected, Gateway, QrGenerated
from wagate.adapters.auth import JWTAuthenticator
from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone

SECRET = secrets.token_urlsafe(48)
"""The HMAC secret the tests' authenticator accepts (random per run)."""

WRONG_SECRET = secrets.token_urlsafe(48)


async def wait_until(check: Callable[[], Any], timeout: float = 5.0, step: float = 0.01) -> Any:
    """Wait until ``check()`` (awaited if it is a coroutine) is truthy; return its value.

    For conditions nothing can notify about (a count on a remote server, state in
    another process): it polls, bounded by ``timeout``.
    """
    with anyio.fail_after(timeout):
        while True:
            value = check()
            if hasattr(value, "__await__"):
                value = await value
            if value:
                return value
            await anyio.sleep(step)


def authenticator(**options: Any) -> JWTAuthenticator:
    """The HS256 authenticator of the tests."""
    return JWTAuthenticator(SECRET, **options)


def token(
    tenants: str | Iterable[str] | None,
    *,
    secret: str = SECRET,
    exp_in: float = 3600.0,  # an hour: tokens made at collection outlive a long run
    claim: str = "tenant",
    **claims: Any,
) -> str:
    """An HS256 token granting ``tenants`` (a string, or a list claim)."""
    payload: dict[str, Any] = {"sub": "tester", "exp": int(time.time() + exp_in), **claims}
    if tenants is not None:
        payload[claim] = tenants if isinstance(tenants, str) else sorted(tenants)
    return jwt.encode(payload, secret, algorithm="HS256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(tenant: str) -> str:
    """A token with ``alg: none`` and no signature."""
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = _b64(json.dumps({"tenant": tenant, "exp": int(time.time() + 300)}).encode())
    return f"{header}.{body}."


def hs256_with_key_bytes(key: bytes, payload: dict[str, Any]) -> str:
    """An HS256 token signed with arbitrary bytes (e.g. an RSA public key's PEM)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(payload).encode())
    signature = hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


@contextlib.asynccontextmanager
async def serve(app: Any, *, lifespan: str = "off", ws: Any = None) -> AsyncIterator[str]:
    """Run ``app`` on uvicorn at 127.0.0.1 on a port the OS picks; yield its base URL.

    ``ws``: uvicorn's websocket protocol; by default wagate's
    (:class:`wagate.integrations.uvicorn.WebSocketProtocol`, what ``wagate serve`` runs).
    """
    from wagate.integrations.uvicorn import WebSocketProtocol

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan=lifespan,  # type: ignore[arg-type]
        log_level="warning",
        ws=WebSocketProtocol if ws is None else ws,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: server.serve(sockets=[sock]))
            try:
                yield f"http://127.0.0.1:{port}"
            finally:
                server.should_exit = True
    finally:
        sock.close()


class Phones:
    """A driver factory giving each tenant its own simulated phone."""

    def __init__(self) -> None:
        self.phones: dict[str, SimulatedPhone] = {}
        self._numbers = iter(range(10_000_000, 99_999_999))

    def __call__(self, tenant: str) -> SimulatedDriver:
        """The driver of ``tenant`` (its phone is made on first use)."""
        return SimulatedDriver(phone=self.phone(tenant))

    def phone(self, tenant: str) -> SimulatedPhone:
        """``tenant``'s phone."""
        if tenant not in self.phones:
            self.phones[tenant] = SimulatedPhone(number=f"+6281{next(self._numbers)}", name=tenant)
        return self.phones[tenant]

    async def link(self, gateway: Gateway, tenant: str) -> SimulatedPhone:
        """Create ``tenant``'s session in ``gateway`` and link it by scanning its QR."""
        phone = self.phone(tenant)
        session = await gateway.session(tenant)
        events = session.events()
        try:
            await session.connect()
            with anyio.fail_after(10):
                async for event in events:
                    if isinstance(event, QrGenerated):
                        phone.scan(event.code)
                    elif isinstance(event, Connected):
                        break
        finally:
            events.close()
        return phone
