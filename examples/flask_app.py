"""A Flask host app: its own users and login, each user's WhatsApp through wagate.

The app keeps its own user table (passwords hashed with scrypt) and maps each
user to a tenant.  ``POST /login`` checks a password and issues a JWT naming the
user's tenant; wagate's blueprint (REST API, SSE, dashboard) then acts for that
tenant only.  The gateway runs in a :class:`wagate.SyncGateway`'s thread, so the
views stay plain synchronous Flask.  Socket.IO needs an ASGI server, so it runs
beside Flask on its own port (:func:`wagate.integrations.flask.serve_socketio`);
the dashboard uses Server-Sent Events, which the blueprint serves itself.

Run it (the secret signs the tokens; there is no default one)::

    export WAGATE_SECRET="$(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
    python examples/flask_app.py --simulator --port 5000

It prints each demo user's password (random for each run), then::

    curl -s localhost:5000/login -H 'content-type: application/json' \\
         -d '{"username": "alice", "password": "..."}'
    curl -s localhost:5000/status -H "Authorization: Bearer <token>"

Without ``--simulator`` each tenant links a real phone.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import secrets
import sys
import time
from typing import Any

import attrs
import jwt
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from wagate import SQLiteStore, SyncGateway
from wagate.adapters.auth import DEFAULT_COOKIE, JWTAuthenticator
from wagate.drivers.simulator import SimulatedDrivers, SimulatedPhone
from wagate.integrations.flask import blueprint, install_error_handlers, serve_socketio

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


def make_gateway(*, simulator: bool, data_dir: str) -> SyncGateway:
    if simulator:
        numbers = iter(range(100_000_000, 999_999_999))

        def phone(tenant: str) -> SimulatedPhone:
            return SimulatedPhone(number=f"+628{next(numbers)}", name=f"{tenant} phone")

        return SyncGateway(SimulatedDrivers(phone))  # in memory: a demo forgets its links
    from wagate.drivers.neonize import NeonizeDriver  # noqa: PLC0415 - real phones only

    os.makedirs(data_dir, mode=0o700, exist_ok=True)
    return SyncGateway(
        lambda tenant: NeonizeDriver(database=os.path.join(data_dir, "neonize.db")),
        store=SQLiteStore(os.path.join(data_dir, "wagate.db")),
    )


def build_app(
    secret: str,
    users: dict[str, User],
    gateway: SyncGateway,
    authenticator: JWTAuthenticator,
) -> Flask:
    app = Flask(__name__)

    @app.post("/login")
    def login() -> Any:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not all(
            isinstance(body.get(key), str) and body[key] for key in ("username", "password")
        ):
            return jsonify(
                error={"code": "invalid_input", "message": "send {username, password} as JSON"}
            ), 422
        user = check_password(users, body["username"], body["password"])
        if user is None:
            return jsonify(
                error={"code": "bad_credentials", "message": "wrong username or password"}
            ), 401
        now = int(time.time())
        claims = {"sub": user.username, "tenant": user.tenant, "iat": now, "exp": now + TOKEN_TTL}
        token = jwt.encode(claims, secret, algorithm="HS256")
        response = jsonify(token=token, tenant=user.tenant, expiresIn=TOKEN_TTL)
        # Browsers (the dashboard, EventSource) carry the token as a cookie.
        response.set_cookie(
            DEFAULT_COOKIE, token, max_age=TOKEN_TTL, httponly=True, samesite="Strict"
        )
        return response

    app.register_blueprint(blueprint(gateway, authenticator))
    install_error_handlers(app)
    return app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000, help="0 picks a free port")
    parser.add_argument(
        "--socketio-port", type=int, default=0, help="Socket.IO's port (0: a free one)"
    )
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
    try:
        authenticator = JWTAuthenticator(secret)
    except ValueError as exc:  # wagate.InvalidInput: e.g. a secret that is too short
        print(f"refusing to start: {exc}", file=sys.stderr)
        return 2
    users, passwords = demo_users()

    with make_gateway(simulator=args.simulator, data_dir=args.data_dir) as gateway:
        app = build_app(secret, users, gateway, authenticator)
        server = make_server(args.host, args.port, app, threaded=True)
        origin = f"http://{args.host}:{server.port}"
        sockets = serve_socketio(
            gateway,
            authenticator,
            host=args.host,
            port=args.socketio_port,
            cors_allowed_origins=[origin],
        )
        print(f"listening on {origin}", flush=True)
        print(f"socket.io on http://{args.host}:{sockets.port}", flush=True)
        for name, user in users.items():
            print(f"user {name} (tenant {user.tenant}) password: {passwords[name]}", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            sockets.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
