"""What a process counts about itself, for :mod:`wagate.metrics` to export.

Every metric is declared once in :data:`METRICS` (its name, kind, help and
labels); the code that sees something happen updates :data:`TELEMETRY`, the
process's one set of counts, with a dictionary update and nothing else (no
exporter is imported, no lock is taken: the counts live in the event loop's
thread, as the sessions do).  Gauges of what exists now (tenants by state,
webhook backlogs) are not kept here but read when a scrape asks
(:mod:`wagate.metrics`).

A tenant is recorded with each count; the exporter sums it away unless asked
to keep it (a label per tenant multiplies the series by the tenants).
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Iterator

import attrs

from ._events import Connected, Disconnected, Event, MessageReceived, MessageSent, QrGenerated

__all__ = ["METRICS", "TELEMETRY", "Metric", "MetricKind", "Telemetry"]


class MetricKind(enum.Enum):
    """How a metric's value behaves."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@attrs.frozen
class Metric:
    """One metric: what it is called and what it counts.

    Attributes:
        name: Its Prometheus name (``wagate_...``; a counter's ends in ``_total``).
        kind: Counter, gauge or histogram.
        help: What it measures, one line.
        labels: Its labels besides ``tenant``.
        buckets: A histogram's upper bounds.
    """

    name: str
    kind: MetricKind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


_C, _G, _H = MetricKind.COUNTER, MetricKind.GAUGE, MetricKind.HISTOGRAM
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Seconds, from a local send to one paced for a minute."""

TENANTS = Metric(
    "wagate_tenants", _G, "Tenants with a session in this process, by state", ("state",)
)
CONNECTS = Metric("wagate_connects_total", _C, "Times a session connected to WhatsApp")
DISCONNECTS = Metric(
    "wagate_disconnects_total", _C, "Times a session's connection ended, by reason", ("reason",)
)
QR_CODES = Metric("wagate_qr_codes_total", _C, "QR codes issued for logins")
RECEIVED = Metric("wagate_messages_received_total", _C, "Messages received, by kind", ("kind",))
SENT = Metric(
    "wagate_messages_sent_total",
    _C,
    "Messages sent, by kind and outcome (sent, failed)",
    ("kind", "outcome"),
)
SEND_SECONDS = Metric(
    "wagate_send_seconds",
    _H,
    "Time a send takes in the session, pacing included, by kind",
    ("kind",),
    LATENCY_BUCKETS,
)
RATE_LIMITED = Metric("wagate_sends_rate_limited_total", _C, "Sends refused by the tenant's pacing")
PUBLISHED = Metric("wagate_events_published_total", _C, "Events published, by event", ("event",))
DROPPED = Metric(
    "wagate_events_dropped_total",
    _C,
    "Events a slow subscriber missed (replaced by a gap), by transport",
    ("transport",),
)
CONNECTIONS = Metric(
    "wagate_connections", _G, "Live client connections, by transport", ("transport",)
)
DELIVERIES = Metric(
    "wagate_webhook_deliveries_total",
    _C,
    "Webhook deliveries, by outcome (delivered; dead: given up after its attempts)",
    ("outcome",),
)
BACKLOG = Metric(
    "wagate_webhook_backlog", _G, "Events waiting for delivery to an endpoint", ("endpoint",)
)
BACKLOG_AGE = Metric(
    "wagate_webhook_backlog_oldest_seconds",
    _G,
    "Age of the oldest event waiting for an endpoint",
    ("endpoint",),
)
DEAD_LETTERS = Metric("wagate_webhook_dead_letters_total", _C, "Deliveries given up on")
TAKEOVERS = Metric(
    "wagate_cluster_takeovers_total", _C, "Tenants this process took over from a lost process"
)
REQUESTS_LIMITED = Metric(
    "wagate_requests_limited_total", _C, "API requests refused by the per-token request limit"
)

METRICS: tuple[Metric, ...] = (
    TENANTS,
    CONNECTS,
    DISCONNECTS,
    QR_CODES,
    RECEIVED,
    SENT,
    SEND_SECONDS,
    RATE_LIMITED,
    PUBLISHED,
    DROPPED,
    CONNECTIONS,
    DELIVERIES,
    BACKLOG,
    BACKLOG_AGE,
    DEAD_LETTERS,
    TAKEOVERS,
    REQUESTS_LIMITED,
)
"""Every metric wagate exports, in the order a scrape lists them."""

Key = tuple[str, ...]
"""A series' label values: the tenant (``""`` for none) and then the metric's own."""


@attrs.define
class Histogram:
    """One series of a histogram: counts per bucket, their sum and count."""

    counts: list[int]
    sum: float = 0.0
    count: int = 0


class Telemetry:
    """A process's counts: counters and gauges by series, histograms by series."""

    def __init__(self) -> None:
        self.values: dict[Metric, dict[Key, float]] = {m: {} for m in METRICS}
        self.histograms: dict[Metric, dict[Key, Histogram]] = {
            m: {} for m in METRICS if m.kind is _H
        }

    def add(self, metric: Metric, amount: float = 1.0, *labels: str, tenant: str = "") -> None:
        """Add ``amount`` to a counter or a gauge's series (its label values in order)."""
        series = self.values[metric]
        key = (tenant, *labels)
        series[key] = series.get(key, 0.0) + amount

    def observe(self, metric: Metric, value: float, *labels: str, tenant: str = "") -> None:
        """Record one observation of a histogram."""
        series = self.histograms[metric]
        key = (tenant, *labels)
        histogram = series.get(key)
        if histogram is None:
            histogram = series[key] = Histogram(counts=[0] * (len(metric.buckets) + 1))
        histogram.counts[bisect.bisect_left(metric.buckets, value)] += 1
        histogram.sum += value
        histogram.count += 1

    def event(self, event: Event) -> None:
        """Count a published event (what it says about connections and messages)."""
        tenant = event.tenant
        name = event.wire_name
        self.add(PUBLISHED, 1.0, name, tenant=tenant)
        if isinstance(event, MessageReceived):
            self.add(RECEIVED, 1.0, event.kind, tenant=tenant)
        elif isinstance(event, MessageSent):
            outcome = "sent" if event.success else "failed"
            self.add(SENT, 1.0, event.kind, outcome, tenant=tenant)
        elif isinstance(event, Connected):
            self.add(CONNECTS, tenant=tenant)
        elif isinstance(event, Disconnected):
            reason = event.reason.value if event.reason is not None else "unknown"
            self.add(DISCONNECTS, 1.0, reason, tenant=tenant)
        elif isinstance(event, QrGenerated):
            self.add(QR_CODES, tenant=tenant)

    def series(self, metric: Metric) -> Iterator[tuple[Key, float]]:
        """A counter's or gauge's series and values."""
        yield from self.values[metric].items()

    def reset(self) -> None:
        """Forget every count (tests)."""
        self.__init__()  # type: ignore[misc]


TELEMETRY = Telemetry()
"""This process's counts."""
