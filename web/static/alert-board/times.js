// "3 minutes ago", kept current (the same rounding as the server's babel format_timedelta).

/** Start refreshing the relative times every 30 seconds; returns the refresh (of a root). */
export function setUpTimes(S, lang) {
  const relativeFormat = new Intl.RelativeTimeFormat(lang, { numeric: "always", style: "long" });
  function relative(iso) {
    const seconds = (Date.parse(iso) - Date.now()) / 1000;
    if (Math.abs(seconds) < 60) return S.just_now;
    // The same rounding as the server (babel's format_timedelta with threshold 1).
    for (const [unit, size] of [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]]) {
      if (Math.abs(seconds) / size >= 1) return relativeFormat.format(Math.round(seconds / size), unit);
    }
    return S.just_now;
  }
  function refreshTimes(root = document) {
    for (const node of root.querySelectorAll("time[data-relative]")) {
      node.textContent = relative(node.getAttribute("datetime"));
    }
  }
  setInterval(() => refreshTimes(), 30_000);
  return refreshTimes;
}
