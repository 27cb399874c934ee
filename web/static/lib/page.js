// What every page script needs from its page: the CSRF token, JSON data blocks, translated
// strings with `{name}` placeholders, and fetch with the session cookie (and the CSRF token when
// sending). Plain ES module, no build step.

/** `template` with each `{name}` replaced by `params[name]` (unknown names stay as they are). */
export function fill(template, params = {}) {
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** The JSON of the `<script type="application/json" id="…">` block `id`, or `fallback`. */
export function dataBlock(id, fallback = null) {
  const block = document.getElementById(id);
  return block ? JSON.parse(block.textContent) : fallback;
}

/** The CSRF token of the page (for cookie-authenticated POSTs). */
export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}

/** GET `url` as JSON with the session cookie (the response, for the caller to check). */
export function getJson(url) {
  return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
}

/** Send `body` as JSON to `url` with the session cookie and the page's CSRF token. */
export function sendJson(url, body = {}, method = "POST") {
  return fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify(body ?? {}),
  });
}
