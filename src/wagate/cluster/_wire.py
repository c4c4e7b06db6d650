"""What crosses between the processes of a cluster: events, statuses, command results, errors.

Events and statuses travel in the shapes of the wire table (:mod:`wagate._wire`):
an event as its own message (name + JSON payload), read back with
:func:`wagate.from_wire`, so the round trip is the one every transport already
relies on.  One exception keeps QR codes cheap: a ``qr:generated`` goes without
its PNG data URL (``qrCode``), which only the process whose clients look at it
renders.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from .._errors import WagateError, error_from_body, error_response
from .._events import Event, Status, utcnow
from .._wire import (
    backplane_message,
    backplane_status,
    from_backplane_status,
    from_wire,
    result_by_tag,
    result_of,
)

__all__ = [
    "decode_error",
    "decode_event",
    "decode_result",
    "encode_error",
    "encode_event",
    "encode_result",
]

JSON = dict[str, Any]


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
"""Compact JSON text (one encoder, made once: ``json.dumps`` with options makes one per call)."""


def event_payload(event: Event) -> tuple[str, JSON]:
    """The wire name and payload of an event (a QR code without its rendered image)."""
    message = backplane_message(event)
    return message.name, message.data


def encode_event(event: Event) -> tuple[str, str]:
    """An event as ``(wire name, JSON text)``."""
    name, data = event_payload(event)
    return name, _dumps(data)


def decode_event(name: str | bytes, data: str | bytes) -> Event:
    """The event :func:`encode_event` encoded.

    Raises:
        InvalidInput: not an event's encoding.
    """
    if isinstance(name, bytes):
        name = name.decode()
    return from_wire(name, json.loads(data))


def encode_result(value: object) -> JSON:
    """A command's result, ready for JSON: ``None``, an event, a status, bytes, a str...

    Or a JSON object, or one or a list of the objects :data:`~wagate._wire.RESULTS` writes.

    Raises:
        TypeError: the command returned something else.
    """
    if value is None:
        return {"type": "none"}
    if isinstance(value, Event):
        name, data = event_payload(value)
        return {"type": "event", "name": name, "data": data}
    if isinstance(value, Status):
        return {"type": "status", "value": backplane_status(value)}
    if isinstance(value, bytes):
        return {"type": "bytes", "value": base64.b64encode(value).decode("ascii")}
    if isinstance(value, str):
        return {"type": "text", "value": value}
    result = result_of(value)
    if isinstance(value, list):
        if not value:
            return {"type": "list", "of": None, "value": []}
        if result is not None and all(isinstance(item, result.cls) for item in value):
            now = utcnow()
            items = [result.codec.encode(item, now) for item in value]
            return {"type": "list", "of": result.tag, "value": items}
    elif result is not None:
        return {"type": result.tag, "value": result.codec.encode(value, utcnow())}
    if isinstance(value, Mapping):
        return {"type": "json", "value": dict(value)}
    raise TypeError(
        "a cluster command must return None, an Event, a Status, bytes, a str, a dict, "
        f"or one (or a list) of the objects in wagate._wire.RESULTS, not {value!r}"
    )


def decode_result(data: Mapping[str, Any]) -> Any:
    """The value :func:`encode_result` encoded."""
    kind = data.get("type")
    if kind == "none":
        return None
    if kind == "event":
        return from_wire(data["name"], data["data"])
    if kind == "status":
        return from_backplane_status(data["value"])
    if kind == "bytes":
        return base64.b64decode(data["value"])
    if kind == "text":
        return str(data["value"])
    if kind == "list":
        if data.get("of") is None:
            return []
        codec = result_by_tag(data["of"]).codec
        return [codec.decode(item, "result") for item in data["value"]]
    if kind == "json":
        return data["value"]
    return result_by_tag(kind).codec.decode(data["value"], "result")


def encode_error(error: BaseException) -> JSON:
    """An error, ready for JSON: :func:`~wagate.error_response`'s complete body."""
    answer = error_response(error, complete=True)
    return {"type": "error", "status": answer.status, **answer.body}


def decode_error(data: Mapping[str, Any]) -> WagateError:
    """The error :func:`encode_error` encoded, as the same class.

    :func:`~wagate.error_from_body`, with the status it was sent with.
    """
    status = data.get("status")
    return error_from_body(data, status=status if isinstance(status, int) else None)


def dumps(value: object) -> str:
    """JSON text, compact, as every cluster message is sent."""
    return _dumps(value)
