"""Schema fuzzing: schemathesis drives the FastAPI app (simulator) from its own /openapi.json.

The app runs for real on uvicorn at 127.0.0.1.  Every generated request, valid
or not, authenticated as a linked tenant, must get no 5xx (a 502 from WhatsApp
refusing is not generated here: the simulated phone accepts), and every response
must match what /openapi.json documents: status code, content type, headers and
body schema.  The SSE stream is left out (it never ends); its errors are in the
contract suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from test_contract_support import (
    SECRET,
    Phones,
    Served,
    bearer,
    mint,
    serve_fastapi,
)
from wagate import UrlPolicy
from wagate.integrations._openapi import PROBES

pytestmark = pytest.mark.timeout(120)

TENANT = "fuzzed"


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """The FastAPI app with the simulator routes, its tenant linked."""
    # No media URL is fetched (nor its host looked up): no traffic leaves loopback.
    with serve_fastapi(gateway_options={"url_policy": UrlPolicy(hosts=())}) as running:
        running.link(mint(TENANT, exp_in=3600))
        yield running


def _document() -> dict[str, Any]:
    """The OpenAPI document of the app under test, as /openapi.json serves it."""
    from wagate import Gateway
    from wagate.adapters.auth import JWTAuthenticator
    from wagate.integrations.fastapi import create_app

    app = create_app(Gateway(Phones()), JWTAuthenticator(SECRET), simulator=True)
    return app.openapi()


# Loaded when the module is collected (schemathesis' lazy fixture loader does not
# work with this pytest); the test below checks the server publishes the same one.
DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT).exclude(path="/api/events")


def test_served_schema_is_the_one_fuzzed(served: Served) -> None:
    """/openapi.json of the running server is the document the fuzzer uses."""
    import httpx

    assert httpx.get(f"{served.url}/openapi.json", timeout=15).json() == DOCUMENT


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=True,
)
def test_api_conforms_to_its_schema(case: Any, served: Served) -> None:
    """Any request to any documented route: no 5xx, and the response matches the schema."""
    case.call_and_validate(
        base_url=served.url,
        headers=bearer(mint(TENANT, exp_in=3600)),
        # Whether a schema-valid number is a *possible* one (libphonenumber's tables) and
        # whether the session is connected are not expressible in a schema, so a
        # schema-valid send may rightly get 422 or 409.  Every other check runs.
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )


def test_every_route_documents_its_errors() -> None:
    """Each REST route documents 401 and how to authenticate (the probes take no token)."""
    document = DOCUMENT
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            responses = operation["responses"]
            if path in PROBES:
                assert "security" not in operation and "401" not in responses, path
                continue
            assert "401" in responses, (method, path)
            assert operation.get("security"), (method, path)
    send = document["paths"]["/api/send"]["post"]["responses"]
    assert {"200", "400", "401", "409", "413", "415", "422", "502"} <= set(send)
    body = document["paths"]["/api/send"]["post"]["requestBody"]
    assert body["required"] is True
    assert "application/json" in body["content"]
