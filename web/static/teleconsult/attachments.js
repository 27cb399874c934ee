// Attachments shared by the teleconsult page and the visit room: open one (a study in the
// viewer, an image or a PDF inline), upload a file (checked by the server by its content;
// a DICOM of another patient ID asks for a confirmed reconciliation), attach a PACS study.

import { csrfToken, fill } from "../lib/page.js";

export async function api(method, url, body, headers = {}) {
  const init = { method, credentials: "same-origin",
    headers: { Accept: "application/json", "X-CSRF-Token": csrfToken(), ...headers } };
  if (body instanceof Blob || body instanceof ArrayBuffer) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const resp = await fetch(url, init);
  const data = await resp.json().catch(() => ({}));
  return { ok: resp.ok, status: resp.status, data };
}

export function showInline(box, attachment) {
  box.replaceChildren();
  box.hidden = false;
  const url = `/api/v1/attachments/${encodeURIComponent(attachment.id)}`;
  if (attachment.media.startsWith("image/")) {
    const img = document.createElement("img");
    img.src = url;
    img.alt = attachment.name || "";
    img.className = "inline-file__image";
    box.append(img);
  } else {
    const frame = document.createElement("iframe");
    frame.src = url;
    frame.title = attachment.name || "PDF";
    frame.className = "inline-file__pdf";
    box.append(frame);
  }
  const link = document.createElement("a");
  link.href = url;
  link.target = "_blank";
  link.rel = "noopener";
  link.textContent = attachment.name || url;
  box.append(link);
}

/** Wire the "Open" buttons of an attachments list. */
export function wireOpen(list, viewer, inlineBox) {
  list.addEventListener("click", (event) => {
    const button = event.target.closest("[data-open]");
    if (!button) return;
    const item = button.closest("[data-attachment]");
    if (item.dataset.study) {
      inlineBox.hidden = true;
      viewer.open(item.dataset.study);
    } else {
      showInline(inlineBox, { id: item.dataset.attachment, media: item.dataset.media || "",
        name: item.textContent.trim() });
    }
  });
}

export function attachmentItem(row, strings) {
  const item = document.createElement("li");
  item.dataset.attachment = row.id;
  item.dataset.kind = row.kind;
  if (row.study_instance_uid) item.dataset.study = row.study_instance_uid;
  if (row.media_type) item.dataset.media = row.media_type;
  item.textContent = row.kind === "study" ? `${strings.study}: ${row.filename || row.study_instance_uid}` : row.filename;
  const open = document.createElement("button");
  open.type = "button";
  open.className = "button button--quiet";
  open.dataset.open = "";
  open.textContent = strings.open;
  item.append(" ", open);
  return item;
}

/** Upload `file` to `url`; asks before a reconciliation. Returns the new attachment or null. */
export async function upload(url, file, strings, say) {
  say(strings.uploading);
  const target = `${url}?filename=${encodeURIComponent(file.name)}`;
  const type = { "Content-Type": file.type || "application/octet-stream" };
  let result = await api("POST", target, file, type);
  if (result.status === 409 && result.data?.error?.code === "patient_id_mismatch"
      && window.confirm(strings.mismatch)) {
    result = await api("POST", `${target}&reconcile=confirm`, file, type);
  }
  if (!result.ok) {
    say(fill(strings.failed, { message: result.data?.error?.message || result.status }));
    return null;
  }
  say(strings.saved);
  return result.data;
}
