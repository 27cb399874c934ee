// Announcements to screen readers (polite for warnings, assertive for critical alerts) and
// the chime for new critical alerts, when the person switched it on (kept in localStorage).

const SOUND_KEY = "telemed.alertBoard.sound";

/** Returns `announce(text, urgent)`. */
export function setUpAnnouncements() {
  const polite = document.getElementById("announce-polite");
  const assertive = document.getElementById("announce-assertive");
  return function announce(text, urgent = false) {
    const region = urgent ? assertive : polite;
    region.textContent = "";
    // A fresh text node after a tick, so the same words are announced again.
    setTimeout(() => { region.textContent = text; }, 60);
  };
}

/** Wire the sound switch of `board`; returns `chime()`. */
export function setUpSound(board, S) {
  const toggleBox = document.getElementById("sound-toggle");
  const toggle = document.getElementById("sound-on");
  const blocked = document.getElementById("sound-blocked");
  const audio = new Audio(board.dataset.sound);
  audio.preload = "auto";
  let soundOn = false;
  try {
    soundOn = window.localStorage.getItem(SOUND_KEY) === "on";
  } catch {
    soundOn = false;
  }
  toggle.checked = soundOn;
  toggleBox.hidden = false;
  toggle.addEventListener("change", () => {
    soundOn = toggle.checked;
    try {
      window.localStorage.setItem(SOUND_KEY, soundOn ? "on" : "off");
    } catch {
      // private mode: the choice lasts for this page only
    }
    blocked.hidden = true;
  });
  document.addEventListener("click", () => { blocked.hidden = true; }, { capture: true });

  return function chime() {
    if (!soundOn) return;
    audio.currentTime = 0;
    audio.play().catch(() => {
      blocked.textContent = S.sound_blocked;
      blocked.hidden = false;
    });
  };
}
