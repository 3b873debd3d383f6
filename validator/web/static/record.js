// The "record now" page: camera -> MediaRecorder -> a chunk about every second, each
// sent with its number and SHA-256 while recording goes on (validator/web/record.py).
// A chunk that cannot be sent (no network) stays queued, in order, and is sent again
// when the network is back: the recording never waits for the network, and the
// server's witness record shows the delay. Stop sends what is left, then asks the
// server to join the chunks and check the video.
(function () {
  "use strict";

  var root = document.getElementById("recorder");
  if (!root) { return; }
  var $ = function (id) { return document.getElementById(id); };
  var chunkMs = parseInt(root.dataset.chunkMs, 10) || 1000;
  var recId = root.dataset.recId || null;
  var token = null;
  var m = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (m) { token = decodeURIComponent(m[1]); }

  var queue = [];        // [{seq, blob}] not yet accepted by the server, in order
  var sending = false;
  var sent = 0;
  var nextSeq = 0;
  var recorder = null;
  var stream = null;
  var started = 0;
  var ticker = null;
  var stopping = false;
  var finished = false;   // MediaRecorder delivered its last chunk
  var retryTimer = null;

  function say(text) { $("rec-message").textContent = text; }
  function fail(text) {
    var box = $("rec-error");
    box.textContent = text;
    box.hidden = false;
  }
  function counts() {
    $("sent").textContent = String(sent);
    $("queued").textContent = String(queue.length);
  }

  function hex(buffer) {
    var bytes = new Uint8Array(buffer);
    var out = "";
    for (var i = 0; i < bytes.length; i++) { out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16); }
    return out;
  }

  function errorOf(resp) {
    return resp.json().then(function (body) {
      return (body && body.error) || { code: "http_" + resp.status, message: "HTTP " + resp.status };
    }, function () { return { code: "http_" + resp.status, message: "HTTP " + resp.status }; });
  }

  function later() {
    if (retryTimer) { return; }
    retryTimer = setTimeout(function () { retryTimer = null; pump(); }, 1000);
  }

  // Send the queue's head, then the next; a network error keeps it queued for later.
  function pump() {
    if (sending || !queue.length || !recId) { if (!queue.length) { maybeStop(); } return; }
    sending = true;
    var item = queue[0];
    item.blob.arrayBuffer().then(function (buf) {
      return crypto.subtle.digest("SHA-256", buf).then(function (digest) {
        return fetch(root.dataset.base + "/chunks/" + item.seq, {
          method: "PUT",
          headers: { "X-Recording-Token": token, "X-Chunk-SHA256": hex(digest),
                     "Content-Type": "application/octet-stream" },
          body: buf,
        });
      });
    }).then(function (resp) {
      if (resp.ok) {
        queue.shift();
        sent += 1;
        sending = false;
        counts();
        pump();
        return;
      }
      return errorOf(resp).then(function (err) {
        sending = false;
        if (err.code === "chunk_hash_mismatch" || resp.status >= 500) { later(); return; }
        queue.shift();  // refused for good (too large, closed): say why, go on
        fail(err.message);
        counts();
        pump();
      });
    }).catch(function () {  // offline, or the connection dropped: keep it, try again
      sending = false;
      counts();
      later();
    });
  }

  function openSession() {
    if (recId) { return Promise.resolve(); }
    var body = {};
    var tn = $("tracking_number"), signed = $("return_signed_at");
    if (tn && tn.value.trim()) { body.tracking_number = tn.value.trim(); }
    if (signed && signed.value) { body.return_signed_at = signed.value; }
    return fetch(root.dataset.sessionsUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": root.dataset.csrf,
                 "X-Requested-With": "XMLHttpRequest" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    }).then(function (resp) {
      if (!resp.ok) { return errorOf(resp).then(function (e) { throw new Error(e.message); }); }
      return resp.json().then(function (s) { recId = s.id; token = s.token; setBase(); });
    });
  }

  // The sessions' URLs under wherever the app is mounted (data-record-url is /record).
  function setBase() { root.dataset.base = root.dataset.recordUrl + "/" + encodeURIComponent(recId); }

  function pickType() {
    var types = ["video/webm;codecs=vp9", "video/webm;codecs=vp8", "video/webm", "video/mp4"];
    for (var i = 0; i < types.length; i++) {
      if (window.MediaRecorder && MediaRecorder.isTypeSupported(types[i])) { return types[i]; }
    }
    return "";
  }

  function camera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.crypto.subtle) {
      return Promise.reject(new Error(root.dataset.msgCamera));
    }
    // The rear camera when there is one, at the best resolution it offers up to 1080p.
    var video = { facingMode: { ideal: "environment" }, width: { ideal: 1920 }, height: { ideal: 1080 } };
    return navigator.mediaDevices.getUserMedia({ video: video, audio: true }).catch(function () {
      return navigator.mediaDevices.getUserMedia({ video: video, audio: false });
    });
  }

  function start() {
    $("start").disabled = true;
    $("rec-error").hidden = true;
    openSession().then(camera).then(function (s) {
      stream = s;
      $("preview").srcObject = s;
      var type = pickType();
      recorder = type ? new MediaRecorder(s, { mimeType: type }) : new MediaRecorder(s);
      recorder.ondataavailable = function (ev) {
        if (ev.data && ev.data.size) {
          queue.push({ seq: nextSeq, blob: ev.data });
          nextSeq += 1;
          counts();
          pump();
        }
      };
      recorder.onstop = function () { finished = true; pump(); maybeStop(); };
      recorder.start(chunkMs);
      started = Date.now();
      ticker = setInterval(function () {
        $("elapsed").textContent = String(Math.floor((Date.now() - started) / 1000));
      }, 250);
      $("start").hidden = true;
      $("stop").hidden = false;
      root.dataset.state = "recording";
      live();
    }).catch(function (e) {
      $("start").disabled = false;
      fail((e && e.message) || root.dataset.msgCamera);
    });
  }

  function stop() {
    $("stop").disabled = true;
    stopping = true;
    say(root.dataset.msgStopping);
    clearInterval(ticker);
    if (recorder && recorder.state !== "inactive") { recorder.stop(); }
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
  }

  var stopSent = false;
  function maybeStop() {
    if (!stopping || !finished || queue.length || sending || stopSent) { return; }
    stopSent = true;
    fetch(root.dataset.base + "/stop", { method: "POST", headers: { "X-Recording-Token": token } })
      .then(function (resp) {
        if (resp.ok) { say(root.dataset.msgChecking); root.dataset.state = "checking"; poll(); return; }
        return errorOf(resp).then(function (err) {
          stopSent = false;
          if (resp.status === 409 || resp.status >= 500) { setTimeout(maybeStop, 1000); return; }
          fail(err.message);
        });
      }).catch(function () { stopSent = false; setTimeout(maybeStop, 1000); });
  }

  // Live guidance: what the server's detectors saw so far, once a second while recording.
  // ``lag`` (seconds the state is behind the camera) is kept for the tests and the curious.
  function live() {
    if (stopping) { return; }
    var asked = Date.now();
    fetch(root.dataset.base + "/live", { headers: { "X-Recording-Token": token } })
      .then(function (resp) { return resp.ok ? resp.json() : null; })
      .then(function (s) {
        if (s && s.available) { showLive(s, (asked - started) / 1000); }
      }).catch(function () { /* offline: the next poll tries again */ })
      .then(function () { setTimeout(live, 1000); });
  }

  // The unfolded cube: its first n squares filled (their order is the prompts'), and
  // its text equivalent ("4 of 6 faces shown") as the picture's name.
  function showCube(n) {
    var cube = $("live-cube");
    var shown = Math.max(0, Math.min(6, Number(n) || 0));
    var squares = cube.querySelectorAll("[data-testid=cube-face]");
    for (var i = 0; i < squares.length; i++) {
      squares[i].classList.toggle("seen", i < shown);
      squares[i].dataset.seen = String(i < shown);
    }
    cube.setAttribute("aria-label", cube.dataset.msg.replace("{n}", String(shown)));
    cube.dataset.shown = String(shown);
  }

  function showLive(s, cameraS) {
    $("live").hidden = false;
    $("live-faces").textContent = String(s.faces_shown);
    showCube(s.faces_shown);
    var label = "–";
    if (s.label_read && s.label_read.length) {
      label = s.label_matched === true ? root.dataset.msgLabelOk
        : s.label_matched === false ? root.dataset.msgLabelOther : root.dataset.msgLabelRead;
    }
    $("live-label").textContent = label;
    var list = $("live-prompts");
    while (list.firstChild) { list.removeChild(list.firstChild); }
    var lang = root.dataset.lang === "zh" ? "zh" : "en";
    (s.prompts || []).forEach(function (p) {
      var li = document.createElement("li");
      li.textContent = p[lang];
      li.dataset.code = p.code;
      list.appendChild(li);
    });
    root.dataset.faces = String(s.faces_shown);
    root.dataset.labelMatched = String(s.label_matched);
    root.dataset.canStop = String(!!s.can_stop);
    root.dataset.lag = String(Math.max(0, cameraS - s.elapsed_s).toFixed(2));
    var lags = (root.dataset.lags || "").split(",").filter(Boolean);
    lags.push(root.dataset.lag);
    root.dataset.lags = lags.join(",");
    if (s.can_stop) { $("stop").classList.add("ready"); }
  }

  function poll() {
    fetch(root.dataset.base + "/status", { headers: { "X-Recording-Token": token } })
      .then(function (resp) { return resp.ok ? resp.json() : null; })
      .then(function (s) {
        var check = s && s.check;
        if (check && (check.status === "done" || check.status === "failed")) {
          root.dataset.state = check.status;
          root.dataset.checkId = check.id;
          root.dataset.verdict = check.verdict || "";
          if (s.links && s.links.report) {
            var a = $("report-link");
            a.href = s.links.report;
            a.hidden = false;
          } else {
            say(root.dataset.msgDone);
          }
          return;
        }
        setTimeout(poll, 1000);
      }).catch(function () { setTimeout(poll, 1000); });
  }

  if (recId) {
    setBase();
    if (!token) {  // a ticket system's link without its token: it was cut when copied
      $("start").disabled = true;
      fail(root.dataset.msgNoToken);
    }
  }
  window.addEventListener("online", pump);
  $("start").addEventListener("click", start);
  $("stop").addEventListener("click", stop);
  counts();
}());
