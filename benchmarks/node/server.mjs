// A stock socket.io 4 server, the baseline of benchmarks/versus_node.py.
//
// Each client joins the room named in its auth ({room}) when it connects.  Commands
// arrive on stdin, one JSON object a line; each is answered on stdout when done:
//   {"op": "burst", "rooms": [...], "events": N, "template": {...}}
//       N events to every room, in batches of 200 per loop turn (as the Python side
//       publishes), each a copy of the template with its own seq, id, text and `at`;
//   {"op": "paced", "rooms": [...], "count": N, "pace": seconds, "template": {...}}
//       N events one at a time, round-robin over the rooms, `pace` apart.
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { Server } from "socket.io";

const http = createServer();
const io = new Server(http, { pingInterval: 60000, pingTimeout: 60000, transports: ["websocket"] });
io.on("connection", (socket) => socket.join(String(socket.handshake.auth.room)));

let counter = 0;
const seqs = new Map();

function event(template, room) {
  counter += 1;
  const seq = (seqs.get(room) ?? 0) + 1;
  seqs.set(room, seq);
  const at = new Date().toISOString();
  const text = `benchmark message ${counter}`;
  return {
    ...template,
    tenant: room,
    seq,
    at,
    timestamp: at,
    id: `3EB0${counter.toString(16).toUpperCase().padStart(16, "0")}`,
    text,
    content: { ...template.content, text },
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

async function burst({ rooms, events, template }) {
  let batch = 0;
  for (let i = 0; i < events; i += 1) {
    for (const room of rooms) {
      io.to(room).emit("message:received", event(template, room));
      batch += 1;
      if (batch === 200) {
        batch = 0;
        await turn();
      }
    }
  }
}

async function paced({ rooms, count, pace, template }) {
  for (let i = 0; i < count; i += 1) {
    const room = rooms[i % rooms.length];
    io.to(room).emit("message:received", event(template, room));
    await sleep(pace);
  }
}

http.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: http.address().port }) + "\n");
});

const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  const command = JSON.parse(line);
  if (command.op === "burst") await burst(command);
  else if (command.op === "paced") await paced(command);
  else throw new Error(`unknown op ${command.op}`);
  process.stdout.write(JSON.stringify({ done: command.op }) + "\n");
});
lines.on("close", () => {
  io.close();
  process.exit(0);
});
