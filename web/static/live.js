/* newsfeed live column. Dependency-free, no build step.
 *
 * Served as /static/live.js (the reader page and the iframe embed, whose
 * column is rendered on the server) and as /embed.js (partner pages: every
 * <div data-newsfeed="FEED"> gets the column inside a Shadow DOM).
 *
 * Live protocol: docs/PROTOCOL.md. The column subscribes with since=<cursor>
 * read with its entries, applies publish/update/retract once per
 * (id, version), and resumes from the last cursor after any disconnect.
 * Everything editors wrote goes in as text, except an entry's body: HTML the
 * server sanitised, re-checked here against the same allow-list.
 */
(function () {
  "use strict";
  var FLAG = "__newsfeedLive";
  var script = document.currentScript ||
    document.querySelector('script[src*="/embed.js"],script[src*="/static/live.js"]');
  var ORIGIN = script && script.src ? new URL(script.src, location.href).origin : location.origin;
  if (window[FLAG] && window[FLAG][ORIGIN]) return;
  window[FLAG] = window[FLAG] || {};
  window[FLAG][ORIGIN] = true;

  var TAGS = { P: 1, BR: 1, B: 1, STRONG: 1, I: 1, EM: 1, U: 1, S: 1, A: 1, UL: 1, OL: 1,
    LI: 1, BLOCKQUOTE: 1, Q: 1, CODE: 1, SUB: 1, SUP: 1 };
  var DROP = { SCRIPT: 1, STYLE: 1, TEMPLATE: 1, IFRAME: 1, OBJECT: 1, EMBED: 1, SVG: 1,
    MATH: 1, NOSCRIPT: 1, TEXTAREA: 1, TITLE: 1, XMP: 1 };
  var MAX_DELAY = 15000;
  var KEYS_SHOWN = 20;
  var UPGRADE_MS = 15000; // in a fallback: try the WebSocket again this often
  var SSE_READY_MS = 8000; // an SSE stream that says nothing this long does not flow
  var POLL_MS = 5000;
  var WS_SHORT_MS = 3000; // a WebSocket closed this soon without a message failed

  // -- the feed's language: its strings (from the server's gettext catalogue)
  // and CLDR formats (the browser's Intl, with the options that match the
  // server's Babel patterns: docs/DESIGN.md, "Languages") ---------------------
  var EN = { lang: "en", live: "Live", live_slow: "Live (slow connection)",
    connecting: "Connecting…", reconnecting: "Reconnecting…", updated: "Updated: {time}",
    more: "More news", pinned: "Pinned", key_events: "Key events", news_feed: "News Feed",
    key_event: "Key event", correction: "Correction", what_changed: "What changed",
    by: "By {names}", photo_credit: "Photo: {credit}",
    empty: "No updates yet. New ones appear here as they are posted.",
    open_feed: "Open the full feed", live_page: "{title} · live page ↗",
    times_in: "Times in {zone}", no_feed: "This feed does not exist.", loading: "Loading…",
    new_updates: { one: "{n} new update", other: "{n} new updates" } };
  function messagesOf(raw) {
    var m = raw;
    if (typeof raw === "string") { try { m = JSON.parse(raw); } catch (e) { m = null; } }
    var out = {};
    Object.keys(EN).forEach(function (k) { out[k] = m && m[k] != null ? m[k] : EN[k]; });
    return out;
  }
  var formats = {};
  function fmt(lang, tz, kind) {
    var id = lang + "|" + tz + "|" + kind, f = formats[id];
    if (!f) {
      var o = kind === "time" ? { timeStyle: "short" } :
        kind === "day" ? { month: "short", day: "numeric" } :
        kind === "full" ? { dateStyle: "medium" } :
        kind === "zone" ? { timeZoneName: "longOffset" } :
        { year: "numeric", month: "2-digit", day: "2-digit" };
      o.timeZone = tz;
      try { f = new Intl.DateTimeFormat(kind === "key" ? "en-US" : lang, o); } catch (e) {
        if (lang === "en" && tz === "UTC") throw e;
        return fmt("en", "UTC", kind); // an unknown zone or tag: never a blank column
      }
      formats[id] = f;
    }
    return f;
  }
  function fmtText(ms, lang, tz, kind) {
    var f = fmt(lang, tz, kind), d = new Date(ms);
    if (kind === "zone") {
      var z = "";
      f.formatToParts(d).forEach(function (p) { if (p.type === "timeZoneName") z = p.value; });
      return z;
    }
    return f.format(d).replace(/\u202f/g, " ");
  }
  function parts(ms, tz, lang) {
    lang = lang || "en";
    return { time: fmtText(ms, lang, tz, "time"), day: fmtText(ms, lang, tz, "day"),
      full: fmtText(ms, lang, tz, "full"), zone: fmtText(ms, lang, tz, "zone"),
      key: fmtText(ms, lang, tz, "key") };
  }
  function fill(text, name, value) { return String(text).split("{" + name + "}").join(value); }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }
  function webUrl(u) { return typeof u === "string" && /^https?:\/\/[^\s]/i.test(u); }
  function pad13(n) { var s = String(n); while (s.length < 13) s = "0" + s; return s; }
  function keyOf(e) {
    return (e.pinned ? "1" : "0") + ":" + pad13(Date.parse(e.published_at)) + ":" + e.id;
  }

  // Defence in depth: the body is sanitised by the server (nh3); keep only
  // the same allow-list before it touches a page, above all a partner's.
  function cleanBody(html, embed) {
    var tpl = document.createElement("template");
    tpl.innerHTML = String(html || "");
    (function walk(parent) {
      Array.prototype.slice.call(parent.childNodes).forEach(function (node) {
        if (node.nodeType === 8) { node.remove(); return; }
        if (node.nodeType !== 1) return;
        var tag = node.nodeName.toUpperCase();
        if (DROP[tag]) { node.remove(); return; }
        walk(node);
        if (!TAGS[tag]) {
          while (node.firstChild) parent.insertBefore(node.firstChild, node);
          node.remove();
          return;
        }
        Array.prototype.slice.call(node.attributes).forEach(function (a) {
          var keep = tag === "A" && (a.name === "title" ||
            (a.name === "href" && /^(https?:|mailto:)/i.test(a.value.trim())));
          if (!keep) node.removeAttribute(a.name);
        });
        if (tag === "A") {
          node.setAttribute("rel", "noopener noreferrer nofollow");
          if (embed) node.setAttribute("target", "_blank");
        }
      });
    })(tpl.content);
    return tpl.content;
  }

  // -- one column ---------------------------------------------------------------
  function Column(root, opts) {
    this.root = root;
    this.origin = opts.origin;
    this.embed = !!opts.embed;
    this.feed = root.getAttribute("data-nf-feed");
    this.tz = root.getAttribute("data-nf-tz") || "UTC";
    this.msg = messagesOf(opts.messages || root.getAttribute("data-nf-messages"));
    this.lang = root.getAttribute("data-nf-lang") || this.msg.lang || "en";
    this.cursor = root.getAttribute("data-nf-cursor") || "";
    this.limit = parseInt(root.getAttribute("data-nf-limit"), 10) || 20;
    this.list = root.querySelector(".nf-list");
    this.button = root.querySelector(".nf-new");
    this.status = root.querySelector(".nf-status");
    this.keyNav = root.querySelector(".nf-keys");
    this.keyList = this.keyNav ? this.keyNav.querySelector(".nf-keys-list") : null;
    this.scroller = root.hasAttribute("data-nf-scroll") ? this.list : null;
    this.pending = [];
    this.versions = {};
    this.attempts = 0;
    this.conn = null;
    this.timer = null;
    this.mode = "ws";
    this.fallbackMode = "sse";
    this.fails = { ws: 0, sse: 0 };
    this.wsWorked = false;
    this.upgradeTimer = null;
    var self = this;
    this.items().forEach(function (a) {
      self.versions[a.getAttribute("data-id")] = +a.getAttribute("data-version");
    });
    this.button.addEventListener("click", function () { self.reveal(true); });
    this.keyItems().forEach(function (li) {
      var a = li.querySelector("a");
      if (a) self.wireKey(a);
    });
    var more = root.querySelector(".nf-more");
    if (more) this.wireMore(more);
    var onScroll = function () { if (self.pending.length && self.atTop()) self.reveal(false); };
    (this.scroller || window).addEventListener("scroll", onScroll, { passive: true });
    window.addEventListener("online", function () { self.retryNow(); });
  }

  Column.prototype.items = function () {
    return Array.prototype.slice.call(this.list.querySelectorAll(":scope > .nf-item"));
  };
  Column.prototype.find = function (id) {
    var items = this.items();
    for (var i = 0; i < items.length; i++) if (items[i].getAttribute("data-id") === id) return items[i];
    return null;
  };

  Column.prototype.render = function (e) {
    var ms = Date.parse(e.published_at);
    var p = parts(ms, this.tz, this.lang), now = parts(Date.now(), this.tz, this.lang);
    var permalink = this.origin + "/feeds/" + encodeURIComponent(e.feed || this.feed) +
      "/entries/" + encodeURIComponent(e.id);
    var art = el("article", "nf-item" + (e.pinned ? " nf-pinned" : ""));
    art.id = "e-" + e.id;
    art.setAttribute("data-id", e.id);
    art.setAttribute("data-version", String(e.version));
    art.setAttribute("data-key", keyOf(e));
    art.setAttribute("aria-labelledby", "h-" + e.id);
    art.tabIndex = -1;
    var meta = el("div", "nf-meta");
    var time = el("time", "nf-time", p.time);
    time.setAttribute("datetime", e.published_at);
    time.title = p.full + ", " + p.time + " " + p.zone;
    if (p.zone !== now.zone) {
      time.appendChild(document.createTextNode(" "));
      time.appendChild(el("abbr", "nf-zone-abbr", p.zone));
    }
    meta.appendChild(time);
    if (p.key !== now.key) meta.appendChild(el("span", "nf-date", p.day));
    if (e.pinned) meta.appendChild(el("span", "nf-pin", this.msg.pinned));
    if (e.key_event) meta.appendChild(el("span", "nf-key", this.msg.key_event));
    var main = el("div", "nf-main");
    var h = el("h3", "nf-headline");
    h.id = "h-" + e.id;
    var a = el("a", null, e.headline);
    a.href = webUrl(e.url) ? e.url : permalink;
    if (this.embed) { a.target = "_blank"; a.rel = "noopener"; }
    h.appendChild(a);
    main.appendChild(h);
    var names = (e.authors || []).map(function (au) { return String(au && au.name || ""); })
      .filter(Boolean);
    if (names.length) {
      var joined = names.join(", ");
      try { joined = new Intl.ListFormat(this.lang, { type: "conjunction" }).format(names); } catch (x) { /* old browser */ }
      var by = el("p", "nf-byline");
      var origin = this.origin;
      (e.authors || []).forEach(function (au) {
        if (!au || !MEDIA.test(String(au.avatar || ""))) return;
        var av = el("img", "nf-avatar");
        av.width = 24;
        av.height = 24;
        av.alt = "";
        av.loading = "lazy";
        av.src = origin + au.avatar;
        by.appendChild(av);
      });
      by.appendChild(document.createTextNode(fill(this.msg.by, "names", joined)));
      main.appendChild(by);
    }
    if (e.updated_at && e.updated_at !== e.corrected_at) {
      var mark = String(this.msg.updated).split("{time}");
      var up = el("p", "nf-updated", "(" + mark[0]);
      var ut = el("time", null, fmtText(Date.parse(e.updated_at), this.lang, this.tz, "time"));
      ut.setAttribute("datetime", e.updated_at);
      up.appendChild(ut);
      up.appendChild(document.createTextNode(mark.slice(1).join("") + ")"));
      main.appendChild(up);
    }
    if (e.photo && e.photo.sizes && e.photo.sizes.length) main.appendChild(this.figure(e.photo));
    if (e.body) {
      var body = el("div", "nf-body");
      body.appendChild(cleanBody(e.body, this.embed));
      main.appendChild(body);
    }
    if (e.embed && /^https:\/\//.test(String(e.embed.url))) main.appendChild(this.card(e.embed));
    if (e.correction_note && e.corrected_at) {
      var cor = el("p", "nf-correction");
      cor.appendChild(el("strong", null, this.msg.correction));
      cor.appendChild(document.createTextNode(" ("));
      var ct = el("time", null, fmtText(Date.parse(e.corrected_at), this.lang, this.tz, "time"));
      ct.setAttribute("datetime", e.corrected_at);
      cor.appendChild(ct);
      cor.appendChild(document.createTextNode("): "));
      cor.appendChild(el("span", "nf-correction-note", e.correction_note));
      cor.appendChild(document.createTextNode(" "));
      var tl = el("a", "nf-trail-link", this.msg.what_changed);
      tl.href = permalink + "#trail";
      if (this.embed) { tl.target = "_blank"; tl.rel = "noopener"; }
      cor.appendChild(tl);
      main.appendChild(cor);
    }
    art.appendChild(meta);
    art.appendChild(main);
    return art;
  };

  // A photo: width and height set before it loads (nothing jumps), lazy,
  // WebP with a JPEG fallback; only our own /media/ paths are used.
  var MEDIA = /^\/media\/[0-9a-f]{64}\.(webp|jpg)$/;
  Column.prototype.figure = function (ph) {
    var origin = this.origin, fig = el("figure", "nf-photo"), pic = el("picture");
    var sizes = ph.sizes.filter(function (s) { return MEDIA.test(s.webp) && MEDIA.test(s.jpeg); });
    var set = function (k) {
      return sizes.map(function (s) { return origin + s[k] + " " + (+s.width) + "w"; }).join(", ");
    };
    var media = "(min-width: 720px) 640px, 100vw";
    var src = el("source");
    src.type = "image/webp";
    src.srcset = set("webp");
    src.sizes = media;
    var img = el("img");
    img.width = +ph.width;
    img.height = +ph.height;
    img.alt = String(ph.alt || "");
    img.loading = "lazy";
    img.decoding = "async";
    if (sizes.length) img.src = origin + sizes[sizes.length - 1].jpeg;
    img.srcset = set("jpeg");
    img.sizes = media;
    pic.appendChild(src);
    pic.appendChild(img);
    fig.appendChild(pic);
    if (ph.caption || ph.credit) {
      var cap = el("figcaption");
      if (ph.caption) cap.appendChild(el("span", "nf-caption", ph.caption));
      if (ph.credit) {
        cap.appendChild(document.createTextNode(" "));
        cap.appendChild(el("span", "nf-credit", fill(this.msg.photo_credit, "credit", ph.credit)));
      }
      fig.appendChild(cap);
    }
    return fig;
  };

  // An embedded post: our own card of plain texts and our own thumbnail, or a
  // plain link while it is pending or failed. Never the provider's markup.
  Column.prototype.card = function (em) {
    var a = el("a", em.status === "ready" ? "nf-card" : null);
    a.href = String(em.url);
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    a.setAttribute("data-provider", String(em.provider || ""));
    if (em.status !== "ready") {
      a.textContent = String(em.provider_name || "") + ": " + String(em.url);
      var p = el("p", "nf-embed-link");
      p.appendChild(a);
      return p;
    }
    var th = em.thumbnail;
    if (th && th.sizes && th.sizes.length) {
      var fig = this.figure({sizes: th.sizes, width: th.width, height: th.height, alt: ""});
      var pic = fig.querySelector("picture");
      pic.className = "nf-card-thumb";
      a.appendChild(pic);
    }
    var text = el("span", "nf-card-text"), src = el("span", "nf-card-source");
    src.appendChild(el("span", "nf-card-provider", String(em.provider_name || "")));
    if (em.author_name) {
      src.appendChild(document.createTextNode(" \u00b7 "));
      src.appendChild(el("span", "nf-card-author", String(em.author_name)));
    }
    text.appendChild(src);
    if (em.title) text.appendChild(el("span", "nf-card-title", String(em.title)));
    a.appendChild(text);
    return a;
  };

  // -- "Key events": the list above the column, newest first ------------------
  Column.prototype.permalinkOf = function (e) {
    return this.origin + "/feeds/" + encodeURIComponent(e.feed || this.feed) + "/entries/" +
      encodeURIComponent(e.id);
  };

  Column.prototype.keyItems = function () {
    return this.keyList ? Array.prototype.slice.call(this.keyList.children) : [];
  };

  // Add, move, relabel or drop the entry's line; e is a whole entry (or a tombstone).
  Column.prototype.keyEvent = function (e) {
    if (!this.keyList) return;
    var old = null, items = this.keyItems();
    for (var i = 0; i < items.length; i++) if (items[i].getAttribute("data-id") === e.id) old = items[i];
    if (old) old.remove();
    if (e.key_event && e.status !== "retracted" && typeof e.published_at === "string") {
      var ms = Date.parse(e.published_at);
      var li = el("li", "nf-key-item");
      li.setAttribute("data-id", e.id);
      li.setAttribute("data-version", String(e.version));
      li.setAttribute("data-key", pad13(ms) + ":" + e.id);
      var a = el("a");
      a.href = this.permalinkOf(e);
      a.setAttribute("data-target", "e-" + e.id);
      if (this.embed) { a.target = "_blank"; a.rel = "noopener"; }
      var t = el("time", null, fmtText(ms, this.lang, this.tz, "time"));
      t.setAttribute("datetime", e.published_at);
      a.appendChild(t);
      a.appendChild(document.createTextNode(" "));
      a.appendChild(el("span", "nf-key-label", e.key_label || e.headline));
      li.appendChild(a);
      this.wireKey(a);
      var key = li.getAttribute("data-key"), placed = false;
      items = this.keyItems();
      for (var j = 0; j < items.length && !placed; j++) {
        if (items[j].getAttribute("data-key") < key) { this.keyList.insertBefore(li, items[j]); placed = true; }
      }
      if (!placed) this.keyList.appendChild(li);
      items = this.keyItems();
      while (items.length > KEYS_SHOWN) items.pop().remove();
    }
    this.keyNav.hidden = this.keyItems().length === 0;
  };

  // A key event whose update is in the column scrolls to it; else the permalink opens.
  Column.prototype.wireKey = function (a) {
    var self = this;
    a.addEventListener("click", function (ev) {
      if (self.embed || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
      var id = (a.getAttribute("data-target") || "").slice(2);
      var node = id && self.find(id);
      if (!node) return;
      ev.preventDefault();
      node.scrollIntoView({ block: "start" });
      node.focus({ preventScroll: true });
    });
  };

  // After a snapshot the list is read again: older key events are not in it.
  Column.prototype.loadKeys = function () {
    if (!this.keyList) return;
    var self = this, gen = (this.keyGen = (this.keyGen || 0) + 1);
    var url = this.origin + "/api/v1/feeds/" + encodeURIComponent(this.feed) +
      "/entries?key_events=true&limit=" + KEYS_SHOWN;
    fetch(url, { credentials: "omit" }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (page) {
      if (gen !== self.keyGen) return;
      var fresh = {};
      (page.entries || []).forEach(function (e) { fresh[e.id] = e; });
      self.keyItems().forEach(function (li) {
        var id = li.getAttribute("data-id");
        if (!fresh[id] && !(self.versions[id] > +li.getAttribute("data-version"))) li.remove();
      });
      (page.entries || []).forEach(function (e) {
        if (self.versions[e.id] > e.version) return; // a live message was newer
        self.keyEvent(e);
      });
      self.keyNav.hidden = self.keyItems().length === 0;
    }).catch(function () { /* the next snapshot tries again */ });
  };

  // Insert in timeline order (pinned first, newest first); false when the
  // entry belongs below the loaded part of the timeline.
  Column.prototype.place = function (node) {
    var key = node.getAttribute("data-key"), items = this.items();
    for (var i = 0; i < items.length; i++) {
      if (items[i].getAttribute("data-key") < key) { this.list.insertBefore(node, items[i]); return true; }
    }
    if (this.root.querySelector(".nf-more")) return false;
    this.list.appendChild(node);
    return true;
  };

  Column.prototype.atTop = function () {
    if (this.scroller) return this.scroller.scrollTop < 40;
    return this.list.getBoundingClientRect().top > -40;
  };

  Column.prototype.seen = function (e) {
    var known = this.versions[e.id];
    if (known !== undefined && known >= e.version) return true;
    this.versions[e.id] = e.version;
    return false;
  };

  Column.prototype.apply = function (type, e) {
    if (!e || typeof e.id !== "string" || this.seen(e)) return;
    this.pending = this.pending.filter(function (p) { return p.id !== e.id; });
    var old = this.find(e.id);
    this.keyEvent(type === "retract" ? { id: e.id, status: "retracted" } : e);
    if (type === "retract" || e.status === "retracted") {
      if (old) old.remove();
    } else if (old) {
      var node = this.render(e);
      if (node.getAttribute("data-key") === old.getAttribute("data-key")) {
        this.list.replaceChild(node, old);
      } else {
        old.remove();
        this.place(node);
      }
      node.classList.add("nf-flash");
    } else if (!this.atTop()) {
      this.pending.push(e);
    } else {
      var fresh = this.render(e);
      if (this.place(fresh)) fresh.classList.add("nf-enter");
    }
    this.refresh();
  };

  Column.prototype.reveal = function (focus) {
    var self = this, first = null;
    this.pending.splice(0).forEach(function (e) {
      var node = self.render(e);
      if (self.place(node)) {
        node.classList.add("nf-enter");
        if (!first || node.getAttribute("data-key") > first.getAttribute("data-key")) first = node;
      }
    });
    this.refresh();
    if (focus) {
      (this.scroller ? this.list : this.root).scrollIntoView({ block: "start" });
      if (this.scroller) this.scroller.scrollTop = 0;
      if (first) first.focus({ preventScroll: true });
    }
  };

  Column.prototype.refresh = function () {
    var n = this.pending.length;
    this.button.hidden = n === 0;
    this.button.textContent = fill(this.plural(this.msg.new_updates, n), "n", String(n));
    var empty = this.root.querySelector(".nf-empty");
    if (empty) empty.hidden = this.items().length > 0 || n > 0;
  };

  Column.prototype.replaceAll = function (entries) {
    var self = this;
    this.items().forEach(function (a) { a.remove(); });
    this.pending = [];
    this.versions = {};
    entries.forEach(function (e) {
      self.versions[e.id] = e.version;
      self.list.appendChild(self.render(e));
    });
    this.refresh();
  };

  Column.prototype.plural = function (forms, n) {
    var cat = "other";
    try { cat = new Intl.PluralRules(this.lang).select(n); } catch (e) { cat = n === 1 ? "one" : "other"; }
    return forms[cat] || forms.other || forms.many || EN.new_updates[n === 1 ? "one" : "other"];
  };

  // -- "More news": older pages from the public JSON API ------------------------
  Column.prototype.wireMore = function (more) {
    var self = this;
    more.addEventListener("click", function (ev) {
      var next = more.getAttribute("data-next");
      if (!next || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
      ev.preventDefault();
      if (more.getAttribute("aria-busy") === "true") return;
      more.setAttribute("aria-busy", "true");
      var url = self.origin + "/api/v1/feeds/" + encodeURIComponent(self.feed) +
        "/entries?limit=" + self.limit + "&before=" + encodeURIComponent(next);
      fetch(url, { credentials: "omit" }).then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      }).then(function (page) {
        page.entries.forEach(function (e) {
          if (self.find(e.id) || self.versions[e.id] > e.version) return;
          self.versions[e.id] = e.version;
          self.list.appendChild(self.render(e));
        });
        self.setNext(page.next);
        more.removeAttribute("aria-busy");
      }).catch(function () {
        more.removeAttribute("aria-busy");
        location.assign(more.href);
      });
    });
  };

  Column.prototype.setNext = function (next) {
    var more = this.root.querySelector(".nf-more");
    if (!next) { if (more) more.remove(); return; }
    if (!more) {
      more = el("a", "nf-more", this.msg.more);
      var after = this.root.querySelector(".nf-empty") || this.list;
      after.parentNode.insertBefore(more, after.nextSibling);
      this.wireMore(more);
    }
    more.setAttribute("data-next", next);
    more.href = this.origin + "/feeds/" + encodeURIComponent(this.feed) + "?before=" +
      encodeURIComponent(next);
  };

  // -- the live connection ----------------------------------------------------
  // WebSocket first. A transport that fails twice before delivering anything
  // (a proxy that blocks WebSockets, one that buffers the SSE stream) gives
  // way to the next: WebSocket -> SSE -> polling the public JSON API. Every
  // UPGRADE_MS in a fallback the column tries the WebSocket again, and goes
  // straight back to its fallback if that still fails. Whatever the
  // transport, it resumes from the last cursor it applied, and applies an
  // (id, version) at most once.
  Column.prototype.setState = function (state, transport) {
    this.root.setAttribute("data-nf-state", state);
    if (transport) this.root.setAttribute("data-nf-transport", transport);
    this.status.hidden = false;
    this.status.textContent = state === "live" ?
      (transport === "poll" ? this.msg.live_slow : this.msg.live) :
      state === "connecting" ? this.msg.connecting : this.msg.reconnecting;
  };

  Column.prototype.start = function () {
    this.setState("connecting");
    this.connect();
  };

  Column.prototype.liveUrl = function (kind) {
    var base = kind === "ws" ? this.origin.replace(/^http/, "ws") : this.origin;
    return base + "/api/v1/feeds/" + encodeURIComponent(this.feed) + "/" + kind + "?limit=" +
      this.limit + (this.cursor ? "&since=" + encodeURIComponent(this.cursor) : "");
  };

  Column.prototype.connect = function () {
    this.timer = null;
    if (this.mode === "ws") this.openWs();
    else if (this.mode === "sse") this.openSse();
    else this.poll();
  };

  // The current transport delivered its first message (or SSE's "ready").
  Column.prototype.working = function (kind) {
    this.fails[kind] = 0;
    this.attempts = 0;
    this.setState("live", kind);
    if (kind !== "ws" && this.upgradeTimer === null) {
      var self = this;
      this.upgradeTimer = setTimeout(function () { self.upgrade(); }, UPGRADE_MS);
    }
  };

  // The current transport ended before delivering anything.
  Column.prototype.failed = function (kind) {
    this.fails[kind] += 1;
    this.conn = null;
    // A WebSocket that worked on this page and now fails is more likely a
    // server restart than a proxy: give it longer before falling back.
    if (kind === "ws" && this.fails.ws >= (this.wsWorked ? 6 : 2)) {
      this.mode = this.fallbackMode;
      this.connect();
    } else if (kind === "sse" && this.fails.sse >= 2) {
      this.mode = this.fallbackMode = "poll";
      this.connect();
    } else {
      this.setState("reconnecting");
      this.retry();
    }
  };

  Column.prototype.upgrade = function () {
    this.upgradeTimer = null;
    if (this.mode === "ws") return;
    this.stop();
    this.mode = "ws";
    this.fails.ws = 1; // one more failure and it is back to the fallback
    this.connect();
  };

  Column.prototype.stop = function () {
    var conn = this.conn;
    this.conn = null;
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    if (conn) conn.close();
  };

  Column.prototype.openWs = function () {
    var self = this, got = false, opened = 0, ws;
    try { ws = new WebSocket(this.liveUrl("ws")); } catch (e) { this.failed("ws"); return; }
    this.conn = ws;
    ws.onopen = function () {
      if (self.conn !== ws) return;
      opened = Date.now();
      self.wsWorked = true;
      self.working("ws");
    };
    ws.onmessage = function (ev) {
      if (self.conn !== ws) return;
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      got = true;
      self.handle(msg);
    };
    ws.onclose = function (ev) {
      if (self.conn !== ws) return;
      // Never opened, or cut at once without a message: it does not get through.
      if (!opened || (!got && Date.now() - opened < WS_SHORT_MS)) { self.failed("ws"); return; }
      self.conn = null;
      self.setState("reconnecting");
      if (ev.code === 4000) self.connect(); // slow consumer: resume at once
      else self.retry();
    };
  };

  Column.prototype.openSse = function () {
    var self = this, got = false, es;
    try { es = new EventSource(this.liveUrl("sse")); } catch (e) { this.failed("sse"); return; }
    this.conn = es;
    // No "ready" in time: the stream does not flow (a buffering proxy).
    var silent = setTimeout(function () {
      if (self.conn === es && !got) { es.close(); self.failed("sse"); }
    }, SSE_READY_MS);
    var on = function (ev) {
      if (self.conn !== es) return;
      if (!got) { got = true; clearTimeout(silent); self.working("sse"); }
      if (ev.type === "ready") { self.setState("live", "sse"); return; }
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      self.handle(msg);
    };
    ["ready", "snapshot", "publish", "update", "retract", "reset"].forEach(function (t) {
      es.addEventListener(t, on);
    });
    es.onerror = function () {
      if (self.conn !== es) return;
      if (!got) { clearTimeout(silent); es.close(); self.failed("sse"); return; }
      // EventSource reconnects by itself with Last-Event-ID, the cursor of the
      // last event it delivered; on a refusal (CLOSED) we do, with backoff.
      self.setState("reconnecting");
      if (es.readyState === EventSource.CLOSED) {
        self.conn = null;
        got = false;
        self.retry();
      } else {
        got = false; // the next "ready" says it flows again
      }
    };
  };

  // Polling: the newest page with its cursor, read atomically. It is merged
  // like a snapshot (only newer versions applied; items of its range that it
  // lacks are gone), and its cursor is where a stream resumes from.
  Column.prototype.poll = function () {
    var self = this, stopped = false;
    var handle = { close: function () { stopped = true; } };
    this.conn = handle;
    var url = this.origin + "/api/v1/feeds/" + encodeURIComponent(this.feed) +
      "/entries?limit=" + this.limit;
    fetch(url, { credentials: "omit", cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (page) {
      if (stopped || self.conn !== handle) return;
      self.merge(page.entries || []);
      if (typeof page.cursor === "string") {
        self.cursor = page.cursor;
        self.root.setAttribute("data-nf-cursor", page.cursor);
      }
      self.working("poll");
      self.timer = setTimeout(function () { self.timer = null; if (self.conn === handle) self.poll(); },
        POLL_MS);
    }).catch(function () {
      if (stopped || self.conn !== handle) return;
      self.conn = null;
      self.setState("reconnecting");
      self.retry();
    });
  };

  Column.prototype.merge = function (entries) {
    var self = this, ids = {};
    entries.forEach(function (e) { ids[e.id] = true; });
    var oldest = entries.length ? keyOf(entries[entries.length - 1]) : "";
    var full = entries.length >= this.limit;
    // Gone from the page's range: retracted (its version is not known here,
    // so a later, newer version of it still applies).
    this.items().forEach(function (a) {
      if (!ids[a.getAttribute("data-id")] && (!full || a.getAttribute("data-key") >= oldest)) {
        a.remove();
      }
    });
    entries.slice().reverse().forEach(function (e) { self.apply("update", e); });
    this.refresh();
  };

  Column.prototype.handle = function (msg) {
    if (!msg || typeof msg.type !== "string") return;
    if (msg.type === "snapshot") {
      this.replaceAll(msg.entries || []);
      this.loadKeys();
      var list = msg.entries || [];
      this.setNext(list.length >= this.limit ? keyOf(list[list.length - 1]) : null);
    } else if (msg.type === "publish" || msg.type === "update" || msg.type === "retract") {
      this.apply(msg.type, msg.entry);
    } else {
      return; // "reset" (a snapshot follows) and anything newer
    }
    if (typeof msg.cursor === "string") {
      this.cursor = msg.cursor;
      this.root.setAttribute("data-nf-cursor", msg.cursor);
    }
  };

  // Jittered exponential backoff: 0.5 s, 1 s, 2 s ... up to 15 s, each drawn
  // from [d/2, d] so a restarted server is not hit by every reader at once.
  Column.prototype.retry = function () {
    var self = this;
    var d = Math.min(MAX_DELAY, 500 * Math.pow(2, this.attempts));
    this.attempts += 1;
    this.timer = setTimeout(function () { self.connect(); }, d / 2 + Math.random() * d / 2);
  };

  Column.prototype.retryNow = function () {
    if (this.timer === null) return;
    clearTimeout(this.timer);
    this.attempts = 0;
    this.connect();
  };

  // -- partner pages: <div data-newsfeed="FEED"> in a Shadow DOM --------------------
  function build(tag, cls, attrs) {
    var node = el(tag, cls);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function mount(host) {
    host.setAttribute("data-nf-mounted", "1");
    var feed = host.getAttribute("data-newsfeed") || "";
    var limit = Math.max(1, Math.min(100, parseInt(host.getAttribute("data-limit"), 10) || 20));
    var height = parseInt(host.getAttribute("data-height"), 10);
    var theme = host.getAttribute("data-theme");
    var shadow = host.shadowRoot || host.attachShadow({ mode: "open" });
    var css = build("link", null, { rel: "stylesheet", href: ORIGIN + "/static/column.css" });
    var root = build("section", "nf-column", { "data-nf-feed": feed, "data-nf-limit": String(limit),
      "data-nf-embed": "1", "aria-label": "News Feed" });
    if (theme === "light" || theme === "dark") root.setAttribute("data-theme", theme);
    root.style.visibility = "hidden";
    css.onload = css.onerror = function () { root.style.visibility = ""; };
    var head = el("header", "nf-head");
    var title = el("h2", "nf-title");
    title.appendChild(build("span", "nf-dot", { "aria-hidden": "true" }));
    title.appendChild(document.createTextNode("News Feed"));
    head.appendChild(title);
    head.appendChild(build("span", "nf-status", { role: "status" }));
    var zone = el("p", "nf-zone");
    var keys = build("nav", "nf-keys", { "aria-label": "Key events" });
    keys.hidden = true;
    var keysTitle = el("h3", "nf-keys-title", "Key events");
    keys.appendChild(keysTitle);
    keys.appendChild(el("ol", "nf-keys-list"));
    var wrap = el("div", "nf-new-wrap");
    var button = build("button", "nf-new", { type: "button" });
    button.hidden = true;
    wrap.appendChild(button);
    var list = build("div", "nf-list", { role: "log", "aria-live": "polite",
      "aria-relevant": "additions text", "aria-label": "News Feed" });
    if (height > 0) {
      root.setAttribute("data-nf-scroll", "1");
      list.style.maxHeight = Math.max(120, height) + "px";
    }
    var source = build("a", "nf-source", { href: ORIGIN + "/feeds/" + encodeURIComponent(feed),
      target: "_blank", rel: "noopener" });
    source.textContent = "Open the full feed";
    var empty = el("p", "nf-empty", "No updates yet. New ones appear here as they are posted.");
    empty.hidden = true;
    [head, zone, keys, wrap, list, empty, source].forEach(function (n) { root.appendChild(n); });
    shadow.appendChild(css);
    shadow.appendChild(root);

    var api = ORIGIN + "/api/v1/feeds/" + encodeURIComponent(feed);
    var attempt = 0;
    function load() {
      Promise.all([
        fetch(api, { credentials: "omit" }),
        fetch(api + "/entries?limit=" + limit, { credentials: "omit" }),
      ]).then(function (rs) {
        if (rs[0].status === 404) throw { fatal: true };
        if (!rs[0].ok || !rs[1].ok) throw new Error("HTTP");
        return Promise.all([rs[0].json(), rs[1].json()]);
      }).then(function (got) {
        var meta = got[0], page = got[1];
        var msg = messagesOf(meta.messages);
        root.setAttribute("data-nf-tz", meta.timezone || "UTC");
        root.setAttribute("data-nf-lang", meta.language || msg.lang);
        root.setAttribute("lang", meta.language || msg.lang);
        root.setAttribute("data-nf-cursor", page.cursor || "");
        root.setAttribute("aria-label", msg.news_feed);
        list.setAttribute("aria-label", msg.news_feed);
        title.lastChild.textContent = msg.news_feed;
        keysTitle.textContent = msg.key_events;
        keys.setAttribute("aria-label", msg.key_events);
        empty.textContent = msg.empty;
        zone.textContent = fill(msg.times_in, "zone",
          meta.zone || parts(Date.now(), meta.timezone || "UTC", msg.lang).zone);
        source.textContent = fill(msg.live_page, "title", meta.title || msg.news_feed);
        var col = new Column(root, { origin: ORIGIN, embed: true, messages: msg });
        col.replaceAll(page.entries || []);
        col.loadKeys();
        col.setNext(page.next);
        col.start();
      }).catch(function (err) {
        if (err && err.fatal) { zone.textContent = "This feed does not exist."; return; }
        zone.textContent = "Loading…";
        attempt += 1;
        setTimeout(load, Math.min(MAX_DELAY, 500 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2));
      });
    }
    load();
  }

  function mountAll() {
    var hosts = document.querySelectorAll("[data-newsfeed]:not([data-nf-mounted])");
    Array.prototype.forEach.call(hosts, mount);
  }

  // -- iframes: /embed/FEED tells its parent how tall it is ------------------------
  function reportHeight() {
    var root = document.querySelector(".nf-column");
    var last = 0;
    var send = function () {
      var h = Math.ceil(document.documentElement.getBoundingClientRect().height);
      if (h === last) return;
      last = h;
      window.parent.postMessage({ type: "newsfeed:height", feed: root && root.getAttribute("data-nf-feed"),
        height: h }, "*");
    };
    new ResizeObserver(send).observe(document.documentElement);
    send();
  }

  function sizeFrames(ev) {
    if (ev.origin !== ORIGIN || !ev.data || ev.data.type !== "newsfeed:height") return;
    var h = parseInt(ev.data.height, 10);
    if (!(h > 0)) return;
    Array.prototype.forEach.call(document.querySelectorAll("iframe"), function (f) {
      if (f.contentWindow === ev.source) f.style.height = Math.min(h, 20000) + "px";
    });
  }

  function boot() {
    Array.prototype.forEach.call(document.querySelectorAll(".nf-column[data-nf-feed]"), function (root) {
      if (root.getAttribute("data-nf-live") !== "1" || root.getAttribute("data-nf-started")) return;
      root.setAttribute("data-nf-started", "1");
      var embed = root.hasAttribute("data-nf-embed");
      if (embed) {
        Array.prototype.forEach.call(root.querySelectorAll(".nf-body a"), function (a) {
          a.setAttribute("target", "_blank");
        });
      }
      new Column(root, { origin: location.origin, embed: embed }).start();
    });
    if (document.body && document.body.classList.contains("nf-frame") && window.parent !== window) {
      reportHeight();
    }
    mountAll();
  }

  window.addEventListener("message", sizeFrames);
  window.NewsFeedEmbed = window.NewsFeedEmbed || { mount: mountAll };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
