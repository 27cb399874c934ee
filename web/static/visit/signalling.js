// The signalling WebSocket (CONTRACT §5) with resume after a drop.
//
// Events (CustomEvent, detail = the server message): welcome, knock, admitted, denied,
// peer-joined, peer-left, signal, chat, ended, error; plus "reconnecting" and "closed"
// (detail = {code, reason}) from this client itself.

const FINAL_CODES = new Set([1000, 1003, 1008, 4001]);
const PING_MS = 20000;
const MAX_BACKOFF_MS = 8000;

export class Signalling extends EventTarget {
  constructor(visitId, { precall = null } = {}) {
    super();
    this.visitId = visitId;
    this.precall = precall;
    this.ws = null;
    this.peerId = null;
    this.resumeToken = null;
    this.lastSeq = 0;
    this.iceServers = [];
    this.role = null;
    this.stopped = false;
    this.attempt = 0;
    this.pinger = null;
  }

  async #joinInfo() {
    const resp = await fetch(`/api/v1/visits/${encodeURIComponent(this.visitId)}/join`, {
      credentials: "same-origin", headers: { Accept: "application/json" },
    });
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
    this.iceServers = info.ice_servers;
    this.role = info.role;
    const ws = new WebSocket(`${info.ws_url}?token=${encodeURIComponent(info.token)}`);
    this.ws = ws;
    ws.addEventListener("open", () => {
      const join = { type: "join" };
      if (this.resumeToken) {
        join.resume_token = this.resumeToken;
        join.last_seq = this.lastSeq;
      } else if (this.precall) {
        join.precall = this.precall;
      }
      ws.send(JSON.stringify(join));
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.send({ type: "ping" }), PING_MS);
    });
    ws.addEventListener("message", (event) => this.#onMessage(event.data));
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
    } else if (message.type === "chat" && message.seq > this.lastSeq) {
      this.lastSeq = message.seq;
    } else if (message.type === "pong") {
      return;
    }
    this.dispatchEvent(new CustomEvent(message.type, { detail: message }));
  }

  #onClose(ws, event) {
    clearInterval(this.pinger);
    if (ws !== this.ws) return;
    if (this.stopped || FINAL_CODES.has(event.code)) {
      this.stopped = true;
      this.dispatchEvent(new CustomEvent("closed", { detail: { code: event.code, reason: event.reason } }));
      return;
    }
    this.dispatchEvent(new CustomEvent("reconnecting", { detail: { code: event.code } }));
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt);
    this.attempt += 1;
    setTimeout(() => this.#reconnect(), delay);
  }

  async #reconnect() {
    if (this.stopped) return;
    try {
      await this.start();
    } catch (error) {
      if (error.status === 409 || error.status === 403 || error.status === 404) {
        this.stopped = true;
        this.dispatchEvent(new CustomEvent("closed", { detail: { code: 1000, reason: "ended" } }));
        return;
      }
      this.#onClose(this.ws, { code: 1006, reason: "" });
    }
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(message));
      return true;
    }
    return false;
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
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
  }
}
