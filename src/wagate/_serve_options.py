"""The options of ``wagate serve``, declared once: flags, environment variables and the TOML file.

Each :class:`Option` names its type, default, help, environment variable and TOML
key; the argparse arguments, the reader of ``WAGATE_*`` variables, the reader of
the ``--config`` file and the option table of ``docs/production.md`` are all
made from :data:`OPTIONS`.  A value is read from the first of: the command line,
the environment, the file, the default.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from ._errors import WagateError
from ._pacing import Pacing, RequestLimit
from ._validate import validate_tenant

__all__ = [
    "CONFIG_ENV",
    "OPTIONS",
    "Option",
    "UsageError",
    "add_arguments",
    "options_table",
    "read_config",
    "resolve",
    "tenant",
]

CONFIG_ENV = "WAGATE_CONFIG"
"""The variable naming the config file when ``--config`` is not given."""


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2, no traceback."""


Check = Callable[[Any], Any]
"""Takes a value of the option's type; returns it (maybe normalised) or raises ValueError."""

_KIND_WORDS: dict[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list of strings",
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _unchecked(value: Any) -> Any:
    return value


@attrs.frozen(kw_only=True)
class Option:
    """One option of ``wagate serve``.

    Attributes:
        name: The Python name, also the TOML key (``redis``, ``lease_ttl``).
        help: What it does, for ``--help`` and the docs.
        kind: ``str``, ``int``, ``float``, ``bool`` or ``list`` (of strings, repeatable).
        default: The value when no source gives one.
        shown: How the default reads in help (default: the default itself).
        what: What a value is, for error messages (``a port number``).
        check: Validates a value of ``kind``; raises ``ValueError`` saying why not.
        choices: The values allowed, when there are few.
        metavar: The placeholder in ``--help``.
        flag: The command-line flag (default: ``--`` and the name with dashes;
            for a ``bool`` that defaults to true, ``--no-...`` turns it off).
        env: The environment variable (default: ``WAGATE_`` and the name).
        secret: Never quote its value in an error message.
        login: ``wagate login`` takes it too (from the command line only).
    """

    name: str
    help: str
    kind: type = str
    default: Any = None
    shown: str | None = None
    what: str = ""
    check: Check = _unchecked
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    flag: str = attrs.field()
    env: str = attrs.field()
    secret: bool = False
    login: bool = False

    @flag.default
    def _flag(self) -> str:
        dashed = self.name.replace("_", "-")
        return f"--no-{dashed}" if self.kind is bool and self.default else f"--{dashed}"

    @env.default
    def _env(self) -> str:
        return "WAGATE_" + self.name.upper()

    @property
    def described(self) -> str:
        """What a value of this option is, in words."""
        return self.what or _KIND_WORDS[self.kind]

    @property
    def default_text(self) -> str:
        """The default as ``--help`` and the docs show it."""
        if self.shown is not None:
            return self.shown
        if self.kind is bool:
            return "on" if self.default else "off"
        return "none" if self.default in (None, []) else str(self.default)

    def from_text(self, text: str) -> Any:
        """The value a flag or a variable spells; raises ``ValueError`` saying why not."""
        quoted = "the value given" if self.secret else repr(text)
        if self.kind is bool:
            if text.strip().lower() in _TRUE | _FALSE:
                return self.check(text.strip().lower() in _TRUE)
            raise ValueError(f"{quoted} is not true or false (use 1/0, true/false)")
        if self.kind is list:
            return self.check([part for part in re.split(r"[\s,]+", text) if part])
        try:
            value = self.kind(text)
        except ValueError:
            raise ValueError(f"{quoted} is not {self.described}") from None
        return self.check(value)

    def from_toml(self, value: object) -> Any:
        """A value the TOML file holds; raises ``TypeError`` or ``ValueError`` saying why not."""
        if not _is_kind(value, self.kind):
            raise TypeError(
                f"expected {_KIND_WORDS[self.kind]}"
                + (f" ({self.what})" if self.what else "")
                + f", got {_toml_type(value)}"
            )
        return self.check(float(value) if self.kind is float else value)  # type: ignore[arg-type]


def _is_kind(value: object, kind: type) -> bool:
    if isinstance(value, bool) or kind is bool:
        return isinstance(value, bool) and kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    if kind is list:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    return isinstance(value, kind)


def _toml_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    names.update({list: "an array", dict: "a table"})
    return names.get(type(value), type(value).__name__)


# ------------------------------------------------------------------------ checks


def _port(port: int) -> int:
    if not 0 <= port <= 65535:
        raise ValueError(f"{port} is not a port: use 1-65535 (0: any free port)")
    return port


def _workers(workers: int) -> int:
    if not 1 <= workers <= 64:
        raise ValueError(f"{workers} workers: use 1 to 64")
    return workers


def _lease_ttl(seconds: float) -> float:
    if not 0.5 <= seconds <= 3600:
        raise ValueError(f"a lease of {seconds} s: use 0.5 to 3600 seconds")
    return seconds


def _cluster_name(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", value):
        raise ValueError(
            f"cluster name {value!r}: use 1-40 lower-case letters, digits and '_', "
            "starting with a letter"
        )
    return value


def tenant(value: str) -> str:
    """A valid tenant id, or ``ValueError`` saying why not."""
    try:
        return validate_tenant(value)
    except WagateError as exc:
        raise ValueError(exc.message) from None


def _rate(value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"a rate of {value:g} sends a minute: give more than 0 (or turn pacing off "
            "with --no-pacing)"
        )
    return value


def _at_least_one(what: str) -> Check:
    def check(value: int) -> int:
        if value < 1:
            raise ValueError(
                f"{what} of {value}: give 1 or more (or turn pacing off with --no-pacing)"
            )
        return value

    return check


def _webhooks(urls: list[str]) -> list[str]:
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook {url!r} is not an http:// or https:// URL")
    return urls


_PACING = Pacing()
_REQUESTS = RequestLimit()


def _metrics_token(token: str) -> str:
    if len(token) < 16:
        raise ValueError("a metrics token has at least 16 characters")
    return token


OPTIONS: tuple[Option, ...] = (
    Option(
        name="simulator",
        kind=bool,
        default=False,
        help="simulate every phone and WhatsApp itself (no network, nothing real is sent)",
        login=True,
    ),
    Option(
        name="data_dir",
        default="./wagate-data",
        metavar="DIR",
        help="where session databases live (created with mode 0700)",
        login=True,
    ),
    Option(
        name="database",
        metavar="URL",
        shown="DIR/wagate.db",
        help="where sessions are kept: a postgresql:// URL, or a SQLite file",
        login=True,
    ),
    Option(name="host", default="127.0.0.1", help="address to listen on"),
    Option(
        name="port",
        kind=int,
        default=8000,
        what="a port number",
        check=_port,
        help="port to listen on; 0 picks a free one",
    ),
    Option(
        name="secret",
        metavar="S",
        shown="random for this run",
        secret=True,
        help=(
            "the JWT HS256 secret, at least 32 bytes (prefer the variable: arguments show in "
            "the process list)"
        ),
    ),
    Option(
        name="workers",
        kind=int,
        default=1,
        metavar="N",
        what="a number of workers",
        check=_workers,
        help=(
            "worker processes sharing the port, one cluster (needs --redis and a "
            "postgresql:// --database)"
        ),
    ),
    Option(
        name="redis",
        env="WAGATE_REDIS_URL",
        metavar="URL",
        secret=True,
        help=(
            "run as one process of a cluster on this Redis (redis://[user:password@]host:"
            "6379/0): events, replay and commands reach every process; needs a "
            "postgresql:// --database"
        ),
    ),
    Option(
        name="cluster_name",
        default="wagate",
        metavar="NAME",
        check=_cluster_name,
        help=("keeps clusters sharing a Redis or a database apart: Redis key and table prefix"),
    ),
    Option(
        name="lease_ttl",
        kind=float,
        default=15.0,
        metavar="SECONDS",
        what="a number of seconds",
        check=_lease_ttl,
        help="a process silent this long loses its tenants to the others (cluster only)",
    ),
    Option(
        name="engine_process",
        kind=bool,
        default=False,
        help=(
            "run the WhatsApp engine's drivers in a child process, so that a crash of the "
            "engine ends no request (not with --simulator)"
        ),
    ),
    Option(
        name="webhook",
        kind=list,
        default=[],
        metavar="URL",
        check=_webhooks,
        help=(
            "post every tenant's events to this URL, signed with --webhook-secret "
            "(repeat for more; the variable takes URLs separated by commas or spaces)"
        ),
    ),
    Option(
        name="webhook_secret",
        metavar="S",
        secret=True,
        help=(
            "the secret webhook deliveries are signed with, at least 16 bytes (prefer the variable)"
        ),
    ),
    Option(
        name="pacing",
        kind=bool,
        default=True,
        help=(
            "pacing of each tenant's sends, so that WhatsApp does not take the account for "
            "a bot; --no-pacing turns it off"
        ),
    ),
    Option(
        name="pace_per_minute",
        kind=float,
        default=_PACING.per_minute,
        metavar="N",
        what="a number of sends a minute",
        check=_rate,
        help="sustained sends a minute per tenant",
    ),
    Option(
        name="pace_burst",
        kind=int,
        default=_PACING.burst,
        metavar="N",
        what="a number of sends",
        check=_at_least_one("a burst"),
        help="sends that may go back to back before pacing starts",
    ),
    Option(
        name="daily_cap",
        kind=int,
        default=_PACING.daily_cap,
        metavar="N",
        what="a number of sends",
        check=_at_least_one("a daily cap"),
        help="the most sends per tenant in any 24 hours",
    ),
    Option(
        name="metrics_token",
        metavar="S",
        secret=True,
        check=_metrics_token,
        help=(
            "serve GET /metrics (Prometheus) to scrapes bearing this token, at least 16 "
            "characters (prefer the variable); none: no /metrics"
        ),
    ),
    Option(
        name="metrics_tenant_labels",
        kind=bool,
        default=False,
        help="label the metrics by tenant (a series per tenant: for small deployments only)",
    ),
    Option(
        name="request_limit",
        kind=bool,
        default=True,
        help=(
            "limit the REST requests of each token (429 past it); --no-request-limit turns it off"
        ),
    ),
    Option(
        name="requests_per_minute",
        kind=float,
        default=_REQUESTS.per_minute,
        metavar="N",
        what="a number of requests a minute",
        check=_rate,
        help="sustained REST requests a minute per token",
    ),
    Option(
        name="request_burst",
        kind=int,
        default=_REQUESTS.burst,
        metavar="N",
        what="a number of requests",
        check=_at_least_one("a request burst"),
        help="REST requests a token may make back to back",
    ),
    Option(
        name="title",
        default="wagate",
        metavar="NAME",
        help="the name of the API in /docs and /openapi.json",
    ),
    Option(
        name="dashboard",
        kind=bool,
        default=True,
        help="the dashboard page at /; --no-dashboard turns it off (the API stays)",
    ),
    Option(
        name="log_level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        check=lambda level: _choice(level, ("critical", "error", "warning", "info", "debug")),
        help="server log level",
    ),
    Option(
        name="log_format",
        default="text",
        choices=("text", "json"),
        check=lambda form: _choice(form, ("text", "json")),
        help="text lines, or one JSON object a line (time, level, logger, message, ...)",
    ),
)
"""Every option of ``wagate serve``, in the order ``--help`` lists them."""


def _choice(value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
    return value


# --------------------------------------------------------------------- argparse


def _argparse_type(option: Option) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            value = option.from_text(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value[0] if option.kind is list else value

    convert.__name__ = option.described  # argparse names the type in some errors
    return convert


def add_arguments(parser: argparse.ArgumentParser, *, login: bool = False) -> None:
    """Add the options' flags to ``parser``.

    For ``serve`` (``login=False``) an option not given is absent from the parsed
    namespace, so that :func:`resolve` can take it from the environment or the
    file; for ``login``, the login options get their defaults.
    """
    for option in OPTIONS:
        if login and not option.login:
            continue
        default = option.default if login else argparse.SUPPRESS
        sources = "" if login else f"; ${option.env}"
        text = f"{option.help} (default: {option.default_text}{sources})"
        dest = option.name
        if option.kind is bool:
            parser.add_argument(
                option.flag,
                dest=dest,
                action="store_const",
                const=not option.default,
                default=default,
                help=text,
            )
            continue
        parser.add_argument(
            option.flag,
            dest=dest,
            type=_argparse_type(option),
            default=default,
            metavar=option.metavar,
            choices=option.choices,
            action="append" if option.kind is list else "store",
            help=text,
        )


# ---------------------------------------------------------------- the config file


def _toml_loads(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib  # noqa: PLC0415

        return tomllib.loads(text)
    raise UsageError("a --config file needs Python 3.11 or later (tomllib)")


def _line_of(text: str, key: str) -> int | None:
    """The line of ``text`` where ``key`` is set (tomllib says what, never where)."""
    spelled = rf"(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')"
    pattern = re.compile(rf"^\s*(?:{spelled}\s*[=.]|\[+\s*{spelled}\s*[\].])")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return None


def read_config(path: str) -> dict[str, Any]:
    """The options a TOML file sets, checked: ``{name: value}``.

    Raises:
        UsageError: the file cannot be read, is not TOML, sets a key that is not
            an option or a value of the wrong type; the message names the file,
            the line and the key.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise UsageError(f"cannot read config file {path}: {reason}") from None
    try:
        table = _toml_loads(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError; its message has the line
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    known = {option.name: option for option in OPTIONS}
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{path}:{_line_of(text, key) or '?'}"
        option = known.get(key)
        if option is None:
            raise UsageError(
                f"{where}: unknown key {key!r} (the keys are the options' names, e.g. "
                "data_dir, port, pace_per_minute; see wagate serve --help)"
            )
        try:
            values[key] = option.from_toml(value)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{where}: {key}: {exc}") from None
    return values


# ------------------------------------------------------------------- resolving


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for option in OPTIONS:
        text = environ.get(option.env)
        if text is None or text == "":
            continue
        try:
            values[option.name] = option.from_text(text)
        except ValueError as exc:
            raise UsageError(f"environment variable {option.env}: {exc}") from None
    return values


def resolve(
    given: argparse.Namespace, environ: Mapping[str, str], config: str | None = None
) -> argparse.Namespace:
    """Every option's value: from the command line, else the environment, else the file.

    Args:
        given: What argparse parsed (the options given on the command line only).
        environ: The environment (``WAGATE_*`` variables).
        config: The TOML file, if any.

    Raises:
        UsageError: a bad file, or a variable with a bad value.
    """
    values = {option.name: option.default for option in OPTIONS}
    if config:
        values.update(read_config(config))
    values.update(_from_environment(environ))
    values.update({name: value for name, value in vars(given).items() if name in values})
    resolved = argparse.Namespace(**vars(given))
    for name, value in values.items():
        setattr(resolved, name, value)
    return resolved


_TOML_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def options_table(options: Iterable[Option] = OPTIONS) -> str:
    """The Markdown table of the options (the docs' copy is checked against it)."""
    rows = [
        "| TOML key | type | flag | variable | default | what |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for option in options:
        flag = option.flag + (f" {option.metavar}" if option.metavar else "")
        kind = _TOML_TYPES.get(option.kind, "array of strings")
        if option.kind is list:
            flag += " (repeatable)"
        if option.choices:
            kind = " or ".join(f'`"{choice}"`' for choice in option.choices)
        rows.append(
            f"| `{option.name}` | {kind} | `{flag}` | `{option.env}` | {option.default_text} "
            f"| {option.help.replace('|', '/')} |"
        )
    return "\n".join(rows) + "\n"
