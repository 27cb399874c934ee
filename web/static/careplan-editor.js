// Care-plan editor: show only what applies. The form works the same without this module;
// hidden fields are still sent, and the server ignores what does not apply.

const form = document.querySelector("[data-careplan-editor]");

function setUpMetric(fieldset) {
  const monitor = fieldset.querySelector("[data-monitor]");
  const details = fieldset.querySelector("[data-details]");
  const times = fieldset.querySelector("[data-times]");
  const radios = fieldset.querySelectorAll("[data-schedule]");
  if (!monitor || !details) return;

  const sync = () => {
    const hasErrors = details.querySelector("[aria-invalid='true']") !== null;
    details.hidden = !monitor.checked && !hasErrors;
    monitor.setAttribute("aria-expanded", String(!details.hidden));
    fieldset.classList.toggle("is-monitored", monitor.checked);
    const continuous = [...radios].some((radio) => radio.checked && radio.value === "continuous");
    if (times) times.hidden = continuous;
  };
  monitor.addEventListener("change", sync);
  for (const radio of radios) radio.addEventListener("change", sync);
  sync();
}

if (form) {
  for (const fieldset of form.querySelectorAll("[data-metric]")) setUpMetric(fieldset);
}
