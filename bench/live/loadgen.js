// Load generator for newsfeed's live WebSocket endpoint.
//
// One Node process holding thousands of `ws` clients, driven by
// bench/bench_live.py over stdin/stdout (one JSON object per line).
//
// Commands (stdin)                         Replies (stdout)
//   {cmd:"open", url, n, rate}             {ev:"opened", ok, failed, secs}
//   {cmd:"measure", on}                    {ev:"ok"}   record publish->receipt latency
//   {cmd:"record", on}                     {ev:"ok"}   keep every event's (id, version)
//   {cmd:"reset"}                          {ev:"ok"}   clear counters and histogram
//   {cmd:"stats"}                          {ev:"stats", ...}
//   {cmd:"close"}                          {ev:"closed", n}  (cursors are kept)
//   {cmd:"reconnect", url, within, expect, timeout}
//                                          {ev:"reconnected", ok, bad, failed, secs, sample}
//   {cmd:"quit"}
//
// Latency: an update's headline is "bench <publish time in ms since the
// epoch>"; receipt time is performance.timeOrigin + performance.now().
"use strict";

const WebSocket = require("ws");
const readline = require("readline");

const BIN_MS = 0.1;
const BINS = 600000; // 60 s
let hist = new Uint32Array(BINS); // publish -> receipt
let fanHist = new Uint32Array(BINS); // live stream append (the cursor's ms) -> receipt
let measuring = false;
let sampleEvery = 1; // measure latency on every n-th client (the others only count)
let recording = false;
let firstReceipt = 0;
let lastReceipt = 0;
const clients = [];

function now() {
  return performance.timeOrigin + performance.now();
}

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const CURSOR = Buffer.from('"cursor":"');
const HEADLINE = Buffer.from('"headline":"bench ');

function field(buf, marker) {
  const at = buf.indexOf(marker);
  if (at < 0) return null;
  const start = at + marker.length;
  const end = buf.indexOf(34, start); // '"'
  return buf.toString("latin1", start, end);
}

class Client {
  constructor(i) {
    this.i = i;
    this.ws = null;
    this.last = null;
    this.events = 0;
    this.snapshots = 0;
    this.resets = 0;
    this.seen = [];
    this.closeCode = null;
    this.onFirst = null;
    this.onEvent = null;
  }

  open(url) {
    return new Promise((resolve) => {
      let settled = false;
      const done = (ok) => {
        if (!settled) {
          settled = true;
          resolve(ok);
        }
      };
      const since = this.cursor;
      const full = since ? url + "?since=" + encodeURIComponent(since) : url;
      const ws = new WebSocket(full, {
        perMessageDeflate: false,
        skipUTF8Validation: true,
        handshakeTimeout: 60000,
      });
      this.ws = ws;
      this.closeCode = null;
      ws.on("message", (data) => {
        this.handle(data);
        done(true);
      });
      ws.on("close", (code) => {
        this.closeCode = code;
        done(false);
      });
      ws.on("error", () => done(false));
    });
  }

  // The last cursor, read lazily from the last message (no per-message copy).
  get cursor() {
    return this.last ? field(this.last, CURSOR) : null;
  }

  handle(buf) {
    // {"type":"snapshot|reset|retract|publish|pong|update": byte 11 tells them apart.
    const k = buf[11];
    if (k === 97) {
      this.snapshots += 1;
      this.last = buf;
      return;
    }
    if (k === 115) {
      this.resets += 1;
      return;
    }
    if (k === 110) return;
    const t = now();
    this.events += 1;
    this.last = buf;
    if (!firstReceipt) firstReceipt = t;
    lastReceipt = t;
    if (measuring && this.i % sampleEvery === 0) {
      const sent = field(buf, HEADLINE);
      if (sent !== null) {
        const bin = Math.min(BINS - 1, Math.max(0, Math.floor((t - Number(sent)) / BIN_MS)));
        hist[bin] += 1;
        const cursor = field(buf, CURSOR);
        const appended = Number(cursor.slice(cursor.indexOf(".") + 1, cursor.indexOf("-")));
        // The stream id has ms resolution: count from the middle of its ms.
        const fan = Math.min(BINS - 1, Math.max(0, Math.floor((t - appended - 0.5) / BIN_MS)));
        fanHist[fan] += 1;
      }
    }
    if (recording) {
      const m = JSON.parse(buf.toString("utf8"));
      this.seen.push([m.type, m.entry.id, m.entry.version]);
    }
    if (this.onEvent) this.onEvent();
  }
}

function percentile(p, h = hist) {
  let total = 0;
  for (let i = 0; i < BINS; i++) total += h[i];
  if (!total) return null;
  const target = Math.ceil(total * p);
  let acc = 0;
  for (let i = 0; i < BINS; i++) {
    acc += h[i];
    if (acc >= target) return (i + 0.5) * BIN_MS;
  }
  return null;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

async function openAll(url, n, rate) {
  const started = now();
  const pending = [];
  const gap = 1000 / rate;
  for (let i = 0; i < n; i++) {
    const c = new Client(clients.length);
    clients.push(c);
    pending.push(c.open(url));
    const due = started + (i + 1) * gap;
    const wait = due - now();
    if (wait > 1) await sleep(wait);
  }
  const results = await Promise.all(pending);
  const ok = results.filter((x) => x).length;
  return { ev: "opened", ok, failed: n - ok, secs: (now() - started) / 1000 };
}

function stats() {
  let min = Infinity;
  let max = 0;
  let total = 0;
  let open = 0;
  const codes = {};
  for (const c of clients) {
    min = Math.min(min, c.events);
    max = Math.max(max, c.events);
    total += c.events;
    if (c.ws && c.ws.readyState === WebSocket.OPEN) open += 1;
    if (c.closeCode !== null) codes[c.closeCode] = (codes[c.closeCode] || 0) + 1;
  }
  return {
    ev: "stats",
    clients: clients.length,
    open,
    events_min: clients.length ? min : 0,
    events_max: max,
    events_total: total,
    p50: percentile(0.5),
    p90: percentile(0.9),
    p99: percentile(0.99),
    max: percentile(1.0),
    fan_p50: percentile(0.5, fanHist),
    fan_p99: percentile(0.99, fanHist),
    fan_max: percentile(1.0, fanHist),
    first_receipt: firstReceipt,
    last_receipt: lastReceipt,
    close_codes: codes,
    cpu_ms: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
  };
}

async function closeAll() {
  await Promise.all(
    clients.map(
      (c) =>
        new Promise((resolve) => {
          if (!c.ws || c.ws.readyState === WebSocket.CLOSED) return resolve();
          c.ws.once("close", resolve);
          c.ws.close(1000);
        }),
    ),
  );
  return { ev: "closed", n: clients.length };
}

async function reconnectAll(url, within, expect, timeout) {
  // Only clients that had a cursor can resume; the others never opened.
  const never = clients.filter((c) => c.cursor === null).length;
  clients.splice(0, clients.length, ...clients.filter((c) => c.cursor !== null));
  const started = now();
  const gap = (within * 1000) / Math.max(1, clients.length);
  const want = expect.length;
  let complete = 0;
  let failed = 0;
  const allDone = new Promise((resolve) => {
    const check = () => {
      if (complete + failed === clients.length) resolve();
    };
    clients.forEach((c, i) => {
      c.seen = [];
      c.events = 0;
      c.snapshots = 0;
      c.resets = 0;
      c.finished = false;
      const finish = (ok) => {
        if (c.finished) return;
        c.finished = true;
        if (ok) complete += 1;
        else failed += 1;
        check();
      };
      c.onEvent = () => {
        if (c.events >= want) finish(true);
      };
      setTimeout(
        () => {
          c.open(url).then((ok) => {
            if (!ok) finish(false);
            else if (c.events >= want) finish(true);
          });
        },
        Math.max(0, started + i * gap - now()),
      );
    });
  });
  await Promise.race([allDone, sleep(timeout * 1000)]);
  const secs = (now() - started) / 1000;
  // Exactly what was missed: same events, same order, nothing else.
  await sleep(500);
  const wantKey = JSON.stringify(expect);
  let ok = 0;
  let bad = 0;
  let sample = null;
  for (const c of clients) {
    if (c.snapshots === 0 && c.resets === 0 && JSON.stringify(c.seen) === wantKey) ok += 1;
    else {
      bad += 1;
      if (!sample)
        sample = { got: c.seen.slice(0, 5), n: c.seen.length, snapshots: c.snapshots, resets: c.resets, code: c.closeCode };
    }
    c.onEvent = null;
  }
  return { ev: "reconnected", ok, bad, failed, never, secs, sample };
}

async function main() {
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const msg = JSON.parse(line);
    switch (msg.cmd) {
      case "open":
        reply(await openAll(msg.url, msg.n, msg.rate || 1000));
        break;
      case "measure":
        measuring = !!msg.on;
        sampleEvery = msg.every || 1;
        reply({ ev: "ok" });
        break;
      case "record":
        recording = !!msg.on;
        reply({ ev: "ok" });
        break;
      case "reset":
        hist = new Uint32Array(BINS);
        fanHist = new Uint32Array(BINS);
        firstReceipt = 0;
        lastReceipt = 0;
        for (const c of clients) {
          c.events = 0;
          c.seen = [];
        }
        reply({ ev: "ok" });
        break;
      case "stats":
        reply(stats());
        break;
      case "close":
        reply(await closeAll());
        break;
      case "reconnect":
        reply(await reconnectAll(msg.url, msg.within, msg.expect, msg.timeout || 60));
        break;
      case "quit":
        await closeAll();
        process.exit(0);
        break;
      default:
        reply({ ev: "error", error: "unknown command " + msg.cmd });
    }
  }
  process.exit(0);
}

main();
