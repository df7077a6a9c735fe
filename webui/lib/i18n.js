// Translations: flat message ids in /static/i18n/<lang>.json, the list of
// languages in /static/i18n/languages.json ({"en": "English", ...}), so a
// translator adds a language by adding two files' lines, not code.
//
//   t("home.paused_until", {time: "21:00"})  -> "Paused until 21:00"
//
// A key missing in the chosen language falls back to English, then to the key.

const STORAGE_KEY = "dnsfilter.lang";
let messages = {};
let fallback = {};
let current = "en";
let languages = { en: "English" };

export function lang() {
  return current;
}

export function availableLanguages() {
  return languages;
}

async function fetchJson(path) {
  const response = await fetch(path, { cache: "no-cache" });
  if (!response.ok) throw new Error(path + ": " + response.status);
  return response.json();
}

function detect() {
  let stored = null;
  try {
    stored = localStorage.getItem(STORAGE_KEY);
  } catch (e) { /* private mode */ }
  if (stored && languages[stored]) return stored;
  for (const wanted of navigator.languages || [navigator.language || "en"]) {
    const base = String(wanted).toLowerCase().split("-")[0];
    if (languages[base]) return base;
  }
  return "en";
}

/** Load the language list and the chosen (or detected) language. */
export async function initI18n() {
  try {
    languages = await fetchJson("/static/i18n/languages.json");
  } catch (e) {
    languages = { en: "English" };
  }
  fallback = await fetchJson("/static/i18n/en.json");
  await setLanguage(detect(), false);
}

/** Switch language; remember it unless remember=false (detection). */
export async function setLanguage(code, remember = true) {
  if (!languages[code]) code = "en";
  messages = code === "en" ? fallback : await fetchJson(`/static/i18n/${code}.json`).catch(() => fallback);
  current = code;
  document.documentElement.lang = code;
  if (remember) {
    try {
      localStorage.setItem(STORAGE_KEY, code);
    } catch (e) { /* private mode */ }
  }
}

export function has(key) {
  return Object.prototype.hasOwnProperty.call(messages, key) ||
    Object.prototype.hasOwnProperty.call(fallback, key);
}

export function t(key, params) {
  let text = messages[key];
  if (text === undefined || text === "") text = fallback[key];
  if (text === undefined) text = key;
  if (params) {
    text = text.replace(/\{(\w+)\}/g, (m, name) =>
      Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : m);
  }
  return text;
}

/** The text to show for an API error: translated by code (+ field) if we have one,
 * else the server's plain English message. */
export function errorText(error) {
  if (!error) return "";
  const code = error.code || "unknown";
  if (error.field && has(`error.${code}.${error.field}`)) return t(`error.${code}.${error.field}`);
  // Invalid input: the server's message says what is wrong with the field.
  if (code === "invalid" && error.message) return error.message;
  if (has(`error.${code}`)) return t(`error.${code}`);
  return error.message || t("error.unknown");
}

/** Ask the app shell to switch language (app.js listens and re-renders). */
export function requestLanguage(code) {
  window.dispatchEvent(new CustomEvent("dnsfilter-language", { detail: code }));
}

/** Like t(), but params may be elements (e.g. <code>): returns an array of parts.
 *   tx("setup.where_log", {command: html`<code>journalctl -u dnsfilter</code>`}) */
export function tx(key, params) {
  const text = t(key);
  const parts = [];
  let last = 0;
  text.replace(/\{(\w+)\}/g, (m, name, offset) => {
    parts.push(text.slice(last, offset));
    parts.push(params && Object.prototype.hasOwnProperty.call(params, name) ? params[name] : m);
    last = offset + m.length;
    return m;
  });
  parts.push(text.slice(last));
  return parts;
}
