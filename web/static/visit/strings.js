// The page's words, translated on the server (a JSON data block: no inline script).

import { dataBlock, fill } from "../lib/page.js";

let table = null;

/** The translated string `key`, with `{name}` placeholders filled from `params`. */
export function t(key, params = {}) {
  if (table === null) table = dataBlock("visit-strings", {});
  return fill(table[key] ?? key, params);
}
