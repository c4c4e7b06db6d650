// A stock socket.io-client, driven by a test through stdin and reporting on stdout.
//
//   node recover.mjs URL OPTIONS_JSON
//
// OPTIONS_JSON: {"auth": {...}, "reconnection": bool, "transports": [...]} (transports:
// ["websocket"] unless given; ["polling", "websocket"] is a browser's default).  Each line out is JSON:
// {"type": "connect", "recovered"}, {"type": "event", "name", "args"},
// {"type": "disconnect", "reason"}, {"type": "connect_error", "message", "data"}.
// Lines in: "break" (close the transport under the socket, as a network blip
// does), "reconnect" (socket.connect()), "exit".
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const [url, optionsJson] = process.argv.slice(2);
const options = JSON.parse(optionsJson || "{}");
const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const socket = io(url, {
  auth: options.auth,
  transports: options.transports ?? ["websocket"],
  reconnection: options.reconnection ?? false,
  reconnectionDelay: 100,
  reconnectionDelayMax: 500,
});
socket.on("connect", () => say({ type: "connect", recovered: socket.recovered }));
socket.on("disconnect", (reason) => say({ type: "disconnect", reason }));
socket.on("connect_error", (error) =>
  say({ type: "connect_error", message: error.message, data: error.data ?? null }),
);
socket.onAny((name, ...args) => say({ type: "event", name, args }));

createInterface({ input: process.stdin }).on("line", (line) => {
  const command = line.trim();
  if (command === "break") socket.io.engine.close();
  else if (command === "reconnect") socket.connect();
  else if (command === "exit") {
    socket.close();
    process.exit(0);
  }
});
process.stdin.on("end", () => process.exit(0));
