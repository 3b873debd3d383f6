// The form's only script: upload with a progress bar (XMLHttpRequest), then poll the
// analysis status and open the report. Without JavaScript the form posts normally and
// the progress page refreshes itself. Leaving the page during the upload asks first
// (issue 12).
(function () {
  "use strict";

  function showError(message) {
    var box = document.getElementById("form-error");
    if (!box) { return; }
    box.textContent = message;
    box.hidden = false;
    box.scrollIntoView({ behavior: "smooth", block: "center" });
  }

  function errorMessage(xhr, fallback) {
    try {
      var body = JSON.parse(xhr.responseText);
      if (body && body.error && body.error.message) { return body.error.message; }
    } catch (e) { /* not JSON: use the fallback */ }
    return fallback + (xhr.status ? " (HTTP " + xhr.status + ")" : "");
  }

  // While an upload runs, leaving the page would throw it away: the browser asks first.
  // (In its own words and language: browsers ignore a page's text here, so the page
  // also says it, under the progress bar.)
  function askBeforeLeaving(ev) {
    ev.preventDefault();
    ev.returnValue = "";
    return "";
  }

  function setupForm(form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var file = form.querySelector("input[type=file]").files[0];
      var max = parseInt(form.dataset.maxBytes, 10);
      if (file && max && file.size > max) { showError(form.dataset.msgTooLarge); return; }
      var button = form.querySelector("button[type=submit]");
      var box = document.getElementById("upload-progress");
      var bar = document.getElementById("upload-bar");
      var label = document.getElementById("upload-label");
      document.getElementById("form-error").hidden = true;
      button.disabled = true;
      box.hidden = false;
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      // The server checks the token before it reads the body (the action URL carries
      // it too, for the form without JavaScript).
      xhr.setRequestHeader("X-CSRF-Token", form.elements.csrf_token.value);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          var pct = Math.round((100 * e.loaded) / e.total);
          bar.value = pct;
          label.textContent = form.dataset.msgUploading + " " + pct + "%";
        }
      });
      // Any end of the upload (an error, an abort, a refusal) stops the question; a
      // success stops it before the page moves on to the check's progress by itself.
      xhr.addEventListener("loadend", function () {
        window.removeEventListener("beforeunload", askBeforeLeaving);
      });
      xhr.addEventListener("load", function () {
        if (xhr.status >= 200 && xhr.status < 300) {
          window.removeEventListener("beforeunload", askBeforeLeaving);
          var body = JSON.parse(xhr.responseText);
          window.location.assign(body.url);
          return;
        }
        button.disabled = false;
        box.hidden = true;
        showError(errorMessage(xhr, form.dataset.msgNetwork));
      });
      xhr.addEventListener("error", function () {
        button.disabled = false;
        box.hidden = true;
        showError(form.dataset.msgNetwork);
      });
      window.addEventListener("beforeunload", askBeforeLeaving);
      xhr.send(new FormData(form));
    });
  }

  function setupProgress(section) {
    var bar = document.getElementById("analysis-bar");
    var label = document.getElementById("analysis-label");
    function poll() {
      var xhr = new XMLHttpRequest();
      xhr.open("GET", section.dataset.statusUrl);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.addEventListener("load", function () {
        if (xhr.status !== 200) { window.setTimeout(poll, 2000); return; }
        var s = JSON.parse(xhr.responseText);
        if (s.status === "done" || s.status === "failed") {
          window.location.assign(section.dataset.reportUrl);
          return;
        }
        bar.value = Math.round(100 * (s.progress || 0));
        label.textContent = s.status === "queued" ? section.dataset.msgQueued
          : section.dataset.msgRunning + " " + bar.value + "% · " + s.stage;
        window.setTimeout(poll, 700);
      });
      xhr.addEventListener("error", function () { window.setTimeout(poll, 2000); });
      xhr.send();
    }
    poll();
  }

  var form = document.getElementById("upload-form");
  if (form) { setupForm(form); }
  var analysis = document.getElementById("analysis");
  if (analysis) { setupProgress(analysis); }
})();
