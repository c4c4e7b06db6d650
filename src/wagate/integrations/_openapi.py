"""The REST API's OpenAPI pieces, as plain JSON schemas: no second contract to keep in step.

A request body's schema is made from its route's command (:attr:`Command.params
<wagate._commands.Command.params>`, by wire name and type), with what a schema can
say of each field (:data:`FIELDS`); an answer's schema is the one the wire table
gives its payload (:func:`wagate._wire.payload_schema`: the status snapshot,
``message:sent``), by route name in :data:`ANSWERS`.  The FastAPI integration
hands them to FastAPI (``responses``, ``openapi_extra``), which documents them as
they are; nothing validates a request against them (:class:`RestApi
<wagate.integrations._rest.RestApi>` does, the same way on Flask).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .._commands import Param
from .._contacts import MAX_CHECK_NUMBERS
from .._events import ChatState, Event, Presence
from .._groups import MAX_DESCRIPTION_LENGTH, MAX_GROUP_SIZE, MAX_SUBJECT_LENGTH
from .._validate import MAX_TEXT_LENGTH
from .._wire import (
    CONNECTION_STATUS,
    EXPIRED,
    EXPIRES_AT,
    EXPIRES_IN,
    QR_IMAGE,
    QR_RAW,
    payload_schema,
    result_for,
)
from ..adapters.auth import TENANT_HEADER, TENANT_QUERY
from ._rest import FILE_PART, MEDIA_KINDS, Route

__all__ = [
    "ANSWERS",
    "BEARER",
    "COOKIE",
    "ERROR",
    "EVENTS_OPERATION",
    "EVENTS_PATH",
    "EVENTS_RESPONSES",
    "EVENTS_SUMMARY",
    "FIELDS",
    "OPENAPI_VERSION",
    "PROBES",
    "TENANT_CHOICE",
    "document",
    "operation",
    "request_body",
    "responses",
]

Schema = dict[str, Any]


def _type(kind: str, description: str | None = None, **more: Any) -> Schema:
    return {"type": kind, **({"description": description} if description else {}), **more}


def _nullable(schema: Schema, description: str | None = None) -> Schema:
    return {
        "anyOf": [schema, {"type": "null"}],
        **({"description": description} if description else {}),
    }


def _object(description: str, properties: Schema, *, open_: bool = False) -> Schema:
    """An object schema in which every property is required."""
    extra = {"additionalProperties": True} if open_ else {}
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": list(properties),
        **extra,
    }


def _described(
    schema: Schema, description: str, notes: dict[str, str], *, open_: bool = False
) -> Schema:
    """A wire-table schema with a description, its keys' ``notes`` and whether it is open."""
    properties = {
        key: {**value, **({"description": notes[key]} if key in notes else {})}
        for key, value in schema["properties"].items()
    }
    extra = {"additionalProperties": True} if open_ else {}
    return {**schema, "description": description, "properties": properties, **extra}


TEXT = _type("string")
ERROR_DETAIL = _object(
    "What went wrong.",
    {
        "code": _type("string", "A stable machine-readable error code."),
        "message": _type("string", "What happened and what to do."),
    },
)
ERROR = _object("Every error response.", {"error": ERROR_DETAIL}, open_=True)
_QR_NOTES = {
    QR_IMAGE.key: "A data:image/png;base64 URL of the QR image.",
    QR_RAW.key: "The raw payload the phone reads.",
    EXPIRES_IN.key: "Seconds until the code expires, as of this answer.",
    EXPIRED.key: "Whether the code had expired when this answer was made.",
    EXPIRES_AT.key: "When the code expires (ISO 8601, UTC).",
}
_SENT_NOTES = {
    "seq": "The event's position in the tenant's stream.",
    "at": "When the event happened (ISO 8601, UTC).",
    "id": "WhatsApp's message id (null when the send failed).",
    "to": "The recipient JID.",
    "message": "The text sent.",
    "error": "Why WhatsApp refused the message, when it did.",
}


def _absent_or_null(schema: Schema) -> Schema:
    """The keys a payload may leave out may also be ``null``, as the API has always said."""
    properties = {
        key: value if key in schema["required"] or "anyOf" in value else _nullable(value)
        for key, value in schema["properties"].items()
    }
    return {**schema, "properties": properties}


_SNAPSHOT = payload_schema(CONNECTION_STATUS)
_PENDING = _described(_SNAPSHOT["properties"]["qr"], "The pending QR code.", _QR_NOTES)
_USER = _described(_SNAPSHOT["properties"]["user"]["anyOf"][0], "The linked WhatsApp account.", {})
STATUS = _described(
    _absent_or_null(
        {
            **_SNAPSHOT,
            "properties": {
                **_SNAPSHOT["properties"],
                "user": _nullable(_USER),
                "qr": {**_PENDING, "description": "A QR code waiting to be scanned."},
            },
        }
    ),
    "A session's status.",
    {},
    open_=True,
)
MESSAGE_SENT = _described(
    payload_schema("message:sent"), "The ``message:sent`` payload.", _SENT_NOTES, open_=True
)
SEND_FAILED = _object(
    "WhatsApp refused the message.", {"error": ERROR_DETAIL, "sent": MESSAGE_SENT}, open_=True
)

ANSWERS: dict[str, Schema] = {
    "qr": {
        **_PENDING,
        "properties": {**_PENDING["properties"], "tenant": TEXT},
        "required": [*_PENDING["required"], "tenant"],
    },
    "send": MESSAGE_SENT,
    "simulator_receive": _object(
        "The message the simulated phone received.",
        {
            "id": _type("string", "The message id."),
            "from": _type("string", "The contact, as given."),
            "text": TEXT,
        },
    ),
}
"""The answer of each route with its own way to answer, by route name (the others
with one answer a session's status; those without answer their command's result)."""


def _result_schema(cls: type) -> Schema:
    if cls is str:
        return {"type": "string"}
    written = result_for(cls)
    if written is None:
        raise TypeError(f"no codec writes a {cls.__name__}")
    return dict(written.codec.schema)


def answer_schema(route: Route) -> Schema:
    """What a successful answer of ``route`` holds."""
    if route.respond is not None:
        return ANSWERS.get(route.name, STATUS)
    command = route.command
    if command.result is type(None):
        return {"type": "object", "description": "Done.", "additionalProperties": False}
    if issubclass(command.result, Event):
        return {**payload_schema(command.result.wire_name), "description": command.summary}
    if command.result in (str, list):
        assert route.key is not None
        item = command.item or str
        inner = _result_schema(command.result if command.result is str else item)
        value = inner if command.result is str else {"type": "array", "items": inner}
        return _object(command.summary, {route.key: value})
    return {**_result_schema(command.result), "description": command.summary}


_TEXT = "1 to 65,536 characters, not only white space, no NUL character."
FIELDS: dict[str, Schema] = {
    "to": _type(
        "string",
        "An international number (+628123456789; spaces, dots, dashes and brackets "
        "allowed) or a JID (628123456789@s.whatsapp.net, 1203...@g.us).",
        minLength=1,
        examples=["+628123456789"],
    ),
    "text": _type("string", _TEXT, minLength=1, maxLength=MAX_TEXT_LENGTH, examples=["Halo!"]),
    "from": _type("string", "The contact's number or JID.", minLength=1),
    "messageId": _type("string", "The id of a message the session has seen.", minLength=1),
    "messageIds": {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
        "description": "Ids of messages of the chat the session has seen.",
    },
    "emoji": _type("string", "One emoji; an empty string removes the reaction."),
    "chat": _type("string", "The chat: a number or a JID.", minLength=1),
    "presence": {"type": "string", "enum": [p.value for p in Presence]},
    "state": {"type": "string", "enum": [s.value for s in ChatState]},
    "contact": _type("string", "A contact: a number or a user's JID.", minLength=1),
    "phone": _type(
        "string",
        "The account's international number (+628123456789), as on the phone.",
        minLength=1,
        examples=["+628123456789"],
    ),
    "subject": _type(
        "string", "1 to 100 characters, no line break.", minLength=1, maxLength=MAX_SUBJECT_LENGTH
    ),
    "description": _type(
        "string", "At most 2,048 characters; empty removes it.", maxLength=MAX_DESCRIPTION_LENGTH
    ),
    "participants": {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
        "maxItems": MAX_GROUP_SIZE,
        "description": "Phone numbers or user JIDs.",
    },
    "reset": _type("boolean", "Make a new link, revoking the old one."),
    "inviteLink": _type("string", "https://chat.whatsapp.com/<code>, or the code.", minLength=16),
    "numbers": {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
        "maxItems": MAX_CHECK_NUMBERS,
        "description": "International phone numbers (at most 1,000).",
    },
}
"""What a schema says of a body field, by wire name, beyond its type."""

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _as_input(schema: Any) -> Any:
    """A payload's schema as a request's.

    Keys that may be ``null`` may be left out, and an object takes no key it does
    not list (the API refuses unknown keys).
    """
    if isinstance(schema, list):
        return [_as_input(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    relaxed = {key: _as_input(value) for key, value in schema.items()}
    if schema.get("type") == "object" and "properties" in schema:
        nullable = {
            key
            for key, value in schema["properties"].items()
            if {"type": "null"} in value.get("anyOf", ())
        }
        relaxed["required"] = [key for key in schema.get("required", ()) if key not in nullable]
        relaxed["additionalProperties"] = False
    return relaxed


def _param_schema(param: Param) -> Schema:
    if param.codec is not None:
        schema: Schema = _as_input(param.codec.schema)
        return schema
    if param.type is list:
        return {"type": "array", "items": {"type": "string"}}
    return _type(_JSON_TYPES[param.type])


def request_body(route: Route) -> Schema:
    """The schema of the body ``route`` reads: its command's parameters, by wire name."""
    params = [p for p in route.command.params if p.name not in route.path_params]
    schema = _object(
        route.summary + ".",
        {p.wire: {**_param_schema(p), **FIELDS.get(p.wire, {})} for p in params},
    )
    schema["required"] = [p.wire for p in params if p.required]
    return schema


FORM: Schema = {
    "type": "object",
    "description": (
        "The JSON body's fields as form fields: `to`, the content's `type` (one of "
        f"{', '.join(MEDIA_KINDS)}) and its other keys (`caption`, `fileName`, `mimeType`, "
        f"`voice`, `replyTo`, `mentions` repeated); the media is the one file part "
        f"`{FILE_PART}`, whose file name and type stand in for `fileName` and `mimeType`."
    ),
    "properties": {
        "to": FIELDS["to"],
        "type": {"type": "string", "enum": list(MEDIA_KINDS)},
        FILE_PART: {"type": "string", "format": "binary"},
    },
    "required": ["to", "type", FILE_PART],
    "additionalProperties": True,
}
"""The ``multipart/form-data`` body of a route that takes a file."""


def operation(route: Route) -> Schema:
    """What OpenAPI says of ``route`` beyond its answers: its parameters, its body."""
    path = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.path_params
    ]
    extra: Schema = {"parameters": [*path, *TENANT_CHOICE]}
    if route.body:
        content = {"application/json": {"schema": request_body(route)}}
        if route.form:
            content["multipart/form-data"] = {"schema": FORM}
        extra["requestBody"] = {"required": True, "content": content}
    return extra


def _error(description: str, schema: Schema = ERROR) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_AUTH: dict[int | str, Schema] = {
    401: _error("No token, or a bad or expired one, or two that disagree."),
    403: _error("The token does not grant the chosen tenant."),
    422: _error(
        "The token grants several tenants and none was chosen (tenant_required); or bad input."
    ),
    503: _error("The gateway is shutting down."),
}
_BODY: dict[int | str, Schema] = {
    400: _error("The body is not valid JSON."),
    413: _error("The body is larger than 1 MiB."),
    415: _error("The body is not application/json."),
}


def responses(route: Route) -> dict[int | str, Schema]:
    """Every answer ``route`` may give: its own, those of every route, and its errors."""
    answer = _error("Successful Response", answer_schema(route))
    if route.streams:
        binary = {"schema": {"type": "string", "format": "binary"}}
        answer = {"description": "The bytes (206 with a range).", "content": {"*/*": binary}}
    answers: dict[int | str, Schema] = {
        route.status: answer,
        **_AUTH,
        **(_BODY if route.body else {}),
    }
    if route.streams:
        answers[206] = {**answer, "description": "The bytes of the range asked for."}
    for status, why in route.errors.items():
        answers[status] = _error(
            why, SEND_FAILED if route.name == "send" and status == 502 else ERROR
        )
    return answers


EVENTS_RESPONSES: dict[int | str, Schema] = {
    200: {"description": "The event stream.", "content": {"text/event-stream": {}}},
    400: _error("A malformed Last-Event-ID."),
    401: _AUTH[401],
    403: _AUTH[403],
    422: _error("The token grants several tenants and none was chosen."),
    503: _AUTH[503],
}
"""The answers of ``GET /api/events``."""

TENANT_CHOICE: list[Schema] = [
    {
        "name": TENANT_HEADER,
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "For a token granting several tenants: the one to act on.",
    },
    {
        "name": TENANT_QUERY,
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": f"Same as the {TENANT_HEADER} header (which wins when both are sent).",
    },
]
"""The parameters choosing a tenant, on every route."""

_CHECKS = {
    "type": "object",
    "description": "Each check's answer: ``ok``, or why not.",
    "additionalProperties": {"type": "string"},
}
PROBES: dict[str, tuple[str, dict[int | str, Schema]]] = {
    "/healthz": (
        "The process is alive (for a liveness probe; no authentication)",
        {200: _error("Alive.", _object("Alive.", {"status": {"const": "alive"}}))},
    ),
    "/readyz": (
        "The gateway can serve: started, its store and its cluster's Redis answering",
        {
            200: _error(
                "Ready.", _object("Ready.", {"status": {"const": "ready"}, "checks": _CHECKS})
            ),
            503: _error(
                "Not ready: a check failed (each one's reason in checks).",
                _object("Unready.", {"status": {"const": "unready"}, "checks": _CHECKS}),
            ),
        },
    ),
}
"""The probes' summaries and answers, by path (unauthenticated, on both frameworks)."""

EVENTS_PATH = "/api/events"
EVENTS_OPERATION = "get_events"
EVENTS_SUMMARY = "The tenant's events as Server-Sent Events"
BEARER = "A token granting the tenant(s): 'Authorization: Bearer <token>'."
"""What OpenAPI says of the ``bearer`` security scheme."""
COOKIE = "The same token in a cookie, for browsers."
"""What OpenAPI says of the ``cookie`` security scheme."""
OPENAPI_VERSION = "3.1.0"


def security_schemes(cookie_name: str | None) -> Schema:
    """The ways to authenticate, as ``components.securitySchemes`` says them."""
    schemes: Schema = {
        "bearer": {"type": "http", "description": BEARER, "scheme": "bearer", "bearerFormat": "JWT"}
    }
    if cookie_name:
        schemes["cookie"] = {
            "type": "apiKey",
            "description": COOKIE,
            "in": "cookie",
            "name": cookie_name,
        }
    return schemes


def _operation_id(name: str, method: str, path: str) -> str:
    # FastAPI's own rule (``generate_unique_id``), so that both frameworks say the same.
    return re.sub(r"\W", "_", name + path) + "_" + method.lower()


def _path_operation(
    name: str, method: str, path: str, summary: str, *, tag: str, security: list[Schema]
) -> Schema:
    made: Schema = {
        "tags": [tag],
        "summary": summary,
        "operationId": _operation_id(name, method, path),
    }
    if security:
        made["security"] = security
    return made


def document(
    routes: Iterable[Route], *, cookie_name: str | None, title: str, version: str
) -> Schema:
    """The whole OpenAPI document of ``routes`` and the event stream, without FastAPI.

    It is the document FastAPI makes of the same routes (``create_app(...).openapi()``,
    served at ``/openapi.json``), which the Flask blueprint serves too; a test
    holds the three equal.
    """
    schemes = security_schemes(cookie_name)
    security: list[Schema] = [{name: []} for name in schemes]
    paths: Schema = {}
    for route in routes:
        made = _path_operation(
            route.operation,
            route.method,
            route.path,
            route.summary,
            tag=route.tag,
            security=security,
        )
        made["responses"] = {str(status): answer for status, answer in responses(route).items()}
        made.update(operation(route))
        paths.setdefault(route.path, {})[route.method.lower()] = made
    events = _path_operation(
        EVENTS_OPERATION, "GET", EVENTS_PATH, EVENTS_SUMMARY, tag="wagate", security=security
    )
    events["responses"] = {str(status): answer for status, answer in EVENTS_RESPONSES.items()}
    events["parameters"] = TENANT_CHOICE
    paths.setdefault(EVENTS_PATH, {})["get"] = events
    for path, (summary, answers) in PROBES.items():
        probe = _path_operation(path.strip("/"), "GET", path, summary, tag="health", security=[])
        probe["responses"] = {str(status): answer for status, answer in answers.items()}
        paths.setdefault(path, {})["get"] = probe
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"securitySchemes": schemes},
    }
