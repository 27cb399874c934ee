// The chart's words for another period: the summary (the period's exact count, lowest and
// highest reading) and the table of the newest raw readings, as the server writes them.

import { fill } from "../lib/page.js";
import { TABLE_ROWS, zoneOf } from "./scale.js";

function sentence(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Rewrite the summary and the table of `chart` from the `loaded` series and `raw` readings. */
export function rewriteText(view, chart, loaded, raw) {
  const { S, range, num, timeFormat } = view;
  const { config, card } = chart;
  const parts = [];
  for (const series of loaded) {
    if (!series.count) continue;
    // The period's exact count, lowest and highest (summed up from the buckets).
    const text = series.count === 1
      ? fill(S.series_single, { value: num(series.min, series.spec.decimals), unit: config.unit })
      : fill(S.series_summary_other, {
        n: num(series.count, 0),
        low: num(series.min, series.spec.decimals),
        high: num(series.max, series.spec.decimals),
        unit: config.unit,
      });
    parts.push(loaded.length > 1 ? `${series.spec.label}: ${text}` : text);
  }
  const summary = card.querySelector("[data-chart-summary]");
  if (summary) {
    const period = S[`period_${range}`];
    summary.textContent = sentence(parts.length
      ? fill(S.summary, { period, readings: parts.join("; ") })
      : fill(S.no_readings, { period }));
  }
  const table = card.querySelector("[data-chart-table] tbody");
  if (!table) return;
  const rows = new Map();
  raw.forEach((series, index) => {
    for (const p of series.points) {
      if (!rows.has(p.t)) rows.set(p.t, new Array(raw.length).fill(null));
      rows.get(p.t)[index] = p.v;
    }
  });
  const times = [...rows.keys()].sort((a, b) => b - a);
  const body = [];
  for (const t of times.slice(0, TABLE_ROWS)) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = timeFormat.format(new Date(t));
    tr.appendChild(th);
    rows.get(t).forEach((value, index) => {
      const td = document.createElement("td");
      td.className = "num";
      if (value == null) {
        td.textContent = "–";
      } else {
        const series = loaded[index];
        const zone = zoneOf(value, series.spec.bands);
        td.textContent = num(value, series.spec.decimals) + (zone === "normal" ? "" : ` (${S[zone]})`);
      }
      tr.appendChild(td);
    });
    body.push(tr);
  }
  if (!body.length) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = loaded.length + 1;
    td.textContent = S.table_empty;
    tr.appendChild(td);
    body.push(tr);
  }
  table.replaceChildren(...body);
  let note = card.querySelector("[data-chart-truncated]");
  if (times.length > TABLE_ROWS || raw.some((r) => r.more)) {
    if (!note) {
      note = document.createElement("p");
      note.className = "hint";
      note.dataset.chartTruncated = "";
      card.querySelector(".chart-card__table").appendChild(note);
    }
    note.textContent = fill(S.table_latest, { n: TABLE_ROWS });
  } else if (note) {
    note.remove();
  }
}
