// The clients of benchmarks/versus_node.py: the same Node clients for every server.
//
// Reads one JSON config on stdin: {kind: "sio" | "sse", url, clients: [...], expect,
// latency, welcome}.  Socket.IO clients are stock socket.io-client 4 sockets over
// the websocket transport, with `auth` from each client's spec; SSE clients are plain
// HTTP GETs of `url` with `Authorization: Bearer <token>`, split into frames as an
// EventSource does.  Prints {"ready": n} once every client is connected and in its
// room, then {"received", "last", "cpu_ms", "latencies"?} once `expect` message
// events have arrived, in all.  `last` and latencies use the wall clock
// (performance.timeOrigin + now(), sub-millisecond), as the servers' `at` does.
import { request } from "node:http";
import { io } from "socket.io-client";

const config = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => {
    text += chunk;
    const end = text.indexOf("\n");
    if (end >= 0) resolve(text.slice(0, end));
  });
}));

const EVENT = "message:received";
const now = () => performance.timeOrigin + performance.now();
let received = 0;
let last = 0;
const latencies = [];
let finish;
const finished = new Promise((resolve) => { finish = resolve; });

function got(data) {
  last = now();
  received += 1;
  if (config.latency) latencies.push((last - Date.parse(data.at)) / 1000);
  if (received === config.expect) finish();
}

function socketIO(spec) {
  return new Promise((resolve, reject) => {
    const socket = io(config.url, {
      transports: ["websocket"],
      auth: spec.auth,
      forceNew: true,
      reconnection: false,
    });
    socket.on("connect_error", reject);
    // In its room at CONNECT for a server that joins it in its connection handler;
    // at the welcome snapshot for wagate's adapter.
    if (config.welcome) socket.once("connection:status", () => resolve(socket));
    else socket.once("connect", () => resolve(socket));
    socket.on(EVENT, got);
  });
}

function sse(spec) {
  return new Promise((resolve, reject) => {
    const marker = `event: ${EVENT}\n`;
    const req = request(config.url, { headers: { authorization: `Bearer ${spec.token}` } });
    req.on("error", reject);
    req.on("response", (res) => {
      if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}`));
      res.setEncoding("utf8");
      let buffer = "";
      res.on("data", (chunk) => {
        resolve(req); // the first chunk is the welcome snapshot
        buffer += chunk;
        let end = buffer.indexOf("\n\n");
        let start = 0;
        while (end >= 0) {
          if (buffer.startsWith(marker, start)) {
            if (config.latency) {
              const data = buffer.indexOf("data: ", start) + 6;
              got(JSON.parse(buffer.slice(data, buffer.indexOf("\n", data))));
            } else {
              got(null);
            }
          }
          start = end + 2;
          end = buffer.indexOf("\n\n", start);
        }
        buffer = buffer.slice(start);
      });
    });
    req.end();
  });
}

const open = config.kind === "sio" ? socketIO : sse;
const connections = [];
for (let i = 0; i < config.clients.length; i += 64) {
  connections.push(...await Promise.all(config.clients.slice(i, i + 64).map(open)));
}
process.stdout.write(JSON.stringify({ ready: connections.length }) + "\n");
const cpu = process.cpuUsage();
const timeout = setTimeout(() => {
  process.stderr.write(`${config.kind}: ${received} of ${config.expect}\n`);
  process.exit(1);
}, 300000);
await finished;
clearTimeout(timeout);
const used = process.cpuUsage(cpu);
const result = { received, last: last / 1000, cpu_ms: (used.user + used.system) / 1000 };
if (config.latency) result.latencies = latencies;
for (const connection of connections) {
  if (config.kind === "sio") connection.disconnect();
  else connection.destroy();
}
// A pipe takes 64 KiB at once: exit only once the whole line is written.
process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(0));
