"""Prometheus metrics of the notification layer for operators (served by ``/metrics``).

- ``telemed_notification_deliveries{channel, result}``: attempts by outcome (sent, retry,
  failed, dead), counted by this process's delivery worker;
- ``telemed_alarm_*``: the platform's alarm burden over the last 7 days
  (`telemed.services.alarm_burden.platform_burden`; no patient or team named), refreshed in
  the background every ``REFRESH_SECONDS`` (and by ``refresh``); every process reports the
  same platform-wide figures, so aggregate them with ``max``, not ``sum``.
"""

from __future__ import annotations

import logging
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge

from telemed.db.engine import SessionFactory
from telemed.domain.alarm_burden import DEFAULT_DAYS, Burden
from telemed.services.alarm_burden import platform_burden

log = logging.getLogger("telemed.notify")

REFRESH_SECONDS: Final = 60.0


class NotifyMetrics:
    """The notification layer's metrics, on the application's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.deliveries = Counter(
            "telemed_notification_deliveries", "Notification delivery attempts by outcome",
            ["channel", "result"], registry=r)
        self.alerts_per_patient_week = Gauge(
            "telemed_alarm_alerts_per_patient_week",
            "Alerts opened per patient-week, platform-wide, last 7 days", registry=r)
        self.auto_recovered = Gauge(
            "telemed_alarm_auto_recovered_ratio",
            "Share of the last 7 days' alerts that recovered before anyone looked", registry=r)
        self.ack_seconds = Gauge(
            "telemed_alarm_time_to_acknowledge_seconds",
            "Time to acknowledge of the last 7 days' alerts", ["quantile"], registry=r)
        self.resolve_seconds = Gauge(
            "telemed_alarm_time_to_resolve_seconds",
            "Time to resolve of the last 7 days' alerts", ["quantile"], registry=r)
        self.escalations = Gauge(
            "telemed_alarm_escalations", "Escalation steps of the last 7 days' alerts",
            registry=r)
        self.alerts = Gauge("telemed_alarm_alerts", "Alerts opened in the last 7 days",
                            ["severity"], registry=r)
        self.nurse_shift = Gauge(
            "telemed_alarm_notifications_per_nurse_shift",
            "Notifications to nurses per nurse per 8-hour shift, last 7 days", registry=r)

    def show(self, b: Burden) -> None:
        """Set the burden gauges (a figure without data reads NaN)."""
        nan = float("nan")

        def v(value: float | None) -> float:
            return nan if value is None else value

        self.alerts_per_patient_week.set(v(b.alerts_per_patient_week))
        self.auto_recovered.set(v(b.auto_recovered_share))
        self.ack_seconds.labels("0.5").set(v(b.ack_median_s))
        self.ack_seconds.labels("0.9").set(v(b.ack_p90_s))
        self.resolve_seconds.labels("0.5").set(v(b.resolve_median_s))
        self.resolve_seconds.labels("0.9").set(v(b.resolve_p90_s))
        self.escalations.set(b.escalations)
        self.alerts.labels("critical").set(b.critical)
        self.alerts.labels("warning").set(b.alerts - b.critical)
        self.nurse_shift.set(v(b.notifications_per_nurse_shift))

    async def refresh(self, sessions: SessionFactory) -> Burden | None:
        """Compute the platform's burden and show it (None when the database failed)."""
        try:
            async with sessions() as session:
                burden = await platform_burden(session, days=DEFAULT_DAYS)
        except Exception as exc:  # the database is down: /readyz says so
            log.warning("could not compute the alarm burden: %s", exc)
            return None
        self.show(burden)
        return burden
