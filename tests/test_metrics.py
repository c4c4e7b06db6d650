"""``GET /metrics``: Prometheus text, only for scrapes bearing the metrics token.

The counts are this process's (the served gateway runs in it), so each test
reads them before and after what it does and compares the difference.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from test_contract_support import CONTACT, FRAMEWORKS, Served, mint, serve
from wagate._telemetry import METRICS, MetricKind
from wagate.metrics import Metrics

TOKEN = "scrape-me-please-0123456789"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(params=FRAMEWORKS)
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    with serve(request.param, metrics_token=TOKEN) as running:
        yield running


def _scrape(served: Served) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with served.client(None) as client:
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return _samples(answer.text)


def test_a_scrape_without_the_token_is_refused(served: Served) -> None:
    with served.client(None) as client:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token-0123456789"},
            {"Authorization": f"Basic {TOKEN}"},
        ):
            answer = client.get("/metrics", headers=headers)
            assert answer.status_code == 401, answer.text
            assert answer.json()["error"]["code"] == "metrics_unauthorized"
            assert answer.headers["www-authenticate"].startswith("Bearer")
    with served.client(mint("acme")) as tenant:  # a tenant's token is not the metrics token
        assert tenant.get("/metrics").status_code == 401


def test_the_counts_follow_a_login_messages_and_sends(served: Served) -> None:
    before = _scrape(served)
    served.link(mint("acme"))
    with served.client(mint("acme")) as acme:
        assert acme.post("/api/send", json={"to": CONTACT, "text": "hello"}).status_code == 200
        received = acme.post("/api/simulator/receive", json={"from": CONTACT, "text": "hi"})
        assert received.status_code == 200, received.text
    after = _scrape(served)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("wagate_connects_total") == 1
    assert grew("wagate_qr_codes_total") >= 1
    assert grew("wagate_messages_sent_total", kind="text", outcome="sent") == 1
    assert grew("wagate_messages_received_total", kind="text") == 1
    assert grew("wagate_send_seconds_count", kind="text") == 1
    assert grew("wagate_events_published_total", event="message:sent") == 1
    assert _value(after, "wagate_tenants", state="connected") == 1
    assert _value(after, "wagate_tenants", state="awaiting_scan") == 0
    assert not any(dict(labels).get("tenant") for _, labels in after)  # no tenant label


def test_every_declared_metric_is_in_a_scrape(served: Served) -> None:
    with served.client(None) as client:
        text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    names = {family.name for family in text_string_to_metric_families(text)}
    for metric in METRICS:
        name = (
            metric.name.removesuffix("_total") if metric.kind is MetricKind.COUNTER else metric.name
        )
        assert name in names, metric.name


def test_tenant_labels_when_asked() -> None:
    with serve("fastapi", metrics_token=TOKEN, tenant_labels=True) as served:
        served.link(mint("acme"))
        samples = _scrape(served)
        assert _value(samples, "wagate_tenants", state="connected", tenant="acme") == 1


def test_a_short_or_missing_token_is_refused_at_construction() -> None:
    from wagate import Gateway
    from wagate.drivers.simulator import SimulatedDriver

    gateway = Gateway(lambda tenant: SimulatedDriver())
    for token in ("", "short", None):
        with pytest.raises(ValueError, match="16 characters"):
            Metrics(gateway, token=token)  # type: ignore[arg-type]


def test_open_event_streams_are_counted_as_connections(served: Served) -> None:
    with served.client(mint("acme")) as acme, acme.stream("GET", "/api/events") as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()  # kept: a dropped iterator closes the response
        next(lines)
        samples = _scrape(served)
        assert _value(samples, "wagate_connections", transport="sse") == 1
