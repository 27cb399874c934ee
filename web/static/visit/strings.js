// The page's words, translated on the server (a JSON data block: no inline script).

let table = null;

function load() {
  if (table === null) {
    const block = document.getElementById("visit-strings");
    table = block ? JSON.parse(block.textContent) : {};
  }
  return table;
}

/** The translated string `key`, with `{name}` placeholders filled from `params`. */
export function t(key, params = {}) {
  const text = load()[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** The CSRF token of the page (for cookie-authenticated POSTs). */
export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}
