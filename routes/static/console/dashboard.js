// The dashboard refreshes itself: every few seconds it fetches the dashboard alone (?partial=1)
// and swaps it in for #dashboard. Without this script the page is the same, with a Refresh link.
(function () {
  "use strict";

  var current = document.getElementById("dashboard");
  if (!current || !current.dataset.refresh) {
    return;
  }
  var url = current.dataset.refresh;
  var every = (parseFloat(current.dataset.every) || 5) * 1000;
  var status = document.querySelector("[data-refresh-status]");
  var timer = null;
  var busy = false;

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, every);
  }

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("dashboard");
    if (!fresh) {
      throw new Error("the answer holds no dashboard");
    }
    var adopted = document.importNode(fresh, true);
    current.replaceWith(adopted);
    current = adopted;
  }

  function refresh() {
    timer = null;
    if (busy || document.hidden) {
      return; // a hidden tab asks nothing; it refreshes when shown again
    }
    busy = true;
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.redirected) {
          window.location.reload(); // signed out, or a new password is due: show the page the guard chose
          return null;
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        swap(html);
        say("updated " + new Date().toLocaleTimeString() + ", every " + every / 1000 + " s");
        later();
      })
      .catch(function (problem) {
        say("not updated (" + problem.message + "); trying again");
        later();
      })
      .finally(function () {
        busy = false;
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && timer === null && !busy) {
      refresh();
    }
  });
  say("updates every " + every / 1000 + " s");
  later();
})();
