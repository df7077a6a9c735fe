// dnsfilter web UI shell: session check, hash router, top bar + navigation,
// language switch, toasts.
//
// ---------------------------------------------------------------------------
// PAGE INTERFACE (every page relies on it: change them all together)
//
// Each page is a module in webui/pages/<name>.js:
//
//     export default function Page({ params, session, navigate, refreshSession }) { ... }
//
//   params          route parameters as strings, plus `params.query` (the part
//                   after "?" in the hash, as an object of strings):
//                   #/profile/2          -> { id: "2", query: {} }
//                   #/log?profile=2      -> { query: { profile: "2" } }
//   session         the GET /api/session body (state "ready", csrf_token,
//                   time_zone, version, account) plus `lang` ("en" | "vi" ...)
//   navigate(path)  go to a route: navigate("/profile/2"), navigate("/log?profile=2")
//                   (sets location.hash; links may also be plain <a href="#/log">)
//   refreshSession() re-reads /api/session (after the time zone or password changes)
//
// Routes:  #/  home.js | #/people people.js | #/lists lists.js | #/settings settings.js
//          #/profile/:id profile.js | #/schedule/:id schedule.js | #/log log.js
//          #/charts charts.js       (login.js is shown whenever state != "ready")
// Pages are loaded lazily (dynamic import) so one broken page cannot break the others.
// The page re-renders when the language changes (the whole tree is keyed by it).
//
// Helpers pages should use:
//   import { html, useState, useEffect, ... } from "../lib/html.js";  // Preact + htm
//   import { get, post, patch, put, del, withQuery, ApiError } from "../lib/api.js";
//   import { t, lang, errorText, availableLanguages, requestLanguage } from "../lib/i18n.js";
//                                             // t("key", {name}); requestLanguage("vi") switches
//   import { formatTime, formatDateTime, formatFull, formatDay, formatNumber,
//            formatMinutes, countdown, ago, setServerNow, now } from "../lib/format.js";
//   import { showToast, showError } from "../lib/toast.js";          // aria-live toasts
//   import { useLoader, useAction, useTick, Loading, ErrorBox, PageTitle, Meter } from "../lib/ui.js";
//   import { loadCatalog, cachedCatalog, tagLabel } from "../lib/catalog.js";
// Each page starts with <${PageTitle}>...</${PageTitle}> (an <h1 id="page-title">;
// focus moves there on navigation). Sections use <h2>, cards <h3>.
// Text from the network (query names, device names) goes in ${...} only
// (a text node): never innerHTML, never href.
// CSS classes available in style.css: card, cards, btn, btn-primary, btn-danger,
// btn-small, badge, badge-warn, badge-block, badge-ok, muted, notice,
// notice-error, field, row, stack, table-wrap, sr-only.
// ---------------------------------------------------------------------------

import { html, render, useState, useEffect, useRef, useCallback } from "./lib/html.js";
import { get, post, setCsrfToken, setAuthLostHandler } from "./lib/api.js";
import { initI18n, setLanguage, t, lang, availableLanguages } from "./lib/i18n.js";
import { setTimeZone } from "./lib/format.js";
import { subscribeToasts, dismissToast, showError } from "./lib/toast.js";

const ROUTES = [
  { pattern: /^\/$/, page: "home", load: () => import("./pages/home.js") },
  { pattern: /^\/people$/, page: "people", load: () => import("./pages/people.js") },
  { pattern: /^\/profile\/(?<id>\d+)$/, page: "profile", load: () => import("./pages/profile.js") },
  { pattern: /^\/schedule\/(?<id>\d+)$/, page: "schedule", load: () => import("./pages/schedule.js") },
  { pattern: /^\/log$/, page: "log", load: () => import("./pages/log.js") },
  { pattern: /^\/charts$/, page: "charts", load: () => import("./pages/charts.js") },
  { pattern: /^\/lists$/, page: "lists", load: () => import("./pages/lists.js") },
  { pattern: /^\/settings$/, page: "settings", load: () => import("./pages/settings.js") },
];

// The navigation; the title key of each is also the window title.
const NAV = [
  { href: "#/", page: "home", label: () => t("nav.home") },
  { href: "#/people", page: "people", label: () => t("nav.people") },
  { href: "#/log", page: "log", label: () => t("nav.log") },
  { href: "#/charts", page: "charts", label: () => t("nav.charts") },
  { href: "#/lists", page: "lists", label: () => t("nav.lists") },
  { href: "#/settings", page: "settings", label: () => t("nav.settings") },
];

const PAGE_TITLES = {
  home: () => t("nav.home"),
  people: () => t("nav.people"),
  profile: () => t("nav.profile"),
  schedule: () => t("nav.schedule"),
  log: () => t("nav.log"),
  charts: () => t("nav.charts"),
  lists: () => t("nav.lists"),
  settings: () => t("nav.settings"),
  login: () => t("login.title"),
  notfound: () => t("notfound.title"),
};

function parseHash() {
  const raw = decodeURIComponent(location.hash.replace(/^#/, "")) || "/";
  const [path, queryString = ""] = raw.split("?");
  const query = {};
  for (const [k, v] of new URLSearchParams(queryString)) query[k] = v;
  for (const route of ROUTES) {
    const m = route.pattern.exec(path);
    if (m) return { route, params: { ...(m.groups || {}), query }, path };
  }
  return { route: null, params: { query }, path };
}

export function navigate(path) {
  const target = "#" + (path.startsWith("/") ? path : "/" + path);
  if (location.hash === target) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = target;
}

function Toasts() {
  const [list, setList] = useState([]);
  useEffect(() => subscribeToasts((x) => setList([...x])), []);
  return html`<div class="toasts" aria-live="polite" aria-atomic="false">
    ${list.map((x) => html`<div key=${x.id} class=${"toast toast-" + x.kind} role=${x.kind === "error" ? "alert" : "status"}>
      <span class="toast-icon" aria-hidden="true">${x.kind === "error" ? "!" : "✓"}</span>
      <span class="toast-text">${x.text}</span>
      <button type="button" class="toast-close" aria-label=${t("common.close")} onClick=${() => dismissToast(x.id)}>×</button>
    </div>`)}
  </div>`;
}

function LanguageSelect({ onChange }) {
  const languages = availableLanguages();
  if (Object.keys(languages).length < 2) return null;
  return html`<label class="lang-select">
    <span class="sr-only">${t("common.language")}</span>
    <select value=${lang()} onChange=${(e) => onChange(e.currentTarget.value)}>
      ${Object.entries(languages).map(([code, name]) => html`<option key=${code} value=${code} lang=${code}>${name}</option>`)}
    </select>
  </label>`;
}

function TopBar({ session, current, onLanguage, onLogout }) {
  const [open, setOpen] = useState(false);
  const ready = session && session.state === "ready";
  // Close the phone menu after following a link, or with Escape.
  useEffect(() => setOpen(false), [current]);
  useEffect(() => {
    if (!open) return undefined;
    const onKey = (e) => {
      if (e.key !== "Escape") return;
      setOpen(false);
      const button = document.querySelector(".menu-button");
      if (button) button.focus();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [open]);
  return html`<header class="topbar">
    <a class="skip-link" href="#main">${t("common.skip_to_content")}</a>
    <div class="topbar-inner">
      ${ready && html`<button type="button" class="menu-button" aria-expanded=${open ? "true" : "false"}
          aria-controls="main-nav" onClick=${() => setOpen(!open)}>
        <span class="menu-icon" aria-hidden="true"></span><span class="menu-text">${t("nav.menu")}</span>
      </button>`}
      <a class="brand" href="#/"><span class="brand-mark" aria-hidden="true">◆</span> dnsfilter</a>
      <div class="topbar-tools">
        <${LanguageSelect} onChange=${onLanguage} />
      </div>
    </div>
    ${ready && html`<nav id="main-nav" class=${"nav" + (open ? " nav-open" : "")} aria-label=${t("nav.label")}>
      <ul>
        ${NAV.map((item) => html`<li key=${item.page}>
          <a href=${item.href} aria-current=${current === item.page ? "page" : undefined}>${item.label()}</a>
        </li>`)}
      </ul>
      <button type="button" class="btn btn-small nav-logout" onClick=${onLogout}>${t("nav.sign_out")}</button>
    </nav>`}
  </header>`;
}

function PageHost({ route, params, session, refreshSession, onSession, langKey }) {
  const [mod, setMod] = useState({ name: null, Page: null, error: null });
  const name = route ? route.page : session.state === "ready" ? "notfound" : "login";
  const wanted = session.state === "ready" ? name : "login";

  useEffect(() => {
    let cancelled = false;
    if (wanted === "notfound") {
      setMod({ name: wanted, Page: NotFound, error: null });
      return;
    }
    const load = wanted === "login" ? () => import("./pages/login.js") : route.load;
    load().then(
      (m) => { if (!cancelled) setMod({ name: wanted, Page: m.default, error: null }); },
      (error) => { if (!cancelled) setMod({ name: wanted, Page: null, error }); },
    );
    return () => { cancelled = true; };
  }, [wanted, route]);

  // Window title and focus on the page heading after navigation.
  const first = useRef(true);
  useEffect(() => {
    document.title = (PAGE_TITLES[wanted] || PAGE_TITLES.notfound)() + " · dnsfilter";
    if (mod.name !== wanted) return;
    if (first.current) { first.current = false; return; }
    const heading = document.getElementById("page-title");
    if (heading) heading.focus({ preventScroll: false });
  }, [mod.name, wanted, langKey]);

  if (mod.error && mod.name === wanted) {
    return html`<div class="notice notice-error" role="alert">
      <h1 id="page-title" tabindex="-1">${t("error.page_failed")}</h1>
      <p class="muted">${String(mod.error.message || mod.error)}</p>
    </div>`;
  }
  if (!mod.Page || mod.name !== wanted) return html`<p class="muted loading" role="status">${t("common.loading")}</p>`;
  const Page = mod.Page;
  if (wanted === "login") {
    return html`<${Page} key=${langKey} session=${session} onSession=${onSession} refreshSession=${refreshSession} />`;
  }
  return html`<${Page} key=${langKey + "|" + JSON.stringify(params)} params=${params} session=${session}
    navigate=${navigate} refreshSession=${refreshSession} />`;
}

function NotFound({ navigate: go }) {
  return html`<div>
    <h1 id="page-title" tabindex="-1">${t("notfound.title")}</h1>
    <p><a href="#/">${t("notfound.home")}</a></p>
  </div>`;
}

function App({ initialSession }) {
  const [session, setSession] = useState(initialSession);
  const [location_, setLocation] = useState(parseHash());
  const [langKey, setLangKey] = useState(lang());

  const applySession = useCallback((body) => {
    if (!body) return;
    setCsrfToken(body.csrf_token);
    setTimeZone(body.time_zone);
    setSession(body);
  }, []);

  const refreshSession = useCallback(async () => {
    try {
      const body = await get("/api/session");
      applySession(body);
      return body;
    } catch (error) {
      showError(error);
      return null;
    }
  }, []);

  useEffect(() => {
    const onHash = () => {
      setLocation(parseHash());
      window.scrollTo(0, 0);
    };
    window.addEventListener("hashchange", onHash);
    setAuthLostHandler(() => { refreshSession(); });
    const onLanguageEvent = (e) => onLanguage(e.detail);
    window.addEventListener("dnsfilter-language", onLanguageEvent);
    return () => {
      window.removeEventListener("hashchange", onHash);
      window.removeEventListener("dnsfilter-language", onLanguageEvent);
    };
  }, []);

  async function onLanguage(code) {
    await setLanguage(code);
    setLangKey(code);
  }

  const onLogout = async () => {
    try {
      await post("/api/logout", { everywhere: false });
    } catch (error) {
      showError(error);
    }
    await refreshSession();
  };

  const withLang = { ...session, lang: langKey };
  const current = location_.route ? location_.route.page : null;
  const ready = session.state === "ready";
  return html`<div class=${"shell" + (ready ? " shell-ready" : " shell-login")}>
    <${TopBar} session=${session} current=${current} onLanguage=${onLanguage} onLogout=${onLogout} />
    <main id="main" class="main" tabindex="-1">
      <${PageHost} route=${location_.route} params=${location_.params} session=${withLang}
        refreshSession=${refreshSession} onSession=${applySession} langKey=${langKey} />
    </main>
    <${Toasts} />
  </div>`;
}

async function boot() {
  const root = document.getElementById("app");
  try {
    await initI18n();
  } catch (error) {
    root.textContent = "Could not load the translations: " + error.message;
    return;
  }
  let session;
  try {
    session = await get("/api/session");
  } catch (error) {
    root.textContent = t("error.no_connection");
    return;
  }
  setCsrfToken(session.csrf_token);
  setTimeZone(session.time_zone);
  root.textContent = "";
  render(html`<${App} initialSession=${session} />`, root);
}

boot();
