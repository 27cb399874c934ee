// The check-in of the patient (or of a guest, who has no pre-call test): camera and
// microphone preview, the pre-call test, the waiting room, then the call.

import { getJson } from "../lib/page.js";
import { Call } from "./call.js";
import { LocalMedia, micLevel, openCamera } from "./media.js";
import { runPrecall } from "./precall.js";
import { t } from "./strings.js";

const page = document.getElementById("visit");
const $ = (id) => document.getElementById(id);

let media = null;
let precall = null;
let stopMeter = () => {};

async function startDevices() {
  try {
    const stream = await openCamera();
    media = new LocalMedia(stream);
    $("preview").srcObject = stream;
    stopMeter = micLevel(stream, $("mic-level"));
    $("devices-status").textContent = t("camera_ready");
    $("btn-devices").hidden = true;
    if ($("btn-test")) $("btn-test").disabled = false;
    $("btn-enter").disabled = false;
  } catch (error) {
    console.warn(error);
    $("devices-status").textContent = t("camera_denied");
  }
}

async function test() {
  $("btn-test").disabled = true;
  $("test-status").textContent = t("testing");
  precall = await runPrecall(media.stream, $("echo"));
  $("test-status").textContent = t(`plain_${precall.verdict}`);
  page.dataset.precall = precall.verdict;
  $("test-rtt").textContent = precall.rtt_ms === null ? "" : t("rtt", { ms: precall.rtt_ms });
  $("btn-test").disabled = false;
}

async function enter() {
  $("btn-enter").disabled = true;
  stopMeter();
  const call = new Call({
    visitId: page.dataset.visitId, media, precall, joinUrl: page.dataset.joinUrl,
  });
  const showCall = () => {
    $("steps").hidden = true;
    $("call").hidden = false;
    page.dataset.state = "admitted";
  };
  call.addEventListener("welcome", (event) => {
    if (event.detail.state === "admitted") {
      showCall();
    } else {
      page.dataset.state = "waiting";
      $("wait-status").textContent = t("waiting_room");
    }
  });
  call.addEventListener("admitted", () => {
    showCall();
    call.status(t("admitted"));
  });
  call.addEventListener("finished", (event) => {
    page.dataset.state = event.detail;
    $("wait-status").textContent = t(event.detail);
    if (event.detail === "ended" || event.detail === "left") showEnd(event.detail);
  });
  try {
    await call.start();
  } catch (error) {
    $("wait-status").textContent = error.message || t("refused");
    $("btn-enter").disabled = false;
  }
}

const REPORT_POLL_MS = 5_000;

/** The calm end screen: the call and its controls gone (media already stopped by the
 * call), a way home and, once the doctor signs it, the report. */
function showEnd(reason) {
  const over = $("call-over");
  if (!over) return;
  $("steps").hidden = true;
  $("call").hidden = true;
  for (const id of ["over-title", "over-text"]) {
    const node = $(id);
    node.textContent = reason === "left" ? node.dataset.left : node.dataset.ended;
  }
  $("over-again").hidden = reason !== "left";
  over.hidden = false;
  over.focus();
  if ($("report-ready") && $("report-ready").hidden) pollReport();
}

async function pollReport() {
  try {
    const response = await getJson(`/api/v1/visits/${page.dataset.visitId}/report`);
    if (response.ok) {
      $("report-ready").hidden = false;
      $("report-pending").hidden = true;
      return;
    }
  } catch (error) {
    console.warn("report check failed", error);
  }
  setTimeout(pollReport, REPORT_POLL_MS);
}

if (page && $("btn-devices")) {
  $("btn-devices").addEventListener("click", startDevices);
  $("btn-test")?.addEventListener("click", test);
  $("btn-enter").addEventListener("click", enter);
}
