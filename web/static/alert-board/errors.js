// A row's error line and the resolution note's error (as the server writes them).

export function rowError(row, text) {
  const box = row.querySelector("[data-row-error]");
  box.textContent = text;
  box.hidden = !text;
}

/** Show `text` as the error of the note of `form` (`prefix`: "Error:"), or clear it. */
export function noteError(form, text, prefix) {
  const field = form.querySelector("textarea");
  const holder = field.closest(".field");
  let message = holder.querySelector(".error-message");
  if (!text) {
    message?.remove();
    holder.classList.remove("field--error");
    field.removeAttribute("aria-invalid");
    field.removeAttribute("aria-describedby");
    return;
  }
  if (!message) {
    message = document.createElement("p");
    message.className = "error-message";
    message.id = `${field.id}-error`;
    holder.insertBefore(message, field);
  }
  const hidden = document.createElement("span");
  hidden.className = "visually-hidden";
  hidden.textContent = `${prefix} `;
  message.replaceChildren(hidden, text);
  holder.classList.add("field--error");
  field.setAttribute("aria-invalid", "true");
  field.setAttribute("aria-describedby", message.id);
  field.focus();
}
