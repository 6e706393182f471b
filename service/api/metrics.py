"""Prometheus metrics: one registry per app (no process-global state), served at ``/metrics``."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

#: Latency buckets in seconds, dense below 25 ms where the API's targets are.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

#: The request methods of RFC 9110 sec. 9 and PATCH (RFC 5789); any other is counted as OTHER.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


class _PoolCollector(Collector):
    """Database pool occupancy, read at scrape time."""

    def __init__(self) -> None:
        self.engine: Engine | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self.engine.pool if self.engine is not None else None
        if not isinstance(pool, QueuePool):
            return
        gauges = {
            "planner_db_pool_size": ("Configured pool size.", pool.size()),
            "planner_db_pool_checked_out": ("Connections in use.", pool.checkedout()),
            "planner_db_pool_overflow": ("Connections beyond the pool size.", pool.overflow()),
            "planner_db_pool_checked_in": ("Idle pooled connections.", pool.checkedin()),
        }
        for name, (documentation, value) in gauges.items():
            yield GaugeMetricFamily(name, documentation, value=float(value))


class Metrics:
    """The service's metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "planner_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "planner_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.planner_evaluated = Histogram(
            "planner_search_configurations",
            "Configurations evaluated per planner search.",
            buckets=(1e2, 1e3, 1e4, 1e5, 1e6, 1e7),
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._pool = _PoolCollector()
        self.registry.register(self._pool)

    def bind_engine(self, engine: Engine) -> None:
        """Report this engine's pool."""
        self._pool.engine = engine

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request and its latency.

        A method outside RFC 9110's registered ones is counted as ``OTHER``: methods are the
        client's to choose, and each new label value would be a new series. The labelled
        children are kept per (method, route, status): looking them up in the client library
        costs more than the observation itself.
        """
        key = (method if method in KNOWN_METHODS else "OTHER", route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(key[0], route, str(status)),
                self.latency.labels(key[0], route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
