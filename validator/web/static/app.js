// The form's only script: upload in resumable chunks with a progress bar
// (XMLHttpRequest), then poll the analysis status and open the report. Without JavaScript the form posts normally and
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

  // Resumable uploads (docs/api.md, "Several videos, large originals, resumable
  // uploads"): each video goes in chunks the server appends at the offset it keeps.
  // After a network error the script asks that offset (HEAD) and goes on from there,
  // pausing 1 s, 2 s, ... at most 10 s between tries, and at once when the browser
  // says it is back online. It gives up after MAX_TRIES tries in a row that moved
  // nothing; pressing the button again resumes the same uploads (UPLOAD_IDS).
  var MAX_TRIES = 12;
  var UPLOAD_IDS = {};

  function fileKey(file) { return [file.name, file.size, file.lastModified].join("|"); }

  function base64Utf8(text) {
    var bytes = new TextEncoder().encode(text);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return window.btoa(bin);
  }

  function request(method, url, headers, body, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      Object.keys(headers).forEach(function (k) { xhr.setRequestHeader(k, headers[k]); });
      if (onProgress && xhr.upload) {
        xhr.upload.addEventListener("progress", function (e) { onProgress(e.loaded); });
      }
      xhr.addEventListener("load", function () { resolve(xhr); });
      xhr.addEventListener("error", function () { reject(new Error("network")); });
      xhr.addEventListener("abort", function () { reject(new Error("network")); });
      xhr.addEventListener("timeout", function () { reject(new Error("network")); });
      xhr.send(body === undefined ? null : body);
    });
  }

  function pause(ms) {
    return new Promise(function (resolve) {
      var timer = window.setTimeout(done, ms);
      function done() {
        window.clearTimeout(timer);
        window.removeEventListener("online", done);
        resolve();
      }
      window.addEventListener("online", done);
    });
  }

  function uploadFile(form, file, onProgress, onRetry) {
    var base = {
      "X-Requested-With": "XMLHttpRequest",
      "X-CSRF-Token": form.elements.csrf_token.value,
      "Accept": "application/json"
    };
    var key = fileKey(file);
    var url = null;
    var chunk = 8 * 1024 * 1024;
    var tries = 0;

    function fail(xhr) { throw new Error(errorMessage(xhr, form.dataset.msgNetwork)); }

    // A 400 that gives the upload's offset is a chunk cut short (the body ended early):
    // go on. Any other 400 (an expired form's CSRF token) no retry mends.
    function saysOffset(xhr) {
      try {
        var details = JSON.parse(xhr.responseText).error.details;
        return details && typeof details.offset === "number";
      } catch (e) { return false; }
    }

    function create() {
      var h = Object.assign({ "Upload-Length": String(file.size),
        "Upload-Metadata": "filename " + base64Utf8(file.name) }, base);
      return request("POST", form.dataset.uploadsUrl, h).then(function (xhr) {
        if (xhr.status !== 201) { fail(xhr); }
        var body = JSON.parse(xhr.responseText);
        chunk = body.chunk_bytes || chunk;
        url = body.url;
        UPLOAD_IDS[key] = { id: body.id, url: url, chunk: chunk };
        return 0;
      });
    }

    function offsetNow() {
      return request("HEAD", url, base).then(function (xhr) {
        if (xhr.status >= 500) { throw new Error("network"); } // a proxy or the app: again
        if (xhr.status === 404) { delete UPLOAD_IDS[key]; return create(); } // expired
        if (xhr.status !== 204) { fail(xhr); }
        return parseInt(xhr.getResponseHeader("Upload-Offset"), 10);
      });
    }

    // A network error, a 5xx or a 409/400 that says where the server is: ask the offset
    // and go on. Anything else (413, 403, ...) stays so however often one tries.
    function retry(offset) {
      tries += 1;
      if (tries > MAX_TRIES) { throw new Error(form.dataset.msgNetwork); }
      onRetry(true);
      return pause(Math.min(1000 * Math.pow(2, tries - 1), 10000)).then(function () {
        return offsetNow().catch(function (e) {
          if (e.message === "network") { return retry(offset); }
          throw e;
        });
      }).then(function (now) { return send(now); });
    }

    function send(offset) {
      onProgress(offset);
      if (offset >= file.size) { return Promise.resolve(UPLOAD_IDS[key].id); }
      var end = Math.min(offset + chunk, file.size);
      var h = Object.assign({ "Upload-Offset": String(offset),
        "Content-Type": "application/offset+octet-stream" }, base);
      return request("PATCH", url, h, file.slice(offset, end), function (loaded) {
        onProgress(offset + loaded);
      }).then(function (xhr) {
        if (xhr.status === 204) {
          var next = parseInt(xhr.getResponseHeader("Upload-Offset"), 10);
          if (next > offset) { tries = 0; onRetry(false); }
          return send(next);
        }
        if (xhr.status >= 500 || xhr.status === 409 || xhr.status === 429 ||
            (xhr.status === 400 && saysOffset(xhr))) {
          return retry(offset);
        }
        fail(xhr);
      }, function () { return retry(offset); });
    }

    var known = UPLOAD_IDS[key];
    var start;
    if (known) {
      url = known.url;
      chunk = known.chunk;
      start = offsetNow();
    } else {
      start = create();
    }
    return start.then(send, function (e) {
      if (e.message === "network") { return retry(0); }
      throw e;
    });
  }

  function setupForm(form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var files = Array.prototype.slice.call(form.querySelector("input[type=file]").files);
      var max = parseInt(form.dataset.maxBytes, 10);
      for (var i = 0; i < files.length; i++) {
        if (max && files[i].size > max) { showError(form.dataset.msgTooLarge); return; }
      }
      var button = form.querySelector("button[type=submit]");
      var box = document.getElementById("upload-progress");
      var bar = document.getElementById("upload-bar");
      var label = document.getElementById("upload-label");
      var note = document.getElementById("upload-resuming");
      document.getElementById("form-error").hidden = true;
      button.disabled = true;
      box.hidden = false;
      var total = files.reduce(function (n, f) { return n + f.size; }, 0) || 1;
      var before = 0; // bytes of the videos already sent
      var shown = "";
      function progress(index, sent) {
        var pct = Math.min(100, Math.floor((100 * (before + sent)) / total));
        bar.value = pct;
        var text = form.dataset.msgUploading + " " + pct + "%";
        if (files.length > 1) {
          text += " · " + form.dataset.msgFileOf.replace("{i}", index + 1)
            .replace("{n}", files.length);
        }
        // A live region: written only when it changes.
        if (text !== shown) { label.textContent = text; shown = text; }
      }
      function resuming(on) { if (note) { note.hidden = !on; } }
      function stop(message) {
        window.removeEventListener("beforeunload", askBeforeLeaving);
        button.disabled = false;
        box.hidden = true;
        resuming(false);
        showError(message);
      }
      window.addEventListener("beforeunload", askBeforeLeaving);
      var ids = [];
      var chain = Promise.resolve();
      files.forEach(function (file, index) {
        chain = chain.then(function () {
          return uploadFile(form, file, function (sent) { progress(index, sent); }, resuming)
            .then(function (id) { ids.push(id); before += file.size; });
        });
      });
      chain.then(function () {
        var data = new FormData(form);
        data.delete("video");
        ids.forEach(function (id) { data.append("upload", id); });
        return request("POST", form.action, {
          "X-Requested-With": "XMLHttpRequest",
          "X-CSRF-Token": form.elements.csrf_token.value,
          "Accept": "application/json"
        }, data);
      }).then(function (xhr) {
        if (xhr.status >= 200 && xhr.status < 300) {
          files.forEach(function (f) { delete UPLOAD_IDS[fileKey(f)]; });
          window.removeEventListener("beforeunload", askBeforeLeaving);
          window.location.assign(JSON.parse(xhr.responseText).url);
          return;
        }
        stop(errorMessage(xhr, form.dataset.msgNetwork));
      }).catch(function (e) {
        stop(e && e.message && e.message !== "network" ? e.message : form.dataset.msgNetwork);
      });
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

  // A preview a worker is still making (the player has no source yet): ask its route
  // (HEAD: no bytes) until it answers 200 rather than 202, then give the player that
  // source and say so in the aria-live region; no reload. A refusal (the copy could
  // not be made) shows the failure and the link to the original. Offline: ask again.
  function setupPreview(player) {
    var url = player.getAttribute("data-preview-url");
    var status = document.getElementById("preview-status");
    if (!url || !status || player.getAttribute("data-state") !== "preparing") { return; }
    var wait = parseInt(status.getAttribute("data-retry-after"), 10) || 2;
    function ask() {
      var xhr = new XMLHttpRequest();
      xhr.open("HEAD", url);
      xhr.timeout = 30000;
      xhr.addEventListener("load", function () {
        if (xhr.status === 202) {
          var after = parseInt(xhr.getResponseHeader("Retry-After"), 10);
          window.setTimeout(ask, (after > 0 ? after : wait) * 1000);
        } else if (xhr.status === 200 || xhr.status === 206) {
          var at = player.currentTime; // a time clicked meanwhile: start there
          player.setAttribute("src", url);
          player.setAttribute("data-state", "ready");
          player.load();
          if (at > 0) { player.currentTime = at; }
          status.textContent = status.getAttribute("data-msg-ready");
        } else {
          player.setAttribute("data-state", "failed");
          status.hidden = true;
          var failed = document.getElementById("preview-failed");
          if (failed) { failed.hidden = false; }
        }
      });
      function later() { window.setTimeout(ask, 5000); }
      xhr.addEventListener("error", later);
      xhr.addEventListener("timeout", later);
      xhr.send();
    }
    ask();
  }

  var player = document.getElementById("player");
  if (player) { setupPlayer(player); setupPreview(player); }
  var pictures = document.getElementById("picture");
  if (pictures) { setupPictures(pictures); }

  var form = document.getElementById("upload-form");
  if (form) { setupForm(form); }
  var analysis = document.getElementById("analysis");
  if (analysis) { setupProgress(analysis); }
})();
