// Care-plan editor: show only what applies. The form works the same without this module;
// hidden fields are still sent, and the server ignores what does not apply.

const form = document.querySelector("[data-careplan-editor]");

function setUpMetric(fieldset) {
  const monitor = fieldset.querySelector("[data-monitor]");
  const details = fieldset.querySelector("[data-details]");
  const times = fieldset.querySelector("[data-times]");
  const radios = fieldset.querySelectorAll("[data-schedule]");
  const noBands = fieldset.querySelector("[data-no-bands]");
  const bandInputs = fieldset.querySelectorAll("[data-band-inputs] input");
  if (!monitor || !details) return;

  const sync = () => {
    const hasErrors = details.querySelector("[aria-invalid='true']") !== null;
    details.hidden = !monitor.checked && !hasErrors;
    monitor.setAttribute("aria-expanded", String(!details.hidden));
    fieldset.classList.toggle("is-monitored", monitor.checked);
    const continuous = [...radios].some((radio) => radio.checked && radio.value === "continuous");
    if (times) times.hidden = continuous;
    // "No threshold alerts": the limits do not apply, so they cannot be typed in.
    for (const input of bandInputs) input.readOnly = Boolean(noBands && noBands.checked);
  };
  monitor.addEventListener("change", sync);
  for (const radio of radios) radio.addEventListener("change", sync);
  if (noBands) noBands.addEventListener("change", sync);
  sync();
}

if (form) {
  for (const fieldset of form.querySelectorAll("[data-metric]")) setUpMetric(fieldset);
}
