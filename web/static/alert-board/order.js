// The board's order: one group per patient (its rows together, one card), the patient whose
// most urgent alert is the most urgent first, each patient's alerts most urgent first.

/** The alert rows of the list, in the page's order. */
export const rowsOf = (list) => [...list.querySelectorAll(":scope > [data-alert-id]")];

const rank = (row) => [row.dataset.severity === "critical" ? 0 : 1, Date.parse(row.dataset.opened), row.dataset.alertId];
const earlier = (ra, rb) => {
  for (let i = 0; i < ra.length; i += 1) {
    if (ra[i] < rb[i]) return true;
    if (ra[i] > rb[i]) return false;
  }
  return false;
};

/** Put the rows of `list` in the board's order (a patient's later rows join its card). */
export function regroup(list) {
  const all = rowsOf(list);
  const best = new Map();
  for (const row of all) {
    const mine = rank(row);
    const theirs = best.get(row.dataset.patientId);
    if (!theirs || earlier(mine, theirs)) best.set(row.dataset.patientId, mine);
  }
  const key = (row) => [...best.get(row.dataset.patientId), ...rank(row)];
  const wanted = [...all].sort((a, b) => (earlier(key(a), key(b)) ? -1 : earlier(key(b), key(a)) ? 1 : 0));
  wanted.forEach((row, i) => {
    if (list.children[i] !== row) list.insertBefore(row, list.children[i] || null);
    const same = i > 0 && wanted[i - 1].dataset.patientId === row.dataset.patientId;
    row.classList.toggle("alert-card--same-patient", same);
  });
}
