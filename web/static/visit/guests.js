// The guests page: a button that copies the new one-time link. Without script the link
// stays in a read-only field, selectable by hand.

const field = document.getElementById("guest-link");
const button = document.getElementById("btn-copy-link");
const status = document.getElementById("copy-status");

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard API (or no permission): the selection and the old command.
    return document.execCommand("copy");
  }
}

if (field && button && status) {
  button.hidden = false;
  field.addEventListener("focus", () => field.select());
  button.addEventListener("click", async () => {
    field.focus();
    field.select();
    const done = await copy(field.value);
    status.textContent = done ? button.dataset.copied : button.dataset.failed;
  });
  button.focus();
}
