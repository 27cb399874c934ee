// The live changes: GET /api/v1/alerts/stream (Server-Sent Events) from the sequence number
// the page was rendered at. Changes are gathered for a moment and their rows fetched together:
// a burst (a replay after a reconnection) costs one request per 50 alerts, not one per change.

import { fill } from "../lib/page.js";
import { rowsOf } from "./order.js";

/** Returns `connect()`, which follows the stream from `seq` and keeps the rows current. */
export function setUpStream(list, S, seq, rows, announce, chime) {
  const status = document.getElementById("live-status");
  const statusText = document.getElementById("live-status-text");
  let lastSeq = seq;
  const pending = new Map(); // alert id → {alert: the latest event, before: the row's state}
  let flushing = false;
  let flushTimer = null;

  function noteChange(alert) {
    const existing = document.getElementById(`alert-${alert.id}`);
    if (existing && Number(existing.dataset.seq) >= alert.seq) return; // already shown
    if (alert.status === "resolved") {
      rows.resolvedAt.set(alert.id, alert.seq);
      pending.delete(alert.id);
      if (existing) rows.removeRow(existing, false);
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
    for (const other of rowsOf(list)) {
      if (ids.size >= 50) break;
      if (patients.has(other.dataset.patientId)) ids.add(other.dataset.alertId);
    }
    try {
      const shown = await rows.refresh([...ids]);
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
      const eventSeq = Number(event.lastEventId || alert.seq) || 0;
      if (eventSeq > lastSeq) lastSeq = eventSeq;
      alert.seq = Number(alert.seq) || eventSeq;
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
  return connect;
}
