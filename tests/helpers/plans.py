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

# The plan as stored directly (no title or start), with the heart-failure diary every day.
DIARY_PLAN = {**{k: v for k, v in PLAN.items() if k not in ("title", "period_start")},
              "questionnaires": [{"code": "hf_diary", "schedule": {"every_days": 1},
                                  "alert": {"score_at_least": 4}}]}
