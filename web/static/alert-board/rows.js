// The rows: fetched from the server (GET /alerts/rows?id=…, the page's own template), put in
// place keeping what the person was doing in them, removed when resolved or out of reach.

import { noteError } from "./errors.js";
import { regroup } from "./order.js";

function next() {
  return `${window.location.pathname}${window.location.search}`;
}

// The server's rows of these alerts (missing from the answer: not to be shown any more).
async function fetchRows(ids) {
  const params = new URLSearchParams();
  for (const id of ids) params.append("id", id);
  params.set("next", next());
  const resp = await fetch(`/alerts/rows?${params}`, {
    credentials: "same-origin",
    headers: { Accept: "text/html" },
  });
  if (!resp.ok) throw new Error(`rows: HTTP ${resp.status}`);
  const template = document.createElement("template");
  template.innerHTML = await resp.text();
  const found = new Map();
  for (const row of template.content.querySelectorAll("[data-alert-id]")) {
    found.set(row.dataset.alertId, row);
  }
  return found;
}

/** Returns { removeRow, refresh, resolvedAt } for the rows of `list`. */
export function setUpRows(list, S, applyFilters, refreshTimes) {
  function place(row) {
    if (row.parentNode !== list) list.appendChild(row);
    regroup(list);
  }

  // What the person was doing in a row (open resolve box, typed note, focus) survives an update.
  function carryOver(old, fresh) {
    const details = old.querySelector("details.resolve");
    const freshDetails = fresh.querySelector("details.resolve");
    if (details && freshDetails) freshDetails.open = details.open;
    // ...and so does a note error shown a moment before the row was refreshed.
    const error = details?.querySelector(".error-message");
    const freshForm = freshDetails?.querySelector("form");
    if (error && freshForm) noteError(freshForm, error.lastChild?.textContent || "", S.error_prefix);
    for (const field of old.querySelectorAll("textarea, select")) {
      const twin = field.id && fresh.querySelector(`#${CSS.escape(field.id)}`);
      if (twin) twin.value = field.value;
    }
    const active = document.activeElement;
    if (active && old.contains(active)) {
      const twin = active.id ? fresh.querySelector(`#${CSS.escape(active.id)}`) : null;
      return twin || fresh;
    }
    return null;
  }

  function removeRow(row, moveFocus) {
    const following = row.nextElementSibling || row.previousElementSibling;
    const hadFocus = moveFocus || row.contains(document.activeElement);
    row.remove();
    regroup(list);
    applyFilters();
    if (hadFocus) {
      const target = following && !following.hidden ? following : document.querySelector("h1");
      if (target === document.querySelector("h1")) target.tabIndex = -1;
      target.focus();
    }
  }

  const resolvedAt = new Map(); // alert id → the sequence number of its resolution

  function putRow(fresh, focusRow = false) {
    const old = document.getElementById(fresh.id);
    if (old && Number(old.dataset.seq) > Number(fresh.dataset.seq)) return old; // stale answer
    if (Number(fresh.dataset.seq) < (resolvedAt.get(fresh.dataset.alertId) || 0)) {
      return null; // fetched before the resolution arrived on the stream
    }
    if (fresh.dataset.status === "resolved") {
      if (old) removeRow(old, false);
      return null;
    }
    let focus = null;
    if (old) {
      focus = carryOver(old, fresh);
      old.replaceWith(fresh);
    }
    place(fresh);
    refreshTimes(fresh);
    applyFilters();
    if (focusRow) fresh.focus();
    else if (focus) focus.focus();
    return fresh;
  }

  // Fetch and show the current rows of `ids`; the rows put in place, by id.
  async function refresh(ids, focusId = null) {
    let found = null;
    for (let attempt = 0; attempt < 4 && found === null; attempt += 1) {
      try {
        found = await fetchRows(ids);
      } catch (error) {
        if (attempt === 3) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1000 * 2 ** attempt));
      }
    }
    const shown = new Map();
    for (const id of ids) {
      const fresh = found.get(id);
      if (fresh) {
        const row = putRow(fresh, id === focusId);
        if (row) shown.set(id, row);
      } else {
        const old = document.getElementById(`alert-${id}`);
        if (old) removeRow(old, false);
      }
    }
    return shown;
  }

  return { removeRow, refresh, resolvedAt };
}
