"""The simulated phone's REST commands and routes (``POST /api/simulator/scan``, ``/receive``).

Only a gateway of :class:`~wagate.drivers.simulator.SimulatedDriver` drivers has
them (``simulator=True``); they act through the driver's public hooks
(:meth:`~wagate.drivers.simulator.SimulatedDriver.scan_code` and
:meth:`~wagate.drivers.simulator.SimulatedDriver.contact_writes`), run where the
tenant's session is, as every gateway command does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio

from .._commands import Permission, command
from .._errors import NoPendingQr, NotConnected
from .._events import Connected, Disconnected, Status, status_payload
from .._gateway import CommandHandler
from .._session import Session
from .._validate import validate_text
from ..drivers.simulator import SimulatedDriver
from ._route import Reply, Route

if TYPE_CHECKING:
    from ._rest import RestApi

__all__ = [
    "NOT_SIMULATED",
    "SIMULATOR_COMMANDS",
    "SIMULATOR_RECEIVE",
    "SIMULATOR_ROUTES",
    "SIMULATOR_SCAN",
]

NOT_SIMULATED = "This tenant's phone is not simulated."
"""Why a simulator route answers 409 (OpenAPI's description of it)."""


def _simulated(session: Session) -> SimulatedDriver:
    driver = session.driver
    if not isinstance(driver, SimulatedDriver):
        raise NotConnected("this gateway has no simulated phones", tenant=session.tenant)
    return driver


async def simulator_scan(session: Session) -> Status:
    """The tenant's simulated phone scans the pending QR code."""
    driver = _simulated(session)
    qr = session.status.qr
    if qr is None:
        raise NoPendingQr(
            "no QR code is pending: POST /api/qr/generate first", tenant=session.tenant
        )
    events = session.events()
    try:
        driver.scan_code(qr.code)
        # Answer with the state the scan led to, not the one before it.
        with anyio.move_on_after(5):
            async for event in events:
                if isinstance(event, (Connected, Disconnected)):
                    break
    finally:
        events.close()
    return session.status


async def simulator_receive(session: Session, sender: str, text: str) -> dict[str, Any]:
    """A contact writes to the tenant's simulated account."""
    return {"id": _simulated(session).contact_writes(sender, text)}


SIMULATOR_SCAN = command(
    simulator_scan, name="simulator.scan", permission=Permission.MANAGE, mutates=True
)
SIMULATOR_RECEIVE = command(
    simulator_receive,
    name="simulator.receive",
    permission=Permission.SEND,
    mutates=True,
    checks={"text": validate_text},
    wire={"sender": "from"},
)
SIMULATOR_COMMANDS: dict[str, CommandHandler] = {
    c.name: c for c in (SIMULATOR_SCAN, SIMULATOR_RECEIVE)
}
"""The gateway commands behind ``/api/simulator/*`` (run where the tenant's session is)."""


async def _scan(api: RestApi, tenant: str, arguments: Mapping[str, Any]) -> Reply:
    """``POST /api/simulator/scan``: the tenant's simulated phone scans the pending QR."""
    return Reply(200, status_payload(await api.gateway.run(SIMULATOR_SCAN, tenant)))


async def _receive(api: RestApi, tenant: str, arguments: Mapping[str, Any]) -> Reply:
    """``POST /api/simulator/receive`` ``{from, text}``: a contact writes to the account."""
    sender, text = arguments["sender"], arguments["text"]
    received = await api.gateway.run(SIMULATOR_RECEIVE, tenant, sender, text)
    return Reply(200, {"id": received["id"], "from": sender, "text": text})


SIMULATOR_ROUTES = (
    Route(
        method="POST",
        path="/api/simulator/scan",
        command=SIMULATOR_SCAN,
        respond=_scan,
        name="simulator_scan",
        operation="post_sim_scan",
        summary="The simulated phone scans the pending QR code",
        tag="simulator",
        errors={404: "No QR code is pending.", 409: NOT_SIMULATED},
    ),
    Route(
        method="POST",
        path="/api/simulator/receive",
        command=SIMULATOR_RECEIVE,
        respond=_receive,
        name="simulator_receive",
        operation="post_sim_receive",
        summary="A contact writes to the simulated account",
        tag="simulator",
        body=True,
        errors={409: "No account is linked.", 422: "A bad sender, text or body."},
    ),
)
"""The routes of ``/api/simulator/*`` (the last of :data:`~wagate.integrations._rest.ROUTES`)."""
