"""The driver factory is chosen once: the layers above ask the gateway whether it is simulated."""

from __future__ import annotations

import pytest

from wagate import Gateway, SyncGateway
from wagate.adapters.auth import JWTAuthenticator
from wagate.drivers.simulator import (
    SimulatedClock,
    SimulatedDriver,
    SimulatedDrivers,
    SimulatedPhone,
)
from wagate.integrations._rest import RestApi

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

SECRET = "a-secret-of-more-than-thirty-two-bytes-for-these-tests"
SIMULATOR_PATHS = {"/api/simulator/scan", "/api/simulator/receive"}


def _paths(api: RestApi) -> set[str]:
    return {route.path for route in api.routes}


def test_a_gateway_is_simulated_when_its_driver_factory_says_so() -> None:
    """``simulated`` (Gateway's, SyncGateway's) is true for ``SimulatedDrivers`` only."""
    assert Gateway(SimulatedDrivers()).simulated is True
    assert Gateway(lambda tenant: SimulatedDriver()).simulated is False
    assert SyncGateway(SimulatedDrivers()).simulated is True


def test_simulated_drivers_give_each_tenant_its_phone_and_the_options() -> None:
    """Each call makes a new driver with the tenant's phone and the factory's options."""
    clock = SimulatedClock()
    factory = SimulatedDrivers(lambda tenant: SimulatedPhone(name=tenant), clock=clock)
    acme, other = factory("acme"), factory("other")
    assert acme is not other
    assert (acme.phone.name, other.phone.name) == ("acme", "other")
    assert acme.clock is clock
    assert SimulatedDrivers()("acme").phone is not SimulatedDrivers()("acme").phone


def test_the_rest_api_serves_the_simulator_routes_of_a_simulated_gateway() -> None:
    """Given no ``simulator=``, RestApi serves ``/api/simulator/*`` iff the gateway is simulated."""
    pytest.importorskip("jwt", reason="JWTAuthenticator needs the socketio or sse extra")
    authenticator = JWTAuthenticator(SECRET)
    simulated = RestApi(Gateway(SimulatedDrivers()), authenticator)
    real = RestApi(Gateway(lambda tenant: SimulatedDriver()), authenticator)
    assert simulated.simulator is True
    assert _paths(simulated) >= SIMULATOR_PATHS
    assert real.simulator is False
    assert not SIMULATOR_PATHS & _paths(real)


def test_an_explicit_simulator_flag_still_wins() -> None:
    """``simulator=True`` or ``False`` overrides what the gateway says, as before."""
    pytest.importorskip("jwt", reason="JWTAuthenticator needs the socketio or sse extra")
    authenticator = JWTAuthenticator(SECRET)
    on = RestApi(Gateway(lambda tenant: SimulatedDriver()), authenticator, simulator=True)
    off = RestApi(Gateway(SimulatedDrivers()), authenticator, simulator=False)
    assert _paths(on) >= SIMULATOR_PATHS
    assert not SIMULATOR_PATHS & _paths(off)


async def test_the_fastapi_dashboard_shows_the_simulated_phone_of_a_simulated_gateway() -> None:
    """``create_app`` of a simulated gateway, given no flag, shows the simulator panel."""
    pytest.importorskip("fastapi")
    httpx = pytest.importorskip("httpx")
    from wagate.integrations.fastapi import create_app

    app = create_app(Gateway(SimulatedDrivers()), JWTAuthenticator(SECRET), socketio=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        page = await client.get("/")
    assert '<wagate-connection simulator="true">' in page.text


def test_the_flask_dashboard_shows_the_simulated_phone_of_a_simulated_gateway() -> None:
    """``blueprint`` of a simulated gateway, given no flag, shows the simulator panel."""
    pytest.importorskip("flask")
    from flask import Flask

    from wagate.integrations.flask import blueprint

    app = Flask(__name__)
    app.register_blueprint(blueprint(SyncGateway(SimulatedDrivers()), JWTAuthenticator(SECRET)))
    page = app.test_client().get("/")
    assert '<wagate-connection simulator="true">' in page.text
