"""The logs of ``wagate serve``: text or one JSON object a line, each HTTP request with an id.

:class:`RequestIds` is an ASGI middleware that gives every HTTP request an id
(the client's ``X-Request-Id`` when it is a sane one, else a new one), sends it
back in the ``X-Request-Id`` response header and keeps it in a context variable
while the request runs, so that every record logged meanwhile (uvicorn's access
line included) carries it; a text access line ends with it in brackets.
:class:`JsonFormatter` writes a record as one JSON object: ``time``,
``level``, ``logger``, ``message``, and ``tenant``, ``request_id``, ``method``,
``path``, ``status`` and ``exception`` when there are such.
"""

from __future__ import annotations

import contextvars
import copy
import json
import logging
import re
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "REQUEST_ID",
    "JsonFormatter",
    "RequestIdFilter",
    "RequestIds",
    "log_config",
    "quiet_http_clients",
]

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "wagate_request_id", default=None
)
"""The id of the HTTP request being handled, if any."""

HEADER = "x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# uvicorn's access record: (client, method, path, HTTP version, status).
_ACCESS_ARGS = 5


class RequestIds:
    """ASGI middleware: an id per HTTP request, in ``X-Request-Id`` and in the logs.

    Args:
        app: The app to wrap.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming(scope) or uuid.uuid4().hex
        header = (HEADER.encode(), request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != header[0]]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


def _incoming(scope: Scope) -> str | None:
    """The client's request id, when it is one that is safe to log and echo."""
    for name, value in scope.get("headers", []):
        if name.lower() == HEADER.encode():
            text = value.decode("latin-1")
            return text if _SANE_ID.fullmatch(text) else None
    return None


def record_tenant(record: logging.LogRecord) -> str | None:
    """The tenant a record is about: its ``tenant`` extra, else wagate's ``"tenant %r: ..."``."""
    tenant = getattr(record, "tenant", None)
    if isinstance(tenant, str):
        return tenant
    args = record.args
    if (
        isinstance(record.msg, str)
        and record.msg.startswith("tenant %r")
        and isinstance(args, tuple)
        and args
        and isinstance(args[0], str)
    ):
        return args[0]
    return None


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON (see the module's docstring for the keys)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object, on one line."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        tenant = record_tenant(record)
        if tenant is not None:
            entry["tenant"] = tenant
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        args = record.args
        if (
            record.name == "uvicorn.access"
            and isinstance(args, tuple)
            and len(args) == _ACCESS_ARGS
        ):
            _, method, path, _, status = args
            entry.update(method=method, path=path, status=status)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def quiet_http_clients() -> None:
    """Keep the HTTP clients' own request lines out of the logs.

    httpx logs every request's URL at info, httpcore its every step at debug; a
    webhook URL may carry a credential in its query.  The webhook dispatcher logs
    what goes wrong itself, naming the endpoint without the query.
    """
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


class RequestIdFilter(logging.Filter):
    """Gives each record a ``request_id`` attribute: the request's id, or ``-`` outside one."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the attribute; keep the record."""
        record.request_id = REQUEST_ID.get() or "-"
        return True


def log_config(form: str, level: str) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of the server and of uvicorn.

    ``text`` is uvicorn's own, each access line ending with its request id;
    ``json`` sends every record, the root logger's included, as JSON to stderr.
    """
    if form != "json":
        from uvicorn.config import LOGGING_CONFIG  # noqa: PLC0415 - the fastapi extra

        config = copy.deepcopy(LOGGING_CONFIG)
        config["filters"] = {"request_id": {"()": f"{__name__}.RequestIdFilter"}}
        config["handlers"]["access"]["filters"] = ["request_id"]
        config["formatters"]["access"]["fmt"] += " [%(request_id)s]"
        return config
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    logger = {"handlers": ["json"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"json": handler},
        "loggers": {name: logger for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
        "root": {"handlers": ["json"], "level": level.upper()},
    }
