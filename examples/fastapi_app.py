"""A FastAPI host app: its own users and login, each user's WhatsApp through wagate.

The app keeps its own user table (passwords hashed with scrypt) and maps each
user to a tenant.  ``POST /login`` checks a password and issues a JWT naming the
user's tenant; wagate's router (REST API, SSE, dashboard) and Socket.IO adapter
then act for that tenant only, whatever the request says.

Run it (the secret signs the tokens; there is no default one)::

    export WAGATE_SECRET="$(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
    python examples/fastapi_app.py --simulator --port 8000

It prints each demo user's password (random for each run), then::

    curl -s localhost:8000/login -H 'content-type: application/json' \\
         -d '{"username": "alice", "password": "..."}'
    curl -s localhost:8000/status -H "Authorization: Bearer <token>"

In a browser, ``POST /login`` also sets the token cookie, so the dashboard at
``/`` works.  Without ``--simulator`` each tenant links a real phone.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import os
import secrets
import socket
import sys
import time
from collections.abc import AsyncIterator

import attrs
import jwt
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from wagate import Gateway, SQLiteStore
from wagate.adapters.auth import DEFAULT_COOKIE, JWTAuthenticator
from wagate.adapters.socketio import SocketIOAdapter
from wagate.drivers.simulator import SimulatedDrivers, SimulatedPhone
from wagate.integrations.fastapi import install_error_handlers, router

TOKEN_TTL = 3600


# ---------------------------------------------------------------------------------
# The host app's own users (in memory here; a database in a real app)


@attrs.frozen
class User:
    username: str
    tenant: str
    salt: bytes
    password_hash: bytes


def hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)


def make_user(username: str, tenant: str, password: str) -> User:
    salt = secrets.token_bytes(16)
    return User(username, tenant, salt, hash_password(password, salt))


_DUMMY = make_user("nobody", "nobody", secrets.token_urlsafe(16))


def check_password(users: dict[str, User], username: str, password: str) -> User | None:
    user = users.get(username)
    # Hash even for an unknown name, so the answer takes as long either way.
    candidate = hash_password(password, (user or _DUMMY).salt)
    if user is not None and hmac.compare_digest(candidate, user.password_hash):
        return user
    return None


def demo_users() -> tuple[dict[str, User], dict[str, str]]:
    """Alice runs tenant 'acme', Bob runs 'globex'; fresh random passwords each run."""
    passwords = {"alice": secrets.token_urlsafe(12), "bob": secrets.token_urlsafe(12)}
    tenants = {"alice": "acme", "bob": "globex"}
    users = {name: make_user(name, tenants[name], pw) for name, pw in passwords.items()}
    return users, passwords


# ---------------------------------------------------------------------------------
# The app


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LoginResult(BaseModel):
    token: str
    tenant: str
    expiresIn: int


def build_app(secret: str, users: dict[str, User], *, simulator: bool, data_dir: str) -> FastAPI:
    authenticator = JWTAuthenticator(secret)  # refuses a weak secret
    if simulator:
        numbers = iter(range(100_000_000, 999_999_999))

        def phone(tenant: str) -> SimulatedPhone:
            return SimulatedPhone(number=f"+628{next(numbers)}", name=f"{tenant} phone")

        gateway = Gateway(SimulatedDrivers(phone))  # in memory: a demo forgets its links
    else:
        from wagate.drivers.neonize import NeonizeDriver  # noqa: PLC0415 - real phones only

        os.makedirs(data_dir, mode=0o700, exist_ok=True)
        gateway = Gateway(
            lambda tenant: NeonizeDriver(database=os.path.join(data_dir, "neonize.db")),
            store=SQLiteStore(os.path.join(data_dir, "wagate.db")),
        )
    sio = SocketIOAdapter(gateway, authenticator)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with gateway, sio:  # the host app owns the gateway: start and stop
            yield

    app = FastAPI(title="Example host app", lifespan=lifespan)

    @app.post("/login", response_model=LoginResult, responses={401: {}})
    async def login(credentials: Credentials) -> Response:
        user = check_password(users, credentials.username, credentials.password)
        if user is None:
            return JSONResponse(
                {"error": {"code": "bad_credentials", "message": "wrong username or password"}},
                status_code=401,
            )
        now = int(time.time())
        claims = {"sub": user.username, "tenant": user.tenant, "iat": now, "exp": now + TOKEN_TTL}
        token = jwt.encode(claims, secret, algorithm="HS256")
        response = JSONResponse({"token": token, "tenant": user.tenant, "expiresIn": TOKEN_TTL})
        # Browsers (the dashboard, EventSource, Socket.IO) carry the token as a cookie.
        response.set_cookie(
            DEFAULT_COOKIE, token, max_age=TOKEN_TTL, httponly=True, samesite="strict"
        )
        return response

    app.include_router(router(gateway, authenticator))
    app.mount("/socket.io", sio.asgi_app(socketio_path=""))
    install_error_handlers(app)
    return app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--simulator", action="store_true", help="simulated phones")
    parser.add_argument("--data-dir", default="./example-data")
    args = parser.parse_args()

    secret = os.environ.get("WAGATE_SECRET", "")
    if not secret:
        print(
            "refusing to start: set WAGATE_SECRET to a random secret of 32+ bytes, e.g.\n"
            "  export WAGATE_SECRET=\"$(python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')\"",
            file=sys.stderr,
        )
        return 2
    users, passwords = demo_users()
    try:
        app = build_app(secret, users, simulator=args.simulator, data_dir=args.data_dir)
    except ValueError as exc:  # wagate.InvalidInput: e.g. a secret that is too short
        print(f"refusing to start: {exc}", file=sys.stderr)
        return 2

    sock = socket.create_server((args.host, args.port))
    # Answers leave at once (no Nagle delay) even on asyncio's own event loop.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    print(f"listening on http://{args.host}:{sock.getsockname()[1]}", flush=True)
    for name, user in users.items():
        print(f"user {name} (tenant {user.tenant}) password: {passwords[name]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
