// The charts' geometry: periods, margins, zones of a value, ticks and the value axis.

export const TABLE_ROWS = 50;
export const SPANS = { "24h": 24 * 3600e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
export const MIN_WIDTH = 280;
export const MARGIN = { left: 48, right: 14, top: 10, bottom: 28 };

export function zoneOf(value, bands) {
  // Strictly beyond a limit, as telemed.domain.bands.classify.
  if (bands.critical_low != null && value < bands.critical_low) return "critical_low";
  if (bands.critical_high != null && value > bands.critical_high) return "critical_high";
  if (bands.warning_low != null && value < bands.warning_low) return "warning_low";
  if (bands.warning_high != null && value > bands.warning_high) return "warning_high";
  return "normal";
}

export function niceTicks(lo, hi, wanted = 4) {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const rough = span / wanted;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const norm = rough / magnitude;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    ticks.push(Math.round(v / step) * step);
  }
  return ticks;
}

export function pointsFor(width) {
  // About one bucket per two pixels of plot, within what the API accepts.
  return Math.max(60, Math.min(500, Math.round((width - MARGIN.left - MARGIN.right) / 2)));
}

/** The value axis of a series: its readings and normal limits, padded. */
export function domainOf(series) {
  const values = [];
  for (const bucket of series.buckets) values.push(bucket.min, bucket.max);
  const b = series.spec.bands;
  const normalLow = b.warning_low ?? b.critical_low;
  const normalHigh = b.warning_high ?? b.critical_high;
  if (normalLow != null) values.push(normalLow);
  if (normalHigh != null) values.push(normalHigh);
  if (!values.length) return null;
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  // Show where the critical zones begin when they are near enough not to squash the data.
  const reach = Math.max(hi - lo, 1) * 0.6;
  if (b.critical_low != null && b.critical_low < lo && lo - b.critical_low <= reach) lo = b.critical_low;
  if (b.critical_high != null && b.critical_high > hi && b.critical_high - hi <= reach) hi = b.critical_high;
  const pad = Math.max((hi - lo) * 0.12, Math.abs(hi) * 0.02, 1);
  lo -= pad;
  hi += pad;
  if (lo < 0 && (series.min == null || series.min >= 0)) lo = Math.max(lo, 0);
  return [lo, hi];
}
