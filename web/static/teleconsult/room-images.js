// The visit room's images and documents: the visit's attachments (and those of its
// teleconsult request), uploads, the viewer, and looking together once the call is open.

import { dataBlock } from "../lib/page.js";
import { Viewer } from "../viewer/viewer.js";
import { lookTogether } from "../viewer/together.js";
import { api, attachmentItem, upload, wireOpen } from "./attachments.js";

const strings = dataBlock("teleconsult-strings", {});
const $ = (id) => document.getElementById(id);
const panel = $("visit-images");

async function start() {
  const base = `/api/v1/visits/${encodeURIComponent(panel.dataset.visitId)}/attachments`;
  const say = (text) => { $("action-status").textContent = text; };
  const viewer = new Viewer($("viewer"), strings);
  wireOpen($("attachments"), viewer, $("inline-file"));
  const add = (row) => {
    $("no-attachments")?.remove();
    $("attachments").append(attachmentItem(row, strings));
  };
  const listed = await api("GET", base);
  if (listed.ok) for (const row of listed.data.items) add(row);
  $("attach-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    const row = await upload(base, file, strings, say);
    if (row) add(row);
    event.target.value = "";
  });
  const names = {};
  $("visit").addEventListener("call-created", (event) => {
    const call = event.detail;
    const signalling = call.signalling;
    const remember = (peer) => { names[peer.peer_id] = peer.name; };
    signalling.addEventListener("welcome", (e) => e.detail.participants.forEach(remember));
    signalling.addEventListener("admitted", (e) => e.detail.participants.forEach(remember));
    signalling.addEventListener("peer-joined", (e) => remember(e.detail.peer));
    lookTogether(viewer, signalling, strings, () => names);
  });
}

if (panel) start();
