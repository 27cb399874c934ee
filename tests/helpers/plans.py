"""A valid care plan, as the API takes it."""

from __future__ import annotations

PLAN = {
    "title": "Scompenso cardiaco",
    "period_start": "2026-11-01",
    "goals": ["Peso stabile"],
    "monitoring": [
        {"metric": "body_weight", "schedule": {"times": ["08:00"], "tolerance_minutes": 60}},
        {"metric": "bp_systolic", "schedule": {"times": ["08:00", "20:00"],
                                               "tolerance_minutes": 60},
         "bands": {"warning_high": 139, "critical_high": 179}},
    ],
    "trends": [{"metric": "body_weight", "delta": 2, "window_hours": 72, "severity": "warning"}],
    "news2": {"enabled": False, "spo2_scale": 1, "on_oxygen": False},
}
