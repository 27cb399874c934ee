// One RTCPeerConnection per remote peer, with perfect negotiation (the server says who is
// polite) and ICE restart when the connection fails.
//
// The first offer of a pair always comes from the impolite side: the polite side answers it
// with its own tracks. (Chromium loses its ICE candidates when its very first offer is
// rolled back in a glare, so the initial glare is avoided rather than resolved.) Later
// renegotiations, such as screen sharing or ICE restarts, use full perfect negotiation.
// ICE restarts are started by the impolite side, so two restarts never cross.

const RESTART_AFTER_MS = 3000;
const RETRY_RESTART_MS = 5000; // while not connected again (the TURN server may be back later)

export class PeerLink extends EventTarget {
  constructor({ peerId, polite, iceServers, iceTransportPolicy = "all", stream, signal }) {
    super();
    this.peerId = peerId;
    this.polite = polite;
    this.signal = signal;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.answerPending = false;
    this.chain = Promise.resolve();
    this.early = [];
    this.remoteStream = new MediaStream();
    this.pc = new RTCPeerConnection({ iceServers, iceTransportPolicy });
    for (const track of stream.getTracks()) this.pc.addTrack(track, stream);
    this.pc.addEventListener("track", ({ track }) => {
      this.remoteStream.addTrack(track);
      this.dispatchEvent(new CustomEvent("track", { detail: this.remoteStream }));
    });
    this.pc.addEventListener("negotiationneeded", () => this.#offer());
    this.pc.addEventListener("icecandidate", ({ candidate }) => {
      this.signal({ candidate: candidate ? candidate.toJSON() : null });
    });
    this.restartTimer = null;
    this.pc.addEventListener("connectionstatechange", () => {
      const state = this.pc.connectionState;
      clearTimeout(this.restartTimer);
      if (state === "failed") this.#restartUntilConnected(0);
      else if (state === "disconnected") this.#restartUntilConnected(RESTART_AFTER_MS);
      this.dispatchEvent(new CustomEvent("state", { detail: state }));
    });
  }

  async #offer() {
    if (this.polite && !this.pc.remoteDescription) return; // wait for the first offer
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      this.signal({ sdp: this.pc.localDescription.toJSON() });
    } catch (error) {
      console.warn("offer failed", error);
    } finally {
      this.makingOffer = false;
    }
  }

  /** Apply a relayed `{sdp}` or `{candidate}` (perfect negotiation), one at a time. */
  onSignal(data) {
    this.chain = this.chain.then(() => this.#apply(data)).catch((error) => {
      console.warn("signal failed", error);
    });
    return this.chain;
  }

  async #apply(data) {
    const description = data.sdp;
    if (description && typeof description === "object") {
      const ready = !this.makingOffer && (this.pc.signalingState === "stable" || this.answerPending);
      const collision = description.type === "offer" && !ready;
      this.ignoreOffer = !this.polite && collision;
      if (this.ignoreOffer) return;
      this.answerPending = description.type === "answer";
      await this.pc.setRemoteDescription(description);
      this.answerPending = false;
      if (description.type === "offer") {
        await this.pc.setLocalDescription();
        this.signal({ sdp: this.pc.localDescription.toJSON() });
      }
      // Candidates that arrived before any remote description (for instance while an
      // offer was being ignored in a glare) may belong to this one: try them now.
      const early = this.early.splice(0);
      for (const candidate of early) await this.#addCandidate(candidate);
    } else if ("candidate" in data) {
      if (!this.pc.remoteDescription) {
        if (this.early.length < 100) this.early.push(data.candidate);
        return;
      }
      await this.#addCandidate(data.candidate);
    }
  }

  async #addCandidate(candidate) {
    try {
      await this.pc.addIceCandidate(candidate ?? undefined);
    } catch (error) {
      if (!this.ignoreOffer) console.debug("candidate not used", error);
    }
  }

  /** Restart ICE after `delay`, and again every few seconds until connected. */
  #restartUntilConnected(delay) {
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      const state = this.pc.connectionState;
      if (state === "connected" || state === "closed") return;
      this.restart();
      this.#restartUntilConnected(RETRY_RESTART_MS);
    }, delay);
  }

  /** ICE restart after a network change or a failed connection (impolite side only). */
  restart() {
    if (!this.polite && this.pc.signalingState !== "closed") this.pc.restartIce();
  }

  async replaceTrack(kind, track) {
    for (const transceiver of this.pc.getTransceivers()) {
      if (transceiver.receiver.track?.kind === kind && transceiver.sender) {
        await transceiver.sender.replaceTrack(track);
      }
    }
  }

  close() {
    clearTimeout(this.restartTimer);
    this.pc.close();
  }
}
