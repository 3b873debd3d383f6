// The form's only script: upload with a progress bar (XMLHttpRequest), then poll the
// analysis status and open the report. Without JavaScript the form posts normally and
// the progress page refreshes itself. Network trouble is said on the page (issue 12):
// leaving during the upload asks first; a poll that fails is retried.
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
      // The merchant's words in the page's language (the form's JSON errors carry them).
      if (body && body.error && body.error.localized) { return body.error.localized; }
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

  // Pauses between polls that failed for the network or the server: from 1 s, doubled
  // each time, at most 10 s. The report shows soon after the connection is back, and a
  // server in trouble gets one request per page every 10 s, not a flood.
  var RETRY_FIRST_MS = 1000;
  var RETRY_MAX_MS = 10000;
  var POLL_MS = 700;
  var POLL_TIMEOUT_MS = 15000; // a poll stuck on a dead connection counts as failed

  function setupProgress(section) {
    var bar = document.getElementById("analysis-bar");
    var label = document.getElementById("analysis-label");
    var notice = document.getElementById("poll-notice");
    var retryMs = RETRY_FIRST_MS;
    var timer = null;
    var inFlight = false;
    var retrying = false;

    // One message at a time in the live region; "" clears it.
    function say(message, final) {
      if (!notice) { return; }
      notice.textContent = message;
      notice.className = message ? "error-box" : "";
      notice.dataset.state = final ? "final" : (message ? "retrying" : "");
    }

    function next(ms) {
      window.clearTimeout(timer);
      timer = window.setTimeout(poll, ms);
    }

    function retry(message) {
      retrying = true;
      say(message, false);
      next(retryMs);
      retryMs = Math.min(2 * retryMs, RETRY_MAX_MS);
    }

    function withStatus(message, status) { return message.replace("{status}", status); }

    function poll() {
      timer = null;
      inFlight = true;
      var xhr = new XMLHttpRequest();
      xhr.open("GET", section.dataset.statusUrl);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.timeout = POLL_TIMEOUT_MS;
      xhr.addEventListener("loadend", function () { inFlight = false; });
      xhr.addEventListener("load", function () {
        var d = notice ? notice.dataset : {};
        // 5xx (a proxy or the app in trouble) and 429 pass: try again. Any other 4xx
        // (404: the check was deleted) stays so however often one asks.
        if (xhr.status >= 500 || xhr.status === 429) {
          retry(withStatus(d.msgServer || "", xhr.status));
          return;
        }
        if (xhr.status !== 200) {
          var why = xhr.status === 404 ? d.msgGone : withStatus(d.msgRefused || "", xhr.status);
          retrying = false;
          say(why || "", true);
          return;
        }
        var s;
        try { s = JSON.parse(xhr.responseText); } catch (e) {
          retry(d.msgOffline || ""); // a captive portal's page, not ours
          return;
        }
        retrying = false;
        retryMs = RETRY_FIRST_MS;
        say("", false);
        if (s.status === "done" || s.status === "failed") {
          window.location.assign(section.dataset.reportUrl);
          return;
        }
        bar.value = Math.round(100 * (s.progress || 0));
        // The stage in the page's language (data-stage-<name>); never the raw code.
        var stage = s.stage ? section.dataset["stage" + s.stage.charAt(0).toUpperCase() +
          s.stage.slice(1)] : "";
        var text = s.status === "queued" ? section.dataset.msgQueued
          : section.dataset.msgRunning + " " + bar.value + "%" + (stage ? " · " + stage : "");
        // The label is a live region: written only when it changes, or a screen reader
        // would read the same words out at every poll.
        if (label.textContent !== text) label.textContent = text;
        label.dataset.stage = s.stage || ""; // the stage's code, for scripts and tests
        next(POLL_MS);
      });
      function offline() { retry(notice ? notice.dataset.msgOffline : ""); }
      xhr.addEventListener("error", offline);
      xhr.addEventListener("timeout", offline);
      xhr.send();
    }

    // Back online: ask now rather than at the end of the pause.
    window.addEventListener("online", function () {
      if (retrying && !inFlight) { next(0); }
    });
    poll();
  }

  // The report's player (issue 12): every time on the page ([data-seek], a link to
  // the video at that moment) shows that moment in the player instead of leaving the
  // page; the pictures open large in a dialog (their link opens the file without it).
  function setupPlayer(player) {
    var error = document.getElementById("player-error");
    player.addEventListener("error", function () { if (error) { error.hidden = false; } });
    function seek(seconds) {
      if (!isFinite(seconds)) { return; }
      // Before the metadata is in, this sets where playback starts: the same moment.
      player.currentTime = seconds;
      player.scrollIntoView({ behavior: "smooth", block: "nearest" });
    }
    document.addEventListener("click", function (ev) {
      var link = ev.target.closest ? ev.target.closest("[data-seek]") : null;
      if (!link) { return; }
      ev.preventDefault();
      var open = document.querySelector("dialog[open]");
      if (open) { open.close(); }
      seek(parseFloat(link.getAttribute("data-seek")));
    });
  }

  function setupPictures(dialog) {
    var img = document.getElementById("picture-img");
    var caption = document.getElementById("picture-caption");
    var opener = null;
    document.addEventListener("click", function (ev) {
      var link = ev.target.closest ? ev.target.closest("[data-enlarge]") : null;
      if (!link || typeof dialog.showModal !== "function") { return; }
      ev.preventDefault();
      var small = link.querySelector("img");
      var figure = link.closest("figure");
      img.src = link.getAttribute("href");
      img.alt = small ? small.alt : "";
      caption.textContent = figure && figure.querySelector("figcaption")
        ? figure.querySelector("figcaption").textContent.replace(/\s+/g, " ").trim() : img.alt;
      opener = link;
      dialog.showModal(); // Esc closes it; focus returns to the picture's link
    });
    dialog.querySelector("[data-close]").addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("click", function (ev) {
      if (ev.target === dialog) { dialog.close(); } // a tap beside the picture
    });
    dialog.addEventListener("close", function () { if (opener) { opener.focus(); } });
  }

  var player = document.getElementById("player");
  if (player) { setupPlayer(player); }
  var pictures = document.getElementById("picture");
  if (pictures) { setupPictures(pictures); }

  var form = document.getElementById("upload-form");
  if (form) { setupForm(form); }
  var analysis = document.getElementById("analysis");
  if (analysis) { setupProgress(analysis); }
})();
