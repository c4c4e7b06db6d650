"""The published contract: OpenAPI for REST, AsyncAPI for the events, a JSON Schema per payload.

Every document here is made from the tables the code itself runs on, so none can
say something the server does not do:

- :func:`event_schemas`: a JSON Schema (draft 2020-12) for the payload of every
  message any transport sends, in both namings, from the wire table that
  :func:`wagate.to_wire` encodes with;
- :func:`asyncapi`: an AsyncAPI 3.0 document of the three ways events travel:
  Socket.IO (what the server emits, and the ``join`` / ``leave`` it answers),
  the Server-Sent Events stream ``GET /api/events`` and the signed webhook posts;
- :func:`openapi`: the OpenAPI document of the REST API, the one the FastAPI app
  and the Flask blueprint serve at ``/openapi.json``, made from the REST route
  table without FastAPI;
- :func:`write`: all of them as files, what ``wagate contract --out DIR`` does.

Only the standard library and wagate's core are imported: the contract can be
made with no extra installed.

Example:
    ```python
    import jsonschema
    from wagate import contract

    schemas = contract.event_schemas()
    jsonschema.validate(payload, schemas["message:received"])
    ```
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from ._events import Event
from ._version import __version__
from ._wire import CONNECTION_STATUS, DASH_STATUS, KINDS, message_schemas
from .adapters._socketio_names import ERROR_EVENT, JOIN_EVENT, LEAVE_EVENT
from .adapters.auth import DEFAULT_COOKIE
from .adapters.webhooks._signing import (
    ATTEMPT_HEADER,
    REPLAY_HEADER,
    SIGNATURE_HEADER,
    STANDARD_ID_HEADER,
    STANDARD_SIGNATURE_HEADER,
    STANDARD_TIMESTAMP_HEADER,
    TIMESTAMP_HEADER,
)
from .integrations import _openapi
from .integrations._rest import ROUTES

__all__ = [
    "ASYNCAPI_VERSION",
    "JSON_SCHEMA_DIALECT",
    "asyncapi",
    "event_schemas",
    "openapi",
    "schema_key",
    "webhook_names",
    "write",
]

JSON = dict[str, Any]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
"""The ``$schema`` of every payload schema :func:`event_schemas` gives."""

ASYNCAPI_VERSION = "3.0.0"
"""The AsyncAPI version :func:`asyncapi` writes."""

_STATUS_WORDS = (
    "Where a session stands: sent first to every client that connects, and on every"
    " change of state."
)


def schema_key(name: str) -> str:
    """A wire name as a key AsyncAPI allows and a portable file name (``:`` becomes ``.``).

    Example:
        >>> schema_key("message:received")
        'message.received'
    """
    return name.replace(":", ".")


_ROLE = re.compile(r":\w+:`(~?)([\w.]+)`")


def _first_line(cls: type[Event]) -> str:
    """The first line of a class's docstring, its reST roles as plain names."""
    line = (cls.__doc__ or cls.__name__).strip().splitlines()[0]
    line = _ROLE.sub(lambda m: m[2].rsplit(".", 1)[-1] if m[1] else m[2], line)
    return line.replace("``", "`")


def _descriptions() -> dict[str, str]:
    """What each message is, from its event class's docstring."""
    said: dict[str, str] = {}
    for kind in KINDS:
        for shape in (*kind.colon, *kind.dash):
            said.setdefault(shape.name, _first_line(kind.cls))
    said[CONNECTION_STATUS] = said[DASH_STATUS] = _STATUS_WORDS
    return said


def event_schemas() -> dict[str, JSON]:
    """The JSON Schema of each message's payload, by wire name, in both namings.

    Every name :func:`wagate.to_wire` or a client's first snapshot can send is a
    key: the colon names (``message:received``, ``connection:status``...) and
    the dash ones (``qr-code``, ``connection-status``).  Each schema lists the keys
    the encoder always writes as required; a key that may be ``null`` says so.
    Objects stay open to keys added later (no ``additionalProperties: false``),
    so a client that validates keeps working when a payload gains a key.

    Returns:
        A new dict each call: ``{name: schema}``, each schema with ``$schema``
        (draft 2020-12), ``title`` (the name) and ``description``.
    """
    said = _descriptions()
    # Deep copies: the codecs' schemas inside are the ones OpenAPI is made of too.
    return {
        name: copy.deepcopy(
            {"$schema": JSON_SCHEMA_DIALECT, "title": name, "description": said[name], **schema}
        )
        for name, schema in message_schemas().items()
    }


def webhook_names() -> list[str]:
    """The wire names a webhook can post: each event's own message, colon naming."""
    return list(dict.fromkeys(kind.colon[0].name for kind in KINDS))


def _names(naming: str) -> set[str]:
    """Every name the transports send in a naming (a snapshot's included)."""
    shapes = {shape.name for kind in KINDS for shape in getattr(kind, naming)}
    return shapes | {CONNECTION_STATUS if naming == "colon" else DASH_STATUS}


def _ref(*parts: str) -> JSON:
    return {"$ref": "#/" + "/".join(parts)}


_ERROR_KEY = "socketio.error"
_ACK_KEY = "socketio.ack"
_JOIN_KEY = "socketio.join"
_LEAVE_KEY = "socketio.leave"
_TENANT_CHOICE: JSON = {
    "anyOf": [
        {"type": "string", "description": "The tenant id."},
        {
            "type": "object",
            "properties": {"tenant": {"type": "string"}},
            "required": ["tenant"],
        },
    ]
}
_ACK: JSON = {
    "type": "object",
    "description": "The answer (the event's acknowledgement) to a granted join or leave.",
    "properties": {"ok": {"const": True}, "tenant": {"type": "string"}},
    "required": ["ok", "tenant"],
}


def _socketio_messages() -> JSON:
    """The messages of the Socket.IO channel beside the wire's: the client's and the answers."""
    return {
        _JOIN_KEY: {
            "name": JOIN_EVENT,
            "title": "Join a tenant",
            "summary": "Start receiving a granted tenant's events (its snapshot first).",
            "payload": _TENANT_CHOICE,
        },
        _LEAVE_KEY: {
            "name": LEAVE_EVENT,
            "title": "Leave a tenant",
            "summary": "Stop receiving a tenant's events.",
            "payload": _TENANT_CHOICE,
        },
        _ACK_KEY: {
            "name": "ack",
            "title": "Acknowledgement",
            "summary": "The ack of a join or leave that was granted.",
            "payload": _ACK,
        },
        _ERROR_KEY: {
            "name": ERROR_EVENT,
            "title": "Refusal",
            "summary": (
                "Sent to one socket (and as the ack) for a join or leave that is refused,"
                " an unknown, reserved or malformed event, and before a socket whose token"
                " expired is disconnected (code token_expired)."
            ),
            "payload": _openapi.ERROR,
        },
    }


_ENVELOPE_WORDS = (
    "The body of a webhook POST: the event's wire name, its tenant and seq, and as"
    " ``data`` the same payload Socket.IO and SSE carry."
)
_HEADERS: JSON = {
    "type": "object",
    "properties": {
        "Content-Type": {"const": "application/json"},
        STANDARD_ID_HEADER: {
            "type": "string",
            "description": "The delivery's id, '<tenant>:<seq>' ('<tenant>:gap:<seq>' for a"
            " stream:gap), the same on every try: deduplicate by it.",
        },
        STANDARD_TIMESTAMP_HEADER: {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "Unix time (seconds) at which this try was signed.",
        },
        STANDARD_SIGNATURE_HEADER: {
            "type": "string",
            "pattern": "^v1,",
            "description": "Standard Webhooks: 'v1,' and the base64 HMAC-SHA256 of"
            " 'id.timestamp.body'.",
        },
        TIMESTAMP_HEADER: {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "Unix time (seconds) at which this try was signed.",
        },
        SIGNATURE_HEADER: {
            "type": "string",
            "pattern": "^v1=[0-9a-f]{64}$",
            "description": "wagate's own: 'v1=' and the hex HMAC-SHA256 of 'timestamp.body'.",
        },
        ATTEMPT_HEADER: {
            "type": "string",
            "pattern": "^[1-9][0-9]*$",
            "description": "Which try of this delivery this is (1 for the first).",
        },
        REPLAY_HEADER: {
            "enum": ["true", "false"],
            "description": "Whether a dead letter is posted again by a replay.",
        },
    },
    "required": [
        "Content-Type",
        STANDARD_ID_HEADER,
        STANDARD_TIMESTAMP_HEADER,
        STANDARD_SIGNATURE_HEADER,
        TIMESTAMP_HEADER,
        SIGNATURE_HEADER,
        ATTEMPT_HEADER,
        REPLAY_HEADER,
    ],
}
"""The headers of every webhook POST (HTTP header names are case-insensitive)."""


def _envelope(name: str) -> JSON:
    return {
        "type": "object",
        "description": _ENVELOPE_WORDS,
        "properties": {
            "event": {"const": name},
            "tenant": {"type": "string"},
            "seq": {"type": "integer"},
            "data": _ref("components", "schemas", schema_key(name)),
        },
        "required": ["event", "tenant", "seq", "data"],
    }


def _event_message(name: str, description: str) -> JSON:
    message: JSON = {"name": name, "title": name, "summary": description}
    if name not in _names("dash"):
        message["description"] = "Colon naming only: not sent with naming='dash'."
    elif name not in _names("colon"):
        message["description"] = "Dash naming only: sent with naming='dash' instead."
    message["payload"] = _ref("components", "schemas", schema_key(name))
    return message


def _channel_messages(keys: list[str]) -> JSON:
    return {key: _ref("components", "messages", key) for key in keys}


def _operation(action: str, channel: str, keys: list[str], summary: str, **more: Any) -> JSON:
    return {
        "action": action,
        "channel": _ref("channels", channel),
        "summary": summary,
        "messages": [_ref("channels", channel, "messages", key) for key in keys],
        **more,
    }


_SOCKETIO_WORDS = (
    "A python-socketio server (mounted at /socket.io by the FastAPI app). A client"
    " authenticates in its CONNECT (auth: {token}, a cookie, or Authorization: Bearer);"
    " a refusal's connect_error data is {message, data: {error: {code, message}}}. The"
    " socket joins the room of each tenant its token grants (or of those in auth:"
    " {token, tenants: [...]}) and gets each one's connection:status and pending"
    " qr:generated, then every live event. With recovery on (the default) each event"
    " has its offset '<tenant>:<seq>' as a second argument, and a client that"
    " reconnects with {pid, offset} gets what it missed (socket.io's connection-state"
    " recovery)."
)
_SSE_WORDS = (
    "GET /api/events, text/event-stream, for the one tenant of the credentials"
    " (X-Wagate-Tenant or ?tenant= chooses among several). Each message is a frame:"
    " 'event:' its name, 'data:' its payload as one line of JSON, and 'id:' the event's"
    " seq, on the last frame of an event. The stream opens with connection:status (and"
    " a pending qr:generated); a comment ': ping' comes after 15 s without an event."
    " Reconnecting with Last-Event-ID resumes without loss, or says stream:gap."
)
_WEBHOOK_WORDS = (
    "wagate POSTs each event of the tenants an endpoint asks for to its URL"
    " (WebhookEndpoint.url), signed twice with its secret (Standard Webhooks and"
    " Wagate-Signature), retried with backoff and kept in a durable backlog until"
    " delivered or dead-lettered. Any 2xx answer is a delivery."
)


def asyncapi(*, cookie_name: str | None = DEFAULT_COOKIE, title: str = "wagate") -> JSON:
    """The AsyncAPI 3.0 document of wagate's events on Socket.IO, SSE and webhooks.

    Three channels: ``socketio`` (the server's emits, in both namings, and the
    ``join`` / ``leave`` it answers with an ack or an ``error``), ``sse`` (the
    stream ``GET /api/events``, each event's ``id`` its seq) and ``webhooks``
    (the signed POST body ``{event, tenant, seq, data}`` and its headers).  The
    payloads are :func:`event_schemas`, under ``components.schemas`` keyed by
    :func:`schema_key`.

    Args:
        cookie_name: The cookie a browser may send its token in (``None``: none).
        title: The document's title.
    """
    schemas = event_schemas()
    said = _descriptions()
    keys = [schema_key(name) for name in schemas]
    components_schemas = {
        schema_key(name): {k: v for k, v in schema.items() if k != "$schema"}
        for name, schema in schemas.items()
    }
    messages = {schema_key(name): _event_message(name, said[name]) for name in schemas}
    messages.update(_socketio_messages())
    hooks = webhook_names()
    for name in hooks:
        messages["webhook." + schema_key(name)] = {
            "name": name,
            "title": name,
            "summary": said[name],
            "headers": _HEADERS,
            "payload": _envelope(name),
        }
    hook_keys = ["webhook." + schema_key(name) for name in hooks]
    security = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": _openapi.BEARER + " On Socket.IO also auth: {token} in the CONNECT.",
        }
    }
    if cookie_name:
        security["cookie"] = {
            "type": "httpApiKey",
            "in": "cookie",
            "name": cookie_name,
            "description": _openapi.COOKIE,
        }
    secured = [_ref("components", "securitySchemes", name) for name in security]
    answers = [_ACK_KEY, _ERROR_KEY]
    document: JSON = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": f"{title} events",
            "version": __version__,
            "description": (
                "Every tenant's events, as Socket.IO, Server-Sent Events and webhooks"
                " carry them: one JSON encoding for every transport, an event name and"
                " a payload that always has tenant and seq."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "socketio": {
                "host": "localhost:8000",
                "pathname": "/socket.io",
                "protocol": "ws",
                "description": "The Socket.IO endpoint (engine.io 4, websocket or polling).",
                "security": secured,
            },
            "http": {
                "host": "localhost:8000",
                "protocol": "http",
                "description": "The server of the REST API (see its OpenAPI document).",
                "security": secured,
            },
            "receiver": {
                "host": "receiver.example.com",
                "protocol": "https",
                "description": "Your webhook endpoint, which wagate posts to.",
            },
        },
        "channels": {
            "socketio": {
                "address": "/",
                "title": "Socket.IO",
                "description": _SOCKETIO_WORDS,
                "servers": [_ref("servers", "socketio")],
                "messages": _channel_messages([*keys, _JOIN_KEY, _LEAVE_KEY, *answers]),
            },
            "sse": {
                "address": _openapi.EVENTS_PATH,
                "title": "Server-Sent Events",
                "description": _SSE_WORDS,
                "servers": [_ref("servers", "http")],
                "messages": _channel_messages(keys),
            },
            "webhooks": {
                "address": None,
                "title": "Webhooks",
                "description": _WEBHOOK_WORDS,
                "servers": [_ref("servers", "receiver")],
                "messages": _channel_messages(hook_keys),
            },
        },
        "operations": {
            "socketio.emit": _operation(
                "send", "socketio", keys, "The server emits each event to its tenant's room."
            ),
            "socketio.join": _operation(
                "receive",
                "socketio",
                [_JOIN_KEY],
                "A client asks for a granted tenant's events.",
                reply={
                    "channel": _ref("channels", "socketio"),
                    "messages": [_ref("channels", "socketio", "messages", k) for k in answers],
                },
            ),
            "socketio.leave": _operation(
                "receive",
                "socketio",
                [_LEAVE_KEY],
                "A client asks for a tenant's events no more.",
                reply={
                    "channel": _ref("channels", "socketio"),
                    "messages": [_ref("channels", "socketio", "messages", k) for k in answers],
                },
            ),
            "sse.stream": _operation(
                "send",
                "sse",
                keys,
                "The stream sends each event of the tenant as frames.",
                bindings={"http": {"method": "GET"}},
            ),
            "webhooks.post": _operation(
                "send",
                "webhooks",
                hook_keys,
                "wagate posts each event to the endpoint.",
                bindings={"http": {"method": "POST"}},
            ),
        },
        "components": {
            "schemas": components_schemas,
            "messages": messages,
            "securitySchemes": security,
        },
    }
    return copy.deepcopy(document)


def openapi(
    *, simulator: bool = False, cookie_name: str | None = DEFAULT_COOKIE, title: str = "wagate"
) -> JSON:
    """The OpenAPI 3.1 document of the REST API, as ``/openapi.json`` serves it.

    The same document the FastAPI app (:func:`wagate.integrations.fastapi.create_app`
    with the same options, and no ``extra_routes``) and the Flask blueprint serve,
    made from the REST route table without FastAPI.

    Args:
        simulator: Include the simulated-phone routes (``/api/simulator/*``).
        cookie_name: The cookie a browser may send its token in (``None``: none).
        title: The document's title.
    """
    routes = [route for route in ROUTES if simulator or not route.simulator]
    made = _openapi.document(routes, cookie_name=cookie_name, title=title, version=__version__)
    return copy.deepcopy(made)  # its parts are the tables' own


def write(directory: str | Path) -> list[Path]:
    """Write ``openapi.json``, ``asyncapi.json`` and ``schemas/<key>.json`` into ``directory``.

    Each schema's file is named by :func:`schema_key` (``message.received.json``:
    no ``:``, which some file systems refuse).  The directory is made if needed.

    Returns:
        The files written, in that order.
    """
    root = Path(directory)
    (root / "schemas").mkdir(parents=True, exist_ok=True)
    documents: dict[Path, JSON] = {
        root / "openapi.json": openapi(),
        root / "asyncapi.json": asyncapi(),
    }
    for name, schema in event_schemas().items():
        documents[root / "schemas" / f"{schema_key(name)}.json"] = schema
    for path, document in documents.items():
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return list(documents)
