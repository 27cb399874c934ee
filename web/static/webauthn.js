// Security keys and passkeys (WebAuthn): adding one on the account page or as the first
// second factor at a login that requires one, using one as the second factor at login. The
// server's options arrive as JSON with base64url strings.
import { sendJson } from "./lib/page.js";

const toBytes = (text) => {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
};
const toText = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
  .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

async function post(path, body) {
  const resp = await sendJson(path, body);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data?.error?.code ?? String(resp.status));
  return data;
}

function credentialJSON(cred) {
  const r = cred.response;
  const response = { clientDataJSON: toText(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toText(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = toText(r.authenticatorData);
    response.signature = toText(r.signature);
    response.userHandle = r.userHandle ? toText(r.userHandle) : null;
  }
  return { id: cred.id, rawId: toText(cred.rawId), type: cred.type, response,
           clientExtensionResults: cred.getClientExtensionResults() };
}

// The section names where keys are registered: the account's, or (first factor of a login
// that requires one) the login's, which answers where to go next.
async function addKey(button) {
  const section = button.closest("[data-security-keys]");
  const url = section.dataset.keysUrl;
  const options = await post(`${url}/options`);
  options.challenge = toBytes(options.challenge);
  options.user.id = toBytes(options.user.id);
  for (const c of options.excludeCredentials ?? []) c.id = toBytes(c.id);
  const cred = await navigator.credentials.create({ publicKey: options });
  const name = document.getElementById("key-name")?.value ?? "";
  const done = await post(url, { credential: credentialJSON(cred), name });
  if (done.next) { window.location.assign(done.next); return; }
  section.querySelector("[data-key-status]").hidden = false;
}

async function useKey() {
  const options = await post("/login/second-factor/key/options");
  options.challenge = toBytes(options.challenge);
  for (const c of options.allowCredentials ?? []) c.id = toBytes(c.id);
  const cred = await navigator.credentials.get({ publicKey: options });
  const { next } = await post("/login/second-factor/key", { credential: credentialJSON(cred) });
  window.location.assign(next);
}

for (const button of document.querySelectorAll("[data-key-action]")) {
  button.hidden = !window.PublicKeyCredential;
  button.addEventListener("click", async () => {
    const error = document.querySelector("[data-key-error]");
    if (error) error.hidden = true;
    try {
      await (button.dataset.keyAction === "add" ? addKey(button) : useKey());
    } catch (exc) {
      if (error) { error.hidden = false; }
      console.warn("security key", exc);
    }
  });
}
