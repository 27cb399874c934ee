// Looking together in a live teleconsult (docs/teleconsult.md): one participant leads — the
// first to open a study, or whoever takes the lead — and the others' viewers follow its
// series, slice, zoom, pan and window, through the visit's signalling socket (`view`).

import { fill } from "../lib/page.js";

const SEND_EVERY_MS = 40; // at most 25 views a second; the last one always goes out

export function lookTogether(viewer, signalling, strings, names = () => ({})) {
  const leadBox = document.getElementById("viewer-lead");
  const leadText = document.getElementById("viewer-lead-text");
  const takeLead = document.getElementById("viewer-take-lead");
  let lead = null; // peer id of the leader, null when nobody leads
  let pending = null;
  let timer = null;
  let lastSent = 0;

  const me = () => signalling.peerId;
  const show = () => {
    viewer.root.dataset.lead = lead === null ? "" : (lead === me() ? "me" : "other");
    if (lead === null) { leadBox.hidden = true; return; }
    leadBox.hidden = false;
    takeLead.hidden = lead === me();
    leadText.textContent = lead === me() ? strings.leading
      : fill(strings.following, { name: names()[lead] || "" });
  };

  const flush = () => {
    timer = null;
    if (!pending) return;
    const message = { type: "view", ...pending.view };
    if (pending.take) message.take_lead = true;
    pending = null;
    if (!message.series_uid) return;
    lastSent = Date.now();
    signalling.send(message);
  };
  const send = (view, take = false) => {
    pending = { view, take: take || (pending?.take ?? false) };
    const wait = SEND_EVERY_MS - (Date.now() - lastSent);
    if (take || wait <= 0) { clearTimeout(timer); flush(); }
    else if (!timer) timer = setTimeout(flush, wait);
  };

  viewer.addEventListener("opened", () => {
    if (lead === null) { lead = me(); show(); send(viewer.state()); }
  });
  viewer.addEventListener("change", (event) => {
    if (lead === null) lead = me();
    if (lead === me()) { show(); send(event.detail); }
  });
  takeLead.addEventListener("click", () => {
    if (!viewer.study) return;
    lead = me();
    show();
    send(viewer.state(), true);
  });
  signalling.addEventListener("view", (event) => {
    const view = event.detail;
    lead = view.lead;
    show();
    viewer.apply(view);
  });
  signalling.addEventListener("error", (event) => {
    if (event.detail?.code === "not_leading" && lead === me()) { lead = "?"; show(); }
  });
  signalling.addEventListener("peer-joined", () => {
    if (lead === me() && viewer.study) setTimeout(() => send(viewer.state()), 300);
  });
  signalling.addEventListener("peer-left", (event) => {
    if (event.detail.peer_id === lead) { lead = null; show(); }
  });
  return { get lead() { return lead; } };
}
