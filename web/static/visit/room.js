// The clinician's room: knocking patients with their pre-call results, admit or not now,
// then the call; after the end, the link to the report.

import { Call } from "./call.js";
import { LocalMedia, openCamera } from "./media.js";
import { t } from "./strings.js";

const page = document.getElementById("visit");
const $ = (id) => document.getElementById(id);

function precallText(precall) {
  if (!precall) return t("precall_none");
  return t("precall_summary", {
    verdict: t(`verdict_${precall.verdict}`),
    rtt: precall.rtt_ms ?? "—",
    video: t(precall.video ? "ok" : "not_ok"),
    audio: t(precall.audio ? "ok" : "not_ok"),
  });
}

function removeKnock(peerId) {
  document.querySelector(`#knocks [data-peer-id="${CSS.escape(peerId)}"]`)?.remove();
  $("knocks-empty").hidden = $("knocks").children.length > 0;
}

function addKnock(call, message) {
  removeKnock(message.peer.peer_id);
  const item = document.createElement("li");
  item.className = `knock knock--${message.precall?.verdict ?? "none"}`;
  item.dataset.peerId = message.peer.peer_id;
  const name = document.createElement("strong");
  name.textContent = message.peer.name;
  const what = document.createElement("span");
  what.textContent = ` ${t("knocking")} · ${precallText(message.precall)}`;
  // Admit or deny: the answer goes to the server, and the knock leaves the list.
  const answer = (type, className) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = className;
    button.textContent = t(type);
    button.addEventListener("click", () => {
      call.signalling.send({ type, peer_id: message.peer.peer_id });
      removeKnock(message.peer.peer_id);
    });
    return button;
  };
  item.append(name, what, answer("admit", "button button--primary"), answer("deny", "button button--quiet"));
  $("knocks").append(item);
  $("knocks-empty").hidden = true;
}

async function open() {
  $("btn-open").disabled = true;
  let stream;
  try {
    stream = await openCamera();
  } catch (error) {
    console.warn(error);
    $("btn-open").disabled = false;
    window.alert(t("camera_denied"));
    return;
  }
  const call = new Call({ visitId: page.dataset.visitId, media: new LocalMedia(stream) });
  // Other parts of the room (the image viewer's "looking together") ride on this call.
  page.dispatchEvent(new CustomEvent("call-created", { detail: call }));
  call.addEventListener("knock", (event) => addKnock(call, event.detail));
  call.addEventListener("peer-joined", (event) => removeKnock(event.detail.peer.peer_id));
  call.addEventListener("peer-left", (event) => removeKnock(event.detail.peer_id));
  call.addEventListener("welcome", () => {
    $("btn-open").hidden = true;
    $("call").hidden = false;
    page.dataset.state = "admitted";
  });
  call.addEventListener("finished", (event) => {
    page.dataset.state = event.detail;
    $("call").hidden = true;
    $("knocks").replaceChildren();
    $("after-call").hidden = false;
  });
  await call.start();
}

if (page) $("btn-open").addEventListener("click", open);
