// The pre-call test against the server's echo peer: media goes out and comes back, and
// data-channel pings measure the round-trip time. The result travels with the knock.

import { sendJson } from "../lib/page.js";

const PINGS = 5;

function waitFor(predicate, ms) {
  return new Promise((resolve) => {
    const started = performance.now();
    const timer = setInterval(() => {
      if (predicate() || performance.now() - started > ms) {
        clearInterval(timer);
        resolve(predicate());
      }
    }, 100);
  });
}

async function gathered(pc, ms) {
  if (pc.iceGatheringState === "complete") return;
  await new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ms);
  });
}

async function inboundCounts(pc) {
  const counts = { audio: 0, video: 0 };
  (await pc.getStats()).forEach((report) => {
    if (report.type !== "inbound-rtp") return;
    if (report.kind === "video") counts.video += report.framesDecoded ?? 0;
    if (report.kind === "audio") counts.audio += report.packetsReceived ?? 0;
  });
  return counts;
}

function verdictOf(rtt, audio, video) {
  if (rtt === null || (!audio && !video)) return "failed";
  if (rtt <= 150 && audio && video) return "good";
  if (rtt <= 400 && (audio || video)) return "fair";
  return "poor";
}

/** Run the test with `stream`; `echoVideo` shows what came back. Resolves to the result. */
export async function runPrecall(stream, echoVideo) {
  const pc = new RTCPeerConnection();
  const echoed = new MediaStream();
  pc.addEventListener("track", ({ track }) => {
    echoed.addTrack(track);
    if (echoVideo) echoVideo.srcObject = echoed;
  });
  for (const track of stream.getTracks()) pc.addTrack(track, stream);
  const channel = pc.createDataChannel("precall");
  const sent = new Map();
  const rtts = [];
  channel.addEventListener("message", ({ data }) => {
    const at = sent.get(String(data).slice(5));
    if (at !== undefined) rtts.push(performance.now() - at);
  });
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, 3000);
    const resp = await sendJson("/api/v1/precall/offer",
      { sdp: pc.localDescription.sdp, type: pc.localDescription.type });
    if (!resp.ok) throw new Error(`echo refused (${resp.status})`);
    await pc.setRemoteDescription(await resp.json());
    await waitFor(() => channel.readyState === "open", 10000);
    for (let index = 0; index < PINGS && channel.readyState === "open"; index += 1) {
      sent.set(String(index), performance.now());
      channel.send(`ping ${index}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await waitFor(() => rtts.length >= PINGS, 2000);
    const wantVideo = stream.getVideoTracks().length > 0;
    let counts = await inboundCounts(pc);
    const started = performance.now();
    while (performance.now() - started < 4000 && (counts.audio === 0 || (wantVideo && counts.video === 0))) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      counts = await inboundCounts(pc);
    }
    rtts.sort((a, b) => a - b);
    const rtt = rtts.length ? Math.round(rtts[Math.floor(rtts.length / 2)]) : null;
    const audio = counts.audio > 0;
    const video = counts.video > 0;
    return { verdict: verdictOf(rtt, audio, video), rtt_ms: rtt, audio, video };
  } catch (error) {
    console.warn("pre-call test failed", error);
    return { verdict: "failed", rtt_ms: null, audio: false, video: false };
  } finally {
    pc.close();
  }
}
