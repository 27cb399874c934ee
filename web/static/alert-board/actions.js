// The row's buttons (acknowledge, resolve with a note, snooze) through the JSON API; the POST
// forms they belong to work without the script.

import { sendJson } from "../lib/page.js";
import { noteError, rowError } from "./errors.js";

const DONE = { ack: "acknowledged", resolve: "resolved", snooze: "snoozed" };
const API = { ack: "ack", resolve: "resolve", snooze: "snooze" };

export function setUpActions(list, S, rows, announce) {
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
        noteError(form, S.note_required, S.error_prefix);
        return;
      }
      noteError(form, "", S.error_prefix);
      body = { note };
    } else if (action === "snooze") {
      body = { minutes: Number(form.elements.minutes.value) };
    }
    rowError(row, "");
    const buttons = [...row.querySelectorAll("button")];
    for (const button of buttons) button.disabled = true;
    let resp;
    try {
      resp = await sendJson(`/api/v1/alerts/${encodeURIComponent(id)}/${API[action]}`, body);
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
      if (resp.status === 422 && action === "resolve") noteError(form, text, S.error_prefix);
      else rowError(row, text);
      if (resp.status === 409) rows.refresh([id]).catch((error) => console.error(error));
      return;
    }
    const alert = await resp.json();
    announce(S[DONE[action]]);
    if (alert.status === "resolved") {
      rows.removeRow(row, true);
      return;
    }
    try {
      await rows.refresh([id], id);
    } catch {
      for (const button of buttons) button.disabled = false; // the stream brings it later
    }
  });
}
