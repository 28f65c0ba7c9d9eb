/* newsfeed admin page: one submit per form, Ctrl+Enter to post, the live list.
   No build step, no dependencies. */

/* The strings these scripts show, in the editor's language (base.html's
   data-messages, from admin_render.script_messages); English as the fallback. */
var nfText = (function () {
  "use strict";
  var M = {};
  try { M = JSON.parse(document.body.dataset.messages || "{}"); } catch (e) { M = {}; }
  return function (key, fallback, vars) {
    var text = M[key] || fallback;
    Object.keys(vars || {}).forEach(function (k) { text = text.split("%(" + k + ")s").join(vars[k]); });
    return text;
  };
})();

(function () {
  "use strict";
  var t = nfText;

  // -- one submit per form render (the server's idempotency key covers the rest)
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-once")) return;
    if (form.dataset.sending === "1") { ev.preventDefault(); return; }
    var ask = (ev.submitter && ev.submitter.dataset.confirm) || form.dataset.confirm;
    if (ask && !window.confirm(ask)) { ev.preventDefault(); return; }
    form.dataset.sending = "1";
    var buttons = form.querySelectorAll("button:not([type=button])");
    window.setTimeout(function () {
      buttons.forEach(function (b) { b.disabled = true; b.classList.add("sending"); });
    }, 0);
    // No answer after 10 s (a flaky connection): allow a retry. It resends the
    // same form, nonce included, so the server still creates one entry.
    window.setTimeout(function () {
      delete form.dataset.sending;
      buttons.forEach(function (b) {
        b.disabled = false;
        b.classList.remove("sending");
        if (b.id === "post") b.textContent = t("retry_post", "Retry post");
      });
    }, 10000);
  }, true);

  // Coming back with the Back button shows a fresh, usable form.
  window.addEventListener("pageshow", function (ev) {
    if (!ev.persisted) return;
    document.querySelectorAll("form[data-sending]").forEach(function (form) {
      delete form.dataset.sending;
      form.querySelectorAll("button").forEach(function (b) { b.disabled = false; b.classList.remove("sending"); });
    });
  });

  // -- Ctrl+Enter (Cmd+Enter) submits the form you are typing in
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Enter" || !(ev.ctrlKey || ev.metaKey)) return;
    var form = ev.target && ev.target.closest ? ev.target.closest("form[data-ctrl-enter]") : null;
    if (!form) return;
    ev.preventDefault();
    if (form.dataset.sending !== "1") form.requestSubmit();
  });

  // -- bold / italic / link buttons wrap the selection in the textarea
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest("[data-wrap]") : null;
    if (btn) {
      var area = document.getElementById(btn.closest(".toolbar").dataset.for);
      var tag = btn.dataset.wrap, start = area.selectionStart, end = area.selectionEnd;
      var open = "<" + tag + ">", close = "</" + tag + ">";
      if (tag === "a") {
        var href = window.prompt("Link address", "https://");
        if (!href) return;
        open = '<a href="' + href.replace(/&/g, "&amp;").replace(/"/g, "&quot;") + '">';
      }
      area.setRangeText(open + area.value.slice(start, end) + close, start, end, "select");
      area.focus();
      return;
    }
    var copy = ev.target.closest ? ev.target.closest("[data-copy]") : null;
    if (copy) {
      var field = document.getElementById(copy.dataset.copy);
      field.select();
      var done = function () { copy.textContent = t("copied", "Copied"); };
      if (navigator.clipboard) navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
      else { document.execCommand("copy"); done(); }
    }
  });

  // -- the compose form keeps an unsent draft in this browser, so an expired
  //    session or a lost connection never loses what an editor typed
  var draftForm = document.querySelector("form[data-draft]");
  if (draftForm) {
    var draftKey = "nf-draft:" + draftForm.getAttribute("action");
    var fields = ["headline", "body", "url"];
    var store = null;
    try { store = window.localStorage; } catch (e) { store = null; }
    if (store) {
      if (new URLSearchParams(location.search).get("e")) store.removeItem(draftKey);
      var empty = fields.every(function (n) { return !draftForm.elements[n].value; });
      var saved = null;
      try { saved = JSON.parse(store.getItem(draftKey) || "null"); } catch (e) { saved = null; }
      if (empty && saved && (saved.headline || saved.body)) {
        fields.forEach(function (n) { if (typeof saved[n] === "string") draftForm.elements[n].value = saved[n]; });
        var note = document.getElementById("draft-note");
        if (note) note.hidden = false;
      }
      draftForm.addEventListener("input", function () {
        var d = {};
        fields.forEach(function (n) { d[n] = draftForm.elements[n].value; });
        if (d.headline || d.body || d.url) store.setItem(draftKey, JSON.stringify(d));
        else store.removeItem(draftKey);
      });
    }
  }

  // -- presence: who else is on this feed (editor screen), who else has this
  //    entry open (edit page): a beat every 3 s, a goodbye when the page goes
  var here = document.getElementById("presence");
  var lastHere = [];
  function applyBadges() {
    document.querySelectorAll(".entry .badge.editing").forEach(function (b) { b.remove(); });
    lastHere.forEach(function (p) {
      var li = p.entry && document.getElementById("e-" + p.entry);
      var meta = li && li.querySelector(".meta");
      if (!meta) return;
      var b = document.createElement("span");
      b.className = "badge editing";
      b.textContent = t("editing", "%(name)s editing", { name: p.user });
      meta.appendChild(b);
    });
  }
  if (here) {
    var tab = "t" + Math.random().toString(36).slice(2) + Date.now().toString(36);
    var entryId = here.dataset.entry || "";
    var beatTimer = null;
    var form = function (leave) {
      var f = new FormData();
      f.append("csrf_token", here.dataset.csrf);
      f.append("tab", tab);
      if (entryId) f.append("entry", entryId);
      if (leave) f.append("leave", "1");
      return f;
    };
    var names = function (ps) {
      return ps.map(function (p) { return p.user; }).filter(function (n, i, a) { return a.indexOf(n) === i; });
    };
    var show = function (list) {
      lastHere = list;
      var text = "";
      if (entryId) {
        var n = names(list.filter(function (p) { return p.entry === entryId; }));
        if (n.length === 1) text = t("is_editing", "%(names)s is editing this update", { names: n[0] });
        else if (n.length) text = t("are_editing", "%(names)s are editing this update", { names: n.join(", ") });
      } else {
        var all = names(list);
        if (all.length) text = t("also_here", "Also here: %(names)s", { names: all.join(", ") });
      }
      here.textContent = text;
      here.hidden = !text;
      applyBadges();
    };
    var beat = function () {
      fetch(here.dataset.src, { method: "POST", body: form(false), credentials: "same-origin",
        headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (d) { show(d.here || []); })
        .catch(function () { /* the next beat retries */ })
        .finally(function () { beatTimer = window.setTimeout(beat, 3000); });
    };
    beat();
    window.addEventListener("pagehide", function () {
      window.clearTimeout(beatTimer);
      if (navigator.sendBeacon) navigator.sendBeacon(here.dataset.src, form(true));
    });
  }

  // -- the editor screen's list: live over the public WebSocket for published
  //    changes, plus a periodic refresh of the editorial list (scheduled, other
  //    editors' drafts) from the admin's own JSON endpoint.
  var list = document.getElementById("entries");
  if (!list) return;
  var state = document.getElementById("live-state");
  var POLL_MS = 5000;
  var sig = list.dataset.sig || null, inflight = false, again = false, debounce = null;
  var known = new Set();
  list.querySelectorAll(".entry").forEach(function (li) { known.add(li.dataset.id + ":" + li.dataset.version); });
  var highlight = new URLSearchParams(location.search).get("e");
  if (highlight) {
    var li = document.getElementById("e-" + highlight);
    if (li) li.classList.add("fresh");
  }

  function setState(text, cls) {
    if (!state) return;
    state.textContent = text;
    state.className = "live-state " + (cls || "");
  }

  function refresh() {
    if (inflight) { again = true; return; }
    inflight = true;
    fetch(list.dataset.src, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) { signedOut(); throw new Error("signed out"); }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (data) {
        var readers = document.getElementById("readers");
        if (readers && typeof data.readers === "number") {
          readers.hidden = false;
          readers.textContent = data.readers === 1 ? t("readers_one", "1 reader now") :
            t("readers_many", "%(n)s readers now", { n: data.readers });
        }
        if (data.sig === sig) return;
        sig = data.sig;
        if (list.querySelector("form[data-sending]")) return;
        list.innerHTML = data.html;
        applyBadges();
        list.querySelectorAll(".entry").forEach(function (li) {
          var key = li.dataset.id + ":" + li.dataset.version;
          if (!known.has(key)) { li.classList.add("fresh"); known.add(key); }
        });
      })
      .catch(function () { if (!out) setState(t("offline", "offline, retrying"), "down"); })
      .finally(function () {
        inflight = false;
        if (again) { again = false; refresh(); }
      });
  }

  // The session ended (expired, or signed out elsewhere): say so, keep the
  // page and what is being typed (the draft is kept), stop refreshing.
  var out = false;
  function signedOut() {
    if (out) return;
    out = true;
    setState(t("signed_out", "signed out"), "down");
    var bar = document.getElementById("signed-out");
    if (bar) bar.hidden = false;
  }

  function soon() {
    window.clearTimeout(debounce);
    debounce = window.setTimeout(refresh, 100);
  }

  var backoff = 1000;
  function connect() {
    var ws;
    try {
      ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + list.dataset.ws);
    } catch (e) { retry(); return; }
    ws.onopen = function () { backoff = 1000; setState(t("live", "live"), "up"); };
    ws.onmessage = function () { soon(); };
    ws.onclose = function () { setState(t("auto_refresh", "auto-refresh"), ""); retry(); };
  }
  function retry() {
    window.setTimeout(connect, backoff + Math.random() * backoff);
    backoff = Math.min(backoff * 2, 30000);
  }

  setState(t("auto_refresh", "auto-refresh"), "");
  connect();
  refresh();
  window.setInterval(function () { if (!out) refresh(); }, POLL_MS);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
})();

/* Photos: choose or drop a file, see it at once, upload it (the server strips
   its metadata and re-encodes it), then post the update with its id. */
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("[data-photo-upload]"), function (box) {
    var form = box.closest("form");
    var input = box.querySelector("[data-photo-file]");
    var drop = box.querySelector("[data-drop]");
    var preview = box.querySelector("img.preview");
    var status = box.querySelector(".photo-status");
    var id = form.querySelector("input[name=photo_id]");
    var alt = form.querySelector("input[name=photo_alt]");
    var remove = box.querySelector("[data-photo-remove]");
    var csrf = form.querySelector("input[name=csrf_token]");
    var shown = null;

    function show(file) {
      if (shown) URL.revokeObjectURL(shown);
      shown = URL.createObjectURL(file);
      preview.src = shown;
      preview.hidden = false;
    }
    function send(file) {
      if (!file) return;
      show(file);
      id.value = "";
      alt.required = true;
      status.textContent = nfText("uploading", "Uploading…");
      form.dataset.uploading = "1";
      fetch(box.dataset.photoUpload, {
        method: "POST", credentials: "same-origin", body: file,
        headers: { "Content-Type": file.type || "application/octet-stream",
          "X-CSRF-Token": csrf ? csrf.value : "", Accept: "application/json" },
      }).then(function (r) {
        return r.json().then(function (body) { return { ok: r.ok, body: body }; });
      }).then(function (res) {
        delete form.dataset.uploading;
        if (!res.ok) throw new Error(res.body && res.body.detail || nfText("upload_failed", "the upload failed"));
        id.value = res.body.id;
        remove.hidden = false;
        status.textContent = nfText("photo_ready", "Photo ready (%(w)s×%(h)s).",
          { w: res.body.width, h: res.body.height });
        if (!alt.value) alt.focus();
      }).catch(function (err) {
        delete form.dataset.uploading;
        preview.hidden = true;
        status.textContent = nfText("not_attached", "Not attached: %(error)s", { error: err.message });
      });
    }
    input.addEventListener("change", function () { send(input.files && input.files[0]); });
    ["dragenter", "dragover"].forEach(function (t) {
      drop.addEventListener(t, function (ev) { ev.preventDefault(); drop.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (t) {
      drop.addEventListener(t, function () { drop.classList.remove("over"); });
    });
    drop.addEventListener("drop", function (ev) {
      ev.preventDefault();
      var f = ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files[0];
      send(f);
    });
    remove.addEventListener("click", function () {
      id.value = "";
      alt.required = false;
      preview.hidden = true;
      remove.hidden = true;
      input.value = "";
      status.textContent = nfText("no_photo", "No photo.");
    });
    form.addEventListener("submit", function (ev) {
      if (form.dataset.uploading === "1") {
        ev.preventDefault();
        ev.stopImmediatePropagation();
        status.textContent = nfText("wait_upload", "Wait for the photo to finish uploading.");
      }
    }, true);
    if (id.value) alt.required = true;
  });
})();

/* Avatars (users page): the same upload path as photos, squared by the server. */
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("[data-avatar-upload]"), function (box) {
    var input = box.querySelector("[data-avatar-file]");
    var img = box.querySelector("img.avatar-img");
    var status = box.querySelector(".avatar-status");
    var csrf = box.closest("form").querySelector("input[name=csrf_token]");
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!file) return;
      status.textContent = nfText("uploading", "Uploading…");
      fetch(box.dataset.avatarUpload, {
        method: "POST", credentials: "same-origin", body: file,
        headers: { "Content-Type": file.type || "application/octet-stream",
          "X-CSRF-Token": csrf ? csrf.value : "", Accept: "application/json" },
      }).then(function (r) {
        return r.json().then(function (body) { return { ok: r.ok, body: body }; });
      }).then(function (res) {
        if (!res.ok) throw new Error(res.body && res.body.detail || nfText("upload_failed", "the upload failed"));
        img.src = res.body.avatar;
        img.hidden = false;
        status.textContent = nfText("avatar_saved", "Avatar saved.");
      }).catch(function (err) {
        status.textContent = nfText("not_saved", "Not saved: %(error)s", { error: err.message });
      });
    });
  });
})();
