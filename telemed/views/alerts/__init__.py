"""The alert board (``GET /alerts``) for nurses and doctors, and its no-JavaScript forms.

The page is complete on first paint: the open and acknowledged alerts of the caller's
patients (the alerts service, critical first, then oldest first), each with the patient's
latest vitals and the buttons to acknowledge, resolve (with a note) or snooze it. Filters
are query parameters (``severity``, ``status``, ``q`` for the patient's name); every active
alert is rendered and those the filters leave out are ``hidden``, so the board's script can
filter in the browser without asking the server again.

``web/static/alert-board/`` then follows ``GET /api/v1/alerts/stream`` from the sequence
number the page was rendered at (nothing changed in between is missed) and fetches the
changed alerts' rows from ``GET /alerts/rows?id=…`` — the same template as the page, so the
markup, the words and the times are the server's. A row says the alert's detail in the page's
language at the patient's local times (``telemed.views.alert_text``). A patient of the
caller's care teams who withdrew consent is named at the top with the date (the fact, not the
data); the doctors who still receive that patient's telemonitoring alerts see them, marked,
without the latest vitals (``services.scope.alerting``). Every read costs a fixed number of
queries, whatever the population (``services.alert_board``). The action forms post to
``/alerts/{id}/ack|resolve|snooze`` (CSRF token in the form) and call the same services as
the JSON API, which the script uses instead.

The modules: `filters` (the board's filters), `rows` (what a row shows), `board` (the page),
`row_updates` (``GET /alerts/rows``), `actions` (the forms).
"""

from __future__ import annotations

from aiohttp import web

from telemed.views.alerts import actions, board, row_updates

routes: list[web.RouteDef] = [*board.routes, *row_updates.routes, *actions.routes]
