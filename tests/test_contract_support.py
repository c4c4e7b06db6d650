"""Helpers for the REST contract, CLI, schema and example tests: real servers, tokens, phones.

(No tests here; the name keeps it next to the tests that use it.)

Both integrations run for real on 127.0.0.1 with a port the OS picks:

- FastAPI: :func:`wagate.integrations.fastapi.create_app` on uvicorn, inside a
  blocking portal's event loop (its lifespan enters the gateway there);
- Flask: the blueprint on werkzeug's threaded ``make_server``, over a
  :class:`wagate.SyncGateway`.

Either way the test gets a :class:`Served`: the base URL, and ``call`` to run a
function in the gateway's event loop (where simulated phones must be touched).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jwt

from wagate.drivers.simulator import SimulatedDriver, SimulatedPhone

T = TypeVar("T")

SECRET = secrets.token_urlsafe(48)
"""The HS256 secret the servers under test accept (random per run)."""

WRONG_SECRET = secrets.token_urlsafe(48)
"""A secret no server under test accepts."""

FRAMEWORKS = ("fastapi", "flask")

CONTACT = "+628111222333"
"""A contact's number, valid for sending and receiving."""


def mint(
    tenant: str | list[str],
    *,
    secret: str = SECRET,
    exp_in: float = 3600.0,  # an hour: tokens made at collection outlive a long run
    **claims: Any,
) -> str:
    """An HS256 JWT granting ``tenant`` (the ``tenant`` claim), as a host app mints it."""
    payload = {"sub": f"user-{tenant}", "tenant": tenant, "exp": int(time.time() + exp_in)}
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


class Phones:
    """A driver factory giving each tenant its own simulated phone (own number)."""

    def __init__(self) -> None:
        self.phones: dict[str, SimulatedPhone] = {}
        self._lock = threading.Lock()

    def __call__(self, tenant: str) -> SimulatedDriver:
        """The driver of ``tenant`` (its phone is made on first use)."""
        return SimulatedDriver(phone=self.phone(tenant))

    def phone(self, tenant: str) -> SimulatedPhone:
        """``tenant``'s phone."""
        with self._lock:
            if tenant not in self.phones:
                number = f"+6281{20_000_000 + len(self.phones)}"
                self.phones[tenant] = SimulatedPhone(number=number, name=f"{tenant} phone")
            return self.phones[tenant]


class Served:
    """A running integration: its URL, and a way into its gateway's event loop."""

    def __init__(self, framework: str, url: str, phones: Phones, call: Callable[..., Any]) -> None:
        self.framework = framework
        self.url = url
        self.phones = phones
        self._call = call

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the gateway's event-loop thread and return its result."""
        result: T = self._call(fn, *args)
        return result

    def client(self, token: str | None = None, **options: Any) -> httpx.Client:
        """An HTTP client for the server, authenticated with ``token`` when given."""
        headers = {**(bearer(token) if token is not None else {}), **options.pop("headers", {})}
        return httpx.Client(base_url=self.url, headers=headers, timeout=15, **options)

    def link(self, token: str) -> dict[str, Any]:
        """Link the token's tenant over HTTP: generate a QR, let its phone scan it."""
        with self.client(token) as client:
            generated = client.post("/api/qr/generate")
            assert generated.status_code == 202, generated.text
            scanned = client.post("/api/simulator/scan")
            assert scanned.status_code == 200, scanned.text
            body: dict[str, Any] = scanned.json()
            assert body["status"] == "connected", body
            return body


def _listening_socket() -> socket.socket:
    from wagate.integrations._serving import listening_socket

    return listening_socket("127.0.0.1", 0)


def _with_metrics(gateway: Any, options: dict[str, Any]) -> None:
    """``metrics_token=...`` (and ``tenant_labels``) among the options: serve /metrics."""
    token = options.pop("metrics_token", None)
    labels = options.pop("tenant_labels", False)
    if token is not None:
        from wagate.metrics import Metrics

        options["metrics"] = Metrics(gateway, token=token, tenant_labels=labels)


@contextlib.contextmanager
def serve_fastapi(
    phones: Phones | None = None, gateway_options: dict[str, Any] | None = None, **options: Any
) -> Iterator[Served]:
    """``create_app`` (simulator routes on) on uvicorn in a portal's loop thread."""
    import anyio
    import uvicorn
    from anyio.from_thread import start_blocking_portal

    from wagate import Gateway
    from wagate.adapters.auth import JWTAuthenticator
    from wagate.integrations.fastapi import create_app

    phones = phones or Phones()
    gateway = Gateway(phones, **(gateway_options or {}))
    options.setdefault("simulator", True)
    _with_metrics(gateway, options)
    app = create_app(gateway, JWTAuthenticator(SECRET), **options)
    sock = _listening_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    with start_blocking_portal() as portal:
        stopped = anyio.Event()

        async def run() -> None:
            try:
                await server.serve(sockets=[sock])
            finally:
                stopped.set()

        async def wait_started() -> None:
            with anyio.fail_after(15):
                while not server.started and not stopped.is_set():  # noqa: ASYNC110
                    await anyio.sleep(0.005)
            assert server.started, "uvicorn did not start"

        portal.start_task_soon(run)
        portal.call(wait_started)
        try:
            yield Served("fastapi", f"http://127.0.0.1:{port}", phones, portal.call)
        finally:
            server.should_exit = True
            portal.call(stopped.wait)
            sock.close()


@contextlib.contextmanager
def serve_flask(
    phones: Phones | None = None, gateway_options: dict[str, Any] | None = None, **options: Any
) -> Iterator[Served]:
    """The blueprint (simulator routes on) on werkzeug's threaded server."""
    from flask import Flask
    from werkzeug.serving import make_server

    from wagate import SyncGateway
    from wagate.adapters.auth import JWTAuthenticator
    from wagate.integrations.flask import blueprint, install_error_handlers

    phones = phones or Phones()
    options.setdefault("simulator", True)
    with SyncGateway(phones, **(gateway_options or {})) as gateway:
        _with_metrics(gateway.gateway, options)
        app = Flask("wagate_contract")
        app.register_blueprint(blueprint(gateway, JWTAuthenticator(SECRET), **options))
        install_error_handlers(app)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="werkzeug", daemon=True)
        thread.start()
        try:
            yield Served("flask", f"http://127.0.0.1:{server.port}", phones, gateway.portal.call)
        finally:
            server.shutdown()
            thread.join(10)
            server.server_close()


@contextlib.contextmanager
def serve(
    framework: str,
    phones: Phones | None = None,
    gateway_options: dict[str, Any] | None = None,
    **options: Any,
) -> Iterator[Served]:
    """Serve ``framework`` ("fastapi" or "flask"); ``gateway_options`` go to its gateway."""
    starter = serve_fastapi if framework == "fastapi" else serve_flask
    with starter(phones, gateway_options, **options) as served:
        yield served


# ---------------------------------------------------------------------------------
# Subprocesses (the CLI and the examples)

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = Path(sys.executable).parent


def free_port() -> int:
    """A port that was free a moment ago (for programs that take ``--port``)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Process:
    """A child process whose output lines are collected by a reader thread."""

    def __init__(self, args: list[str], *, env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
            cwd=REPO,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        """Everything printed so far."""
        with self._changed:
            return "\n".join(self.lines)

    def wait_for_line(self, predicate: Callable[[str], bool], timeout: float = 30) -> str:
        """The first output line satisfying ``predicate`` (waits for it to be printed)."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if predicate(line):
                        return line
                seen = len(self.lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no such line; the output was:\n{self.output}")
                self._changed.wait(remaining)

    def stop(self, timeout: float = 15) -> int:
        """Ask the process to stop (SIGINT, as Ctrl+C) and return its exit code."""
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout)
        self._reader.join(timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


def wait_http(url: str, proc: Process, timeout: float = 30) -> None:
    """Wait until ``url`` answers (any status), or fail if the process exits first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            if proc.proc.poll() is not None:
                raise AssertionError(f"the server exited:\n{proc.output}") from None
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} never answered:\n{proc.output}") from None
        time.sleep(0.05)


def normalized(body: Any) -> Any:
    """A JSON body with the values that differ between runs replaced by placeholders."""
    volatile = {"timestamp", "at", "expiresAt", "expiresIn", "qr", "qrCode", "id"}
    if isinstance(body, dict):
        out = {}
        for key, value in body.items():
            if key in volatile and not isinstance(value, (dict, list)) and value is not None:
                out[key] = f"<{key}>"
            else:
                out[key] = normalized(value)
        return out
    if isinstance(body, list):
        return [normalized(item) for item in body]
    return body


def dumps(body: Any) -> str:
    """Canonical JSON, for comparing bodies."""
    return json.dumps(body, sort_keys=True)
