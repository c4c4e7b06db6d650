"""The ``wagate`` command: ``wagate serve`` runs a gateway, ``wagate login`` links an account.

Run ``wagate --help`` (or ``python -m wagate --help``) for the options.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import logging
import logging.config
import os
import re
import secrets
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ._cli_args import parser
from ._errors import WagateError
from ._pacing import Pacing, RequestLimit
from ._serve_logging import RequestIds, log_config, quiet_http_clients
from ._serve_options import CONFIG_ENV, UsageError, resolve
from ._version import __version__
from .collector import QuietCollector
from .integrations._serving import listening_socket

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ._driver import Driver
    from ._gateway import Gateway
    from ._store import SessionStore
    from .adapters.webhooks import WebhookDispatcher, WebhookEndpoint

__all__ = ["build_serve_app", "main", "simulated_phone_number", "worker_app"]

log = logging.getLogger("wagate")

DEMO_TENANT = "demo"
TOKEN_COOKIE = "wagate_token"  # noqa: S105 - a cookie name, not a secret


def simulated_phone_number(tenant: str) -> str:
    """The simulated phone number of a tenant: stable across restarts, so it resumes."""
    digits = int.from_bytes(hashlib.sha256(tenant.encode()).digest()[:8], "big") % 10**9
    return f"+628{digits:09d}"


def _data_dir(path: str) -> Path:
    directory = Path(path).expanduser()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Prove the directory is writable now, not when the first session is saved.
        probe = tempfile.NamedTemporaryFile(dir=directory, prefix=".wagate-probe-")  # noqa: SIM115
        probe.close()
    except OSError as exc:
        raise UsageError(
            f"cannot use data directory {directory}: {exc.strerror or exc}; "
            "give a writable --data-dir"
        ) from None
    return directory


def _check_store(store: SessionStore) -> None:
    """Open and close the store once, so a bad one is reported before serving."""
    import anyio  # noqa: PLC0415

    async def probe() -> None:
        async with store:
            pass

    try:
        anyio.run(probe)
    except WagateError as exc:
        raise UsageError(str(exc)) from None


def _store(args: argparse.Namespace, data_dir: Path) -> SessionStore:
    from .stores import store_for  # noqa: PLC0415

    return store_for(args.database or str(data_dir / "wagate.db"))


def _driver_factory(args: argparse.Namespace, data_dir: Path) -> Callable[[str], Driver]:
    """The drivers ``--simulator`` chooses, once: a gateway made with them knows which they are."""
    if args.simulator:
        from .drivers.simulator import SimulatedDrivers, SimulatedPhone  # noqa: PLC0415

        def phone(tenant: str) -> SimulatedPhone:
            return SimulatedPhone(number=simulated_phone_number(tenant), name=tenant)

        if getattr(args, "engine_process", False):
            raise UsageError(
                "--engine-process runs the real WhatsApp engine in a child process; the "
                "simulator has no engine (drop one of the two)"
            )
        return SimulatedDrivers(phone)
    try:
        from .drivers.neonize import NeonizeDriver  # noqa: PLC0415
    except ImportError as exc:
        raise UsageError(
            f"the WhatsApp engine cannot be loaded ({exc}); run with --simulator to try wagate "
            "without it"
        ) from None

    # The engine keeps its keys in its own database: PostgreSQL when the sessions are
    # there too, else its own SQLite file (never the store's file).
    database = args.database if _is_postgres(args.database) else str(data_dir / "neonize.db")

    if getattr(args, "engine_process", False):
        from .drivers.process import ProcessDriver  # noqa: PLC0415

        return ProcessDriver.factory(functools.partial(_neonize_driver, database))

    def real(tenant: str) -> Driver:
        return NeonizeDriver(database=database)

    return real


def _neonize_driver(database: str, tenant: str) -> Driver:
    """The real engine's driver for ``tenant`` (``--engine-process`` calls it in the child)."""
    from .drivers.neonize import NeonizeDriver  # noqa: PLC0415

    return NeonizeDriver(database=database)


def _is_postgres(location: str | None) -> bool:
    return bool(location) and str(location).startswith(("postgresql://", "postgres://"))


def issue_token(secret: str, tenant: str, *, ttl: float = 86_400, subject: str = "") -> str:
    """A HS256 token granting ``tenant``, as ``wagate serve`` accepts."""
    import jwt  # noqa: PLC0415 - the fastapi extra

    now = int(time.time())
    claims = {"sub": subject or tenant, "tenant": tenant, "iat": now, "exp": now + int(ttl)}
    return str(jwt.encode(claims, secret, algorithm="HS256"))


def _cluster_check(redis: str | None, database: str | None, workers: int = 1) -> None:
    """Refuse cluster options that cannot work together (a usage error, before anything starts)."""
    if workers > 1 and not redis:
        raise UsageError(
            f"--workers {workers} needs --redis URL (or WAGATE_REDIS_URL) and a postgresql:// "
            "--database: the workers share their tenants through them"
        )
    if redis and not _is_postgres(database):
        raise UsageError(
            "--redis needs a postgresql:// --database: the processes of a cluster keep "
            "their sessions and leases there"
        )


def build_serve_app(
    *,
    simulator: bool,
    data_dir: str,
    secret: str,
    database: str | None = None,
    redis: str | None = None,
    cluster_name: str = "wagate",
    lease_ttl: float = 15.0,
    engine_process: bool = False,
    pacing: Pacing | None = None,
    webhooks: Sequence[str] = (),
    webhook_secret: str | None = None,
    title: str = "wagate",
    dashboard: bool = True,
    metrics_token: str | None = None,
    metrics_tenant_labels: bool = False,
    request_limit: RequestLimit | None = None,
) -> FastAPI:
    """The FastAPI app ``wagate serve`` runs (also used by the tests).

    With ``redis`` (and a PostgreSQL ``database``) the app's gateway is one
    process of the cluster ``cluster_name`` (:mod:`wagate.cluster`), and its
    Socket.IO server shares sockets' rooms through the same Redis.

    Each tenant's sends are paced by ``pacing`` (``None``: not paced); every
    event is posted to each of ``webhooks``, signed with ``webhook_secret``; the
    engine's drivers run in a child process with ``engine_process``.  Every HTTP
    answer carries an ``X-Request-Id``.  With ``metrics_token``, ``GET /metrics``
    answers scrapes bearing it; ``request_limit`` limits each token's REST requests.

    Raises:
        UsageError: the data directory is not usable, the engine cannot be loaded,
            ``redis`` is given without a PostgreSQL database, or webhooks without a secret.
        WagateError: the secret, the database location, a webhook URL or the cluster
            options are invalid.
    """
    from ._gateway import Gateway  # noqa: PLC0415
    from ._mediastore import FileMediaStore  # noqa: PLC0415
    from .adapters.auth import JWTAuthenticator  # noqa: PLC0415

    # What the user can get wrong is checked before the web stack is imported.
    authenticator = JWTAuthenticator(secret)
    endpoints = _webhook_endpoints(webhooks, webhook_secret)
    args = argparse.Namespace(simulator=simulator, database=database, engine_process=engine_process)
    directory = _data_dir(data_dir)
    factory = _driver_factory(args, directory)
    _cluster_check(redis, database)
    # Media survives restarts, under the data directory (the members of a cluster
    # share it when they share the directory).
    media = FileMediaStore(directory / "media")
    if redis:
        from .cluster import Cluster  # noqa: PLC0415 - the redis extra

        assert database is not None
        cluster = Cluster(redis, database, name=cluster_name, lease_ttl=lease_ttl)
    else:
        store = _store(args, directory)

    from starlette.requests import Request  # noqa: PLC0415
    from starlette.responses import JSONResponse, RedirectResponse, Response  # noqa: PLC0415

    from .adapters.socketio import SocketIOAdapter  # noqa: PLC0415
    from .integrations.fastapi import create_app  # noqa: PLC0415

    socketio: SocketIOAdapter | bool = True
    if redis:
        import socketio as python_socketio  # noqa: PLC0415

        gateway = Gateway(factory, cluster=cluster, media_store=media, pacing=pacing)
        # Sockets on any process get every tenant's events: python-socketio's own
        # Redis manager, on a channel of this cluster only.
        manager = python_socketio.AsyncRedisManager(redis, channel=f"{cluster_name}:socketio")
        socketio = SocketIOAdapter(
            gateway, authenticator, cookie_name=TOKEN_COOKIE, client_manager=manager
        )
    else:
        gateway = Gateway(factory, store=store, media_store=media, pacing=pacing)

    private = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}

    async def login(request: Request) -> Response:
        # A link on another site must not log a browser into the attacker's tenant
        # (whose QR code the victim might then scan): browsers say where a
        # navigation comes from; a link opened from a terminal or typed is "none".
        if request.headers.get("sec-fetch-site", "none") not in ("none", "same-origin"):
            return JSONResponse(
                {
                    "error": {
                        "code": "cross_site_login",
                        "message": "this login link was followed from another site; "
                        "open it directly (paste it into the address bar)",
                    }
                },
                status_code=403,
                headers=private,
            )
        token = request.query_params.get("token", "")
        try:
            principal = authenticator.authenticate(token)
        except WagateError as exc:
            return JSONResponse(
                {"error": {"code": exc.code, "message": exc.message}},
                status_code=401,
                headers=private,
            )
        # The token was in the URL: keep it out of caches and of the next page's Referer.
        response = RedirectResponse("/", status_code=303, headers=private)
        max_age = None
        if principal.expires_at is not None:
            max_age = max(0, int(principal.expires_at.timestamp() - time.time()))
        response.set_cookie(
            TOKEN_COOKIE,
            token,
            max_age=max_age,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    def login_route(app: FastAPI) -> None:
        # A plain Starlette route: the request is all it needs, and no OpenAPI entry.
        app.add_route("/login", login, methods=["GET"], include_in_schema=False)

    metrics = None
    if metrics_token is not None:
        from .metrics import Metrics  # noqa: PLC0415

        try:
            metrics = Metrics(gateway, token=metrics_token, tenant_labels=metrics_tenant_labels)
        except ImportError as exc:  # the metrics extra
            raise UsageError(f"--metrics-token: {exc}") from None
    app = create_app(
        gateway,
        authenticator,
        socketio=socketio,
        cookie_name=TOKEN_COOKIE,
        dashboard=dashboard,
        title=title,
        extra_routes=login_route,
        metrics=metrics,
        request_limit=request_limit,
    )
    app.add_middleware(RequestIds)
    if endpoints:
        cluster_database = database if redis else None
        dispatcher = _dispatcher(gateway, endpoints, directory, cluster_database, cluster_name)
        _post_webhooks(app, dispatcher)
        if metrics is not None:
            metrics.webhooks = dispatcher  # its backlogs are measured at each scrape
    return app


def _webhook_endpoints(urls: Sequence[str], secret: str | None) -> list[WebhookEndpoint]:
    """The endpoints ``--webhook`` names, signed with ``secret``.

    Each is named by its URL without the query, which may carry a credential
    that the logs must not show.

    Raises:
        UsageError: URLs without a secret.
        WagateError: a URL or the secret is not usable.
    """
    if not urls:
        return []
    if not secret:
        raise UsageError(
            "--webhook needs a signing secret: set WAGATE_WEBHOOK_SECRET (at least 16 bytes)"
        )
    from .adapters.webhooks import WebhookEndpoint  # noqa: PLC0415

    endpoints: list[WebhookEndpoint] = []
    for url in urls:
        plain = url.split("?", 1)[0].split("#", 1)[0]
        name, count = plain, 1
        while any(endpoint.name == name for endpoint in endpoints):
            count += 1
            name = f"{plain} ({count})"
        endpoints.append(WebhookEndpoint(url=url, secret=secret, name=name))
    return endpoints


def _dispatcher(
    gateway: Gateway,
    endpoints: list[WebhookEndpoint],
    directory: Path,
    cluster_database: str | None,
    cluster_name: str,
) -> WebhookDispatcher:
    """The dispatcher of ``--webhook``, its backlog kept beside the sessions."""
    from .adapters.webhooks import SQLiteDeadLetters, WebhookDispatcher  # noqa: PLC0415

    if cluster_database:
        from .stores.postgres import PostgresDeadLetters  # noqa: PLC0415

        # Each process of a cluster posts its own tenants' events; its backlog is
        # its host's (a container's host name: give each one of its own).
        store = PostgresDeadLetters(cluster_database, prefix=cluster_name)
        return WebhookDispatcher(gateway, endpoints, dead_letters=store, node=socket.gethostname())
    dead_letters = SQLiteDeadLetters(str(directory / "webhooks.db"))
    return WebhookDispatcher(gateway, endpoints, dead_letters=dead_letters)


def _post_webhooks(app: FastAPI, dispatcher: WebhookDispatcher) -> None:
    """Run ``dispatcher`` inside the app's lifespan, so inside its gateway's."""
    serving = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with serving(app) as state, dispatcher:
            yield state

    app.router.lifespan_context = lifespan


_WORKER_OPTIONS = "WAGATE_SERVE_WORKER_OPTIONS"


def worker_app() -> FastAPI:
    """The app of one ``wagate serve --workers N`` worker (a uvicorn app factory).

    The options come from the parent process through the environment (the secret
    in ``WAGATE_SECRET``, never on a command line).
    """
    options = json.loads(os.environ[_WORKER_OPTIONS])
    pacing = options.pop("pacing", None)
    limit = options.pop("request_limit", None)
    logging.getLogger("uvicorn.access").addFilter(_RedactTokens())
    quiet_http_clients()
    QuietCollector().install()  # short full collections (wagate.collector)
    return build_serve_app(
        secret=os.environ["WAGATE_SECRET"],
        pacing=None if pacing is None else Pacing(**pacing),
        request_limit=None if limit is None else RequestLimit(**limit),
        metrics_token=os.environ.get("WAGATE_METRICS_TOKEN"),
        **options,
    )


def _listen(host: str, port: int) -> socket.socket:
    """Bind the server's socket now, so a busy port or a bad host is a usage error."""
    try:
        return listening_socket(host, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


_TOKEN_IN_QUERY = re.compile(r"(?<=[?&]token=)[^&\s]+")


class _RedactTokens(logging.Filter):
    """Keeps the login link's token out of the access log (it is a credential)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_QUERY.sub("<redacted>", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - shown as a link, not bound
        return "localhost"
    return f"[{host}]" if ":" in host else host


def _pacing(args: argparse.Namespace) -> Pacing | None:
    """The ``Pacing`` of the pacing options, or ``None`` with ``--no-pacing``."""
    if not args.pacing:
        return None
    try:
        return Pacing(
            per_minute=args.pace_per_minute, burst=args.pace_burst, daily_cap=args.daily_cap
        )
    except ValueError as exc:
        raise UsageError(f"pacing: {exc}") from None


def _request_limit(args: argparse.Namespace) -> RequestLimit | None:
    """The ``RequestLimit`` of the request options, or ``None`` with ``--no-request-limit``."""
    if not args.request_limit:
        return None
    try:
        return RequestLimit(per_minute=args.requests_per_minute, burst=args.request_burst)
    except ValueError as exc:
        raise UsageError(f"request limit: {exc}") from None


def _serve(given: argparse.Namespace) -> int:
    args = resolve(given, os.environ, given.config or os.environ.get(CONFIG_ENV))
    logging_config = log_config(args.log_format, args.log_level)
    logging.config.dictConfig(logging_config)
    quiet_http_clients()
    secret = args.secret or secrets.token_urlsafe(48)
    pacing = _check_serve(args, secret)
    sock = _listen(args.host, args.port)
    options: dict[str, Any] = {
        "simulator": args.simulator,
        "data_dir": args.data_dir,
        "database": args.database,
        "redis": args.redis or None,
        "cluster_name": args.cluster_name,
        "lease_ttl": args.lease_ttl,
        "engine_process": args.engine_process,
        "title": args.title,
        "dashboard": args.dashboard,
        "metrics_tenant_labels": args.metrics_tenant_labels,
    }
    limit = _request_limit(args)
    try:
        app = None
        if args.workers == 1:
            app = build_serve_app(
                secret=secret,
                pacing=pacing,
                webhooks=args.webhook,
                webhook_secret=args.webhook_secret,
                metrics_token=args.metrics_token,
                request_limit=limit,
                **options,
            )
    except BaseException:
        sock.close()
        raise
    base = f"http://{_url_host(args.host)}:{sock.getsockname()[1]}"
    _announce(args, base, pacing, logged=args.log_format == "json")
    if not args.secret:
        # The link is for the person at the terminal: printed, never logged.
        token = issue_token(secret, DEMO_TENANT)
        print(
            "no --secret or WAGATE_SECRET given: using a random secret for this run.\n"
            f"open this link to log in as tenant {DEMO_TENANT!r}:\n"
            f"  {base}/login?token={token}",
            flush=True,
        )
    logging.getLogger("uvicorn.access").addFilter(_RedactTokens())
    uvicorn_options: dict[str, Any] = {
        "ws": _websocket_protocol(),
        "log_level": args.log_level,
        "log_config": logging_config,
        "timeout_graceful_shutdown": 5,
    }
    try:
        if app is not None:
            _run_one(app, sock, uvicorn_options)
        else:
            options["pacing"] = None if pacing is None else attrs.asdict(pacing)
            options["request_limit"] = None if limit is None else attrs.asdict(limit)
            if args.metrics_token:  # a secret: to the workers by the environment only
                os.environ["WAGATE_METRICS_TOKEN"] = args.metrics_token
            _run_workers(args.workers, sock, secret, options, uvicorn_options)
    finally:
        sock.close()
    return 0


def _check_serve(args: argparse.Namespace, secret: str) -> Pacing | None:
    """Everything the user can get wrong, checked quickly, before the web stack loads.

    Returns:
        The pacing the options ask for.
    """
    from .adapters.auth import JWTAuthenticator  # noqa: PLC0415

    JWTAuthenticator(secret)
    redis = args.redis or None
    _cluster_check(redis, args.database, args.workers)
    pacing = _pacing(args)
    _webhook_endpoints(args.webhook, args.webhook_secret)
    if args.webhook and args.workers > 1:
        raise UsageError(
            "--webhook with --workers: run one process per host (or container) instead, "
            "each posting its own tenants' events"
        )
    data_dir = _data_dir(args.data_dir)
    if redis:
        _check_cluster(redis, args.database, args.cluster_name)
    else:
        _check_store(_store(args, data_dir))
    return pacing


def _announce(args: argparse.Namespace, base: str, pacing: Pacing | None, *, logged: bool) -> None:
    """Say where the server listens and how it runs: printed, or logged with JSON logs."""
    say = log.info if logged else functools.partial(print, flush=True)
    workers = f" with {args.workers} workers" if args.workers > 1 else ""
    say(f"wagate {__version__}: serving on {base}{workers} (Ctrl+C to stop)")
    if args.redis:
        say(f"cluster {args.cluster_name!r} on Redis {_redis_shown(args.redis)}")
    if args.simulator:
        say("driver: simulator (no WhatsApp is contacted)")
    if pacing is None:
        say("pacing: off (--no-pacing): sends go out as fast as they are made")


def _websocket_protocol() -> type[Any]:
    """The websocket protocol ``wagate serve`` runs: one write per loop turn, no deflate."""
    from .integrations.uvicorn import WebSocketProtocol  # noqa: PLC0415 - needs uvicorn

    return WebSocketProtocol


def _run_one(app: FastAPI, sock: socket.socket, options: dict[str, Any]) -> None:
    import uvicorn  # noqa: PLC0415

    QuietCollector().install()  # short full collections (wagate.collector)
    uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])


def _run_workers(
    workers: int,
    sock: socket.socket,
    secret: str,
    app_options: dict[str, Any],
    options: dict[str, Any],
) -> None:
    import uvicorn  # noqa: PLC0415
    from uvicorn.supervisors import Multiprocess  # noqa: PLC0415

    # The workers are new interpreters: they read their options (and the secret)
    # from the environment, never from a command line.
    os.environ["WAGATE_SECRET"] = secret
    os.environ[_WORKER_OPTIONS] = json.dumps(app_options)
    config = uvicorn.Config("wagate.cli:worker_app", factory=True, workers=workers, **options)
    Multiprocess(config, sockets=[sock]).run()


def _redis_shown(url: str) -> str:
    from .cluster import redis_display_url  # noqa: PLC0415 - the redis extra

    return redis_display_url(url)


def _check_cluster(redis: str, database: str | None, name: str) -> None:
    """Reach Redis and the cluster's PostgreSQL store once, so a bad one is a usage error."""
    import anyio  # noqa: PLC0415

    try:
        from .cluster import check_redis  # noqa: PLC0415 - the redis extra
        from .stores.postgres import PostgresStore  # noqa: PLC0415 - the postgres extra
    except ImportError as exc:
        raise UsageError(
            f"a cluster needs the redis and postgres extras ({exc}): "
            "pip install 'wagate[redis,postgres]'"
        ) from None
    try:
        anyio.run(check_redis, redis)
    except WagateError as exc:
        raise UsageError(str(exc)) from None
    assert database is not None
    _check_store(PostgresStore(database, table=f"{name}_sessions"))


def _login(args: argparse.Namespace) -> int:
    import anyio  # noqa: PLC0415

    from ._events import Connected, Disconnected, QrGenerated  # noqa: PLC0415
    from ._session import Session  # noqa: PLC0415

    tenant: str = args.tenant
    directory = _data_dir(args.data_dir)
    factory = _driver_factory(args, directory)

    async def run() -> int:
        from .drivers.simulator import SimulatedDriver  # noqa: PLC0415

        driver = factory(tenant)
        async with (
            _store(args, directory) as store,
            Session(tenant, driver, store=store) as session,
        ):
            if session.account is not None:
                print(f"tenant {tenant!r} is linked to {session.account.phone}; reconnecting")
            events = session.events()
            await session.connect()
            async for event in events:
                if isinstance(event, QrGenerated):
                    print(event.terminal())
                    print(
                        "Scan with WhatsApp: Settings -> Linked devices -> Link a device "
                        f"(code expires in {event.expires_in():.0f} s)",
                        flush=True,
                    )
                    if isinstance(driver, SimulatedDriver):
                        print("(simulator: the simulated phone scans it)", flush=True)
                        driver.phone.scan(event.code)
                elif isinstance(event, Connected):
                    account = event.account
                    print(f"linked {account.phone} ({account.name or 'no name'})", flush=True)
                    return 0
                elif isinstance(event, Disconnected):
                    if event.will_retry:
                        wait = event.retry_in or 0.0
                        print(
                            f"disconnected ({event.reason}); retrying in {wait:.1f} s", flush=True
                        )
                    else:
                        detail = f": {event.detail}" if event.detail else ""
                        print(f"wagate: login failed ({event.reason}{detail})", file=sys.stderr)
                        return 1
        return 1

    try:
        return anyio.run(run)
    except WagateError as exc:
        raise UsageError(str(exc)) from None


def _contract(args: argparse.Namespace) -> int:
    from . import contract  # noqa: PLC0415 - only this command needs it

    try:
        written = contract.write(args.out)
    except OSError as exc:
        raise UsageError(f"cannot write into {args.out}: {exc.strerror or exc}") from None
    print(f"wrote {len(written)} files into {Path(args.out)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``wagate`` command line; return its exit status.

    0 on success, 1 when a login failed, 2 for bad input (a one-line message, never
    a traceback), 130 when interrupted.
    """
    args = parser(serve=_serve, login=_login, contract=_contract).parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        result: int = args.handler(args)
    except (UsageError, WagateError) as exc:
        print(f"wagate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
