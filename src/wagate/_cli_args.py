"""The ``wagate`` command line's arguments: what each command takes, checked as it is read."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from typing import Any, TypeVar

from ._errors import WagateError
from ._validate import validate_tenant
from ._version import __version__

Handler = Callable[[argparse.Namespace], int]
"""Runs a command with its parsed arguments; returns the exit status."""


_Number = TypeVar("_Number", int, float)


def _parsed(value: str, kind: Callable[[str], _Number], what: str) -> _Number:
    """``kind(value)``, or argparse's error saying that ``value`` is not ``what``."""
    try:
        return kind(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not {what}") from None


def _port(value: str) -> int:
    port = _parsed(value, int, "a port number")
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: use 1-65535 (0: any free port)")
    return port


def _workers(value: str) -> int:
    workers = _parsed(value, int, "a number of workers")
    if not 1 <= workers <= 64:
        raise argparse.ArgumentTypeError(f"{workers} workers: use 1 to 64")
    return workers


def _lease_ttl(value: str) -> float:
    seconds = _parsed(value, float, "a number of seconds")
    if not 0.5 <= seconds <= 3600:
        raise argparse.ArgumentTypeError(f"a lease of {value} s: use 0.5 to 3600 seconds")
    return seconds


def _cluster_name(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", value):
        raise argparse.ArgumentTypeError(
            f"cluster name {value!r}: use 1-40 lower-case letters, digits and '_', "
            "starting with a letter"
        )
    return value


def _tenant(value: str) -> str:
    try:
        return validate_tenant(value)
    except WagateError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def parser(
    serve: Handler, login: Handler, contract: Handler | None = None
) -> argparse.ArgumentParser:
    """The ``wagate`` command line: ``serve`` runs ``serve``, ``login`` runs ``login``...

    ``contract`` runs ``wagate contract`` (no such command without it).
    """
    parser = argparse.ArgumentParser(
        prog="wagate",
        description=(
            "Run WhatsApp gateways for many tenants: a web server with a REST API, "
            "Socket.IO, Server-Sent Events and a dashboard (serve), or a terminal login (login)."
        ),
        epilog="Run 'wagate COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"wagate {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--simulator",
            action="store_true",
            help="simulate every phone and WhatsApp itself (no network, nothing real is sent)",
        )
        sub.add_argument(
            "--data-dir",
            default="./wagate-data",
            metavar="DIR",
            help="where session databases live (created with mode 0700; default: %(default)s)",
        )
        sub.add_argument(
            "--database",
            metavar="URL",
            help=(
                "where sessions are kept: a postgresql:// URL, or a SQLite file "
                "(default: DIR/wagate.db)"
            ),
        )

    serving = commands.add_parser(
        "serve",
        help="run the gateway: REST API, Socket.IO, SSE and the dashboard",
        description=(
            "Run a gateway server. Every request acts for the tenant of its token: a JWT "
            "(HS256) signed with the secret, the tenant in its 'tenant' claim, sent as "
            "'Authorization: Bearer' or the wagate_token cookie. Without a secret, a random "
            "one is used for this run and a link that logs a browser in as tenant 'demo' is "
            "printed. Linked tenants reconnect on start, without a new QR code."
        ),
        epilog=(
            "With --simulator, POST /api/simulator/scan and POST /api/simulator/receive "
            "{from, text} drive the caller's simulated phone. The API is described at "
            "/docs and /openapi.json."
        ),
    )
    common(serving)
    serving.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serving.add_argument(
        "--port",
        type=_port,
        default=8000,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    serving.add_argument(
        "--secret",
        metavar="S",
        help=(
            "the JWT HS256 secret, at least 32 bytes (default: $WAGATE_SECRET, else random "
            "for this run; prefer the variable: arguments show in the process list)"
        ),
    )
    serving.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help=(
            "worker processes sharing the port, one cluster (needs --redis and a "
            "postgresql:// --database; default: %(default)s)"
        ),
    )
    serving.add_argument(
        "--redis",
        metavar="URL",
        help=(
            "run as one process of a cluster on this Redis (redis://[user:password@]host:"
            "6379/0; default: $WAGATE_REDIS_URL): events, replay and commands reach every "
            "process; needs a postgresql:// --database"
        ),
    )
    serving.add_argument(
        "--cluster-name",
        type=_cluster_name,
        default=os.environ.get("WAGATE_CLUSTER_NAME") or "wagate",
        metavar="NAME",
        help=(
            "keeps clusters sharing a Redis or a database apart: Redis key and table prefix "
            "(default: $WAGATE_CLUSTER_NAME, else %(default)s)"
        ),
    )
    serving.add_argument(
        "--lease-ttl",
        type=_lease_ttl,
        default=15.0,
        metavar="SECONDS",
        help=(
            "a process silent this long loses its tenants to the others (cluster only; "
            "default: %(default)s)"
        ),
    )
    serving.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="server log level (default: %(default)s)",
    )
    serving.set_defaults(handler=serve)

    logging_in = commands.add_parser(
        "login",
        help="link one WhatsApp account from the terminal (QR drawn in the terminal)",
        description=(
            "Link one tenant's WhatsApp account: draws each QR code in the terminal, waits "
            "for the scan (reconnecting as needed) and exits 0 once linked. A tenant linked "
            "before just reconnects. 'wagate serve' with the same --data-dir/--database then "
            "serves it without a QR code."
        ),
    )
    common(logging_in)
    logging_in.add_argument(
        "--tenant",
        default="default",
        type=_tenant,
        help="the tenant id, 1-128 of A-Z a-z 0-9 . _ - (default: %(default)s)",
    )
    logging_in.set_defaults(handler=login)
    if contract is not None:
        _contract_command(commands, contract)
    return parser


def _contract_command(commands: Any, handler: Handler) -> None:
    writing = commands.add_parser(
        "contract",
        help="write the OpenAPI, AsyncAPI and JSON Schema documents of the API",
        description=(
            "Write openapi.json (the REST API), asyncapi.json (Socket.IO, Server-Sent "
            "Events, webhooks) and schemas/<name>.json (each event payload) into DIR, "
            "made from the code's own tables. Needs no extra."
        ),
    )
    writing.add_argument(
        "--out",
        default="./wagate-contract",
        metavar="DIR",
        help="the directory to write into (created if needed; default: %(default)s)",
    )
    writing.set_defaults(handler=handler)
