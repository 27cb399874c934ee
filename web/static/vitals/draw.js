// A chart as inline SVG: one panel per series, the limits as shaded zones, the lowest-to-highest
// band and mean line of the buckets, markers at the exact values outside the limits.

import { fill } from "../lib/page.js";
import { MARGIN, MIN_WIDTH, domainOf, niceTicks, zoneOf } from "./scale.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const BAND_FILL = "#0a5aa8"; // --primary, as a presentation attribute (no inline style)

function svg(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (parent) parent.appendChild(node);
  return node;
}

/** Draw `chart` (its element, config and card) from the `loaded` series of [from, to]. */
export function draw(view, chart, loaded, from, to) {
  const { S, range, num, timeFormat, timeTicks, spanLabel } = view;
  const { config } = chart;
  chart.last = { loaded, from, to };
  // Drawn at the width it is shown at, so the labels keep their size on every screen.
  const WIDTH = Math.max(MIN_WIDTH, Math.round(chart.el.clientWidth || 600));
  chart.width = WIDTH;
  const panels = loaded.length;
  const panelHeight = panels > 1 ? 120 : 160;
  const gap = 22;
  const height = MARGIN.top + panels * panelHeight + (panels - 1) * gap + MARGIN.bottom;
  const root = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${height}`,
    class: "chart__svg",
    role: "img",
    "aria-label": fill(S.chart_label, { title: config.title, period: S[`period_${range}`] }),
    focusable: "false",
  });
  const defs = svg("defs", {}, root);
  const hatchId = `hatch-${config.key}`;
  const pattern = svg("pattern", { id: hatchId, width: 8, height: 8, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, defs);
  svg("rect", { width: 8, height: 8, class: "chart__hatch-bg" }, pattern);
  svg("line", { x1: 0, y1: 0, x2: 0, y2: 8, class: "chart__hatch" }, pattern);

  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const x = (t) => MARGIN.left + ((t - from) / (to - from)) * plotWidth;

  loaded.forEach((series, index) => {
    const top = MARGIN.top + index * (panelHeight + gap);
    const bottom = top + panelHeight;
    const domain = domainOf(series) || [0, 1];
    const [lo, hi] = domain;
    const y = (v) => bottom - ((v - lo) / (hi - lo)) * panelHeight;
    const clampY = (v) => Math.min(bottom, Math.max(top, y(v)));
    const band = (from_, to_, kind) => {
      if (from_ == null || to_ == null || to_ <= lo || from_ >= hi) return;
      const y1 = clampY(Math.min(to_, hi));
      const y2 = clampY(Math.max(from_, lo));
      if (y2 - y1 <= 0) return;
      const attrs = { x: MARGIN.left, y: y1, width: plotWidth, height: y2 - y1, class: `chart__zone chart__zone--${kind}` };
      if (kind === "critical") attrs.fill = `url(#${hatchId})`;
      svg("rect", attrs, root);
    };
    const b = series.spec.bands;
    svg("rect", { x: MARGIN.left, y: top, width: plotWidth, height: panelHeight, class: "chart__plot" }, root);
    if (b.warning_low != null) band(b.critical_low ?? lo, b.warning_low, "warning");
    if (b.critical_low != null) band(lo, b.critical_low, "critical");
    if (b.warning_high != null) band(b.warning_high, b.critical_high ?? hi, "warning");
    if (b.critical_high != null) band(b.critical_high, hi, "critical");

    for (const tick of niceTicks(lo, hi, panels > 1 ? 3 : 4)) {
      const ty = y(tick);
      if (ty < top - 0.5 || ty > bottom + 0.5) continue;
      svg("line", { x1: MARGIN.left, x2: MARGIN.left + plotWidth, y1: ty, y2: ty, class: "chart__grid" }, root);
      const label = svg("text", { x: MARGIN.left - 6, y: ty + 4, class: "chart__tick chart__tick--y" }, root);
      label.textContent = num(tick, Number.isInteger(tick) ? 0 : 1);
    }
    if (panels > 1) {
      const name = svg("text", { x: MARGIN.left + 6, y: top + 15, class: "chart__panel-label" }, root);
      name.textContent = series.spec.label;
    }

    const buckets = series.buckets.filter((p) => p.last >= from && p.first <= to);
    const grouped = buckets.some((p) => p.count > 1);
    if (grouped && buckets.length > 1) {
      // The lowest-to-highest band of every bucket, then the mean line over it.
      const upper = buckets.map((p) => `${x(p.t).toFixed(1)},${y(p.max).toFixed(1)}`);
      const lower = buckets.map((p) => `${x(p.t).toFixed(1)},${y(p.min).toFixed(1)}`).reverse();
      svg("polygon", {
        points: upper.concat(lower).join(" "),
        class: "chart__range",
        fill: BAND_FILL,
        "fill-opacity": "0.2",
        stroke: "none",
      }, root);
    }
    if (buckets.length > 1) {
      svg("polyline", {
        points: buckets.map((p) => `${x(p.t).toFixed(1)},${y(p.mean).toFixed(1)}`).join(" "),
        class: "chart__line",
      }, root);
    }
    const showAll = !grouped && buckets.length <= 150;
    const span = (p) => (p.count > 1
      ? `${timeFormat.format(new Date(p.first))} – ${timeFormat.format(new Date(p.last))}`
      : timeFormat.format(new Date(p.first)));
    const marker = (p, value, last) => {
      const zone = zoneOf(value, b);
      const severity = zone === "normal" ? "normal" : zone.split("_")[0];
      const dot = svg("circle", {
        cx: x(p.t).toFixed(1), cy: y(value).toFixed(1), r: last ? 4.5 : severity === "normal" ? 2.6 : 3.6,
        class: `chart__point chart__point--${severity}${last ? " chart__point--latest" : ""}`,
      }, root);
      const title = svg("title", {}, dot);
      const word = zone === "normal" ? "" : ` (${S[zone]})`;
      const many = p.count > 1 ? ` · ${fill(S.bucket_readings, { n: num(p.count, 0) })}` : "";
      title.textContent = `${num(value, series.spec.decimals)} ${config.unit}${word} · ${span(p)}${many}`;
    };
    buckets.forEach((p, i) => {
      const last = i === buckets.length - 1;
      if (p.count === 1) {
        if (showAll || last || zoneOf(p.mean, b) !== "normal") marker(p, p.mean, last);
        return;
      }
      // Exact extremes outside the limits, at their own value: alert markers stay exact.
      if (zoneOf(p.min, b) !== "normal") marker(p, p.min, false);
      if (p.max !== p.min && zoneOf(p.max, b) !== "normal") marker(p, p.max, false);
      if (last) marker(p, p.mean, true);
    });
    if (!buckets.length) {
      const empty = svg("text", { x: MARGIN.left + plotWidth / 2, y: top + panelHeight / 2, class: "chart__empty" }, root);
      empty.textContent = S.empty;
    }
  });

  const axisY = height - MARGIN.bottom;
  for (const tick of timeTicks(from, to, range)) {
    const tx = x(tick.t);
    svg("line", { x1: tx, x2: tx, y1: MARGIN.top, y2: axisY, class: "chart__grid chart__grid--time" }, root);
    const label = svg("text", { x: tx, y: axisY + 18, class: "chart__tick chart__tick--x" }, root);
    label.textContent = tick.label;
  }
  chart.el.replaceChildren(root);
  const legend = chart.card.querySelector("[data-chart-legend]");
  if (legend) legend.hidden = false;
  const width = loaded.find((s) => s.buckets.some((p) => p.count > 1))?.width;
  if (width) {
    const note = document.createElement("p");
    note.className = "hint chart__capped";
    note.textContent = fill(S.bucketed, { span: spanLabel(width) });
    chart.el.appendChild(note);
  }
}
