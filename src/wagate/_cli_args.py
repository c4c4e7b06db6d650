"""The ``wagate`` command line's arguments: what each command takes, checked as it is read."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn

from ._serve_options import CONFIG_ENV, add_arguments, tenant
from ._version import __version__

Handler = Callable[[argparse.Namespace], int]
"""Runs a command with its parsed arguments; returns the exit status."""


def _tenant(value: str) -> str:
    try:
        return tenant(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _Parser(argparse.ArgumentParser):
    """Says what is wrong in one line (no usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``message`` and where to read more, in one line; exit 2."""
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def parser(
    serve: Handler, login: Handler, contract: Handler | None = None
) -> argparse.ArgumentParser:
    """The ``wagate`` command line: ``serve`` runs ``serve``, ``login`` runs ``login``...

    ``contract`` runs ``wagate contract`` (no such command without it).
    """
    parser = _Parser(
        prog="wagate",
        description=(
            "Run WhatsApp gateways for many tenants: a web server with a REST API, "
            "Socket.IO, Server-Sent Events and a dashboard (serve), or a terminal login (login)."
        ),
        epilog="Run 'wagate COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"wagate {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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
            "/docs and /openapi.json. Each option can be set in the --config file (its "
            "name as the key) or in its WAGATE_ variable; a flag wins over the variable, "
            "the variable over the file."
        ),
    )
    serving.add_argument(
        "--config",
        metavar="FILE",
        help=(
            "read options from this TOML file (keys: the options' names, e.g. port = 8080); "
            f"the environment overrides it, flags override both (default: ${CONFIG_ENV})"
        ),
    )
    add_arguments(serving)
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
    add_arguments(logging_in, login=True)
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
