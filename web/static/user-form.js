// New-user form: the patient record choice only shows for the role "patient".

const form = document.querySelector("[data-user-form]");
if (form) {
  const block = form.querySelector("[data-patient-link]");
  const radios = form.querySelectorAll("[data-role]");
  const sync = () => {
    const role = [...radios].find((radio) => radio.checked)?.value;
    const hasErrors = block.querySelector("[aria-invalid='true']") !== null;
    block.hidden = role !== "patient" && !hasErrors;
  };
  for (const radio of radios) radio.addEventListener("change", sync);
  sync();
}
