// The call shared by the patient's check-in and the clinician's room: signalling, one
// PeerLink per admitted peer, the video grid (up to six tiles), chat, controls and the
// connection-quality indicator. A tile whose media stalls shows "Reconnecting…" instead of
// a frozen picture; after a WebSocket drop the socket resumes and stalled links restart ICE.

import { PeerLink } from "./peers.js";
import { QualityMeter } from "./quality.js";
import { Signalling } from "./signalling.js";
import { t } from "./strings.js";

const MAX_TILES = 6;
const QUALITY_MS = 2000;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class Call extends EventTarget {
  constructor({ visitId, media, precall = null, joinUrl = undefined }) {
    super();
    this.media = media;
    this.signalling = new Signalling(visitId, { precall, joinUrl });
    this.peers = new Map();
    this.seenSeq = new Set();
    this.grid = document.getElementById("grid");
    this.statusLine = document.getElementById("call-status");
    this.chatLines = document.getElementById("chat-lines");
    this.callArea = document.getElementById("call");
    this.timer = null;
    this.media.onVideoTrack = async (track) => {
      for (const { link } of this.peers.values()) await link.replaceTrack("video", track);
      document.getElementById("self-video").srcObject = new MediaStream(
        [track, ...this.media.stream.getAudioTracks()].filter(Boolean));
    };
    this.#wireSignalling();
    this.#wireControls();
  }

  status(text) {
    if (this.statusLine) this.statusLine.textContent = text;
  }

  async start() {
    document.getElementById("self-video").srcObject = this.media.stream;
    this.status(t("connecting"));
    this.timer = setInterval(() => this.#measure(), QUALITY_MS);
    await this.signalling.start();
  }

  #wireSignalling() {
    const on = (type, handler) => this.signalling.addEventListener(type, (event) => handler(event.detail));
    on("welcome", (message) => {
      if (!message.resumed) {
        for (const peerId of [...this.peers.keys()]) this.#drop(peerId);
      }
      for (const peer of message.participants) this.#meet(peer, peer.polite);
      if (message.resumed) {
        for (const { link } of this.peers.values()) {
          if (link.pc.connectionState !== "connected") link.restart();
        }
      }
      this.status("");
      if (this.callArea) this.callArea.dataset.signalling = "connected";
      this.dispatchEvent(new CustomEvent("welcome", { detail: message }));
    });
    on("admitted", (message) => {
      for (const peer of message.participants) this.#meet(peer, peer.polite);
      this.dispatchEvent(new CustomEvent("admitted", { detail: message }));
    });
    on("peer-joined", (message) => {
      this.#drop(message.peer.peer_id);
      this.#meet(message.peer, message.polite);
      this.dispatchEvent(new CustomEvent("peer-joined", { detail: message }));
    });
    on("peer-left", (message) => {
      const known = this.peers.get(message.peer_id);
      this.#drop(message.peer_id);
      if (known) this.status(t("peer_left", { name: known.info.name }));
      this.dispatchEvent(new CustomEvent("peer-left", { detail: message }));
    });
    on("signal", async (message) => {
      const peer = this.peers.get(message.from);
      if (peer) await peer.link.onSignal(message.data);
    });
    on("chat", (message) => this.#chatLine(message));
    on("knock", (message) => this.dispatchEvent(new CustomEvent("knock", { detail: message })));
    on("denied", () => this.finish("denied"));
    on("ended", () => this.finish("ended"));
    on("error", (message) => {
      if (message.code === "room_full") this.status(t("room_full"));
      console.warn("signalling error", message.code, message.message);
    });
    on("reconnecting", () => {
      if (this.finished) return;
      this.status(t("connection_lost"));
      if (this.callArea) this.callArea.dataset.signalling = "reconnecting";
    });
    on("closed", (detail) => {
      if (detail.code === 4001) this.finish("replaced");
      else if (detail.code === 4003) this.finish("removed");
      else if (detail.code === 1008 || detail.code === 1003) this.finish("refused");
      else if (!this.finished) this.finish(detail.reason === "left" ? "left" : "ended");
    });
  }

  #wireControls() {
    const bind = (id, handler) => document.getElementById(id)?.addEventListener("click", handler);
    bind("btn-mute", (event) => {
      const muted = this.media.toggleMute();
      event.currentTarget.setAttribute("aria-pressed", String(muted));
      event.currentTarget.textContent = t(muted ? "unmute" : "mute");
    });
    bind("btn-camera", (event) => {
      const off = this.media.toggleCamera();
      event.currentTarget.setAttribute("aria-pressed", String(off));
      event.currentTarget.textContent = t(off ? "camera_on" : "camera_off");
    });
    bind("btn-share", async (event) => {
      const button = event.currentTarget;
      try {
        const sharing = await this.media.toggleShare();
        button.setAttribute("aria-pressed", String(sharing));
        button.textContent = t(sharing ? "stop_share" : "share");
      } catch (error) {
        console.warn("screen share refused", error);
      }
    });
    bind("btn-end", () => {
      if (window.confirm(t("end_confirm"))) this.signalling.send({ type: "end" });
    });
    bind("btn-leave", () => {
      this.signalling.leave();
      this.finish("left");
    });
    document.getElementById("chat-form")?.addEventListener("submit", (event) => {
      event.preventDefault();
      const input = document.getElementById("chat-text");
      const text = input.value.trim();
      if (text && this.signalling.send({ type: "chat", text })) input.value = "";
    });
  }

  #meet(info, polite) {
    if (this.peers.has(info.peer_id) || this.peers.size >= MAX_TILES - 1) return;
    const link = new PeerLink({
      peerId: info.peer_id,
      polite: Boolean(polite),
      iceServers: this.signalling.iceServers,
      iceTransportPolicy: this.signalling.iceTransportPolicy,
      stream: this.media.stream,
      signal: (data) => this.signalling.signal(info.peer_id, data),
    });
    const tile = element("figure", "tile tile--connecting");
    tile.dataset.peerId = info.peer_id;
    const video = element("video");
    video.autoplay = true;
    video.playsInline = true;
    const caption = element("figcaption", "tile__name", info.name);
    const quality = element("span", "tile__quality quality--unknown");
    quality.title = t("quality_unknown");
    quality.setAttribute("role", "img");
    quality.setAttribute("aria-label", t("quality_unknown"));
    const overlay = element("p", "tile__overlay", t("connecting"));
    tile.append(video, caption, quality, overlay);
    this.grid.append(tile);
    this.grid.dataset.count = String(this.grid.children.length);
    link.addEventListener("track", (event) => {
      if (video.srcObject !== event.detail) video.srcObject = event.detail;
    });
    link.addEventListener("state", (event) => {
      tile.dataset.connectionState = event.detail;
    });
    this.peers.set(info.peer_id, { link, tile, info, meter: new QualityMeter(link.pc), quality, overlay });
  }

  #drop(peerId) {
    const peer = this.peers.get(peerId);
    if (!peer) return;
    peer.link.close();
    peer.tile.remove();
    this.peers.delete(peerId);
    this.grid.dataset.count = String(this.grid.children.length);
  }

  async #measure() {
    for (const peer of this.peers.values()) {
      let sample;
      try {
        sample = await peer.meter.sample();
      } catch {
        continue;
      }
      const state = peer.link.pc.connectionState;
      const reconnecting = state === "disconnected" || state === "failed"
        || (state === "connected" && sample.stalled);
      const connecting = state === "new" || state === "connecting";
      peer.tile.dataset.framesDecoded = String(sample.framesDecoded);
      peer.tile.dataset.connectionState = state;
      peer.tile.classList.toggle("tile--reconnecting", reconnecting && !connecting);
      peer.tile.classList.toggle("tile--connecting", connecting);
      peer.overlay.textContent = t(connecting ? "connecting" : "reconnecting");
      peer.quality.className = `tile__quality quality--${sample.level}`;
      const label = t(`quality_${sample.level}`);
      peer.quality.title = sample.rtt === null ? label : `${label} · ${Math.round(sample.rtt * 1000)} ms`;
      peer.quality.setAttribute("aria-label", peer.quality.title);
    }
  }

  #chatLine(message) {
    if (this.seenSeq.has(message.seq)) return;
    this.seenSeq.add(message.seq);
    const line = element("li", "chat__line");
    line.dataset.seq = String(message.seq);
    const mine = message.from === this.signalling.peerId;
    if (mine) line.classList.add("chat__line--mine");
    const who = element("span", "chat__who", mine ? t("you") : message.name || "");
    const when = element("time", "chat__when", new Date(message.ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
    when.dateTime = message.ts;
    const text = element("span", "chat__text", message.text);
    line.append(who, when, text);
    this.chatLines.append(line);
    this.chatLines.scrollTop = this.chatLines.scrollHeight;
  }

  /** The call is over (ended, denied, left, replaced, refused): tidy up and tell the page. */
  finish(reason) {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.timer);
    this.signalling.stop();
    for (const peerId of [...this.peers.keys()]) this.#drop(peerId);
    this.media.stop();
    this.status(t(reason));
    this.dispatchEvent(new CustomEvent("finished", { detail: reason }));
  }
}
