"""What the Socket.IO adapter adds to python-socketio's packets: refused names, recovery tokens.

python-socketio takes a Packet class as its ``serializer``; the adapter gives it one
made by :func:`packet_class`, which

- renames a client's event whose name is one of python-socketio's own
  (``connect``, ``disconnect``, ``connect_error``) or that is no ``[name, ...]``
  list, so that no client packet can reach the connect or disconnect handler;
  the adapter's catch-all handler refuses them;
- adds the ``pid`` of socket.io's connection-state recovery to the CONNECT
  packet that python-socketio sends (it carries only ``sid``).

The recovery tokens are self-contained, so a client recovers on any process:

- an *offset* (the last argument of every event) is ``<tenant>:<seq>``;
- a *pid* (in the CONNECT answer) is ``wagate1:`` then ``<tenant>=<seq>`` pairs
  joined by ``,``: where each tenant stood when the socket connected, for a client
  that had received no event of a tenant yet.

They grant nothing: a recovering client is authenticated again, and a position
only chooses which of its granted tenants' events it is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from socketio import packet

from .._errors import InvalidInput

RESERVED_EVENTS = frozenset({"connect", "connect_error", "disconnect"})
"""Event names a client may not send: python-socketio calls its own handlers by them."""

RENAMED = "\x00wagate:"
"""The prefix of a refused client event's name as the handlers see it."""

MALFORMED = RENAMED + "malformed"
"""The name given to a client event that is no ``[name, ...]`` list."""

PID_PREFIX = "wagate1:"

_SEQ = r"(?:0|[1-9][0-9]{0,17})"
_TENANT = r"[A-Za-z0-9._-]{1,128}"
_OFFSET = re.compile(rf"({_TENANT}):({_SEQ})")
_PAIR = re.compile(rf"({_TENANT})=({_SEQ})")
_MAX_PID = 65536


class InvalidRecoveryState(InvalidInput, code="invalid_recovery_state"):
    """The ``pid`` or ``offset`` a client sent to recover its connection is not one wagate made."""


def encode_offset(tenant: str, seq: int) -> str:
    """The offset of a tenant's event: ``<tenant>:<seq>``."""
    return f"{tenant}:{seq}"


def encode_pid(positions: Mapping[str, int]) -> str:
    """The pid naming where each tenant stood at connect."""
    return PID_PREFIX + ",".join(f"{t}={positions[t]}" for t in sorted(positions))


def parse_recovery(auth: object) -> tuple[str, dict[str, int], tuple[str, int] | None] | None:
    """``(pid, positions, offset)`` from a CONNECT's auth, or ``None`` when it asks no recovery.

    Raises:
        InvalidRecoveryState: a ``pid`` or ``offset`` that wagate did not make.
    """
    if not isinstance(auth, Mapping) or auth.get("pid") is None:
        if isinstance(auth, Mapping) and auth.get("offset") is not None:
            raise InvalidRecoveryState("an offset without a pid: send both, as socket.io does")
        return None
    pid = auth["pid"]
    if not isinstance(pid, str) or not pid.startswith(PID_PREFIX) or len(pid) > _MAX_PID:
        raise InvalidRecoveryState(
            "the pid was not made by this server: connect without pid and offset to start afresh"
        )
    positions: dict[str, int] = {}
    body = pid[len(PID_PREFIX) :]
    for pair in body.split(",") if body else ():
        match = _PAIR.fullmatch(pair)
        if match is None or match[1] in positions:
            raise InvalidRecoveryState(f"the pid has a malformed position {pair[:40]!r}")
        positions[match[1]] = int(match[2])
    offset = auth.get("offset")
    if offset is None:
        return pid, positions, None
    found = _OFFSET.fullmatch(offset) if isinstance(offset, str) else None
    if found is None:
        shown = repr(offset)[:40]
        raise InvalidRecoveryState(f"the offset {shown} is not '<tenant>:<seq>'")
    return pid, positions, (found[1], int(found[2]))


def packet_class(base: type[Any], pids: dict[str, str]) -> type[Any]:
    """A subclass of python-socketio's ``base`` packet class for one adapter.

    ``pids`` maps a socket's sid to the pid its CONNECT answer carries; the entry
    is taken when that packet is made.
    """

    class WagatePacket(base):  # type: ignore[misc]
        def __init__(self, packet_type: int = packet.EVENT, data: Any = None, **kwargs: Any):
            if packet_type == packet.CONNECT and isinstance(data, dict) and "sid" in data:
                pid = pids.pop(data["sid"], None)
                if pid is not None:
                    data = {**data, "pid": pid}
            super().__init__(packet_type, data, **kwargs)

        def decode(self, encoded_packet: Any) -> Any:
            attachments = super().decode(encoded_packet)
            if self.packet_type in (packet.EVENT, packet.BINARY_EVENT):
                self.data = _screened(getattr(self, "data", None))
            return attachments

    return WagatePacket


def _screened(data: Any) -> list[Any]:
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        return [MALFORMED]
    if data[0] in RESERVED_EVENTS or data[0].startswith(RENAMED):
        return [RENAMED + data[0].removeprefix(RENAMED), *data[1:]]
    return data
