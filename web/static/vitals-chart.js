// Vitals charts of the patient page: inline SVG drawn from the observations API, with the
// care plan's alert limits as shaded zones (warning amber, critical red and hatched).
//
// The server already wrote each chart's latest value, a text summary and a table of the
// readings (they are what screen readers and browsers without JavaScript get). This script
// draws the charts and, when another period is chosen, rewrites the summary and the table.
//
// A chart shows the whole period asked for: the server cuts it into a few hundred time
// buckets (/observations/series) and sends per bucket the count, lowest, highest and mean
// reading. Where buckets hold several readings the chart draws the lowest-to-highest band and
// the mean line; a bucket whose lowest or highest reading is outside the limits gets a marker
// at that exact value, so a one-minute dip in 30 days is never averaged away. Buckets of one
// reading are drawn as the readings themselves. The table lists raw readings (the newest).

const SVG_NS = "http://www.w3.org/2000/svg";
const TABLE_ROWS = 50;
const SPANS = { "24h": 24 * 3600e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
const MIN_WIDTH = 280;
const MARGIN = { left: 48, right: 14, top: 10, bottom: 28 };
const BAND_FILL = "#0a5aa8"; // --primary, as a presentation attribute (no inline style)

const dataBlock = document.getElementById("vitals-data");
if (dataBlock) start(JSON.parse(dataBlock.textContent));

function fill(template, params) {
  return template.replace(/\{(\w+)\}/g, (whole, key) => (key in params ? String(params[key]) : whole));
}

function sentence(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function svg(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (parent) parent.appendChild(node);
  return node;
}

function zoneOf(value, bands) {
  // Strictly beyond a limit, as telemed.domain.bands.classify.
  if (bands.critical_low != null && value < bands.critical_low) return "critical_low";
  if (bands.critical_high != null && value > bands.critical_high) return "critical_high";
  if (bands.warning_low != null && value < bands.warning_low) return "warning_low";
  if (bands.warning_high != null && value > bands.warning_high) return "warning_high";
  return "normal";
}

function niceTicks(lo, hi, wanted = 4) {
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

function pointsFor(width) {
  // About one bucket per two pixels of plot, within what the API accepts.
  return Math.max(60, Math.min(500, Math.round((width - MARGIN.left - MARGIN.right) / 2)));
}

async function getJson(url) {
  const resp = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!resp.ok) throw new Error(`${url.split("?")[0]}: HTTP ${resp.status}`);
  return resp.json();
}

// One request for every series of a chart: buckets with t, first, last, count, min, max, mean.
async function loadSeries(patient, metrics, from, to, points) {
  const params = new URLSearchParams({
    metric: metrics.join(","),
    since: new Date(from).toISOString(),
    until: new Date(to).toISOString(),
    points: String(points),
  });
  const body = await getJson(`/api/v1/patients/${encodeURIComponent(patient)}/observations/series?${params}`);
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
async function loadRaw(patient, metric, from) {
  const params = new URLSearchParams({ metric, since: new Date(from).toISOString(), limit: String(TABLE_ROWS) });
  const body = await getJson(`/api/v1/patients/${encodeURIComponent(patient)}/observations?${params}`);
  return { points: body.items.map((item) => ({ t: Date.parse(item.time), v: item.value })), more: Boolean(body.next_cursor) };
}

function start(data) {
  const S = data.strings;
  const lang = document.documentElement.lang || "en";
  let timeZone = data.timezone;
  try {
    new Intl.DateTimeFormat(lang, { timeZone });
  } catch {
    timeZone = undefined; // unknown to this browser: its own zone
  }
  const dayMonth = new Intl.DateTimeFormat(lang, { timeZone, day: "numeric", month: "short" });
  const zoneNote = timeZone && timeZone !== data.site_timezone ? ` (${timeZone})` : "";
  // "22 Nov, 16:27" in the patient's time zone, as the server writes it.
  const timeFormat = {
    format(date) {
      const parts = Object.fromEntries(dayMonth.formatToParts(date).map((p) => [p.type, p.value]));
      return `${parts.day} ${parts.month}, ${hourFormat.format(date)}${zoneNote}`;
    },
  };
  const hourFormat = new Intl.DateTimeFormat(lang, { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const dayFormat = new Intl.DateTimeFormat(lang, { timeZone, day: "numeric", month: "short" });
  const hourOf = new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const numberFormats = new Map();
  const num = (value, decimals) => {
    if (!numberFormats.has(decimals)) {
      numberFormats.set(decimals, new Intl.NumberFormat(lang, { minimumFractionDigits: decimals, maximumFractionDigits: decimals }));
    }
    return numberFormats.get(decimals).format(value);
  };

  const charts = [...document.querySelectorAll("[data-chart]")].map((el) => ({
    el,
    config: JSON.parse(el.dataset.chart),
    card: el.closest(".chart-card"),
  }));
  let range = data.range in SPANS ? data.range : "7d";
  let generation = 0;

  // Local midnights (patient's time zone) after `from`, for the day ticks.
  function localMidnightAfter(from) {
    const [h, m] = hourOf.format(new Date(from)).split(":").map(Number);
    const t = from - ((h * 60 + m) * 60e3) - (from % 60e3) + 86400e3;
    // Correct a DST shift of the day: land on 00:xx again.
    const [h2] = hourOf.format(new Date(t)).split(":").map(Number);
    return h2 === 0 ? t : t - (h2 > 12 ? h2 - 24 : h2) * 3600e3;
  }

  function timeTicks(from, to) {
    const ticks = [];
    if (range === "24h") {
      // Every 6 hours of the patient's clock: 00:00, 06:00, 12:00, 18:00.
      let t = Math.ceil(from / 3600e3) * 3600e3;
      for (let i = 0; i < 6 && Number(hourOf.format(new Date(t)).split(":")[0]) % 6 !== 0; i += 1) t += 3600e3;
      for (; t <= to; t += 6 * 3600e3) ticks.push({ t, label: hourFormat.format(new Date(t)) });
      return ticks;
    }
    const every = range === "7d" ? 1 : 5;
    let t = localMidnightAfter(from);
    for (let i = 0; t <= to; i += 1) {
      if (i % every === 0) ticks.push({ t, label: dayFormat.format(new Date(t)) });
      t = localMidnightAfter(t + 3600e3);
    }
    return ticks;
  }

  function domainOf(series) {
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

  function draw(chart, loaded, from, to) {
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
    for (const tick of timeTicks(from, to)) {
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

  // "3 hours", "5 minuti": the width of a bucket in words.
  function spanLabel(seconds) {
    const [unit, size] = seconds % 86400 === 0 ? ["day", 86400] : seconds % 3600 === 0 ? ["hour", 3600]
      : seconds % 60 === 0 ? ["minute", 60] : ["second", 1];
    try {
      return new Intl.NumberFormat(lang, { style: "unit", unit, unitDisplay: "long" }).format(seconds / size);
    } catch {
      return `${seconds / size} ${unit}`;
    }
  }

  function rewriteText(chart, loaded, raw) {
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

  async function render(chart, rewrite, ticket) {
    const to = Date.now();
    const from = to - SPANS[range];
    chart.el.setAttribute("aria-busy", "true");
    if (!chart.el.firstChild) {
      const loading = document.createElement("p");
      loading.className = "chart__status muted";
      loading.textContent = S.loading;
      chart.el.replaceChildren(loading);
    }
    try {
      const specs = chart.config.series;
      const width = Math.max(MIN_WIDTH, Math.round(chart.el.clientWidth || 600));
      const series = await loadSeries(chart.config.patient, specs.map((spec) => spec.metric), from, to, pointsFor(width));
      const loaded = specs.map((spec, i) => ({ spec, ...series[i] }));
      const raw = rewrite ? await Promise.all(specs.map((spec) => loadRaw(chart.config.patient, spec.metric, from))) : null;
      if (ticket !== generation) return; // another period was chosen meanwhile
      draw(chart, loaded, from, to);
      if (rewrite) rewriteText(chart, loaded, raw);
    } catch (error) {
      if (ticket !== generation) return;
      const failed = document.createElement("p");
      failed.className = "chart__status chart__status--error";
      failed.textContent = S.failed;
      chart.el.replaceChildren(failed);
      console.error(error);
    } finally {
      chart.el.removeAttribute("aria-busy");
    }
  }

  function renderAll(rewrite) {
    generation += 1;
    for (const chart of charts) render(chart, rewrite, generation);
  }

  // The period switch: links that reload the page without JavaScript; here, redraw in place.
  for (const link of document.querySelectorAll(".range-switch [data-range]")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      const chosen = link.dataset.range;
      if (!(chosen in SPANS) || chosen === range) return;
      range = chosen;
      for (const other of document.querySelectorAll(".range-switch [data-range]")) {
        if (other === link) other.setAttribute("aria-current", "true");
        else other.removeAttribute("aria-current");
      }
      const url = new URL(window.location.href);
      url.searchParams.set("vitals", chosen);
      window.history.replaceState(null, "", url);
      renderAll(true);
    });
  }

  // Redraw (without fetching again) when a chart's width changes.
  let resizeTimer = null;
  const observer = new ResizeObserver(() => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const chart of charts) {
        if (chart.last && Math.abs(chart.el.clientWidth - chart.width) > 8) {
          draw(chart, chart.last.loaded, chart.last.from, chart.last.to);
        }
      }
    }, 150);
  });
  for (const chart of charts) observer.observe(chart.el);

  renderAll(false);
}
