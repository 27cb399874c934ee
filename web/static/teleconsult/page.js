// The teleconsult pages: the request form, and one request's actions, attachments and viewer.

import { dataBlock, fill } from "../lib/page.js";
import { Viewer } from "../viewer/viewer.js";
import { api, attachmentItem, upload, wireOpen } from "./attachments.js";

const strings = dataBlock("teleconsult-strings", {});
const $ = (id) => document.getElementById(id);

function newRequestForm(form) {
  const toggle = () => {
    const to = form.querySelector("input[name=to]:checked").value;
    for (const box of form.querySelectorAll("[data-when]")) box.hidden = box.dataset.when !== to;
  };
  for (const radio of form.querySelectorAll("input[name=to]")) radio.addEventListener("change", toggle);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = { patient_id: data.get("patient_id"), question: data.get("question"),
      urgency: data.get("urgency"), mode: data.get("mode") };
    if (data.get("mode") === "live" && data.get("include_patient")) body.include_patient = true;
    if (data.get("to") === "specialty") body.specialty = data.get("specialty");
    else body.specialist_id = data.get("specialist_id");
    const result = await api("POST", "/api/v1/teleconsults", body);
    if (result.ok) {
      window.location.assign(`/teleconsults/${encodeURIComponent(result.data.id)}`);
      return;
    }
    const box = $("form-errors");
    box.hidden = false;
    const fields = result.data?.error?.fields || {};
    box.replaceChildren(...[result.data?.error?.message, ...Object.values(fields)]
      .filter(Boolean).map((text) => Object.assign(document.createElement("p"), { textContent: text })));
    box.focus?.();
  });
}

function consultPage(root) {
  const id = root.dataset.teleconsultId;
  const base = `/api/v1/teleconsults/${encodeURIComponent(id)}`;
  const say = (text) => { $("action-status").textContent = text; };
  const viewer = new Viewer($("viewer"), strings);
  wireOpen($("attachments"), viewer, $("inline-file"));

  for (const button of root.querySelectorAll("[data-action]")) {
    button.addEventListener("click", async () => {
      const action = button.dataset.action;
      let body = { text: $("note-text")?.value || null };
      if (action === "answer") body = { text: $("answer-text").value };
      if (action === "schedule") {
        const at = new Date($("schedule-at").value);
        if (Number.isNaN(at.getTime())) { say(fill(strings.failed, { message: "?" })); return; }
        body = { scheduled_start: at.toISOString(), duration_minutes: Number($("schedule-minutes").value) };
      }
      button.disabled = true;
      const result = await api("POST", `${base}/${action}`, body);
      button.disabled = false;
      if (result.ok) {
        window.location.reload();
      } else {
        const fields = Object.values(result.data?.error?.fields || {});
        say(fill(strings.failed, { message: [result.data?.error?.message, ...fields].filter(Boolean).join(" ") }));
      }
    });
  }

  const addItem = (row) => {
    $("no-attachments")?.remove();
    $("attachments").append(attachmentItem(row, strings));
  };
  $("attach-file")?.addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    const row = await upload(`${base}/attachments`, file, strings, say);
    if (row) addItem(row);
    event.target.value = "";
  });
  $("find-studies")?.addEventListener("click", async () => {
    const list = $("studies");
    list.replaceChildren();
    const result = await api("GET", `/api/v1/patients/${encodeURIComponent(root.dataset.patientId)}/studies`);
    if (!result.ok) {
      say(result.status === 503 ? strings.images_unavailable
        : fill(strings.failed, { message: result.data?.error?.message || result.status }));
      return;
    }
    if (!result.data.items.length) say(strings.no_studies);
    for (const study of result.data.items) {
      const item = document.createElement("li");
      item.dataset.study = study.study_instance_uid;
      item.textContent = `${study.date || ""} ${study.description || ""} ${study.modalities.join(", ")} `;
      const attach = document.createElement("button");
      attach.type = "button";
      attach.className = "button button--quiet";
      attach.textContent = strings.attach;
      attach.addEventListener("click", async () => {
        const done = await api("POST", `${base}/attachments`, { study_instance_uid: study.study_instance_uid });
        if (done.ok) { addItem(done.data); item.remove(); say(strings.saved); }
        else say(fill(strings.failed, { message: done.data?.error?.message || done.status }));
      });
      item.append(attach);
      list.append(item);
    }
  });
}

const form = $("teleconsult-form");
if (form) newRequestForm(form);
const root = $("teleconsult");
if (root) consultPage(root);
