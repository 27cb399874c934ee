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
//
// The modules: scale (zones, ticks, the value axis), data (the API), formats (times and
// numbers in the patient's zone and the page's language), draw (the SVG), text (the summary
// and the table).

import { dataBlock } from "../lib/page.js";
import { loadRaw, loadSeries } from "./data.js";
import { draw } from "./draw.js";
import { chartFormats } from "./formats.js";
import { MIN_WIDTH, SPANS, pointsFor } from "./scale.js";
import { rewriteText } from "./text.js";

const data = dataBlock("vitals-data");
if (data) start(data);

function start(data) {
  const view = {
    S: data.strings,
    range: data.range in SPANS ? data.range : "7d",
    ...chartFormats(document.documentElement.lang || "en", data.timezone, data.site_timezone),
  };
  const charts = [...document.querySelectorAll("[data-chart]")].map((el) => ({
    el,
    config: JSON.parse(el.dataset.chart),
    card: el.closest(".chart-card"),
  }));
  let generation = 0;

  async function render(chart, rewrite, ticket) {
    const to = Date.now();
    const from = to - SPANS[view.range];
    chart.el.setAttribute("aria-busy", "true");
    if (!chart.el.firstChild) {
      const loading = document.createElement("p");
      loading.className = "chart__status muted";
      loading.textContent = view.S.loading;
      chart.el.replaceChildren(loading);
    }
    try {
      const specs = chart.config.series;
      const width = Math.max(MIN_WIDTH, Math.round(chart.el.clientWidth || 600));
      const series = await loadSeries(chart.config.patient, specs.map((spec) => spec.metric), from, to, pointsFor(width));
      const loaded = specs.map((spec, i) => ({ spec, ...series[i] }));
      const raw = rewrite ? await Promise.all(specs.map((spec) => loadRaw(chart.config.patient, spec.metric, from))) : null;
      if (ticket !== generation) return; // another period was chosen meanwhile
      draw(view, chart, loaded, from, to);
      if (rewrite) rewriteText(view, chart, loaded, raw);
    } catch (error) {
      if (ticket !== generation) return;
      const failed = document.createElement("p");
      failed.className = "chart__status chart__status--error";
      failed.textContent = view.S.failed;
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
      if (!(chosen in SPANS) || chosen === view.range) return;
      view.range = chosen;
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
          draw(view, chart, chart.last.loaded, chart.last.from, chart.last.to);
        }
      }
    }, 150);
  });
  for (const chart of charts) observer.observe(chart.el);

  renderAll(false);
}
