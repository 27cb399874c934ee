"""Visit pages: the agenda, scheduling, the patient's check-in, the clinician's room, the report.

The call itself runs in the browser (web/static/visit/*.js); these handlers render the
pages, check who may open them, and hand the scripts their strings through a JSON data
block (the CSP allows no inline script).

The modules: `visit_view` (what the pages show of a visit), `agenda`, `schedule`, `call` (the
patient's check-in and the clinician's room), `guest_call` (a guest's check-in), `report`,
`panel` (the visits on the patient's page).
"""

from __future__ import annotations

from aiohttp import web

from telemed.views import booking as booking_pages
from telemed.views import visit_guests
from telemed.views.visits import agenda, call, guest_call, report, schedule


def setup_visit_pages(app: web.Application) -> None:
    """The visit pages (templates and static files come from `setup_views`); the booking
    pages first, so that /visits/book is not taken for a visit id."""
    app.router.add_routes(booking_pages.routes)
    for module in (agenda, schedule, call, guest_call, report):
        app.router.add_routes(module.routes)
    app.router.add_routes(visit_guests.routes)
