"""Prometheus metrics, one registry per application (no process-wide state)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    """Every metric the platform exports."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.http_requests = Counter(
            "telemed_http_requests", "HTTP requests by route and status",
            ["method", "route", "status"], registry=r,
        )
        self.readings_accepted = Counter(
            "telemed_readings_accepted", "Readings stored", ["metric"], registry=r
        )
        self.readings_rejected = Counter(
            "telemed_readings_rejected", "Readings or packs rejected", ["code"], registry=r
        )
        self.ingest_lag = Histogram(
            "telemed_ingest_lag_seconds", "Receive-to-store delay of readings", registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.ingest_receiver_restarts = Counter(
            "telemed_ingest_receiver_restarts",
            "Receiving processes of this ingest worker started to replace one that died",
            registry=r,
        )
        self.ingest_deferred = Counter(
            "telemed_ingest_deferred_messages",
            "Messages a batch left for the next one: their patient was busy in another worker",
            registry=r,
        )
        self.alert_latency = Histogram(
            "telemed_alert_latency_seconds", "Reading receipt to alert event", registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.open_alerts = Gauge(
            "telemed_open_alerts",
            "Alerts not yet resolved, platform-wide (counted at scrape, at most every 10 s)",
            registry=r,
        )
        self.open_alerts_counted_at = float("-inf")  # monotonic time of the last count
        self.active_visits = Gauge("telemed_active_visits", "Visits in progress", registry=r)
        self.websockets = Gauge("telemed_websockets", "Open signalling WebSockets", registry=r)
        self.logins_failed = Counter("telemed_logins_failed", "Refused logins", registry=r)
