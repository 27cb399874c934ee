"""Vital signs on the pages: latest values beside an alert, charts and devices on the patient page.

Values are shown in each metric's display unit with the patient's care-plan bands (the
platform defaults when the plan has no entry), and the zone a value falls in is said in
words ("High", "Very low"), never by colour alone. Times are the patient's local times.

The charts themselves are drawn by ``web/static/vitals/`` from the downsampled series
API (``/observations/series``: per time bucket the lowest, highest and mean reading, so a
chart covers the whole period asked for); the server renders for each chart a text summary
(the period's exact count, lowest and highest reading) and a table of the latest raw readings,
so the page says everything without JavaScript and to screen readers. The panel's statements
do not depend on how many readings the period holds.

The modules: `values` (numbers, units, zones in words), `latest` (a patient's latest vitals,
beside each alert), `charts` (one chart's summary and table), `panel` (the patient page's
panel), `devices` (a device's row).
"""
