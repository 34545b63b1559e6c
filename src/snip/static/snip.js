// snip's only script: copy buttons. Every page works without it.
"use strict";
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy], [data-copy-text]");
  if (!button) return;
  let text = button.getAttribute("data-copy-text");
  const field = button.hasAttribute("data-copy") ? document.querySelector(button.getAttribute("data-copy")) : null;
  if (field) text = field.value;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API (plain http on another host): select the text to copy by hand.
    if (field) { field.focus(); field.select(); }
    return;
  }
  const label = button.textContent;
  button.textContent = "Copied";
  button.classList.add("copied");
  setTimeout(() => { button.textContent = label; button.classList.remove("copied"); }, 1500);
});
