// The signalling WebSocket (docs/visits.md, "The protocol") with resume after a drop.
//
// Events (CustomEvent, detail = the server message): welcome, knock, admitted, denied,
// peer-joined, peer-left, signal, chat, ended, error; plus "reconnecting" and "closed"
// (detail = {code, reason}) from this client itself.
//
// A drop is noticed three ways: the socket closes; the browser goes offline (the socket is
// given up at once, since a dead network may not close it for minutes); or nothing arrives
// for PING_MS + SILENCE_MS after a ping. The client then reconnects with backoff — at once
// when the browser comes back online — and resumes the same peer with its resume token.
// Chat lines typed meanwhile are queued and sent after the resume.

import { getJson } from "../lib/page.js";

const FINAL_CODES = new Set([1003, 1008, 4001, 4003]);
const PING_MS = 10000;
const SILENCE_MS = 5000;
const MAX_BACKOFF_MS = 8000;
const MAX_QUEUED = 20;
const CLOSE_GAVE_UP = 4000; // this client abandoned a socket it believes dead

export class Signalling extends EventTarget {
  constructor(visitId, { precall = null, joinUrl = undefined } = {}) {
    super();
    this.visitId = visitId;
    this.precall = precall;
    this.ws = null;
    this.peerId = null;
    this.resumeToken = null;
    this.lastSeq = 0;
    this.iceServers = [];
    this.iceTransportPolicy = "all";
    this.role = null;
    this.stopped = false;
    this.attempt = 0;
    this.pinger = null;
    this.retry = null;
    this.connecting = false;
    this.lastHeard = 0;
    this.queued = [];
    this.joinUrl = joinUrl || `/api/v1/visits/${encodeURIComponent(visitId)}/join`;
    window.addEventListener("offline", () => this.#offline());
    window.addEventListener("online", () => this.#online());
  }

  async #joinInfo() {
    const resp = await getJson(this.joinUrl);
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const error = new Error(body?.error?.message || `join refused (${resp.status})`);
      error.status = resp.status;
      throw error;
    }
    return body;
  }

  /** Open the socket (or reopen it, resuming the same peer). */
  async start() {
    const info = await this.#joinInfo();
    if (this.stopped) return;
    this.iceServers = info.ice_servers;
    this.iceTransportPolicy = info.ice_transport_policy === "relay" ? "relay" : "all";
    this.role = info.role;
    const ws = new WebSocket(`${info.ws_url}?token=${encodeURIComponent(info.token)}`);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.lastHeard = Date.now();
      const join = { type: "join" };
      if (this.resumeToken) {
        join.resume_token = this.resumeToken;
        join.last_seq = this.lastSeq;
      } else if (this.precall) {
        join.precall = this.precall;
      }
      ws.send(JSON.stringify(join));
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.#heartbeat(ws), PING_MS);
    });
    ws.addEventListener("message", (event) => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      this.#onMessage(event.data);
    });
    ws.addEventListener("close", (event) => this.#onClose(ws, event));
  }

  #onMessage(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.type === "welcome") {
      this.attempt = 0;
      this.peerId = message.peer_id;
      this.resumeToken = message.resume_token;
      if (message.ice_servers?.length) this.iceServers = message.ice_servers;
      this.dispatchEvent(new CustomEvent("welcome", { detail: message }));
      this.#flush();
      return;
    } else if (message.type === "chat" && message.seq > this.lastSeq) {
      this.lastSeq = message.seq;
    } else if (message.type === "pong") {
      return;
    }
    this.dispatchEvent(new CustomEvent(message.type, { detail: message }));
  }

  #onClose(ws, event) {
    if (ws !== this.ws) return;
    clearInterval(this.pinger);
    // The server closes with 1000 and a reason (left, denied, ended, ...) when it is over;
    // a bare 1000 is only its echo of a close that did not come from the server.
    const final = FINAL_CODES.has(event.code) || (event.code === 1000 && event.reason);
    if (this.stopped || final) {
      this.stopped = true;
      this.dispatchEvent(new CustomEvent("closed", { detail: { code: event.code, reason: event.reason } }));
      return;
    }
    this.#scheduleReconnect(event.code);
  }

  #scheduleReconnect(code) {
    this.dispatchEvent(new CustomEvent("reconnecting", { detail: { code } }));
    clearTimeout(this.retry);
    this.retry = null;
    if (!navigator.onLine) return; // the "online" event reconnects
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt);
    this.attempt += 1;
    this.retry = setTimeout(() => this.#reconnect(), delay);
  }

  /** Give up the current socket (believed dead) and reconnect. */
  #abandon(code) {
    const ws = this.ws;
    if (!ws || this.stopped) return;
    this.ws = null;
    clearInterval(this.pinger);
    try {
      ws.close(CLOSE_GAVE_UP, "gave up");
    } catch {
      // already closing
    }
    this.#scheduleReconnect(code);
  }

  #heartbeat(ws) {
    if (ws !== this.ws) return;
    if (Date.now() - this.lastHeard > PING_MS + SILENCE_MS) {
      this.#abandon(1006);
      return;
    }
    this.send({ type: "ping" });
  }

  #offline() {
    if (this.stopped) return;
    if (this.ws) this.#abandon(1006);
    else this.dispatchEvent(new CustomEvent("reconnecting", { detail: { code: 1006 } }));
  }

  #online() {
    if (this.stopped || this.connecting) return;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
    clearTimeout(this.retry);
    this.retry = null;
    this.attempt = 0;
    this.#reconnect();
  }

  async #reconnect() {
    if (this.stopped || this.connecting) return;
    this.retry = null;
    this.connecting = true;
    try {
      await this.start();
    } catch (error) {
      if (error.status === 409 || error.status === 403 || error.status === 404
          || error.status === 401) {
        this.stopped = true;
        this.dispatchEvent(new CustomEvent("closed", { detail: { code: 1000, reason: "ended" } }));
        return;
      }
      this.ws = null;
      this.#scheduleReconnect(1006);
    } finally {
      this.connecting = false;
    }
  }

  /** Send now; a chat line typed while the socket is down is queued for the resume. */
  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(message));
      return true;
    }
    if (message.type === "chat" && !this.stopped && this.peerId && this.queued.length < MAX_QUEUED) {
      this.queued.push(message);
      return true;
    }
    return false;
  }

  #flush() {
    const queued = this.queued.splice(0);
    for (const message of queued) this.send(message);
  }

  signal(to, data) { return this.send({ type: "signal", to, data }); }

  /** Leave for good (no resume). */
  leave() {
    this.send({ type: "leave" });
    this.stop();
  }

  stop() {
    this.stopped = true;
    clearInterval(this.pinger);
    clearTimeout(this.retry);
    this.queued = [];
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
  }
}
