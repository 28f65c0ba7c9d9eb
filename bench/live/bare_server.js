// The peer newsfeed's fan-out is measured against: a bare Node WebSocket
// server (no library) that writes ONE pre-built frame to every socket.
//
// Driven by bench/bench_live.py over stdin/stdout (one JSON object per line):
//   start: node bare_server.js PORT        -> {ev:"listening"}
//   {cmd:"send", data}                      -> {ev:"sent", n}   data: the message text
// Each new connection gets a snapshot-like first message (the load
// generator counts a client open on its first message).
"use strict";

const http = require("http");
const crypto = require("crypto");
const readline = require("readline");

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const sockets = new Set();

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function frame(payload) {
  const n = payload.length;
  let head;
  if (n < 126) {
    head = Buffer.from([0x81, n]);
  } else if (n < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x81;
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x81;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

const SNAPSHOT = frame(Buffer.from('{"type":"snapshot","cursor":"bare.0-0","entries":[]}'));

const server = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});
server.on("upgrade", (req, socket) => {
  const key = req.headers["sec-websocket-key"] || "";
  const accept = crypto.createHash("sha1").update(key + GUID).digest("base64");
  socket.setNoDelay(true);
  socket.write(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Accept: " + accept + "\r\n\r\n",
  );
  socket.write(SNAPSHOT);
  sockets.add(socket);
  socket.on("data", () => {}); // the load generator sends nothing
  socket.on("close", () => sockets.delete(socket));
  socket.on("error", () => sockets.delete(socket));
});
server.listen(Number(process.argv[2]), "127.0.0.1", () => reply({ ev: "listening" }));

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  if (cmd.cmd === "send") {
    const f = frame(Buffer.from(cmd.data));
    for (const s of sockets) s.write(f);
    reply({ ev: "sent", n: sockets.size });
  }
});
process.stdin.on("end", () => process.exit(0));
