// The alert board, live: follows GET /api/v1/alerts/stream (Server-Sent Events) and keeps
// the rows in order (critical first, then oldest first), filters in the browser, sends the
// actions to the JSON API, announces new and escalated alerts (polite for warnings,
// assertive for critical ones) and, when asked to, plays a chime for new critical alerts.
//
// The page works without this script: the server renders every row, the filters are a GET
// form and the actions are POST forms. Changed alerts' rows are fetched from the server
// (GET /alerts/rows?id=…), so the words, times and vitals are always the server's.
//
// The modules: order (the rows' order), filters, times (relative times), announce (live
// regions and the chime), errors (a row's or a note's error), rows (fetching and placing
// rows), stream (the live changes), actions (the buttons).

import { dataBlock } from "../lib/page.js";
import { setUpActions } from "./actions.js";
import { setUpAnnouncements, setUpSound } from "./announce.js";
import { setUpFilters } from "./filters.js";
import { setUpRows } from "./rows.js";
import { setUpStream } from "./stream.js";
import { setUpTimes } from "./times.js";

const board = document.getElementById("board");
const data = dataBlock("board-data");
if (board && data) start(board, data);

function start(element, { seq, strings: S }) {
  const lang = document.documentElement.lang || "en";
  const list = document.getElementById("alert-list");
  const applyFilters = setUpFilters(list, S, lang);
  const refreshTimes = setUpTimes(S, lang);
  const announce = setUpAnnouncements();
  const chime = setUpSound(element, S);
  const rows = setUpRows(list, S, applyFilters, refreshTimes);
  const connect = setUpStream(list, S, Number(seq) || 0, rows, announce, chime);
  setUpActions(list, S, rows, announce);
  applyFilters();
  refreshTimes();
  connect();
}
