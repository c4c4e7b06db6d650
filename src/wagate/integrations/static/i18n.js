// The words of <wagate-connection>: one small table per language.
//
// A table maps a key to a template; "{name}" is replaced by a value.  A language
// that lacks a key falls back to English, so a host app's table may be partial.
// Add a language (or override words) before or after the element is defined:
//
//   import { addMessages } from "/wagate-static/i18n.js";
//   addMessages("ms", { connected: "Disambungkan", awaiting_scan: "Menunggu imbasan" });
//
// Elements already on the page re-render with the new words.

const en = {
  // Status badge
  connected: "Connected",
  connecting: "Connecting",
  awaiting_scan: "Waiting for scan",
  disconnected: "Disconnected",
  loading: "Loading…",
  // Why a session is disconnected (DisconnectReason values)
  reason_network: "Network problem",
  reason_logged_out: "Logged out",
  reason_replaced: "Opened on another computer",
  reason_banned: "Temporarily banned by WhatsApp",
  reason_qr_timeout: "The QR code was not scanned in time",
  reason_closed: "Stopped",
  reason_engine_crashed: "The WhatsApp engine stopped",
  reason_outdated: "This WhatsApp client is outdated; upgrade wagate",
  reason_owner_lost: "The gateway process running this account stopped; another one takes over",
  retry_in: "Retrying in {time}",
  retry_now: "Retrying now…",
  // QR code
  qr_title: "Link a WhatsApp account",
  qr_alt: "QR code to link WhatsApp",
  qr_step_open: "Open WhatsApp on your phone.",
  qr_step_menu: "Tap Menu ⋮ or Settings, then Linked devices.",
  qr_step_link: "Tap Link a device.",
  qr_step_scan: "Point your phone at this screen to scan the code.",
  qr_expires_in: "Expires in {time}",
  qr_expired: "QR code expired",
  qr_renewing: "Getting a new code…",
  qr_waiting: "Preparing a QR code…",
  qr_paused: "Press Generate QR to get a new code.",
  not_linked: "No WhatsApp account is linked. Press Generate QR to link one.",
  // Pairing code (instead of the QR code)
  pairing_toggle: "Link with phone number instead",
  pairing_phone: "The account's phone number, with its country code",
  pairing_request: "Get a code",
  pairing_request_again: "Get a new code",
  pairing_requesting: "Getting a code…",
  pairing_for: "Code for {phone}",
  pairing_step_link: "Tap Link a device, then Link with phone number instead.",
  pairing_step_type: "Type this code on your phone.",
  // Account
  account_title: "Linked account",
  account_no_name: "(no name)",
  account_since: "Connected since {time}",
  // Buttons
  generate_qr: "Generate QR",
  refresh_qr: "Refresh QR",
  refresh: "Refresh",
  logout: "Log out",
  logout_confirm_title: "Log out of WhatsApp?",
  logout_confirm_text:
    "This unlinks {phone} from this gateway. To link it again you will need to scan a new QR code.",
  logout_confirm_ok: "Log out",
  cancel: "Cancel",
  // Live connection
  live_lost: "Lost the live connection to the gateway. Reconnecting…",
  live_unreachable: "Cannot reach the gateway. Retrying…",
  live_restored: "Live connection restored.",
  // Signed out
  signed_out_title: "You are not signed in",
  signed_out_text:
    "Open the login link that “wagate serve” printed, or sign in through your application.",
  // Messages
  messages_title: "Messages",
  messages_empty: "No messages yet. Incoming and sent messages appear here.",
  message_in: "From {peer}",
  message_out: "To {peer}",
  message_failed: "Not sent: {error}",
  typing_composing: "{name} is typing…",
  typing_recording: "{name} is recording a voice note…",
  send_to: "To",
  send_to_placeholder: "+628123456789",
  send_group: "Group",
  send_group_none: "None: the number typed",
  send_group_option: "{subject} ({count} members)",
  send_text: "Message",
  send_text_placeholder: "Write a message",
  send: "Send",
  sending: "Sending…",
  send_attach: "Attach a file",
  status_sent: "Sent",
  status_delivered: "Delivered",
  status_read: "Read",
  status_played: "Played",
  message_forwarded: "Forwarded",
  message_edited: "Edited",
  message_revoked: "This message was deleted",
  quote_label: "Reply to",
  quote_missing: "a message not shown here",
  reactions_label: "Reactions",
  image_alt: "Image",
  image_alt_caption: "Image: {caption}",
  sticker_alt: "Sticker",
  download_label: "Download {name}",
  open_map: "Open the map",
  kind_text: "Message",
  kind_image: "Image",
  kind_video: "Video",
  kind_audio: "Audio",
  kind_document: "Document",
  kind_sticker: "Sticker",
  kind_location: "Location",
  kind_contact: "Contact",
  kind_unsupported: "A message this page cannot show",
  send_needs_connection: "Link an account to send messages.",
  send_needs_live: "Sending waits for the live connection to the gateway, which is reconnecting.",
  // Simulated phone
  sim_title: "Simulated phone",
  sim_text: "No WhatsApp is contacted: this simulated phone scans the code and writes in as a contact.",
  sim_scan: "Scan the QR code",
  sim_receive_title: "A contact writes in",
  sim_from: "From",
  sim_receive: "Receive",
  // Errors
  error_generic: "Something went wrong ({status}).",
  error_network: "The gateway did not answer. Check the connection and try again.",
};

const id = {
  connected: "Terhubung",
  connecting: "Menghubungkan",
  awaiting_scan: "Menunggu scan",
  disconnected: "Terputus",
  loading: "Memuat…",
  reason_network: "Masalah jaringan",
  reason_logged_out: "Sudah keluar",
  reason_replaced: "Dibuka di komputer lain",
  reason_banned: "Diblokir sementara oleh WhatsApp",
  reason_qr_timeout: "Kode QR tidak dipindai tepat waktu",
  reason_closed: "Dihentikan",
  reason_engine_crashed: "Mesin WhatsApp berhenti",
  reason_outdated: "Klien WhatsApp ini sudah usang; perbarui wagate",
  reason_owner_lost: "Proses gateway yang menjalankan akun ini berhenti; proses lain mengambil alih",
  retry_in: "Mencoba lagi dalam {time}",
  retry_now: "Mencoba lagi…",
  qr_title: "Tautkan akun WhatsApp",
  qr_alt: "Kode QR untuk menautkan WhatsApp",
  qr_step_open: "Buka WhatsApp di ponsel Anda.",
  qr_step_menu: "Ketuk Menu ⋮ atau Pengaturan, lalu Perangkat tertaut.",
  qr_step_link: "Ketuk Tautkan perangkat.",
  qr_step_scan: "Arahkan ponsel ke layar ini untuk memindai kode.",
  qr_expires_in: "Kedaluwarsa dalam {time}",
  qr_expired: "Kode QR kedaluwarsa",
  qr_renewing: "Mengambil kode baru…",
  qr_waiting: "Menyiapkan kode QR…",
  qr_paused: "Tekan Buat QR untuk mendapatkan kode baru.",
  not_linked: "Belum ada akun WhatsApp yang tertaut. Tekan Buat QR untuk menautkan.",
  pairing_toggle: "Tautkan dengan nomor telepon saja",
  pairing_phone: "Nomor telepon akun, dengan kode negaranya",
  pairing_request: "Minta kode",
  pairing_request_again: "Minta kode baru",
  pairing_requesting: "Meminta kode…",
  pairing_for: "Kode untuk {phone}",
  pairing_step_link: "Ketuk Tautkan perangkat, lalu Tautkan dengan nomor telepon saja.",
  pairing_step_type: "Masukkan kode ini di ponsel Anda.",
  account_title: "Akun tertaut",
  account_no_name: "(tanpa nama)",
  account_since: "Terhubung sejak {time}",
  generate_qr: "Buat QR",
  refresh_qr: "Perbarui QR",
  refresh: "Segarkan",
  logout: "Keluar",
  logout_confirm_title: "Keluar dari WhatsApp?",
  logout_confirm_text:
    "Tautan {phone} ke gateway ini akan diputus. Untuk menautkannya lagi, Anda perlu memindai kode QR baru.",
  logout_confirm_ok: "Keluar",
  cancel: "Batal",
  live_lost: "Koneksi langsung ke gateway terputus. Menyambungkan kembali…",
  live_unreachable: "Gateway tidak dapat dihubungi. Mencoba lagi…",
  live_restored: "Koneksi langsung tersambung kembali.",
  signed_out_title: "Anda belum masuk",
  signed_out_text:
    "Buka tautan login yang dicetak oleh “wagate serve”, atau masuk melalui aplikasi Anda.",
  messages_title: "Pesan",
  messages_empty: "Belum ada pesan. Pesan masuk dan terkirim tampil di sini.",
  message_in: "Dari {peer}",
  message_out: "Kepada {peer}",
  message_failed: "Tidak terkirim: {error}",
  send_to: "Kepada",
  send_to_placeholder: "+628123456789",
  send_group: "Grup",
  send_group_none: "Tidak ada: nomor yang diketik",
  send_group_option: "{subject} ({count} anggota)",
  send_text: "Pesan",
  send_text_placeholder: "Tulis pesan",
  send: "Kirim",
  sending: "Mengirim…",
  send_attach: "Lampirkan berkas",
  status_sent: "Terkirim",
  status_delivered: "Diterima",
  status_read: "Dibaca",
  status_played: "Diputar",
  message_forwarded: "Diteruskan",
  message_edited: "Diedit",
  message_revoked: "Pesan ini telah dihapus",
  typing_composing: "{name} sedang mengetik…",
  typing_recording: "{name} sedang merekam pesan suara…",
  quote_label: "Membalas",
  quote_missing: "pesan yang tidak ditampilkan di sini",
  reactions_label: "Reaksi",
  image_alt: "Gambar",
  image_alt_caption: "Gambar: {caption}",
  sticker_alt: "Stiker",
  download_label: "Unduh {name}",
  open_map: "Buka peta",
  kind_text: "Pesan",
  kind_image: "Gambar",
  kind_video: "Video",
  kind_audio: "Audio",
  kind_document: "Dokumen",
  kind_sticker: "Stiker",
  kind_location: "Lokasi",
  kind_contact: "Kontak",
  kind_unsupported: "Pesan yang tidak dapat ditampilkan halaman ini",
  send_needs_connection: "Tautkan akun untuk mengirim pesan.",
  send_needs_live: "Pengiriman menunggu koneksi langsung ke gateway, yang sedang menyambung kembali.",
  sim_title: "Ponsel simulasi",
  sim_text: "WhatsApp tidak dihubungi: ponsel simulasi ini memindai kode dan mengirim pesan sebagai kontak.",
  sim_scan: "Pindai kode QR",
  sim_receive_title: "Kontak mengirim pesan",
  sim_from: "Dari",
  sim_receive: "Terima",
  error_generic: "Terjadi kesalahan ({status}).",
  error_network: "Gateway tidak menjawab. Periksa koneksi lalu coba lagi.",
};

/** The tables by language tag (lower case): `en`, `id`, and what host apps add. */
export const messages = { en, id };

const listeners = new Set();

/**
 * Add a language, or add/override words of one.  Partial tables are fine:
 * missing words come from English.
 * @param {string} lang a BCP 47 tag, e.g. "ms" or "pt-BR"
 * @param {Record<string, string>} table key -> template
 */
export function addMessages(lang, table) {
  const tag = String(lang).toLowerCase();
  messages[tag] = { ...(messages[tag] || {}), ...table };
  for (const listener of listeners) listener(tag);
}

/** Call `listener(tag)` whenever a table changes; returns a function that stops it. */
export function onMessagesChanged(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

// Old and alternative tags of the languages shipped here.
const ALIASES = { in: "id" };

function match(tag) {
  if (!tag) return null;
  const lower = String(tag).toLowerCase();
  if (messages[lower]) return lower;
  const primary = ALIASES[lower.split("-")[0]] || lower.split("-")[0];
  return messages[primary] ? primary : null;
}

/**
 * The language to speak: the explicit one when a table exists for it, else the
 * browser's first language that has a table, else English.
 * @param {string | null | undefined} explicit e.g. the element's `lang` attribute
 */
export function pickLanguage(explicit) {
  const wanted = [explicit, ...(globalThis.navigator?.languages || []), globalThis.navigator?.language];
  for (const tag of wanted) {
    const found = match(tag);
    if (found) return found;
  }
  return "en";
}

/**
 * A function `t(key, values)` that gives the words of `lang`.
 * @param {string} lang a tag `pickLanguage` returned
 */
export function translator(lang) {
  const table = messages[lang] || en;
  return (key, values = {}) => {
    const template = table[key] ?? en[key] ?? key;
    return template.replace(/\{(\w+)\}/g, (whole, name) =>
      name in values ? String(values[name]) : whole,
    );
  };
}
