// The board's filters in the browser (the same GET form the server reads without the script),
// kept in the address bar so a reload shows the same rows.

import { fill } from "../lib/page.js";
import { rowsOf } from "./order.js";

/** Wire the filter form; returns the function that shows and hides the rows. */
export function setUpFilters(list, S, lang) {
  const filters = document.getElementById("board-filters");
  const count = document.getElementById("board-count");
  const empty = document.getElementById("board-empty");
  const noMatch = document.getElementById("board-no-match");

  function currentFilters() {
    const form = new FormData(filters);
    return {
      severity: String(form.get("severity") || ""),
      status: String(form.get("status") || ""),
      q: String(form.get("q") || "").trim().toLocaleLowerCase(lang).split(/\s+/).join(" "),
    };
  }

  function matches(row, f = currentFilters()) {
    if (f.severity && row.dataset.severity !== f.severity) return false;
    if (f.status && row.dataset.status !== f.status) return false;
    return !f.q || (row.dataset.search || "").toLocaleLowerCase(lang).includes(f.q);
  }

  function applyFilters() {
    const f = currentFilters();
    let shown = 0;
    const all = rowsOf(list);
    for (const row of all) {
      row.hidden = !matches(row, f);
      if (!row.hidden) shown += 1;
    }
    count.textContent = fill(S.count, { shown, total: all.length });
    empty.hidden = all.length > 0;
    noMatch.hidden = !(all.length > 0 && shown === 0);
  }

  function filtersToUrl() {
    const f = currentFilters();
    const url = new URL(window.location.href);
    for (const key of ["severity", "status", "q"]) {
      const value = key === "q" ? String(new FormData(filters).get("q") || "").trim() : f[key];
      if (value) url.searchParams.set(key, value);
      else url.searchParams.delete(key);
    }
    window.history.replaceState(null, "", url);
  }

  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    applyFilters();
    filtersToUrl();
  });
  filters.addEventListener("input", () => {
    applyFilters();
    filtersToUrl();
  });
  document.getElementById("f-clear")?.addEventListener("click", (event) => {
    event.preventDefault();
    filters.reset();
    for (const field of filters.elements) {
      if (field.name) field.value = "";
    }
    applyFilters();
    filtersToUrl();
  });
  return applyFilters;
}
