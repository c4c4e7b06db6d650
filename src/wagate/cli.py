"""The ``wagate`` command: ``wagate serve`` runs a gateway, ``wagate login`` links an account.

Run ``wagate --help`` (or ``python -m wagate --help``) for the options.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ._errors import WagateError
from ._validate import validate_tenant
from ._version import __version__

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ._driver import Driver
    from ._store import SessionStore

__all__ = ["build_serve_app", "main", "simulated_phone_number"]

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
    except OSError as exc:
        raise SystemExit(f"wagate: cannot use data directory {directory}: {exc.strerror}") from None
    return directory


def _store(args: argparse.Namespace, data_dir: Path) -> SessionStore:
    from .stores import store_for  # noqa: PLC0415

    return store_for(args.database or str(data_dir / "wagate.db"))


def _driver_factory(args: argparse.Namespace, data_dir: Path) -> tuple[object, bool]:
    if args.simulator:
        from .drivers.simulator import SimulatedDriver, SimulatedPhone  # noqa: PLC0415

        def simulated(tenant: str) -> Driver:
            phone = SimulatedPhone(number=simulated_phone_number(tenant), name=tenant)
            return SimulatedDriver(phone=phone)

        return simulated, True
    from .drivers.neonize import NeonizeDriver  # noqa: PLC0415

    database = args.database or str(data_dir / "neonize.db")

    def real(tenant: str) -> Driver:
        return NeonizeDriver(database=database)

    return real, False


def issue_token(secret: str, tenant: str, *, ttl: float = 86_400, subject: str = "") -> str:
    """A HS256 token granting ``tenant``, as ``wagate serve`` accepts."""
    import jwt  # noqa: PLC0415 - the fastapi extra

    now = int(time.time())
    claims = {"sub": subject or tenant, "tenant": tenant, "iat": now, "exp": now + int(ttl)}
    return str(jwt.encode(claims, secret, algorithm="HS256"))


def build_serve_app(
    *,
    simulator: bool,
    data_dir: str,
    secret: str,
    database: str | None = None,
) -> FastAPI:
    """The FastAPI app ``wagate serve`` runs (also used by the tests)."""
    from fastapi import Request  # noqa: PLC0415
    from fastapi.responses import JSONResponse, RedirectResponse, Response  # noqa: PLC0415

    from ._gateway import Gateway  # noqa: PLC0415
    from .adapters.auth import JWTAuthenticator  # noqa: PLC0415
    from .integrations.fastapi import create_app  # noqa: PLC0415

    args = argparse.Namespace(simulator=simulator, database=database)
    directory = _data_dir(data_dir)
    factory, is_simulated = _driver_factory(args, directory)
    gateway = Gateway(factory, store=_store(args, directory))  # type: ignore[arg-type]
    authenticator = JWTAuthenticator(secret)

    def login_route(app: FastAPI) -> None:
        @app.get("/login", include_in_schema=False)
        async def login(request: Request) -> Response:
            token = request.query_params.get("token", "")
            try:
                principal = authenticator.authenticate(token)
            except WagateError as exc:
                return JSONResponse(
                    {"error": {"code": exc.code, "message": exc.message}}, status_code=401
                )
            response = RedirectResponse("/", status_code=303)
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

    return create_app(
        gateway,
        authenticator,
        simulator=is_simulated,
        cookie_name=TOKEN_COOKIE,
        extra_routes=login_route,
    )


def _serve(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415

    secret = args.secret or os.environ.get("WAGATE_SECRET")
    generated = not secret
    if generated:
        secret = secrets.token_urlsafe(48)
    assert secret is not None
    try:
        app = build_serve_app(
            simulator=args.simulator,
            data_dir=args.data_dir,
            secret=secret,
            database=args.database,
        )
    except WagateError as exc:
        print(f"wagate: {exc}", file=sys.stderr)
        return 2
    host = "localhost" if args.host in ("127.0.0.1", "0.0.0.0", "::") else args.host  # noqa: S104
    print(f"wagate {__version__}: serving on http://{args.host}:{args.port}", flush=True)
    if args.simulator:
        print("driver: simulator (no WhatsApp is contacted)", flush=True)
    if generated:
        token = issue_token(secret, DEMO_TENANT)
        print(
            "no --secret or WAGATE_SECRET given: using a random secret for this run.\n"
            f"open this link to log in as tenant {DEMO_TENANT!r}:\n"
            f"  http://{host}:{args.port}/login?token={token}",
            flush=True,
        )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _login(args: argparse.Namespace) -> int:
    import anyio  # noqa: PLC0415

    from ._events import Connected, Disconnected, QrGenerated  # noqa: PLC0415
    from ._session import Session  # noqa: PLC0415

    try:
        tenant = validate_tenant(args.tenant)
    except WagateError as exc:
        print(f"wagate: {exc}", file=sys.stderr)
        return 2
    directory = _data_dir(args.data_dir)
    factory, is_simulated = _driver_factory(args, directory)

    async def run() -> int:
        driver = factory(tenant)  # type: ignore[operator]
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
                    if is_simulated:
                        driver.phone.scan(event.code)
                elif isinstance(event, Connected):
                    print(f"linked {event.account.phone} ({event.account.name or 'no name'})")
                    return 0
                elif isinstance(event, Disconnected):
                    if event.will_retry:
                        print(f"disconnected ({event.reason}); retrying in {event.retry_in:.1f} s")
                    else:
                        print(f"login failed: {event.reason}", file=sys.stderr)
                        return 1
        return 1

    try:
        return anyio.run(run)
    except WagateError as exc:
        print(f"wagate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wagate",
        description="Run WhatsApp gateways for many tenants: a web server, or a terminal login.",
    )
    parser.add_argument("--version", action="version", version=f"wagate {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--simulator",
            action="store_true",
            help="simulate every phone and WhatsApp itself (no network needed)",
        )
        sub.add_argument(
            "--data-dir",
            default="./wagate-data",
            metavar="DIR",
            help="where session databases live (created 0700; default: %(default)s)",
        )
        sub.add_argument(
            "--database",
            metavar="URL",
            help="a postgresql:// URL, or a SQLite file (default: DIR/wagate.db)",
        )

    serve = commands.add_parser(
        "serve",
        help="run the gateway: REST API, Socket.IO, SSE and the dashboard",
        description=(
            "Run a gateway server. Tokens are JWT HS256 signed with the secret, tenant in "
            "the 'tenant' claim. Without a secret, a random one is used for this run and a "
            "login link for tenant 'demo' is printed."
        ),
    )
    common(serve)
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port", type=int, default=8000, help="port to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--secret",
        metavar="S",
        help="the JWT HS256 secret, at least 32 bytes (default: $WAGATE_SECRET, else random)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="server log level (default: %(default)s)",
    )
    serve.set_defaults(handler=_serve)

    login = commands.add_parser(
        "login",
        help="link one WhatsApp account from the terminal (QR drawn in the terminal)",
        description="Link an account: draws each QR code in the terminal and waits for the scan.",
    )
    common(login)
    login.add_argument("--tenant", default="default", help="the tenant id (default: %(default)s)")
    login.set_defaults(handler=_login)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``wagate`` command line; return its exit status."""
    args = _parser().parse_args(argv)
    if args.command == "serve" and not 0 < args.port < 65536:
        print(f"wagate: --port must be 1-65535, got {args.port}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    result: int = args.handler(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
