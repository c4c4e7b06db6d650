"""Prometheus metrics of a gateway process (the ``metrics`` extra: prometheus-client).

:class:`Metrics` turns what the process counts (every metric is declared once,
in ``wagate._telemetry.METRICS``) and what exists at the moment of a scrape
(tenants by state, live connections, webhook backlogs) into Prometheus' text
format.  The integrations serve it at ``GET /metrics`` only when given a
:class:`Metrics` with credentials: a scrape shows how busy each part of the
service is, so it is never open by accident.

Example:
    ```python
    from wagate.metrics import Metrics

    metrics = Metrics(gateway, token=os.environ["WAGATE_METRICS_TOKEN"])
    app = create_app(gateway, authenticator, metrics=metrics)
    ```

Every metric is per process; Prometheus sums a cluster's processes.  The tenant
is not a label unless ``tenant_labels=True`` (a series per tenant and label
value: fine for tens of tenants, ruinous for thousands); the send-latency
histogram is summed over tenants even then (a series per bucket per tenant).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ._errors import WagateError
from ._events import State
from ._telemetry import (
    BACKLOG,
    BACKLOG_AGE,
    CONNECTIONS,
    METRICS,
    TELEMETRY,
    TENANTS,
    Key,
    Metric,
    MetricKind,
    Telemetry,
)

if TYPE_CHECKING:
    from ._gateway import Gateway
    from .adapters.socketio import SocketIOAdapter
    from .adapters.sse import ServerSentEvents
    from .adapters.webhooks import WebhookDispatcher

__all__ = ["CONTENT_TYPE", "Metrics", "MetricsUnauthorized"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The media type of Prometheus' text format."""
_SCRAPE_TIME = (TENANTS, CONNECTIONS, BACKLOG, BACKLOG_AGE)


class MetricsUnauthorized(WagateError, code="metrics_unauthorized", status_code=401):
    """A scrape of ``/metrics`` without the configured token."""


def _prometheus() -> Any:
    try:
        import prometheus_client  # noqa: PLC0415 - the optional extra, loaded when used
        import prometheus_client.core  # noqa: PLC0415
    except ImportError:
        raise ImportError(
            "wagate.metrics needs prometheus-client: pip install 'wagate[metrics]'"
        ) from None
    return prometheus_client


class Metrics:
    """A gateway process's metrics, in Prometheus' text format.

    Args:
        gateway: The gateway whose sessions are counted.
        token: The bearer token a scrape must send (``Authorization: Bearer``).
            Required: there is no open ``/metrics``.
        tenant_labels: Keep the tenant as a label of counters and gauges (small
            deployments only; the latency histogram stays summed).
        sse: The SSE transport whose open streams are counted.
        socketio: The Socket.IO adapter whose sockets are counted.
        webhooks: The webhook dispatcher whose backlogs are measured.
        telemetry: The counts to export (default: this process's).

    Raises:
        ImportError: prometheus-client is not installed.
        ValueError: no token, or one shorter than 16 characters.
    """

    def __init__(
        self,
        gateway: Gateway,
        *,
        token: str,
        tenant_labels: bool = False,
        sse: ServerSentEvents | None = None,
        socketio: SocketIOAdapter | None = None,
        webhooks: WebhookDispatcher | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        if not isinstance(token, str) or len(token) < 16:
            raise ValueError("a metrics token of at least 16 characters is required")
        self._prometheus = _prometheus()
        self.gateway = gateway
        self.tenant_labels = tenant_labels
        self.sse = sse
        self.socketio = socketio
        self.webhooks = webhooks
        self.telemetry = telemetry or TELEMETRY
        self._token = token.encode()

    def check(self, authorization: str | None) -> None:
        """Let a scrape through if its ``Authorization`` header bears the token.

        Raises:
            MetricsUnauthorized: no header, another scheme, or another token.
        """
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), self._token
        ):
            raise MetricsUnauthorized("scraping the metrics needs the metrics token (Bearer)")

    async def render(self) -> bytes:
        """The metrics now, in Prometheus' text format."""
        now = await self._scrape_time()
        registry = self._prometheus.CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self, now))
        body: bytes = self._prometheus.generate_latest(registry)
        return body

    async def _scrape_time(self) -> dict[Metric, dict[Key, float]]:
        """The gauges of what exists now, read at the scrape."""
        # Every state is a series, 0 when no tenant is in it (summed away, or per tenant).
        tenants: dict[Key, float] = (
            {} if self.tenant_labels else {("", s.value): 0.0 for s in State}
        )
        for session in self.gateway.local_sessions:
            key = (session.tenant if self.tenant_labels else "", session.status.state.value)
            tenants[key] = tenants.get(key, 0.0) + 1
        connections: dict[Key, float] = {}
        if self.sse is not None:
            connections[("", "sse")] = float(self.sse.open_streams)
        if self.socketio is not None:
            connections[("", "socketio")] = float(self.socketio.connected)
        backlog: dict[Key, float] = {}
        age: dict[Key, float] = {}
        if self.webhooks is not None:
            dispatcher = self.webhooks
            moment = datetime.now(timezone.utc)
            for endpoint in dispatcher.endpoints:
                count, queued = await dispatcher.dead_letters.backlog_depth(
                    node=dispatcher.node, endpoint=endpoint.name
                )
                backlog[("", endpoint.name)] = float(count)
                oldest = (moment - queued).total_seconds() if queued is not None else 0.0
                age[("", endpoint.name)] = max(0.0, oldest)
        return {TENANTS: tenants, CONNECTIONS: connections, BACKLOG: backlog, BACKLOG_AGE: age}


class _Collector:
    """Yields every metric of :data:`METRICS` as prometheus-client's families."""

    def __init__(self, metrics: Metrics, now: dict[Metric, dict[Key, float]]) -> None:
        self.metrics = metrics
        self.now = now

    def collect(self) -> Iterator[Any]:
        core = self.metrics._prometheus.core
        telemetry = self.metrics.telemetry
        keep = self.metrics.tenant_labels
        for metric in METRICS:
            if metric.kind is MetricKind.HISTOGRAM:
                # Summed over tenants even with tenant labels: a series per bucket per
                # tenant would be most of a scrape.
                family = core.HistogramMetricFamily(metric.name, metric.help, labels=metric.labels)
                for key, histogram in _merged_histograms(telemetry, metric, keep=False):
                    running, buckets = 0, []
                    for bound, count in zip(
                        (*metric.buckets, float("inf")), histogram[0], strict=True
                    ):
                        running += count
                        buckets.append((_bound(bound), running))
                    family.add_metric(list(key), buckets, histogram[1])
                yield family
                continue
            names = (*(("tenant",) if keep else ()), *metric.labels)
            if metric.kind is MetricKind.COUNTER:
                family = core.CounterMetricFamily(
                    metric.name.removesuffix("_total"), metric.help, labels=names
                )
            else:
                family = core.GaugeMetricFamily(metric.name, metric.help, labels=names)
            values = (
                self.now[metric].items() if metric in _SCRAPE_TIME else telemetry.series(metric)
            )
            for key, value in _merged(values, keep):
                family.add_metric(list(key), value)
            yield family


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def _merged(values: Iterable[tuple[Key, float]], keep: bool) -> list[tuple[Key, float]]:
    """The series with the tenant kept as a label, or summed away."""
    if keep:
        return sorted(values)
    merged: dict[Key, float] = {}
    for key, value in values:
        merged[key[1:]] = merged.get(key[1:], 0.0) + value
    return sorted(merged.items())


def _merged_histograms(
    telemetry: Telemetry, metric: Metric, keep: bool
) -> list[tuple[Key, tuple[Sequence[int], float]]]:
    merged: dict[Key, tuple[list[int], float]] = {}
    for key, histogram in telemetry.histograms[metric].items():
        label = key if keep else key[1:]
        counts, total = merged.get(label, ([0] * len(histogram.counts), 0.0))
        summed = [a + b for a, b in zip(counts, histogram.counts, strict=True)]
        merged[label] = (summed, total + histogram.sum)
    return sorted(merged.items())
