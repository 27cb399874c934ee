// The local camera and microphone: preview, level meter, mute, camera off, screen share.

export async function openCamera() {
  return navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true },
    video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24 } },
  });
}

/** Drive a <meter> with the microphone level; returns a function that stops it. */
export function micLevel(stream, meter) {
  const AudioContext = window.AudioContext || window.webkitAudioContext;
  if (!AudioContext || !stream.getAudioTracks().length) return () => {};
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Uint8Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getByteTimeDomainData(samples);
    let peak = 0;
    for (const sample of samples) peak = Math.max(peak, Math.abs(sample - 128));
    meter.value = Math.min(1, peak / 64);
  }, 100);
  return () => {
    clearInterval(timer);
    context.close();
  };
}

/** Mute, camera off and screen share over a local stream shared by every link. */
export class LocalMedia {
  constructor(stream) {
    this.stream = stream;
    this.camera = stream.getVideoTracks()[0] ?? null;
    this.screen = null;
    this.onVideoTrack = () => {};
  }

  get muted() {
    return this.stream.getAudioTracks().every((track) => !track.enabled);
  }

  toggleMute() {
    const muted = !this.muted;
    for (const track of this.stream.getAudioTracks()) track.enabled = !muted;
    return muted;
  }

  get cameraOff() {
    return this.camera ? !this.camera.enabled : true;
  }

  toggleCamera() {
    if (!this.camera) return true;
    this.camera.enabled = !this.camera.enabled;
    return !this.camera.enabled;
  }

  async toggleShare() {
    if (this.screen) {
      this.#stopShare();
      return false;
    }
    const display = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    this.screen = display.getVideoTracks()[0];
    this.screen.addEventListener("ended", () => this.#stopShare());
    await this.onVideoTrack(this.screen);
    return true;
  }

  #stopShare() {
    if (!this.screen) return;
    this.screen.stop();
    this.screen = null;
    this.onVideoTrack(this.camera);
  }

  stop() {
    this.screen?.stop();
    for (const track of this.stream.getTracks()) track.stop();
  }
}
