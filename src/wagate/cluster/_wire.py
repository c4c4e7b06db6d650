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

from .._content import SentMessage
from .._errors import WagateError, error_from_body, error_response
from .._events import Event, Status, utcnow
from .._groups import Group, GroupInfo
from .._wire import (
    GROUP_CODEC,
    GROUPS_CODEC,
    SENT_MESSAGE_CODEC,
    backplane_message,
    backplane_status,
    from_backplane_status,
    from_wire,
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


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


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
    """A command's result, ready for JSON: ``None``, an event, a status, bytes...

    Or a sent message, or a JSON object.

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
    if isinstance(value, SentMessage):
        return {"type": "sent", "value": SENT_MESSAGE_CODEC.encode(value, utcnow())}
    if isinstance(value, bytes):
        return {"type": "bytes", "value": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Group):
        return {"type": "group", "value": GROUP_CODEC.encode(value, utcnow())}
    if isinstance(value, list) and all(isinstance(item, GroupInfo) for item in value):
        return {"type": "groups", "value": GROUPS_CODEC.encode(value, utcnow())}
    if isinstance(value, Mapping):
        return {"type": "json", "value": dict(value)}
    raise TypeError(
        "a cluster command must return None, an Event, a Status, a SentMessage, bytes, "
        f"groups or a dict, not {value!r}"
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
    if kind == "sent":
        return SENT_MESSAGE_CODEC.decode(data["value"], "result")
    if kind == "bytes":
        return base64.b64decode(data["value"])
    if kind == "group":
        return GROUP_CODEC.decode(data["value"], "result")
    if kind == "groups":
        return GROUPS_CODEC.decode(data["value"], "result")
    if kind == "json":
        return data["value"]
    raise ValueError(f"not a command result: {data!r}")


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
