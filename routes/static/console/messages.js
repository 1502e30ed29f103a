// The message pages work without this script; with it, a search leaves its empty fields out of the
// URL (a shorter link to share) and an action asks for a confirmation before it is sent.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const search = document.getElementById("message-search");
  if (search) {
    search.addEventListener("submit", () => {
      for (const field of search.querySelectorAll("input, select")) {
        if (field.value.trim() === "") field.disabled = true;
      }
      // Enabled again for the back button, which shows the page as it was left.
      setTimeout(() => search.querySelectorAll("[disabled]").forEach((field) => { field.disabled = false; }), 0);
    });
  }
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
});
