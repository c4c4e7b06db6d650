"""What a Socket.IO socket is sent when it connects: a snapshot, or what it missed.

socket.io's connection-state recovery, done over the hub's replay log
(:meth:`wagate.Hub.resume`, which reads a cluster's shared log too).  Each tenant
of a connecting socket gets a :class:`Welcome`: the messages to send first (the
current state, or the replayed events), and a subscription that took over at
that instant.  The adapter sends both, then lets the socket into the tenant's
room, all under the lock that orders its fan-out, so nothing is lost or repeated
between the welcome and the live events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .._events import Event, Gap, WireNaming, to_wire
from .._gateway import Gateway
from .._hub import Overflow, Subscription
from . import current_messages
from ._socketio_protocol import encode_offset, encode_pid

Emit = tuple[str, tuple[Any, ...]]
"""An event to emit: its name and its arguments."""


@attrs.define
class Welcome:
    """One tenant's start for one socket."""

    tenant: str
    first: list[Emit]
    subscription: Subscription
    recovered: bool
    position: int
    """The seq the client stands at once it has ``first`` (for the pid)."""


def emits(
    gateway: Gateway, event: Event, naming: WireNaming, *, offsets: bool = True
) -> list[Emit]:
    """The emits of one event, each with its offset as last argument (unless ``offsets=False``).

    A :class:`~wagate.Gap` is followed by the tenant's current state, as SSE does.
    """
    tail = (encode_offset(event.tenant, event.seq),) if offsets else ()
    out: list[Emit] = [(m.name, (m.data, *tail)) for m in to_wire(event, naming=naming)]
    if isinstance(event, Gap):
        out.extend(snapshot(gateway, event.tenant, naming))
    return out


def snapshot(gateway: Gateway, tenant: str, naming: WireNaming) -> list[Emit]:
    """The current state's emits (no offset: they are no event of the log)."""
    return [(m.name, (m.data,)) for m in current_messages(gateway, tenant, naming=naming)]


def position(gateway: Gateway, tenant: str) -> int:
    """The seq of the tenant's newest event this process knows (0 if none)."""
    hub = gateway.hub
    return max([0, hub.last_seq(tenant) or 0, *(e.seq for e in hub.current(tenant))])


def fresh(gateway: Gateway, tenant: str, naming: WireNaming) -> Welcome:
    """The current state, and the live events from now on."""
    subscription = gateway.hub.subscribe(
        tenant, overflow=Overflow.GAP, initial=False, label="socketio"
    )
    first = snapshot(gateway, tenant, naming)
    return Welcome(tenant, first, subscription, False, position(gateway, tenant))


async def resumed(gateway: Gateway, tenant: str, after: int, naming: WireNaming) -> Welcome:
    """The tenant's events after ``after`` (a gap and the state if some are lost), then live ones.

    A fresh start when the log holds nothing as new as ``after`` (a position from
    before a restart, or one that was never given).
    """
    hub = gateway.hub
    found = await hub.resume(tenant, after, overflow=Overflow.GAP)
    if found is None:
        if hub.last_seq(tenant) is None and after == position(gateway, tenant):
            # A tenant with no event yet: nothing was missed.
            subscription = hub.subscribe(
                tenant, overflow=Overflow.GAP, initial=False, label="socketio"
            )
            return Welcome(tenant, [], subscription, True, after)
        return fresh(gateway, tenant, naming)
    replayed, subscription = found
    first = [emit for event in replayed for emit in emits(gateway, event, naming)]
    lost = any(isinstance(event, Gap) for event in replayed)
    newest = max([after, *(event.seq for event in replayed)])
    return Welcome(tenant, first, subscription, not lost, newest)


async def welcomes(
    gateway: Gateway,
    tenants: Iterable[str],
    naming: WireNaming,
    recovery: tuple[str, Mapping[str, int], tuple[str, int] | None] | None,
) -> tuple[str, list[Welcome]]:
    """Each tenant's welcome, and the pid to answer (the client's own if nothing was lost).

    ``recovery`` is what :func:`~._socketio_protocol.parse_recovery` read from the
    CONNECT: the client's pid, the positions it names, and its last offset.
    """
    out: list[Welcome] = []
    try:
        for tenant in sorted(tenants):
            after = _after(tenant, recovery)
            if after is None:
                out.append(fresh(gateway, tenant, naming))
            else:
                out.append(await resumed(gateway, tenant, after, naming))
    except BaseException:
        for welcome in out:
            welcome.subscription.close()
        raise
    if recovery is not None and out and all(w.recovered for w in out):
        return recovery[0], out
    return encode_pid({w.tenant: w.position for w in out}), out


def _after(
    tenant: str, recovery: tuple[str, Mapping[str, int], tuple[str, int] | None] | None
) -> int | None:
    if recovery is None:
        return None
    _, positions, offset = recovery
    if tenant not in positions:
        return None
    after = positions[tenant]
    if offset is not None and offset[0] == tenant:
        # An offset older than the pid is left from an earlier connection.
        after = max(after, offset[1])
    return after
