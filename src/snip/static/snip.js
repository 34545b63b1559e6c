// snip's only script: copy buttons. Every page works without it.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy], [data-copy-text]");
  if (!button) return;
  const field = button.hasAttribute("data-copy")
    ? document.querySelector(button.getAttribute("data-copy"))
    : null;
  const text = field ? field.value : button.getAttribute("data-copy-text");
  try {
    await navigator.clipboard.writeText(text);
  } catch (error) {
    // No clipboard here (plain http on another host, or refused): select the text instead,
    // so Ctrl+C copies it.
    console.warn("copy: " + error);
    if (field) { field.focus(); field.select(); }
    return;
  }
  const label = button.textContent;
  button.textContent = "Copied";
  button.classList.add("copied");
  setTimeout(() => { button.textContent = label; button.classList.remove("copied"); }, 1500);
});
