// Connection quality from getStats: round-trip time, packet loss and decoded frames.

const GOOD = { rtt: 0.15, loss: 0.02 };
const FAIR = { rtt: 0.4, loss: 0.08 };

/** Keeps the last counters of one RTCPeerConnection and grades the interval since. */
export class QualityMeter {
  constructor(pc) {
    this.pc = pc;
    this.last = null;
    this.stalls = 0;
  }

  async sample() {
    const stats = await this.pc.getStats();
    let rtt = null;
    let received = 0;
    let lost = 0;
    let frames = 0;
    stats.forEach((report) => {
      if (report.type === "candidate-pair" && report.nominated && report.state === "succeeded") {
        rtt = report.currentRoundTripTime ?? rtt;
      } else if (report.type === "inbound-rtp") {
        received += report.packetsReceived ?? 0;
        lost += report.packetsLost ?? 0;
        if (report.kind === "video") frames += report.framesDecoded ?? 0;
      }
    });
    const previous = this.last ?? { received: 0, lost: 0, frames: 0 };
    this.last = { received, lost, frames };
    const newReceived = received - previous.received;
    const newLost = Math.max(0, lost - previous.lost);
    const loss = newReceived + newLost > 0 ? newLost / (newReceived + newLost) : 0;
    this.stalls = frames > previous.frames || newReceived > 0 ? 0 : this.stalls + 1;
    let level = "unknown";
    if (rtt !== null) {
      if (rtt <= GOOD.rtt && loss <= GOOD.loss) level = "good";
      else if (rtt <= FAIR.rtt && loss <= FAIR.loss) level = "fair";
      else level = "poor";
    }
    return { level, rtt, loss, framesDecoded: frames, stalled: this.stalls >= 2 };
  }
}
