// The look of <wagate-connection>, inside its shadow root.
//
// Host apps theme it with CSS custom properties set on the element (they cross
// the shadow boundary), e.g.  wagate-connection { --wagate-accent: #5b3cc4; }
// The `theme` attribute ("light" / "dark") overrides the system preference.

const light = `
  --wg-surface: #ffffff;
  --wg-surface-2: #f5f6f6;
  --wg-text: #111b21;
  --wg-muted: #54656f;
  --wg-border: #e3e7ea;
  --wg-accent: var(--wagate-accent, #008069);
  --wg-accent-text: #ffffff;
  --wg-bubble-out: #d9fdd3;
  --wg-ok: #007a5a;  --wg-ok-bg: #dcf8ec;
  --wg-wait: #0b6bcb; --wg-wait-bg: #e3f0ff;
  --wg-warn: #8a5300; --wg-warn-bg: #fff1cc;
  --wg-bad: #b42318;  --wg-bad-bg: #fee4e2;
  --wg-shadow: 0 1px 2px rgb(11 20 26 / 0.06), 0 1px 8px rgb(11 20 26 / 0.04);
`;

const dark = `
  --wg-surface: #111b21;
  --wg-surface-2: #202c33;
  --wg-text: #e9edef;
  --wg-muted: #8696a0;
  --wg-border: #2a3942;
  --wg-accent: var(--wagate-accent, #00a884);
  --wg-accent-text: #0b141a;
  --wg-bubble-out: #005c4b;
  --wg-ok: #4fe3a8;  --wg-ok-bg: rgb(0 168 132 / 0.18);
  --wg-wait: #7cc0ff; --wg-wait-bg: rgb(83 166 255 / 0.16);
  --wg-warn: #ffcf66; --wg-warn-bg: rgb(255 193 7 / 0.15);
  --wg-bad: #ff8f87;  --wg-bad-bg: rgb(240 68 56 / 0.17);
  --wg-shadow: none;
`;

export const css = `
:host {
  ${light}
  display: block;
  color: var(--wg-text);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  -webkit-text-size-adjust: 100%;
}
@media (prefers-color-scheme: dark) { :host(:not([theme="light"])) { ${dark} } }
:host([theme="dark"]) { ${dark} }
:host([hidden]), [hidden] { display: none !important; }
* { box-sizing: border-box; }
h2, h3, p, ol, ul, figure { margin: 0; }

.grid {
  display: grid;
  gap: 16px;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 400px), 1fr));
  align-items: start;
}
.card {
  background: var(--wg-surface);
  border: 1px solid var(--wg-border);
  border-radius: 16px;
  box-shadow: var(--wg-shadow);
  padding: 20px;
  min-width: 0;
}
.connection { grid-column: 1 / -1; }
.card-head {
  display: flex; align-items: center; gap: 12px; flex-wrap: wrap;
  margin-bottom: 16px;
}
.card-head h2 { font-size: 1.05rem; font-weight: 650; letter-spacing: -0.01em; }
.card-head .tenant {
  color: var(--wg-muted); font-size: 0.85rem;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; max-width: 14rem;
}
.card-head .badge { margin-left: auto; }
h3 { font-size: 0.95rem; font-weight: 600; margin-bottom: 8px; }

/* Status badge */
.badge {
  display: inline-flex; align-items: center; gap: 7px;
  padding: 4px 12px 4px 10px; border-radius: 999px;
  font-size: 0.85rem; font-weight: 600; white-space: nowrap;
  color: var(--wg-muted); background: var(--wg-surface-2);
}
.badge::before {
  content: ""; width: 8px; height: 8px; border-radius: 50%; background: currentColor;
}
.badge[data-state="connected"] { color: var(--wg-ok); background: var(--wg-ok-bg); }
.badge[data-state="awaiting_scan"] { color: var(--wg-wait); background: var(--wg-wait-bg); }
.badge[data-state="connecting"] { color: var(--wg-warn); background: var(--wg-warn-bg); }
.badge[data-state="connecting"]::before { animation: pulse 1.2s ease-in-out infinite; }
.badge[data-state="disconnected"] { color: var(--wg-bad); background: var(--wg-bad-bg); }
.status-detail { color: var(--wg-muted); margin: -8px 0 16px; font-size: 0.9rem; }

/* Notice about the live connection */
.notice {
  display: flex; align-items: center; gap: 10px;
  border-radius: 12px; padding: 10px 14px; margin-bottom: 16px;
  font-size: 0.92rem; font-weight: 500;
  color: var(--wg-warn); background: var(--wg-warn-bg);
  border: 1px solid color-mix(in srgb, currentColor 25%, transparent);
}
.notice::before {
  content: ""; flex: none; width: 8px; height: 8px; border-radius: 50%; background: currentColor;
}
.notice[data-state="lost"]::before { animation: pulse 1.2s ease-in-out infinite; }
.notice[data-state="restored"] { color: var(--wg-ok); background: var(--wg-ok-bg); }

/* QR code */
.qr {
  display: flex; flex-wrap: wrap; gap: 20px 28px; align-items: center;
}
.qr-frame {
  position: relative; flex: none;
  width: min(272px, 100%); aspect-ratio: 1;
  background: #fff; border-radius: 12px; padding: 4px;
  border: 1px solid var(--wg-border);
  margin-inline: auto;
}
.qr-frame img {
  display: block; width: 100%; height: 100%;
  image-rendering: pixelated; border-radius: 8px;
  transition: opacity 0.2s, filter 0.2s;
}
.qr-frame.expired img { opacity: 0.12; filter: blur(2px); }
.qr-overlay {
  position: absolute; inset: 0; display: grid; place-content: center; gap: 6px;
  text-align: center; padding: 16px; color: #111b21; font-weight: 600;
}
.qr-overlay small { font-weight: 400; color: #54656f; }
.qr-side { flex: 1 1 220px; min-width: 0; }
.qr-side h3 { font-size: 1.05rem; margin-bottom: 10px; }
.steps { padding-left: 1.3em; display: grid; gap: 6px; color: var(--wg-text); }
.steps li::marker { color: var(--wg-muted); font-weight: 600; }
.countdown {
  margin-top: 14px; font-variant-numeric: tabular-nums; color: var(--wg-muted);
  font-size: 0.92rem;
}
.countdown[data-expired] { color: var(--wg-bad); font-weight: 600; }

/* Pairing code: linking by a code typed on the phone */
.pairing { margin-top: 16px; padding-top: 14px; border-top: 1px solid var(--wg-border); }
.pairing summary {
  cursor: pointer; width: fit-content; font-weight: 600; color: var(--wg-accent);
  border-radius: 6px;
}
.pairing summary:focus-visible { outline: 2px solid var(--wg-accent); outline-offset: 2px; }
.pairing form { margin-top: 12px; }
.pairing form .row { flex-wrap: wrap; }
.pairing form .row > label { flex: 1 1 12rem; }
.pairing-result { margin-top: 14px; }
.pairing-for { color: var(--wg-muted); font-size: 0.88rem; }
.pairing-code {
  margin: 6px 0 12px; padding: 10px 14px; width: fit-content; max-width: 100%;
  font: 700 clamp(1.7rem, 7vw, 2.3rem)/1.1 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  letter-spacing: 0.12em; font-variant-numeric: tabular-nums slashed-zero;
  background: var(--wg-surface-2); border: 1px solid var(--wg-border); border-radius: 10px;
  user-select: all; overflow-wrap: anywhere;
}

/* Account */
.account { display: flex; align-items: center; gap: 16px; min-width: 0; }
.avatar {
  flex: none; width: 56px; height: 56px; border-radius: 50%;
  display: grid; place-content: center;
  background: var(--wg-accent); color: var(--wg-accent-text);
  font-weight: 700; font-size: 1.2rem; text-transform: uppercase;
}
.account[data-state="offline"] .avatar { filter: grayscale(1); opacity: 0.6; }
.account-text { min-width: 0; }
.account-name { font-weight: 650; font-size: 1.1rem; overflow-wrap: anywhere; }
.account-phone { font-variant-numeric: tabular-nums; letter-spacing: 0.01em; }
.account-since { color: var(--wg-muted); font-size: 0.85rem; }

.idle {
  display: flex; align-items: center; gap: 12px; color: var(--wg-muted);
  min-height: 56px;
}
.spinner {
  flex: none; width: 22px; height: 22px; border-radius: 50%;
  border: 3px solid var(--wg-border); border-top-color: var(--wg-accent);
  animation: spin 0.9s linear infinite;
}

/* Buttons and forms */
.actions { display: flex; flex-wrap: wrap; gap: 10px; margin-top: 20px; }
button {
  font: inherit; font-weight: 600; font-size: 0.92rem;
  min-height: 40px; padding: 0 18px; border-radius: 999px;
  border: 1px solid var(--wg-border); background: var(--wg-surface); color: var(--wg-text);
  cursor: pointer; transition: background 0.15s, opacity 0.15s;
}
button:hover:not(:disabled) { background: var(--wg-surface-2); }
button.primary { background: var(--wg-accent); border-color: var(--wg-accent); color: var(--wg-accent-text); }
button.primary:hover:not(:disabled) { background: color-mix(in srgb, var(--wg-accent) 88%, black); }
button.danger { color: var(--wg-bad); }
button:disabled { opacity: 0.5; cursor: not-allowed; }
button.primary:disabled {
  background: var(--wg-surface-2); border-color: var(--wg-border); color: var(--wg-muted); opacity: 1;
}
button:focus-visible, input:focus-visible, textarea:focus-visible, select:focus-visible {
  outline: 2px solid var(--wg-accent); outline-offset: 2px;
}
form { display: grid; gap: 10px; }
label { display: grid; gap: 4px; font-size: 0.85rem; font-weight: 600; color: var(--wg-muted); }
input, textarea, select {
  font: inherit; font-size: 0.95rem; color: var(--wg-text); width: 100%;
  background: var(--wg-surface-2); border: 1px solid var(--wg-border); border-radius: 10px;
  padding: 9px 12px;
}
textarea { resize: vertical; min-height: 2.6em; }
form .row { display: flex; gap: 10px; align-items: end; }
form .row > :first-child { flex: 1; }
form .row.recipient { flex-wrap: wrap; align-items: start; }
form .row.recipient > label { flex: 1 1 12rem; }
input:disabled { opacity: 0.5; }
.error {
  color: var(--wg-bad); font-size: 0.88rem; font-weight: 500;
  overflow-wrap: anywhere;
}
.hint { color: var(--wg-muted); font-size: 0.88rem; }

/* Messages */
.messages-card form { margin-bottom: 16px; }
.message-list { list-style: none; padding: 0; display: grid; gap: 8px; max-height: 420px; overflow-y: auto; }
.message {
  max-width: 88%; padding: 8px 12px; border-radius: 12px;
  background: var(--wg-surface-2); justify-self: start;
}
.message[data-direction="out"] { background: var(--wg-bubble-out); justify-self: end; }
.message[data-failed] { outline: 1px solid var(--wg-bad); }
.message .meta { font-size: 0.78rem; color: var(--wg-muted); display: flex; gap: 8px; flex-wrap: wrap; }
.message .text { white-space: pre-wrap; overflow-wrap: anywhere; }
.message .failure { color: var(--wg-bad); font-size: 0.82rem; }
.message .ticks { margin-left: auto; letter-spacing: -0.2em; }
.message .ticks[data-status="read"], .message .ticks[data-status="played"] { color: #53bdeb; }
.message .quote {
  margin: 4px 0; padding: 4px 8px; border-left: 3px solid var(--wg-muted);
  font-size: 0.85rem; color: var(--wg-muted); white-space: pre-wrap; overflow-wrap: anywhere;
}
.message .thumb img { display: block; max-width: 220px; max-height: 220px; border-radius: 6px; margin: 4px 0; }
.message .thumb img.sticker { max-width: 120px; max-height: 120px; }
.message .media-link, .message .location a { overflow-wrap: anywhere; }
.message .location .coords { font-size: 0.82rem; color: var(--wg-muted); }
.message .mark { font-size: 0.78rem; font-style: italic; color: var(--wg-muted); }
.message .reactions { display: flex; gap: 4px; margin-top: 4px; }
.message .reaction { font-size: 0.85rem; padding: 0 6px; border-radius: 10px; background: var(--wg-muted-bg, rgba(0,0,0,0.08)); }
.attach { font-size: 0.85rem; }
.typing { margin-top: 8px; font-size: 0.85rem; font-style: italic; color: var(--wg-muted); }
.typing:empty { display: none; }
.typing-line { overflow-wrap: anywhere; }

.empty { color: var(--wg-muted); font-size: 0.9rem; }

/* Simulated phone */
.sim-card { border-style: dashed; }
.sim-card .hint { margin-bottom: 14px; }
.sim-card section + section { margin-top: 18px; padding-top: 16px; border-top: 1px solid var(--wg-border); }

/* Signed out */
.signed-out h2 { font-size: 1.1rem; margin-bottom: 6px; }
.signed-out p + p { margin-top: 8px; }

/* Logout confirmation */
dialog {
  border: 1px solid var(--wg-border); border-radius: 16px; padding: 22px;
  background: var(--wg-surface); color: var(--wg-text);
  max-width: min(420px, calc(100vw - 32px)); box-shadow: 0 12px 40px rgb(0 0 0 / 0.25);
}
dialog::backdrop { background: rgb(11 20 26 / 0.45); }
dialog h2 { font-size: 1.1rem; margin-bottom: 8px; }
dialog .actions { justify-content: flex-end; }
dialog button.danger { background: var(--wg-bad); border-color: var(--wg-bad); color: #fff; }

@keyframes spin { to { transform: rotate(1turn); } }
@keyframes pulse { 50% { opacity: 0.3; } }
@media (prefers-reduced-motion: reduce) {
  .spinner, .badge::before, .notice::before { animation: none !important; }
}
@media (max-width: 480px) {
  .card { padding: 16px; border-radius: 14px; }
  .actions button { flex: 1 1 auto; }
  .card-head .badge { margin-left: 0; }
}
`;

let sheet = null;

/** Put the styles in a shadow root (one shared constructed sheet where supported). */
export function adoptStyles(root) {
  if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype) {
    if (sheet === null) {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
    }
    root.adoptedStyleSheets = [sheet];
    return;
  }
  const style = document.createElement("style");
  style.textContent = css;
  root.prepend(style);
}
