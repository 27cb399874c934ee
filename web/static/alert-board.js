// The alert board, live: follows GET /api/v1/alerts/stream (Server-Sent Events) and keeps
// the rows in order (critical first, then oldest first), filters in the browser, sends the
// actions to the JSON API, announces new and escalated alerts (polite for warnings,
// assertive for critical ones) and, when asked to, plays a chime for new critical alerts.
//
// The page works without this script: the server renders every row, the filters are a GET
// form and the actions are POST forms. Changed alerts' rows are fetched from the server
// (GET /alerts/rows?id=…), so the words, times and vitals are always the server's.

const board = document.getElementById("board");
const dataBlock = document.getElementById("board-data");
if (board && dataBlock) start(JSON.parse(dataBlock.textContent));

function fill(template, params) {
  return template.replace(/\{(\w+)\}/g, (whole, key) => (key in params ? String(params[key]) : whole));
}

function start(data) {
  const S = data.strings;
  const lang = document.documentElement.lang || "en";
  const list = document.getElementById("alert-list");
  const filters = document.getElementById("board-filters");
  const count = document.getElementById("board-count");
  const empty = document.getElementById("board-empty");
  const noMatch = document.getElementById("board-no-match");
  const status = document.getElementById("live-status");
  const statusText = document.getElementById("live-status-text");
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  let lastSeq = Number(data.seq) || 0;

  // --- ordering and filtering ---------------------------------------------------------

  const rows = () => [...list.querySelectorAll(":scope > [data-alert-id]")];
  const rank = (row) => [row.dataset.severity === "critical" ? 0 : 1, Date.parse(row.dataset.opened), row.dataset.alertId];
  const earlier = (ra, rb) => {
    for (let i = 0; i < ra.length; i += 1) {
      if (ra[i] < rb[i]) return true;
      if (ra[i] > rb[i]) return false;
    }
    return false;
  };

  // One group per patient (its rows together, one card): the patient whose most urgent alert
  // is the most urgent first, each patient's alerts most urgent first.
  function regroup() {
    const all = rows();
    const best = new Map();
    for (const row of all) {
      const mine = rank(row);
      const theirs = best.get(row.dataset.patientId);
      if (!theirs || earlier(mine, theirs)) best.set(row.dataset.patientId, mine);
    }
    const key = (row) => [...best.get(row.dataset.patientId), ...rank(row)];
    const wanted = [...all].sort((a, b) => (earlier(key(a), key(b)) ? -1 : earlier(key(b), key(a)) ? 1 : 0));
    wanted.forEach((row, i) => {
      if (list.children[i] !== row) list.insertBefore(row, list.children[i] || null);
      const same = i > 0 && wanted[i - 1].dataset.patientId === row.dataset.patientId;
      row.classList.toggle("alert-card--same-patient", same);
    });
  }

  function place(row) {
    if (row.parentNode !== list) list.appendChild(row);
    regroup();
  }

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
    const all = rows();
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

  // --- times ----------------------------------------------------------------------------

  const relativeFormat = new Intl.RelativeTimeFormat(lang, { numeric: "always", style: "long" });
  function relative(iso) {
    const seconds = (Date.parse(iso) - Date.now()) / 1000;
    if (Math.abs(seconds) < 60) return S.just_now;
    // The same rounding as the server (babel's format_timedelta with threshold 1).
    for (const [unit, size] of [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]]) {
      if (Math.abs(seconds) / size >= 1) return relativeFormat.format(Math.round(seconds / size), unit);
    }
    return S.just_now;
  }
  function refreshTimes(root = document) {
    for (const node of root.querySelectorAll("time[data-relative]")) {
      node.textContent = relative(node.getAttribute("datetime"));
    }
  }
  setInterval(() => refreshTimes(), 30_000);

  // --- announcements and sound --------------------------------------------------------

  const polite = document.getElementById("announce-polite");
  const assertive = document.getElementById("announce-assertive");
  function announce(text, urgent = false) {
    const region = urgent ? assertive : polite;
    region.textContent = "";
    // A fresh text node after a tick, so the same words are announced again.
    setTimeout(() => { region.textContent = text; }, 60);
  }

  const SOUND_KEY = "telemed.alertBoard.sound";
  const toggleBox = document.getElementById("sound-toggle");
  const toggle = document.getElementById("sound-on");
  const blocked = document.getElementById("sound-blocked");
  const audio = new Audio(board.dataset.sound);
  audio.preload = "auto";
  let soundOn = false;
  try {
    soundOn = window.localStorage.getItem(SOUND_KEY) === "on";
  } catch {
    soundOn = false;
  }
  toggle.checked = soundOn;
  toggleBox.hidden = false;
  toggle.addEventListener("change", () => {
    soundOn = toggle.checked;
    try {
      window.localStorage.setItem(SOUND_KEY, soundOn ? "on" : "off");
    } catch {
      // private mode: the choice lasts for this page only
    }
    blocked.hidden = true;
  });
  document.addEventListener("click", () => { blocked.hidden = true; }, { capture: true });

  function chime() {
    if (!soundOn) return;
    audio.currentTime = 0;
    audio.play().catch(() => {
      blocked.textContent = S.sound_blocked;
      blocked.hidden = false;
    });
  }

  // --- rows -----------------------------------------------------------------------------

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

  // What the person was doing in a row (open resolve box, typed note, focus) survives an update.
  function carryOver(old, fresh) {
    const details = old.querySelector("details.resolve");
    const freshDetails = fresh.querySelector("details.resolve");
    if (details && freshDetails) freshDetails.open = details.open;
    // ...and so does a note error shown a moment before the row was refreshed.
    const error = details?.querySelector(".error-message");
    const freshForm = freshDetails?.querySelector("form");
    if (error && freshForm) noteError(freshForm, error.lastChild?.textContent || "");
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
    regroup();
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

  // --- the stream -----------------------------------------------------------------------

  // Changes are gathered for a moment and their rows fetched together: a burst (a replay
  // after a reconnection) costs one request per 50 alerts, not one per change.
  const pending = new Map(); // alert id → {alert: the latest event, before: the row's state}
  let flushing = false;
  let flushTimer = null;

  function noteChange(alert) {
    const existing = document.getElementById(`alert-${alert.id}`);
    if (existing && Number(existing.dataset.seq) >= alert.seq) return; // already shown
    if (alert.status === "resolved") {
      resolvedAt.set(alert.id, alert.seq);
      pending.delete(alert.id);
      if (existing) removeRow(existing, false);
      return;
    }
    const earlier = pending.get(alert.id);
    const before_ = earlier ? earlier.before : existing ? {
      severity: existing.dataset.severity,
      escalated: existing.dataset.escalated === "true",
    } : null;
    // A change that notified stays notifying when a quieter one follows before the fetch.
    const notify = alert.notify !== false || (earlier && earlier.notify);
    pending.set(alert.id, { alert, before: before_, notify });
    scheduleFlush(150);
  }

  function scheduleFlush(delay) {
    if (flushTimer === null && !flushing) flushTimer = setTimeout(flush, delay);
  }

  async function flush() {
    flushTimer = null;
    if (!pending.size) return;
    flushing = true;
    const batch = [...pending.entries()].slice(0, 40);
    for (const [id] of batch) pending.delete(id);
    // The other rows of the same patients show the same latest vitals: refresh them too.
    const patients = new Set(batch.map(([, change]) => change.alert.patient_id));
    const ids = new Set(batch.map(([id]) => id));
    for (const other of rows()) {
      if (ids.size >= 50) break;
      if (patients.has(other.dataset.patientId)) ids.add(other.dataset.alertId);
    }
    try {
      const shown = await refresh([...ids]);
      for (const [id, change] of batch) {
        const row = shown.get(id);
        if (row) notifyChange(change, row);
      }
    } catch (error) {
      console.error(error);
      for (const [id, change] of batch) if (!pending.has(id)) pending.set(id, change);
      flushing = false;
      flushTimer = setTimeout(flush, 5000);
      return;
    }
    flushing = false;
    if (pending.size) scheduleFlush(0);
  }

  function notifyChange({ alert, before: before_, notify }, row) {
    const isNew = !before_;
    const worse = before_ && before_.severity === "warning" && alert.severity === "critical";
    const escalated = before_ && (worse || (!before_.escalated && alert.escalated));
    if (!(isNew || escalated)) return;
    if (!notify && !isNew) return; // snoozed: no notification
    const critical = alert.severity === "critical";
    if (!critical && row.hidden) return; // warnings outside the filters stay quiet
    const words = isNew ? S.announce_new : worse ? S.announce_worse : S.announce_escalated;
    announce(fill(words, { summary: row.dataset.summary }), critical);
    if (critical && (isNew || worse)) chime();
  }

  function setStatus(state) {
    status.dataset.state = state;
    statusText.textContent = S[state];
  }

  let source = null;
  let retry = 1000;
  function connect() {
    setStatus("connecting");
    source = new EventSource(`/api/v1/alerts/stream?last_event_id=${lastSeq}`);
    source.addEventListener("open", () => {
      setStatus("live");
      retry = 1000;
    });
    source.addEventListener("alert", (event) => {
      let alert;
      try {
        alert = JSON.parse(event.data);
      } catch {
        return;
      }
      const seq = Number(event.lastEventId || alert.seq) || 0;
      if (seq > lastSeq) lastSeq = seq;
      alert.seq = Number(alert.seq) || seq;
      noteChange(alert);
    });
    source.addEventListener("error", () => {
      setStatus("reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error): try again ourselves, from the last event seen.
        source.close();
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 30_000);
      }
      // Otherwise the browser reconnects by itself and sends Last-Event-ID.
    });
  }

  // --- actions --------------------------------------------------------------------------

  function rowError(row, text) {
    const box = row.querySelector("[data-row-error]");
    box.textContent = text;
    box.hidden = !text;
  }

  function noteError(form, text) {
    const field = form.querySelector("textarea");
    const holder = field.closest(".field");
    let message = holder.querySelector(".error-message");
    if (!text) {
      message?.remove();
      holder.classList.remove("field--error");
      field.removeAttribute("aria-invalid");
      field.removeAttribute("aria-describedby");
      return;
    }
    if (!message) {
      message = document.createElement("p");
      message.className = "error-message";
      message.id = `${field.id}-error`;
      holder.insertBefore(message, field);
    }
    const hidden = document.createElement("span");
    hidden.className = "visually-hidden";
    hidden.textContent = `${S.error_prefix} `;
    message.replaceChildren(hidden, text);
    holder.classList.add("field--error");
    field.setAttribute("aria-invalid", "true");
    field.setAttribute("aria-describedby", message.id);
    field.focus();
  }

  const DONE = { ack: "acknowledged", resolve: "resolved", snooze: "snoozed" };
  const API = { ack: "ack", resolve: "resolve", snooze: "snooze" };

  list.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-alert-action]");
    if (!form) return;
    event.preventDefault();
    const row = form.closest("[data-alert-id]");
    const id = row.dataset.alertId;
    const action = form.dataset.alertAction;
    let body = {};
    if (action === "resolve") {
      const note = form.elements.note.value.trim();
      if (!note) {
        noteError(form, S.note_required);
        return;
      }
      noteError(form, "");
      body = { note };
    } else if (action === "snooze") {
      body = { minutes: Number(form.elements.minutes.value) };
    }
    rowError(row, "");
    const buttons = [...row.querySelectorAll("button")];
    for (const button of buttons) button.disabled = true;
    let resp;
    try {
      resp = await fetch(`/api/v1/alerts/${encodeURIComponent(id)}/${API[action]}`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body),
      });
    } catch {
      for (const button of buttons) button.disabled = false;
      rowError(row, S.failed);
      return;
    }
    if (!resp.ok) {
      for (const button of buttons) button.disabled = false;
      const problem = await resp.json().catch(() => null);
      const code = problem?.error?.code;
      const text = code === "alert_acknowledged" ? S.already_acknowledged
        : code === "alert_resolved" ? S.already_resolved
          : code === "csrf_failed" || resp.status === 401 ? S.session_expired
            : resp.status === 403 ? S.no_access
              : resp.status === 422 && action === "resolve" ? S.note_required
                : S.failed;
      if (resp.status === 422 && action === "resolve") noteError(form, text);
      else rowError(row, text);
      if (resp.status === 409) refresh([id]).catch((error) => console.error(error));
      return;
    }
    const alert = await resp.json();
    announce(S[DONE[action]]);
    if (alert.status === "resolved") {
      removeRow(row, true);
      return;
    }
    try {
      await refresh([id], id);
    } catch {
      for (const button of buttons) button.disabled = false; // the stream brings it later
    }
  });

  applyFilters();
  refreshTimes();
  connect();
}
