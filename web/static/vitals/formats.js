// Times in the patient's time zone (as the server writes them: "22 Nov, 16:27") and numbers
// in the page's language, for the charts' ticks, tooltips and table.

/** The formats of the charts of a page (`timeZone`: the patient's; `siteZone`: the site's). */
export function chartFormats(lang, timeZone, siteZone) {
  try {
    new Intl.DateTimeFormat(lang, { timeZone });
  } catch {
    timeZone = undefined; // unknown to this browser: its own zone
  }
  const dayMonth = new Intl.DateTimeFormat(lang, { timeZone, day: "numeric", month: "short" });
  const zoneNote = timeZone && timeZone !== siteZone ? ` (${timeZone})` : "";
  const hourFormat = new Intl.DateTimeFormat(lang, { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  // "22 Nov, 16:27" in the patient's time zone, as the server writes it.
  const timeFormat = {
    format(date) {
      const parts = Object.fromEntries(dayMonth.formatToParts(date).map((p) => [p.type, p.value]));
      return `${parts.day} ${parts.month}, ${hourFormat.format(date)}${zoneNote}`;
    },
  };
  const dayFormat = new Intl.DateTimeFormat(lang, { timeZone, day: "numeric", month: "short" });
  const hourOf = new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const numberFormats = new Map();
  const num = (value, decimals) => {
    if (!numberFormats.has(decimals)) {
      numberFormats.set(decimals, new Intl.NumberFormat(lang, { minimumFractionDigits: decimals, maximumFractionDigits: decimals }));
    }
    return numberFormats.get(decimals).format(value);
  };

  // Local midnights (patient's time zone) after `from`, for the day ticks.
  function localMidnightAfter(from) {
    const [h, m] = hourOf.format(new Date(from)).split(":").map(Number);
    const t = from - ((h * 60 + m) * 60e3) - (from % 60e3) + 86400e3;
    // Correct a DST shift of the day: land on 00:xx again.
    const [h2] = hourOf.format(new Date(t)).split(":").map(Number);
    return h2 === 0 ? t : t - (h2 > 12 ? h2 - 24 : h2) * 3600e3;
  }

  function timeTicks(from, to, range) {
    const ticks = [];
    if (range === "24h") {
      // Every 6 hours of the patient's clock: 00:00, 06:00, 12:00, 18:00.
      let t = Math.ceil(from / 3600e3) * 3600e3;
      for (let i = 0; i < 6 && Number(hourOf.format(new Date(t)).split(":")[0]) % 6 !== 0; i += 1) t += 3600e3;
      for (; t <= to; t += 6 * 3600e3) ticks.push({ t, label: hourFormat.format(new Date(t)) });
      return ticks;
    }
    const every = range === "7d" ? 1 : 5;
    let t = localMidnightAfter(from);
    for (let i = 0; t <= to; i += 1) {
      if (i % every === 0) ticks.push({ t, label: dayFormat.format(new Date(t)) });
      t = localMidnightAfter(t + 3600e3);
    }
    return ticks;
  }

  // "3 hours", "5 minuti": the width of a bucket in words.
  function spanLabel(seconds) {
    const [unit, size] = seconds % 86400 === 0 ? ["day", 86400] : seconds % 3600 === 0 ? ["hour", 3600]
      : seconds % 60 === 0 ? ["minute", 60] : ["second", 1];
    try {
      return new Intl.NumberFormat(lang, { style: "unit", unit, unitDisplay: "long" }).format(seconds / size);
    } catch {
      return `${seconds / size} ${unit}`;
    }
  }

  return { num, timeFormat, timeTicks, spanLabel };
}
