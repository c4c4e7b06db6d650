"""``POST /api/pairing-code``: log in by a code typed on the phone, over REST on both frameworks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from test_contract_support import FRAMEWORKS, Served, mint, serve


@pytest.fixture(params=FRAMEWORKS)
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    with serve(request.param) as running:
        yield running


def test_a_pairing_code_links_the_account(served: Served) -> None:
    phone = served.phones.phone("acme")
    with served.client(mint("acme")) as acme:
        early = acme.post("/api/pairing-code", json={"phone": phone.number})
        assert (early.status_code, early.json()["error"]["code"]) == (409, "invalid_state")
        assert acme.post("/api/qr/generate").status_code == 202
        for bad, code in (
            ({"phone": "call me"}, "invalid_phone_number"),
            ({"phone": ""}, "invalid_phone_number"),
            ({"phone": 628123456789}, "invalid_input"),
            ({}, "invalid_input"),
        ):
            refused = acme.post("/api/pairing-code", json=bad)
            assert (refused.status_code, refused.json()["error"]["code"]) == (422, code), bad
        other = acme.post("/api/pairing-code", json={"phone": "+628999888777"})
        assert (other.status_code, other.json()["error"]["code"]) == (502, "pairing_failed")
        asked = acme.post("/api/pairing-code", json={"phone": phone.number})
        assert asked.status_code == 200, asked.text
        code = asked.json()["code"]
        assert len(code.replace("-", "")) == 8
        with acme.stream("GET", "/api/events") as events:
            lines = events.iter_lines()
            assert next(lines).startswith("event: ")  # subscribed before the phone types
            served.call(lambda: phone.enter_pairing_code(code))
            assert "event: whatsapp:connected" in (line for line in lines)
        assert acme.get("/status").json()["status"] == "connected"
        linked = acme.post("/api/pairing-code", json={"phone": phone.number})
        assert (linked.status_code, linked.json()["error"]["code"]) == (409, "already_connected")
