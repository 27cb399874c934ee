"""The words and route pattern the visit pages share (visits, guests, reports)."""

from __future__ import annotations

from telemed.views.render import N_

VISIT_ID = "{visit_id:[A-Za-z0-9_-]{1,64}}"
KIND_LABELS = {"televisit": N_("Televisit"), "teleconsult": N_("Teleconsult"),
               "teleassistance": N_("Teleassistance")}
STATUS_LABELS = {"scheduled": N_("Scheduled"), "waiting": N_("Waiting room open"),
                 "in_progress": N_("In progress"), "completed": N_("Completed"),
                 "cancelled": N_("Cancelled")}
