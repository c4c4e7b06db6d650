// <wagate-connection>: link a WhatsApp account to a wagate gateway and watch it live.
//
// Drop it into any page served next to wagate's routes:
//
//   <script type="module" src="/wagate-static/wagate-connection.js"></script>
//   <wagate-connection></wagate-connection>
//
// Attributes (all optional):
//   lang           language of its words ("en", "id", or one added with addMessages);
//                  default: the browser's languages
//   base           URL of wagate's REST routes (default: the folder above this script,
//                  which is where the FastAPI router / Flask blueprint serves them)
//   tenant         the tenant to show, for credentials granted several
//   transport      "auto" (Socket.IO, else Server-Sent Events), "socketio" or "sse"
//   socketio-url   origin of the Socket.IO server (e.g. the one beside a Flask app)
//   socketio-path  its path (default: <base>socket.io/)
//   theme          "light" or "dark" (default: the system's)
//   simulator      "true" shows the "Simulated phone" panel (wagate serve --simulator)
//   hide-messages  hides the messages and send form
// Property: `token` (a bearer token; by default the browser's cookie is used).
// Event: "wagate:event" {detail: {name, data}} for every live event received.
//
// It talks to: GET status, POST api/qr/generate, api/pairing-code, api/send,
// api/messages (a file), api/logout, api/simulator/scan, api/simulator/receive,
// GET api/media/{id} (images), GET api/groups (the composer's groups), and the
// live events.
//
// After a reload the message list (and a pairing code shown) comes back from the
// tab's sessionStorage (one entry per tenant), and the live connection resumes from the hub's replay log at
// the last event the page had, so what came meanwhile is replayed (Socket.IO).

import { addMessages, messages, onMessagesChanged, pickLanguage, translator } from "./i18n.js";
import { LiveConnection } from "./live.js";
import { adoptStyles } from "./styles.js";

export { addMessages, messages };

const MAX_MESSAGES = 50;
// A tab left open must not rotate logins forever: after this many QR codes asked
// for without anyone touching the page, it waits for a click.
const MAX_AUTO_RENEWALS = 10;
// When a QR code's countdown ends, the engine normally shows the next one at once;
// if none comes within this time, the page asks for one.
const EXPIRY_GRACE_MS = 2500;
const RESTORED_NOTICE_MS = 4000;
const TICK_MS = 250;
const STORAGE_PREFIX = "wagate:messages:";
// How far a sent message got; a receipt never moves it back.
const STATUS_RANK = { sent: 1, delivered: 2, read: 3, played: 4 };
const MEDIA_KINDS = new Set(["image", "video", "audio", "document", "sticker"]);
// WhatsApp's own "typing…" goes after this long without a new chat state: a
// contact whose "paused" was lost (they closed the app) does not type forever.
const TYPING_TIMEOUT_MS = 25000;
// The events after which the composer's list of groups is asked for again.
const GROUP_EVENTS = new Set(["group:joined", "group:left", "group:updated", "group:participants"]);

const TEMPLATE = `
<div class="notice" data-testid="connection-notice" role="status" aria-live="polite" hidden></div>
<section class="card signed-out" data-part="signed-out" hidden>
  <h2 data-t="signed_out_title"></h2>
  <p data-t="signed_out_text"></p>
  <p class="hint" data-part="signed-out-detail"></p>
</section>
<div class="grid" data-part="main">
  <section class="card connection" aria-labelledby="wg-title">
    <header class="card-head">
      <h2 id="wg-title">WhatsApp</h2>
      <span class="tenant" data-part="tenant"></span>
      <span class="badge" data-testid="status-badge" role="status" aria-live="polite"></span>
    </header>
    <p class="status-detail" data-testid="status-detail" hidden></p>
    <div class="qr" data-part="qr" hidden>
      <figure class="qr-frame">
        <img data-testid="qr-image" width="272" height="272" alt="">
        <figcaption class="qr-overlay" data-part="qr-overlay" hidden></figcaption>
      </figure>
      <div class="qr-side">
        <h3 data-t="qr_title"></h3>
        <ol class="steps">
          <li data-t="qr_step_open"></li>
          <li data-t="qr_step_menu"></li>
          <li data-t="qr_step_link"></li>
          <li data-t="qr_step_scan"></li>
        </ol>
        <p class="countdown" data-testid="qr-countdown" aria-live="off"></p>
        <details class="pairing" data-testid="pairing" data-part="pairing" hidden>
          <summary data-t="pairing_toggle"></summary>
          <form data-testid="pairing-form" novalidate>
            <div class="row">
              <label><span data-t="pairing_phone"></span>
                <input name="phone" type="tel" inputmode="tel" autocomplete="tel" required
                  data-t-placeholder="send_to_placeholder">
              </label>
              <button type="submit" class="primary" data-part="pairing-button"></button>
            </div>
            <p class="error" role="alert" data-part="pairing-error" hidden></p>
          </form>
          <div class="pairing-result" data-part="pairing-result" aria-live="polite" hidden>
            <p class="pairing-for" data-part="pairing-for"></p>
            <p class="pairing-code" data-testid="pairing-code"></p>
            <ol class="steps">
              <li data-t="qr_step_open"></li>
              <li data-t="qr_step_menu"></li>
              <li data-t="pairing_step_link"></li>
              <li data-t="pairing_step_type"></li>
            </ol>
          </div>
        </details>
      </div>
    </div>
    <div class="account" data-part="account" hidden>
      <div class="avatar" aria-hidden="true"></div>
      <div class="account-text">
        <p class="account-name" data-testid="account-name"></p>
        <p class="account-phone" data-testid="account-phone"></p>
        <p class="account-since" data-part="since"></p>
      </div>
    </div>
    <div class="idle" data-part="idle" hidden>
      <span class="spinner" data-part="spinner" hidden></span>
      <p data-part="idle-text"></p>
    </div>
    <div class="actions">
      <button type="button" class="primary" data-testid="generate-button"></button>
      <button type="button" data-testid="refresh-button" data-t="refresh"></button>
      <button type="button" class="danger" data-testid="logout-button" data-t="logout"></button>
    </div>
    <p class="error" role="alert" data-part="action-error" hidden></p>
  </section>
  <section class="card messages-card" data-part="messages-card" aria-labelledby="wg-messages">
    <header class="card-head"><h2 id="wg-messages" data-t="messages_title"></h2></header>
    <form data-testid="send-form" novalidate>
      <div class="row recipient">
        <label><span data-t="send_to"></span>
          <input name="to" inputmode="tel" autocomplete="off" required data-t-placeholder="send_to_placeholder">
        </label>
        <label data-part="group-picker" hidden><span data-t="send_group"></span>
          <select name="group" data-testid="send-group">
            <option value="" data-t="send_group_none"></option>
          </select>
        </label>
      </div>
      <div class="row">
        <label><span data-t="send_text"></span>
          <textarea name="text" rows="2" required maxlength="65536" data-t-placeholder="send_text_placeholder"></textarea>
        </label>
        <button type="submit" class="primary" data-part="send-button" data-t="send"></button>
      </div>
      <label class="attach"><span data-t="send_attach"></span>
        <input type="file" name="file" data-testid="send-file">
      </label>
      <p class="hint" data-part="send-hint" hidden></p>
      <p class="error" role="alert" data-part="send-error" hidden></p>
    </form>
    <ul class="message-list" data-testid="messages" aria-live="polite"></ul>
    <p class="empty" data-part="messages-empty" data-t="messages_empty"></p>
    <div class="typing" data-testid="typing" aria-live="polite"></div>
  </section>
  <section class="card sim-card" data-part="sim" aria-labelledby="wg-sim" hidden>
    <header class="card-head"><h2 id="wg-sim" data-t="sim_title"></h2></header>
    <p class="hint" data-t="sim_text"></p>
    <section>
      <button type="button" class="primary" data-testid="sim-scan" data-t="sim_scan"></button>
    </section>
    <section>
      <h3 data-t="sim_receive_title"></h3>
      <form data-testid="sim-receive-form" novalidate>
        <label><span data-t="sim_from"></span>
          <input name="from" inputmode="tel" autocomplete="off" value="+6281100000001">
        </label>
        <div class="row">
          <label><span data-t="send_text"></span>
            <textarea name="text" rows="2" maxlength="65536" data-t-placeholder="send_text_placeholder"></textarea>
          </label>
          <button type="submit" data-part="sim-receive-button" data-t="sim_receive"></button>
        </div>
        <p class="error" role="alert" data-part="sim-error" hidden></p>
      </form>
    </section>
  </section>
</div>
<dialog data-part="confirm" aria-labelledby="wg-confirm-title">
  <form method="dialog">
    <h2 id="wg-confirm-title" data-t="logout_confirm_title"></h2>
    <p data-part="confirm-text"></p>
    <div class="actions">
      <button value="cancel" data-testid="logout-cancel" data-t="cancel"></button>
      <button value="ok" class="danger" data-testid="logout-confirm" data-t="logout_confirm_ok"></button>
    </div>
  </form>
</dialog>
`;

function scriptBase() {
  // This module is served at <base>wagate-static/wagate-connection.js.
  return new URL("../", import.meta.url).href;
}

function formatSeconds(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function peerOf(jidOrNumber) {
  if (!jidOrNumber) return "";
  const [user, server] = String(jidOrNumber).split("@");
  if (server === "s.whatsapp.net") return `+${user.split(":")[0]}`;
  return String(jidOrNumber);
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// The content type POST api/messages is asked for, by the file's media type: the
// kinds whose types WhatsApp takes (wagate's sniffing checks the bytes), else a
// document, which takes any file.
const KIND_TYPES = {
  image: ["image/jpeg", "image/png"],
  video: ["video/mp4", "video/3gpp"],
  audio: ["audio/ogg", "audio/mpeg", "audio/aac", "audio/mp4", "audio/amr"],
};
function mediaKindOf(file) {
  const type = (file.type || "").toLowerCase();
  for (const [kind, types] of Object.entries(KIND_TYPES)) if (types.includes(type)) return kind;
  return "document";
}

// A pairing code as WhatsApp shows it, in two groups of four ("ABCD-EFGH"),
// whatever grouping the engine gave it.
function formatPairingCode(code) {
  const plain = String(code).replace(/[^0-9A-Za-z]/g, "").toUpperCase();
  return plain.length === 8 ? `${plain.slice(0, 4)}-${plain.slice(4)}` : String(code);
}

function initials(name, phone) {
  const words = String(name || "").trim().split(/\s+/).filter(Boolean);
  if (words.length) return words.slice(0, 2).map((w) => [...w][0]).join("");
  return String(phone || "?").replace(/\D/g, "").slice(-2) || "?";
}

export class WagateConnection extends HTMLElement {
  static get observedAttributes() {
    return ["lang", "simulator", "hide-messages"];
  }

  /** Add a language or words to every <wagate-connection> (see i18n.js). */
  static addMessages(lang, table) {
    addMessages(lang, table);
  }

  #root;
  #parts = {};
  #t = translator("en");
  #lang = "en";
  #token = null;
  #live = null;
  #liveState = "connecting";
  #notice = ""; // "", "lost", "unreachable", "restored"
  #noticeTimer = null;
  #tick = null;
  #status = null; // the last status payload applied
  #stateAt = -Infinity; // its timestamp (ms), to drop stale snapshots
  #account = null; // {id, name, phone}
  #qr = null; // {code, url, expiresAt, deadline (performance.now ms), expiredAt}
  #pairing = null; // {code, phone}: the code to type on the phone, while the login waits
  #resumedPairing = null; // the code a reloaded page kept, until its live connection is up
  #retryDeadline = null;
  #messages = [];
  #messagesVersion = 0; // bumped on every change of the list, for #renderMessages
  #typing = new Map(); // "<chat> <from>" -> {from, state, timer}: who is typing or recording now
  #groups = []; // [{jid, subject, count}]: the groups the account is in, for the composer
  #groupsAsked = 0; // bumped per GET api/groups: only the latest answer is applied
  #restored = null; // {tenant, offset, messages, pairing} from sessionStorage, until the tenant is known
  #storedTenant = null; // the tenant whose list this page keeps
  #busy = new Set();
  #signedOut = null; // the error that signed us out
  #autoRenewals = 0;
  #autoFor = null; // the state (timestamp) an automatic QR request was made for
  #unsubscribe = null;
  #onVisibility = () => {
    if (document.visibilityState === "visible") this.#maybeAutoRenew();
  };

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: "open" });
    adoptStyles(this.#root);
    const template = document.createElement("template");
    template.innerHTML = TEMPLATE;
    this.#root.append(template.content.cloneNode(true));
    const q = (selector) => this.#root.querySelector(selector);
    for (const el of this.#root.querySelectorAll("[data-part]")) this.#parts[el.dataset.part] = el;
    for (const el of this.#root.querySelectorAll("[data-testid]")) this.#parts[el.dataset.testid] = el;
    this.#parts.confirmOk = q("[data-testid=logout-confirm]");

    this.#parts["generate-button"].addEventListener("click", () => this.#userGenerate());
    this.#parts["refresh-button"].addEventListener("click", () => this.refresh({ user: true }));
    this.#parts["logout-button"].addEventListener("click", () => this.#askLogout());
    this.#parts.confirm.addEventListener("close", () => {
      if (this.#parts.confirm.returnValue === "ok") this.#logout();
    });
    this.#parts["send-form"].addEventListener("submit", (event) => {
      event.preventDefault();
      this.#send();
    });
    this.#parts["send-group"].addEventListener("change", () => this.#render());
    this.#parts["pairing-form"].addEventListener("submit", (event) => {
      event.preventDefault();
      this.#requestPairingCode();
    });
    this.#parts["sim-scan"].addEventListener("click", () => this.#simScan());
    this.#parts["sim-receive-form"].addEventListener("submit", (event) => {
      event.preventDefault();
      this.#simReceive();
    });
    // Enter sends, Shift+Enter makes a new line.
    for (const form of [this.#parts["send-form"], this.#parts["sim-receive-form"]]) {
      form.querySelector("textarea").addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          form.requestSubmit();
        }
      });
    }
    // Any interaction shows someone is looking: QR codes may be renewed again.
    this.#root.addEventListener("pointerdown", () => (this.#autoRenewals = 0));
    this.#root.addEventListener("keydown", () => (this.#autoRenewals = 0));
  }

  /** A bearer token to send instead of relying on the cookie. */
  get token() {
    return this.#token;
  }

  set token(value) {
    this.#token = value || null;
    if (this.isConnected) this.#restart();
  }

  /** The language the element speaks now. */
  get language() {
    return this.#lang;
  }

  /** The transport that carried the live connection: "socketio", "sse", or null before one came up. */
  get transport() {
    return this.#live?.transport ?? null;
  }

  /** Whether the last Socket.IO reconnect got every event missed meanwhile (no snapshot needed). */
  get recovered() {
    return this.#live?.recovered ?? false;
  }

  get #base() {
    return new URL(this.getAttribute("base") || scriptBase(), location.href).href;
  }

  get #tenant() {
    return this.getAttribute("tenant") || null;
  }

  connectedCallback() {
    this.#setLanguage();
    this.#unsubscribe = onMessagesChanged(() => this.#setLanguage());
    document.addEventListener("visibilitychange", this.#onVisibility);
    this.#tick = setInterval(() => this.#onTick(), TICK_MS);
    this.#restart();
  }

  disconnectedCallback() {
    this.#live?.stop();
    this.#live = null;
    clearInterval(this.#tick);
    clearTimeout(this.#noticeTimer);
    this.#clearTyping();
    document.removeEventListener("visibilitychange", this.#onVisibility);
    this.#unsubscribe?.();
  }

  attributeChangedCallback(name) {
    if (!this.isConnected) return;
    if (name === "lang") this.#setLanguage();
    else this.#render();
  }

  /** Fetch the status again (the Refresh button). */
  async refresh({ user = false } = {}) {
    if (user) this.#autoRenewals = 0;
    this.#busy.add("refresh");
    this.#render();
    const reply = await this.#request("GET", "status");
    this.#busy.delete("refresh");
    if (reply.ok) {
      const wasConnected = this.#status?.state === "connected";
      this.#applyStatus(reply.data);
      // Still connected: groups may have changed while the page was not listening.
      if (wasConnected && this.#status?.state === "connected") this.#loadGroups();
      if (user) this.#showError("action-error", null);
    } else if (user) {
      this.#showError("action-error", reply.error);
    }
    this.#render();
    this.#maybeAutoRenew();
  }

  // ------------------------------------------------------------------ plumbing
  #restart() {
    this.#live?.stop();
    this.#signedOut = null;
    this.#liveState = "connecting";
    this.#restored = this.#readStored();
    this.#live = new LiveConnection({
      resumeFrom: this.#restored?.offset ?? null,
      base: this.#base,
      transport: this.getAttribute("transport") || "auto",
      socketioUrl: this.getAttribute("socketio-url") || undefined,
      socketioPath: this.getAttribute("socketio-path") || undefined,
      token: this.#token,
      tenant: this.#tenant,
      onEvent: (name, data) => this.#onEvent(name, data),
      onState: (state) => this.#onLiveState(state),
      onDenied: (error) => this.#setSignedOut(error),
      whyClosed: async () => {
        const reply = await this.#request("GET", "status");
        return reply.status === 401 || reply.status === 403 ? reply.error : null;
      },
    });
    this.#live.start();
    this.refresh();
  }

  async #request(method, path, body) {
    const headers = { Accept: "application/json" };
    if (this.#token) headers.Authorization = `Bearer ${this.#token}`;
    if (this.#tenant) headers["X-Wagate-Tenant"] = this.#tenant;
    const init = { method, headers, credentials: "include", cache: "no-store" };
    if (body instanceof FormData) {
      init.body = body; // the browser sets the multipart boundary
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(new URL(path, this.#base), init);
    } catch {
      return { ok: false, status: 0, data: null, error: { code: "network", message: this.#t("error_network") } };
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    const error = response.ok
      ? null
      : data?.error || { code: "http_error", message: this.#t("error_generic", { status: response.status }) };
    if (response.status === 401 || response.status === 403) this.#setSignedOut(error);
    return { ok: response.ok, status: response.status, data, error };
  }

  #setSignedOut(error) {
    this.#signedOut = error || { code: "missing_token", message: "" };
    this.#live?.stop();
    this.#render();
  }

  #setLanguage() {
    this.#lang = pickLanguage(this.getAttribute("lang"));
    this.#t = translator(this.#lang);
    for (const el of this.#root.querySelectorAll("[data-t]")) el.textContent = this.#t(el.dataset.t);
    for (const el of this.#root.querySelectorAll("[data-t-placeholder]")) {
      el.placeholder = this.#t(el.dataset.tPlaceholder);
    }
    this.#setGroups(this.#groups); // their options' words
    this.#render();
  }

  #onLiveState(state) {
    const before = this.#liveState;
    this.#liveState = state;
    clearTimeout(this.#noticeTimer);
    if (state === "down") {
      this.#notice = this.#live?.everUp ? "lost" : "unreachable";
    } else if (state === "up" && (before === "down" || this.#notice === "lost" || this.#notice === "unreachable")) {
      this.#notice = "restored";
      this.#noticeTimer = setTimeout(() => {
        this.#notice = "";
        this.#render();
      }, RESTORED_NOTICE_MS);
      this.refresh(); // what changed while we were away
    } else if (state === "up") {
      this.#notice = "";
    }
    if (state === "up") this.#maybeResumePairing();
    this.#render();
    if (state === "up") this.#maybeAutoRenew();
  }

  #onEvent(name, data) {
    if (!data || typeof data !== "object") return;
    this.dispatchEvent(new CustomEvent("wagate:event", { detail: { name, data }, bubbles: true, composed: true }));
    if (typeof data.tenant === "string") this.#adoptTenant(data.tenant);
    switch (name) {
      case "connection:status":
        this.#applyStatus(data);
        break;
      case "qr:generated":
        this.#applyQr(data);
        break;
      case "pairing:code":
        this.#applyPairing(data);
        break;
      case "message:received":
        this.#addReceived(data);
        this.#stopTyping(data.chat, data.from);
        break;
      case "chat:state":
        this.#applyChatState(data);
        break;
      case "presence:changed":
        // Gone offline: whatever they were typing is not coming now.
        if (data.presence === "unavailable") {
          for (const [key, entry] of this.#typing) if (entry.from === data.jid) this.#stopTyping(key);
        }
        break;
      case "message:sent":
        this.#addSent(data);
        break;
      case "message:status":
        this.#applyReceipt(data);
        break;
      case "message:reaction":
        this.#updateMessage(data.id, (m) => {
          const reactions = { ...(m.reactions || {}) };
          if (data.emoji) reactions[data.fromMe ? "me" : String(data.from)] = String(data.emoji);
          else delete reactions[data.fromMe ? "me" : String(data.from)];
          m.reactions = reactions;
        });
        break;
      case "message:edited":
        this.#updateMessage(data.id, (m) => {
          m.text = String(data.text ?? "");
          m.edited = true;
        });
        break;
      case "message:revoked":
        this.#updateMessage(data.id, (m) => {
          m.revoked = true;
        });
        break;
      case "stream:gap":
        if (this.#pairing?.kept) this.#pairing = null; // the snapshot that follows says
        this.refresh();
        break;
      default:
        if (GROUP_EVENTS.has(name)) this.#loadGroups();
        break;
    }
    if (typeof data.seq === "number") this.#store(); // the offset the next page resumes from
    this.#render();
    this.#maybeAutoRenew();
  }

  // ------------------------------------------------------------------ state
  #applyStatus(s) {
    if (!s || typeof s.state !== "string") return;
    const at = Date.parse(s.timestamp);
    if (Number.isFinite(at)) {
      if (at < this.#stateAt) return; // older than what is shown
      this.#stateAt = at;
    }
    const wasConnected = this.#status?.state === "connected";
    this.#status = s;
    this.#adoptTenant(s.tenant);
    if ("user" in s) this.#account = s.user || null;
    else if (s.reason === "logged_out") this.#account = null;
    else if (s.state === "connected" && s.user) this.#account = s.user;
    if (s.state === "connected" && !wasConnected) this.#loadGroups();
    if (!this.#account && this.#groups.length) this.#forgetGroups(); // unlinked: not its groups now
    // A code to type belongs to the login that asked for it: it goes when that login ends.
    if (s.state !== "awaiting_scan") {
      this.#resumedPairing = null;
      this.#showError("pairing-error", null);
      if (this.#pairing) {
        this.#pairing = null;
        this.#store();
      }
    }
    if (s.state === "awaiting_scan") {
      if (s.qr) this.#setQr(s.qr.qr, s.qr.qrCode, s.qr.expiresIn, s.qr.expiresAt);
    } else if (s.state === "disconnected" && s.reason === "qr_timeout" && this.#qr) {
      this.#qr.expiredAt ??= performance.now();
    } else {
      this.#qr = null;
    }
    this.#retryDeadline =
      s.state === "disconnected" && s.willRetry && typeof s.retryIn === "number"
        ? performance.now() + s.retryIn * 1000
        : null;
  }

  #applyQr(data) {
    const at = Date.parse(data.timestamp);
    const state = this.#status?.state;
    // A QR code from before the state shown (say, connected) is stale.
    if (Number.isFinite(at) && at < this.#stateAt && state !== "awaiting_scan" && state !== "connecting") return;
    if (this.#qr && data.expiresAt && Date.parse(data.expiresAt) < Date.parse(this.#qr.expiresAt)) return;
    this.#setQr(data.qr, data.qrCode, data.expiresIn, data.expiresAt);
    this.#status = { ...(this.#status || {}), tenant: data.tenant, state: "awaiting_scan", status: "disconnected", reason: undefined, willRetry: undefined };
    if (Number.isFinite(at)) this.#stateAt = Math.max(this.#stateAt, at);
    this.#retryDeadline = null;
  }

  // A code comes as the REST answer or as the event (the snapshot of a new page, or
  // another tab that asked); it stays across QR rotations, as it does on the phone.
  #applyPairing(data) {
    if (typeof data.code !== "string" || !data.code) return;
    const at = Date.parse(data.timestamp);
    // One from before the state shown (a replay that ends connected) is over.
    if (Number.isFinite(at) && at < this.#stateAt && this.#status?.state !== "awaiting_scan") return;
    const known = this.#pairing?.code === data.code;
    this.#resumedPairing = null;
    this.#pairing = { code: data.code, phone: typeof data.phone === "string" ? data.phone : "" };
    if (!known) this.#parts.pairing.open = true;
  }

  // A resumed stream replays only what came after the page's last event, so a code
  // the page had before a reload is not sent again: the page kept it.  Shown once
  // Socket.IO resumed the stream: whatever ended that login since is replayed after
  // it, and clears it; when the log had lost that (stream:gap), the current state
  // follows, with the pending code if there is one.  SSE does not resume: its
  // first events are the current state, pending code included.
  #maybeResumePairing() {
    const kept = this.#resumedPairing;
    if (!kept || this.#liveState !== "up") return;
    this.#resumedPairing = null;
    if (this.#live?.transport !== "socketio" || this.#pairing) return;
    this.#pairing = { code: kept.code, phone: typeof kept.phone === "string" ? kept.phone : "", kept: true };
    this.#parts.pairing.open = true;
  }

  #setQr(code, url, expiresIn, expiresAt) {
    if (this.#qr && this.#qr.code === code) return; // the same code again (a snapshot)
    this.#qr = {
      code,
      url,
      expiresAt,
      deadline: performance.now() + Math.max(0, Number(expiresIn) || 0) * 1000,
      expiredAt: null,
    };
  }

  #addReceived(data) {
    const content = data.content && typeof data.content === "object" ? data.content : { type: data.kind || "text" };
    this.#addMessage({
      key: `in:${data.id}`,
      id: data.id,
      direction: "in",
      peer: data.pushName ? `${data.pushName} (${peerOf(data.from)})` : peerOf(data.from),
      from: typeof data.from === "string" ? data.from : null,
      name: typeof data.pushName === "string" && data.pushName ? data.pushName : null,
      kind: String(content.type || "text"),
      text: String(content.text ?? content.caption ?? data.text ?? ""),
      content,
      media: content.media || null,
      replyTo: data.replyTo || null,
      forwarded: data.forwarded === true,
      at: data.timestamp,
    });
  }

  #addSent(data) {
    const failed = data.success === false;
    this.#addMessage({
      key: data.id ? `out:${data.id}` : `out-seq:${data.seq}`,
      id: data.id || null,
      direction: "out",
      peer: this.#groups.find((g) => g.jid === data.to)?.subject || peerOf(data.to),
      kind: String(data.kind || "text"),
      // The REST answer of POST api/messages has no text: the caption comes with message:sent.
      text: data.message ?? data.text,
      media: data.media || null,
      replyTo: data.replyTo || null,
      status: failed ? null : "sent",
      at: data.timestamp,
      error: failed ? data.error || "?" : null,
    });
  }

  #addMessage(message) {
    const known = this.#messages.find((m) => m.key === message.key);
    if (known) {
      // The same message again (a REST answer and its event, or a replay): fill in what was missing.
      for (const [key, value] of Object.entries(message)) {
        if (value === undefined || value === null) continue;
        if (key === "status" && (STATUS_RANK[known.status] || 0) >= (STATUS_RANK[value] || 0)) continue;
        if (key === "text" && known.edited) continue;
        if (known[key] === undefined || known[key] === null || key === "media" || key === "status") known[key] = value;
      }
    } else {
      this.#messages.unshift({ ...message, text: message.text ?? "" });
      this.#messages.length = Math.min(this.#messages.length, MAX_MESSAGES);
    }
    this.#changed();
  }

  // ------------------------------------------------------------------ typing…
  #applyChatState(data) {
    if (typeof data.from !== "string" || !data.from) return;
    const key = `${data.chat || data.from} ${data.from}`;
    const at = Date.parse(data.at);
    // A replayed state (a resumed page) older than WhatsApp's own timeout is over.
    const stale = Number.isFinite(at) && Date.now() - at >= TYPING_TIMEOUT_MS;
    if ((data.state !== "composing" && data.state !== "recording") || stale) {
      this.#stopTyping(key);
      return;
    }
    clearTimeout(this.#typing.get(key)?.timer);
    const timer = setTimeout(() => {
      this.#typing.delete(key);
      this.#renderTyping();
    }, TYPING_TIMEOUT_MS);
    this.#typing.set(key, { from: data.from, state: data.state, timer });
  }

  /** Forget a "typing…": by its key, or by the chat and sender. */
  #stopTyping(chatOrKey, from) {
    const key = from === undefined ? chatOrKey : `${chatOrKey || from} ${from}`;
    clearTimeout(this.#typing.get(key)?.timer);
    this.#typing.delete(key);
  }

  #clearTyping() {
    for (const key of [...this.#typing.keys()]) this.#stopTyping(key);
  }

  // The name a contact's last message in the list gave, else their number.
  #nameOf(jid) {
    return this.#messages.find((m) => m.direction === "in" && m.from === jid && m.name)?.name || peerOf(jid);
  }

  // ------------------------------------------------------------------ groups, for the composer
  async #loadGroups() {
    const asked = ++this.#groupsAsked;
    const reply = await this.#request("GET", "api/groups");
    if (asked !== this.#groupsAsked) return; // a newer answer is on its way
    // Not connected after all, or an engine without groups: offer none, say nothing.
    if (!reply.ok || !Array.isArray(reply.data?.groups)) return;
    this.#setGroups(
      reply.data.groups
        .filter((g) => g && typeof g.jid === "string" && g.jid.endsWith("@g.us"))
        .map((g) => ({
          jid: g.jid,
          subject: typeof g.subject === "string" && g.subject ? g.subject : g.jid,
          count: Number.isInteger(g.participantCount) ? g.participantCount : null,
        })),
    );
    this.#render();
  }

  #forgetGroups() {
    this.#groupsAsked += 1; // an answer still coming is about the account the page no longer shows
    this.#setGroups([]);
  }

  #setGroups(groups) {
    this.#groups = groups;
    const select = this.#parts["send-group"];
    const chosen = select.value;
    const options = groups.map((g) => {
      const option = document.createElement("option");
      option.value = g.jid;
      option.textContent =
        g.count === null ? g.subject : this.#t("send_group_option", { subject: g.subject, count: g.count });
      return option;
    });
    select.replaceChildren(select.options[0], ...options);
    // The group chosen stays chosen, unless the account is no longer in it.
    select.value = groups.some((g) => g.jid === chosen) ? chosen : "";
  }

  #find(id) {
    return id ? this.#messages.find((m) => m.id === id) : undefined;
  }

  #updateMessage(id, change) {
    const message = this.#find(id);
    if (!message) return; // not in the list (older than it, or another page's)
    change(message);
    this.#changed();
  }

  #applyReceipt(data) {
    const rank = STATUS_RANK[data.status];
    if (!rank || !Array.isArray(data.ids)) return;
    for (const id of data.ids) {
      this.#updateMessage(id, (m) => {
        if (m.direction === "out" && (STATUS_RANK[m.status] || 0) < rank) m.status = data.status;
      });
    }
  }

  #changed() {
    this.#messagesVersion += 1;
    this.#store();
  }

  // ------------------------------------------------------------------ the list across reloads
  // The list is kept in the tab's sessionStorage, under the tenant it belongs to; the
  // offset of the last live event lets the next page resume the stream right after it.
  #readStored() {
    try {
      const raw = sessionStorage.getItem(STORAGE_PREFIX + (this.#tenant || ""));
      const stored = raw ? JSON.parse(raw) : null;
      if (!stored || typeof stored.tenant !== "string" || !Array.isArray(stored.messages)) return null;
      return stored;
    } catch {
      return null;
    }
  }

  #store() {
    if (!this.#storedTenant) return;
    try {
      sessionStorage.setItem(
        STORAGE_PREFIX + (this.#tenant || ""),
        JSON.stringify({
          tenant: this.#storedTenant,
          offset: this.#live?.offset ?? null,
          messages: this.#messages,
          pairing: this.#pairing ?? this.#resumedPairing,
        }),
      );
    } catch {
      // Storage full or refused (a private window): the list lives on until the page goes.
    }
  }

  #adoptTenant(tenant) {
    // The stored list is shown only once the gateway says whose page this is.
    if (!tenant || tenant === this.#storedTenant) return;
    const restored = this.#restored;
    this.#restored = null;
    if (this.#storedTenant !== null) {
      this.#messages = []; // another tenant's credentials now
      this.#clearTyping();
      this.#forgetGroups();
    }
    this.#storedTenant = tenant;
    if (restored && restored.tenant === tenant) {
      const keys = new Set(this.#messages.map((m) => m.key));
      const older = restored.messages.filter((m) => m && typeof m.key === "string" && !keys.has(m.key));
      this.#messages = [...this.#messages, ...older].slice(0, MAX_MESSAGES);
      if (typeof restored.pairing?.code === "string" && restored.offset && !this.#pairing) {
        this.#resumedPairing = restored.pairing;
        this.#maybeResumePairing();
      }
    }
    this.#changed();
  }

  #onTick() {
    const now = performance.now();
    const qr = this.#qr;
    if (qr && qr.expiredAt === null && now >= qr.deadline) {
      qr.expiredAt = now;
      this.#render();
    }
    if (qr && qr.expiredAt !== null && now - qr.expiredAt >= EXPIRY_GRACE_MS) this.#maybeAutoRenew();
    this.#renderClocks();
  }

  #maybeAutoRenew() {
    const s = this.#status;
    // Not while the gateway is unreachable; but before the live connection is up,
    // so the first QR code is on its way at once (the live snapshot brings it).
    if (!s || this.#signedOut || this.#liveState === "down" || this.#busy.has("generate")) return;
    if (document.visibilityState === "hidden" || this.#autoRenewals >= MAX_AUTO_RENEWALS) return;
    let key = null;
    if (s.state === "disconnected" && (!s.reason || s.reason === "qr_timeout")) {
      // Never started, or no code was scanned in time: ask for a (new) QR code.
      key = `state:${this.#stateAt}`;
    } else if (s.state === "awaiting_scan" && this.#qr?.expiredAt != null) {
      if (performance.now() - this.#qr.expiredAt < EXPIRY_GRACE_MS) return;
      key = `qr:${this.#qr.code}`;
    }
    if (key === null || key === this.#autoFor) return;
    this.#autoFor = key;
    this.#autoRenewals += 1;
    this.#generate();
  }

  // ------------------------------------------------------------------ actions
  #userGenerate() {
    this.#autoRenewals = 0;
    this.#generate({ user: true });
  }

  async #generate({ user = false } = {}) {
    this.#busy.add("generate");
    this.#render();
    const reply = await this.#request("POST", "api/qr/generate");
    this.#busy.delete("generate");
    if (reply.ok) {
      this.#applyStatus(reply.data);
      this.#showError("action-error", null);
    } else if (user || reply.status !== 409) {
      this.#showError("action-error", reply.error);
    }
    this.#render();
  }

  #askLogout() {
    const phone = this.#account?.phone || "";
    this.#parts["confirm-text"].textContent = this.#t("logout_confirm_text", { phone });
    this.#parts.confirm.returnValue = "";
    this.#parts.confirm.showModal();
    this.#root.querySelector("[data-testid=logout-cancel]").focus();
  }

  async #logout() {
    this.#busy.add("logout");
    this.#render();
    const reply = await this.#request("POST", "api/logout");
    this.#busy.delete("logout");
    if (reply.ok) {
      this.#applyStatus(reply.data);
      this.#account = null;
    }
    this.#showError("action-error", reply.ok ? null : reply.error);
    this.#render();
  }

  async #send() {
    const form = this.#parts["send-form"];
    // A group chosen in the picker is the recipient (by its JID), else the number typed.
    const to = form.elements.group.value || form.elements.to.value.trim();
    const text = form.elements.text.value;
    const file = form.elements.file.files?.[0] ?? null;
    this.#busy.add("send");
    this.#render();
    let reply;
    if (file) {
      // A file goes as a multipart form to POST api/messages; the text is its caption.
      // Audio has no caption, and only a document a file name (the form refuses others).
      const kind = mediaKindOf(file);
      const body = new FormData();
      body.append("to", to);
      body.append("type", kind);
      const caption = kind === "audio" ? "" : text;
      if (caption.trim()) body.append("caption", caption);
      if (kind === "document" && file.name) body.append("fileName", file.name);
      body.append("file", file, file.name || "file");
      reply = await this.#request("POST", "api/messages", body);
      if (reply.ok && reply.data) reply.data.message ??= caption;
      if (reply.ok && kind === "audio" && text.trim()) {
        // A voice note takes no caption: its text goes as a message of its own, after it.
        this.#addSent(reply.data);
        form.elements.file.value = "";
        reply = await this.#request("POST", "api/send", { to, text });
      }
    } else {
      reply = await this.#request("POST", "api/send", { to, text });
    }
    this.#busy.delete("send");
    if (reply.ok) {
      this.#addSent(reply.data);
      form.elements.text.value = "";
      form.elements.file.value = "";
      this.#showError("send-error", null);
    } else {
      if (reply.data?.sent) this.#addSent(reply.data.sent);
      this.#showError("send-error", reply.error);
    }
    this.#render();
  }

  async #requestPairingCode() {
    const phone = this.#parts["pairing-form"].elements.phone.value.trim();
    this.#busy.add("pairing");
    this.#render();
    const reply = await this.#request("POST", "api/pairing-code", { phone });
    this.#busy.delete("pairing");
    if (reply.ok && reply.data) this.#applyPairing(reply.data);
    this.#showError("pairing-error", reply.ok ? null : reply.error);
    this.#render();
  }

  async #simScan() {
    this.#busy.add("scan");
    this.#render();
    const reply = await this.#request("POST", "api/simulator/scan");
    this.#busy.delete("scan");
    if (reply.ok) this.#applyStatus(reply.data);
    this.#showError("action-error", reply.ok ? null : reply.error);
    this.#render();
  }

  async #simReceive() {
    const form = this.#parts["sim-receive-form"];
    const body = { from: form.elements.from.value.trim(), text: form.elements.text.value };
    this.#busy.add("receive");
    this.#render();
    const reply = await this.#request("POST", "api/simulator/receive", body);
    this.#busy.delete("receive");
    if (reply.ok) form.elements.text.value = "";
    this.#showError("sim-error", reply.ok ? null : reply.error);
    this.#render();
  }

  #showError(part, error) {
    const el = this.#parts[part];
    el.hidden = !error;
    el.textContent = error ? error.message || error.code : "";
  }

  // ------------------------------------------------------------------ rendering
  #render() {
    const t = this.#t;
    const p = this.#parts;
    const s = this.#status;
    const state = s?.state ?? null;
    const connected = state === "connected";
    const liveUp = this.#liveState === "up";

    p["signed-out"].hidden = !this.#signedOut;
    p.main.hidden = !!this.#signedOut;
    if (this.#signedOut) {
      p["signed-out-detail"].textContent = this.#signedOut.message || "";
      p["connection-notice"].hidden = true;
      return;
    }

    // Notice about the live connection
    const notice = p["connection-notice"];
    notice.hidden = !this.#notice;
    notice.dataset.state = this.#notice === "unreachable" ? "lost" : this.#notice;
    notice.textContent = this.#notice
      ? t({ lost: "live_lost", unreachable: "live_unreachable", restored: "live_restored" }[this.#notice])
      : "";

    // Badge and detail
    const badge = p["status-badge"];
    badge.dataset.state = state ?? "loading";
    badge.textContent = t(state ?? "loading");
    p.tenant.textContent = s?.tenant ?? "";
    const detail = p["status-detail"];
    detail.hidden = !(state === "disconnected" && s.reason);
    detail.dataset.reason = s?.reason ?? "";

    // QR, account, or an idle line
    const qr = state === "awaiting_scan" || (state === "disconnected" && s?.reason === "qr_timeout") ? this.#qr : null;
    p.qr.hidden = !qr;
    if (qr) {
      const img = p["qr-image"];
      if (img.getAttribute("src") !== qr.url) img.src = qr.url;
      img.alt = t("qr_alt");
      img.dataset.code = qr.code;
      const expired = qr.expiredAt !== null;
      img.parentElement.classList.toggle("expired", expired);
      p["qr-overlay"].hidden = !expired;
      if (expired) {
        p["qr-overlay"].replaceChildren(
          document.createTextNode(t("qr_expired")),
          Object.assign(document.createElement("small"), {
            textContent: this.#autoRenewals >= MAX_AUTO_RENEWALS ? t("qr_paused") : t("qr_renewing"),
          }),
        );
      }
    }
    this.#renderPairing(state === "awaiting_scan" && !!qr);
    const account = this.#account;
    p.account.hidden = !!qr || !account;
    if (account && !qr) {
      p.account.dataset.state = connected ? "online" : "offline";
      p.account.querySelector(".avatar").textContent = initials(account.name, account.phone);
      p["account-name"].textContent = account.name || t("account_no_name");
      p["account-phone"].textContent = account.phone || "";
      p.since.textContent = connected ? t("account_since", { time: this.#time(s.timestamp) }) : "";
    }
    const idle = !qr && !account && s !== null;
    p.idle.hidden = !idle;
    if (idle) {
      const working = state === "connecting" || this.#busy.has("generate");
      p.spinner.hidden = !working;
      p["idle-text"].textContent = working ? t("qr_waiting") : t("not_linked");
    }

    // Buttons
    const generate = p["generate-button"];
    generate.textContent = qr ? t("refresh_qr") : t("generate_qr");
    generate.disabled = !s || connected || !liveUp || this.#busy.has("generate");
    p["refresh-button"].disabled = this.#busy.has("refresh");
    p["logout-button"].disabled = !account || this.#busy.has("logout");

    // Messages
    p["messages-card"].hidden = this.hasAttribute("hide-messages");
    // Not while the live connection is down either: the message would go out, but
    // its message:sent (and any reply) could not be shown until it is back.
    const liveDown = this.#liveState === "down";
    p["send-button"].disabled = !connected || liveDown || this.#busy.has("send");
    p["send-button"].textContent = this.#busy.has("send") ? t("sending") : t("send");
    p["send-hint"].hidden = s === null || (connected && !liveDown);
    p["send-hint"].textContent = connected ? t("send_needs_live") : t("send_needs_connection");
    p["group-picker"].hidden = this.#groups.length === 0;
    const toGroup = p["send-group"].value !== "";
    const number = p["send-form"].elements.to;
    number.disabled = toGroup;
    number.required = !toGroup;
    this.#renderMessages();
    this.#renderTyping();

    // Simulated phone
    p.sim.hidden = this.getAttribute("simulator") !== "true";
    p["sim-scan"].disabled = !qr || qr.expiredAt !== null || this.#busy.has("scan");
    p["sim-receive-button"].disabled = !account || this.#busy.has("receive");

    this.#renderClocks();
  }

  #renderPairing(waiting) {
    const t = this.#t;
    const p = this.#parts;
    p.pairing.hidden = !waiting;
    const pairing = waiting ? this.#pairing : null;
    p["pairing-result"].hidden = !pairing;
    const code = p["pairing-code"];
    if (pairing) {
      code.textContent = formatPairingCode(pairing.code);
      code.dataset.code = pairing.code;
      p["pairing-for"].textContent = pairing.phone ? t("pairing_for", { phone: pairing.phone }) : "";
    } else {
      code.textContent = "";
      delete code.dataset.code;
    }
    const button = p["pairing-button"];
    const busy = this.#busy.has("pairing");
    button.textContent = busy ? t("pairing_requesting") : pairing ? t("pairing_request_again") : t("pairing_request");
    button.disabled = !waiting || busy;
  }

  #renderClocks() {
    const t = this.#t;
    const now = performance.now();
    const p = this.#parts;
    const qr = this.#qr;
    const countdown = p["qr-countdown"];
    if (qr) {
      const left = qr.expiredAt !== null ? 0 : (qr.deadline - now) / 1000;
      const text = left > 0 ? t("qr_expires_in", { time: formatSeconds(left) }) : t("qr_expired");
      if (countdown.textContent !== text) countdown.textContent = text;
      countdown.dataset.remaining = String(Math.max(0, Math.ceil(left)));
      countdown.toggleAttribute("data-expired", left <= 0);
    } else {
      countdown.textContent = "";
      delete countdown.dataset.remaining;
    }
    const s = this.#status;
    const detail = p["status-detail"];
    if (s?.state === "disconnected" && s.reason) {
      let text = t(`reason_${s.reason}`);
      if (this.#retryDeadline !== null) {
        const left = (this.#retryDeadline - now) / 1000;
        text += ` · ${left > 0 ? t("retry_in", { time: formatSeconds(left) }) : t("retry_now")}`;
      }
      if (detail.textContent !== text) detail.textContent = text;
    }
  }

  #renderMessages() {
    const list = this.#parts.messages;
    this.#parts["messages-empty"].hidden = this.#messages.length > 0;
    const version = `${this.#messagesVersion}:${this.#lang}`;
    if (list.dataset.version === version) return;
    list.dataset.version = version;
    list.replaceChildren(...this.#messages.map((m) => this.#messageItem(m)));
  }

  // One line per contact; rebuilt only when what it says changes, so a screen
  // reader announces each change once.
  #renderTyping() {
    const box = this.#parts.typing;
    const lines = [...this.#typing.values()].map((entry) => ({
      from: entry.from,
      state: entry.state,
      text: this.#t(entry.state === "recording" ? "typing_recording" : "typing_composing", {
        name: this.#nameOf(entry.from),
      }),
    }));
    const version = JSON.stringify(lines);
    if (box.dataset.version === version) return;
    box.dataset.version = version;
    box.replaceChildren(
      ...lines.map(({ from, state, text }) => {
        const line = Object.assign(document.createElement("p"), { className: "typing-line", textContent: text });
        line.dataset.testid = "typing-line";
        line.dataset.state = state;
        line.dataset.jid = from;
        return line;
      }),
    );
  }

  // Every text from the wire goes in as text (textContent, attributes), never as HTML.
  #messageItem(m) {
    const t = this.#t;
    const el = (tag, props = {}, ...children) => {
      const node = Object.assign(document.createElement(tag), props);
      node.append(...children);
      return node;
    };
    const li = el("li", { className: "message" });
    li.dataset.direction = m.direction;
    li.dataset.kind = m.kind || "text";
    if (m.id) li.dataset.messageId = m.id;
    if (m.error) li.dataset.failed = "";
    if (m.revoked) li.dataset.revoked = "";
    const meta = el(
      "div",
      { className: "meta" },
      el("span", { textContent: t(m.direction === "in" ? "message_in" : "message_out", { peer: m.peer }) }),
      el("time", { textContent: this.#time(m.at), dateTime: m.at || "" }),
    );
    if (m.direction === "out" && m.status) {
      const ticks = el("span", {
        className: "ticks",
        textContent: m.status === "sent" ? "✓" : "✓✓",
        title: t(`status_${m.status}`),
      });
      ticks.dataset.testid = "message-status";
      ticks.dataset.status = m.status;
      ticks.setAttribute("role", "img");
      ticks.setAttribute("aria-label", t(`status_${m.status}`));
      meta.append(ticks);
    }
    li.append(meta);
    if (m.forwarded) li.append(this.#mark("forwarded", t("message_forwarded")));
    if (m.replyTo) {
      const quoted = this.#find(m.replyTo);
      const quote = el("blockquote", {
        className: "quote",
        textContent: quoted ? (quoted.revoked ? t("message_revoked") : this.#summary(quoted)) : t("quote_missing"),
      });
      quote.dataset.testid = "message-quote";
      quote.setAttribute("aria-label", t("quote_label"));
      li.append(quote);
    }
    if (m.revoked) {
      li.append(this.#mark("revoked", t("message_revoked")));
    } else {
      const body = this.#body(m);
      if (body) li.append(body);
      if (m.text) li.append(el("div", { className: "text", textContent: m.text }));
      if (m.edited) li.append(this.#mark("edited", t("message_edited")));
    }
    const reactions = Object.entries(m.reactions || {});
    if (reactions.length && !m.revoked) {
      const counts = new Map();
      for (const [, emoji] of reactions) counts.set(emoji, (counts.get(emoji) || 0) + 1);
      const box = el("div", { className: "reactions" });
      box.dataset.testid = "message-reactions";
      box.setAttribute("aria-label", t("reactions_label"));
      for (const [emoji, count] of counts) {
        box.append(el("span", { className: "reaction", textContent: count > 1 ? `${emoji} ${count}` : emoji }));
      }
      li.append(box);
    }
    if (m.error) li.append(el("div", { className: "failure", textContent: t("message_failed", { error: m.error }) }));
    return li;
  }

  #mark(name, text) {
    const mark = Object.assign(document.createElement("div"), { className: `mark ${name}`, textContent: text });
    mark.dataset.testid = `message-${name}`;
    return mark;
  }

  // A short text for a quote: the message's text, else what kind it is.
  #summary(m) {
    if (m.text) return m.text;
    if (m.kind === "location") return this.#t("kind_location");
    return m.media?.fileName || this.#t(`kind_${m.kind}`);
  }

  #mediaUrl(media) {
    return new URL(`api/media/${encodeURIComponent(media.id)}`, this.#base).href;
  }

  #body(m) {
    const t = this.#t;
    const content = m.content || {};
    const media = m.media && typeof m.media.id === "string" ? m.media : null;
    if ((m.kind === "image" || m.kind === "sticker") && media) {
      const thumbnail = typeof media.thumbnail === "string" && media.thumbnail.startsWith("data:image/") ? media.thumbnail : null;
      const img = Object.assign(document.createElement("img"), {
        src: thumbnail || this.#mediaUrl(media),
        alt: m.kind === "sticker" ? t("sticker_alt") : m.text ? t("image_alt_caption", { caption: m.text }) : t("image_alt"),
        loading: "lazy",
        className: m.kind,
      });
      img.dataset.testid = "message-image";
      const link = Object.assign(document.createElement("a"), {
        href: this.#mediaUrl(media),
        target: "_blank",
        rel: "noopener noreferrer",
        className: "thumb",
      });
      link.append(img);
      return link;
    }
    if (MEDIA_KINDS.has(m.kind) && media) {
      const name = media.fileName || t(`kind_${m.kind}`);
      const link = Object.assign(document.createElement("a"), {
        href: this.#mediaUrl(media),
        download: media.fileName || "",
        rel: "noopener noreferrer",
        className: "media-link",
        textContent: typeof media.size === "number" ? `${name} (${formatSize(media.size)})` : name,
      });
      link.dataset.testid = "message-media-link";
      link.setAttribute("aria-label", t("download_label", { name }));
      return link;
    }
    if (m.kind === "location") {
      const lat = Number(content.latitude);
      const lon = Number(content.longitude);
      if (!Number.isFinite(lat) || !Number.isFinite(lon)) return null;
      const box = Object.assign(document.createElement("div"), { className: "location" });
      box.dataset.testid = "message-location";
      const place = [content.name, content.address].filter((x) => typeof x === "string" && x).join(", ");
      if (place) box.append(Object.assign(document.createElement("div"), { textContent: place }));
      box.append(Object.assign(document.createElement("div"), { className: "coords", textContent: `${lat}, ${lon}` }));
      const map = Object.assign(document.createElement("a"), {
        href: `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`,
        target: "_blank",
        rel: "noopener noreferrer",
        textContent: t("open_map"),
      });
      map.dataset.testid = "message-map-link";
      box.append(map);
      return box;
    }
    if (m.kind === "contact") {
      const name = content.displayName || t("kind_contact");
      return Object.assign(document.createElement("div"), { className: "contact", textContent: `👤 ${name}` });
    }
    if (m.kind === "unsupported" || (MEDIA_KINDS.has(m.kind) && !media && !m.text)) {
      return Object.assign(document.createElement("div"), { className: "mark", textContent: t("kind_unsupported") });
    }
    return null;
  }

  #time(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "";
    return new Intl.DateTimeFormat(this.#lang, { hour: "2-digit", minute: "2-digit" }).format(date);
  }
}

if (!customElements.get("wagate-connection")) customElements.define("wagate-connection", WagateConnection);
