// Progressive enhancement shared by every page. Every page works without it.

const summary = document.querySelector("[data-error-summary]");
if (summary) {
  summary.focus();
  // Following a link of the error summary moves the keyboard focus to the field and keeps
  // its label in view.
  summary.addEventListener("click", (event) => {
    const link = event.target.closest("a[href^='#']");
    if (!link) return;
    const field = document.getElementById(link.getAttribute("href").slice(1));
    if (!field) return;
    event.preventDefault();
    const holder = field.closest(".field") || field;
    holder.scrollIntoView({ block: "center" });
    field.focus({ preventScroll: true });
  });
}

// Buttons with data-confirm ask before submitting (status changes that cannot be undone).
for (const button of document.querySelectorAll("[data-confirm]")) {
  button.addEventListener("click", (event) => {
    if (!window.confirm(button.dataset.confirm)) event.preventDefault();
  });
}
