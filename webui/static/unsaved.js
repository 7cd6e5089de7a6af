// Warn before leaving a page whose form (marked data-riskflow-unsaved) was changed and not saved.
for (const form of document.querySelectorAll("form[data-riskflow-unsaved]")) {
  let changed = false;
  form.addEventListener("input", () => { changed = true; });
  form.addEventListener("submit", () => { changed = false; });
  window.addEventListener("beforeunload", (event) => {
    if (changed) {
      event.preventDefault();
    }
  });
}
