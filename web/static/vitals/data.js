// The readings from the observations API: the bucketed series of a chart, the raw readings.

import { getJson } from "../lib/page.js";
import { TABLE_ROWS } from "./scale.js";

async function json(url) {
  const resp = await getJson(url);
  if (!resp.ok) throw new Error(`${url.split("?")[0]}: HTTP ${resp.status}`);
  return resp.json();
}

// One request for every series of a chart: buckets with t, first, last, count, min, max, mean.
export async function loadSeries(patient, metrics, from, to, points) {
  const params = new URLSearchParams({
    metric: metrics.join(","),
    since: new Date(from).toISOString(),
    until: new Date(to).toISOString(),
    points: String(points),
  });
  const body = await json(`/api/v1/patients/${encodeURIComponent(patient)}/observations/series?${params}`);
  const byMetric = new Map(body.series.map((s) => [s.metric, s]));
  return metrics.map((metric) => {
    const found = byMetric.get(metric) || { buckets: [], count: 0, min: null, max: null };
    const buckets = found.buckets.map((b) => {
      const first = Date.parse(b.first);
      const last = Date.parse(b.last);
      return { t: (first + last) / 2, first, last, count: b.count, min: b.min, max: b.max, mean: b.mean };
    });
    return { buckets, count: found.count, min: found.min, max: found.max, width: body.bucket_seconds };
  });
}

// The newest raw readings of one metric in the period, for the table.
export async function loadRaw(patient, metric, from) {
  const params = new URLSearchParams({ metric, since: new Date(from).toISOString(), limit: String(TABLE_ROWS) });
  const body = await json(`/api/v1/patients/${encodeURIComponent(patient)}/observations?${params}`);
  return { points: body.items.map((item) => ({ t: Date.parse(item.time), v: item.value })), more: Boolean(body.next_cursor) };
}
