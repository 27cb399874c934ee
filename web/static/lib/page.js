// What every page script needs from its page: the CSRF token, JSON data blocks, and
// translated strings with `{name}` placeholders. Plain ES module, no build step.

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
