// The live connection to a wagate gateway: Socket.IO, or Server-Sent Events when
// Socket.IO is not mounted (a Flask blueprint) or not wanted.
//
// Both carry the same events, named and shaped as wagate.to_wire() makes them;
// both send the tenant's current state first, so a page that opens late (or
// reconnects) shows the truth at once.

/** Every event name of wagate's wire protocol (the "colon" naming). */
export const EVENT_NAMES = [
  "connection:status",
  "qr:generated",
  "whatsapp:connected",
  "whatsapp:disconnected",
  "message:received",
  "message:sent",
  "message:status",
  "message:reaction",
  "message:edited",
  "message:revoked",
  "pairing:code",
  "presence:changed",
  "chat:state",
  "group:joined",
  "group:left",
  "group:updated",
  "group:participants",
  "stream:gap",
];

// An event's offset, as wagate's Socket.IO adapter sends it (the last argument).
const OFFSET = /^([A-Za-z0-9._-]{1,128}):(0|[1-9][0-9]{0,17})$/;

const SSE_RETRY_MIN_MS = 1000;
const SSE_RETRY_MAX_MS = 10000;

/**
 * One live connection.  States: "connecting" (before the first success),
 * "up", "down" (lost; retrying by itself), "stopped".
 *
 * Options:
 *   base        URL of the REST routes (ends with "/"); SSE is base + "api/events"
 *   transport   "auto" (Socket.IO, else SSE), "socketio" or "sse"
 *   socketioUrl origin of the Socket.IO server (default: base's origin)
 *   socketioPath its path (default: base's path + "socket.io/")
 *   token       a bearer token for Socket.IO (SSE relies on the cookie)
 *   tenant      the tenant to follow, for principals granted several
 *   resumeFrom  an offset ("<tenant>:<seq>") an earlier page reached (see `offset`): the
 *               first Socket.IO connect asks the server to replay what came after it
 *   onEvent(name, data), onState(state), onDenied(error)  callbacks
 *   whyClosed() async: called when an SSE stream is refused; returns an error
 *               object when the credentials are refused (then no retry), else null
 */
export class LiveConnection {
  constructor(options) {
    this.options = options;
    this.state = "connecting";
    this.transport = null;
    this.recovered = false;
    /** The offset of the last Socket.IO event received, "<tenant>:<seq>" (null before one). */
    this.offset = OFFSET.test(options.resumeFrom || "") ? options.resumeFrom : null;
    this.everUp = false;
    this._socket = null;
    this._source = null;
    this._timer = null;
    this._sseDelay = SSE_RETRY_MIN_MS;
  }

  start() {
    const wanted = this.options.transport || "auto";
    if (wanted === "sse") this._startSse();
    else this._startSocketIo(wanted === "auto");
  }

  stop() {
    this._setState("stopped");
    clearTimeout(this._timer);
    if (this._socket) {
      this._socket.removeAllListeners?.();
      this._socket.close();
      this._socket = null;
    }
    if (this._source) {
      this._source.close();
      this._source = null;
    }
  }

  _setState(state) {
    if (this.state === "stopped" || this.state === state) return;
    this.state = state;
    if (state === "up") this.everUp = true;
    this.options.onState?.(state);
  }

  _emit(name, data) {
    if (this.state !== "stopped") this.options.onEvent?.(name, data);
  }

  _deny(error) {
    this.options.onDenied?.(error);
    this.stop();
  }

  // ------------------------------------------------------------------ Socket.IO
  async _startSocketIo(fallback) {
    let io;
    try {
      // Loaded only when used: the SSE path never downloads it.
      ({ io } = await import("./vendor/socket.io.esm.min.js"));
    } catch (error) {
      if (fallback) return this._startSse();
      throw error;
    }
    if (this.state === "stopped") return;
    const { base, token, tenant } = this.options;
    const baseUrl = new URL(base, location.href);
    const url = this.options.socketioUrl || baseUrl.origin;
    const path = this.options.socketioPath || `${baseUrl.pathname}socket.io/`;
    const auth = {};
    if (token) auth.token = token;
    if (tenant) auth.tenants = [tenant];
    // Only the first connect names the earlier page's position: after that the
    // client sends its own (an auth object's keys would override it).
    let resumeFrom = OFFSET.exec(this.options.resumeFrom || "");
    const socket = io(url, {
      path,
      auth: (send) => {
        // wagate's pids are self-contained ("wagate1:<tenant>=<seq>"): the one an
        // offset stands for is made here, as the server would have made it.
        const first = resumeFrom;
        resumeFrom = null;
        send(first ? { ...auth, pid: `wagate1:${first[1]}=${first[2]}`, offset: first[0] } : auth);
      },
      withCredentials: true,
      // WebSocket first: one connection, so it works behind several workers or hosts
      // without sticky sessions (long-polling needs every request on one process).
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
      timeout: 8000,
    });
    this._socket = socket;
    let connectedOnce = false;
    socket.on("connect", () => {
      connectedOnce = true;
      // Known only once it works: "auto" may still fall back to SSE before that.
      this.transport = "socketio";
      // After a blip the server replays what was missed (connection-state recovery).
      this.recovered = socket.recovered === true;
      this._setState("up");
    });
    socket.on("disconnect", (reason) => {
      this._setState("down");
      // The server ended the socket (an expired token is announced by an "error"
      // event first, which stops us); anything else: connect again.
      if (reason === "io server disconnect" && this._socket === socket) socket.connect();
    });
    socket.on("connect_error", (error) => {
      if (fallback && !connectedOnce && error?.type === "TransportError" && error.description === 404) {
        // No Socket.IO server at that path (e.g. a Flask blueprint): use SSE.
        socket.removeAllListeners();
        socket.close();
        this._socket = null;
        this._startSse();
        return;
      }
      if (error?.data?.error) {
        // Refused by the server (bad or expired token, tenant not granted).
        this._deny(error.data.error);
        return;
      }
      this._setState("down"); // socket.io retries with backoff by itself
    });
    socket.on("error", (payload) => {
      const code = payload?.error?.code;
      if (code === "token_expired" || code === "invalid_token" || code === "missing_token") {
        this._deny(payload.error);
      }
    });
    for (const name of EVENT_NAMES) {
      socket.on(name, (data, offset) => {
        if (typeof offset === "string" && OFFSET.test(offset)) this.offset = offset;
        this._emit(name, data);
      });
    }
  }

  // ------------------------------------------------------------------ SSE
  _startSse() {
    if (this.state === "stopped") return;
    const { base, tenant } = this.options;
    const url = new URL("api/events", new URL(base, location.href));
    if (tenant) url.searchParams.set("tenant", tenant);
    const source = new EventSource(url, { withCredentials: true });
    this._source = source;
    source.onopen = () => {
      this._sseDelay = SSE_RETRY_MIN_MS;
      this.transport = "sse";
      this._setState("up");
    };
    source.onerror = () => {
      if (this._source !== source) return;
      this._setState("down");
      if (source.readyState !== EventSource.CLOSED) return; // the browser retries by itself
      // The browser gave up (an HTTP error): ask why, then retry with backoff.
      source.close();
      this._source = null;
      const delay = this._sseDelay;
      this._sseDelay = Math.min(this._sseDelay * 2, SSE_RETRY_MAX_MS);
      Promise.resolve(this.options.whyClosed?.())
        .catch(() => null)
        .then((denied) => {
          if (denied) this._deny(denied);
          else if (this.state !== "stopped") this._timer = setTimeout(() => this._startSse(), delay);
        });
    };
    for (const name of EVENT_NAMES) {
      source.addEventListener(name, (message) => {
        let data;
        try {
          data = JSON.parse(message.data);
        } catch {
          return;
        }
        this._emit(name, data);
      });
    }
  }
}
