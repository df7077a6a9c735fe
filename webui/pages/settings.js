// Settings: time zone, rules for new devices, language, password, sessions.
import { html, useState, useEffect } from "../lib/html.js";
import { get, post, patch, del } from "../lib/api.js";
import { t, lang, errorText, availableLanguages, requestLanguage } from "../lib/i18n.js";
import { formatDateTime, ago } from "../lib/format.js";
import { showToast } from "../lib/toast.js";
import { useLoader, useAction, Loading, ErrorBox, PageTitle } from "../lib/ui.js";

// Common zones for the families this is made for first; anything else can be typed.
const ZONES = [
  "Asia/Ho_Chi_Minh", "Asia/Bangkok", "Asia/Jakarta", "Asia/Singapore", "Asia/Kuala_Lumpur",
  "Asia/Manila", "Asia/Hong_Kong", "Asia/Shanghai", "Asia/Taipei", "Asia/Seoul", "Asia/Tokyo",
  "Australia/Sydney", "Asia/Kolkata", "Asia/Dubai", "Europe/London", "Europe/Paris", "Europe/Berlin",
  "Europe/Moscow", "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "UTC",
];
const OTHER = "__other__";
const MIN_PASSWORD = 10;

/** "Chrome on Android" from a user agent (shown as text; it is only a hint). */
function describeAgent(agent) {
  const ua = String(agent || "");
  const os = /iPhone/.test(ua) ? "iPhone" : /iPad/.test(ua) ? "iPad" : /Android/.test(ua) ? "Android"
    : /Windows/.test(ua) ? "Windows" : /Mac OS X|Macintosh/.test(ua) ? "Mac" : /Linux/.test(ua) ? "Linux" : "";
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrome\//.test(ua) ? "Chrome"
    : /Safari\//.test(ua) ? "Safari" : "";
  return [browser, os].filter(Boolean).join(" · ") || ua.slice(0, 60);
}

function TimeZoneForm({ settings, onSaved }) {
  const known = ZONES.includes(settings.time_zone);
  const [choice, setChoice] = useState(known ? settings.time_zone : OTHER);
  const [custom, setCustom] = useState(known ? "" : settings.time_zone);
  const [error, setError] = useState("");
  const value = choice === OTHER ? custom.trim() : choice;
  const [save, busy] = useAction(async () => {
    setError("");
    try {
      const result = await patch("/api/settings", { time_zone: value });
      showToast(t("common.saved"));
      await onSaved(result);
    } catch (err) {
      if (err.field === "time_zone") setError(errorText(err));
      else throw err;
    }
  });
  const fromNote = settings.time_zone_from === "config" ? t("settings.time_zone_from_config")
    : settings.time_zone_from === "machine" ? t("settings.time_zone_from_machine") : "";
  return html`<form onSubmit=${(e) => { e.preventDefault(); if (value) save(); }}>
    <div class="field">
      <label for="tz-select">${t("settings.time_zone")}</label>
      <select id="tz-select" value=${choice} onChange=${(e) => setChoice(e.currentTarget.value)} aria-describedby="tz-help">
        ${ZONES.map((z) => html`<option key=${z} value=${z}>${z.replace(/_/g, " ")}</option>`)}
        <option value=${OTHER}>${t("settings.time_zone_other")}</option>
      </select>
      <p id="tz-help" class="hint">${t("settings.time_zone_help")} ${fromNote}</p>
    </div>
    ${choice === OTHER && html`<div class="field">
      <label for="tz-custom">${t("settings.time_zone_custom")}</label>
      <input id="tz-custom" value=${custom} spellcheck="false" autocapitalize="off" placeholder="Europe/Paris"
        onInput=${(e) => setCustom(e.currentTarget.value)} aria-invalid=${error ? "true" : undefined}
        aria-describedby=${error ? "tz-error" : undefined} />
    </div>`}
    ${error && html`<p id="tz-error" class="field-error" role="alert">${error}</p>`}
    <button type="submit" class="btn btn-primary" disabled=${busy || !value || value === settings.time_zone}>${t("common.save")}</button>
  </form>`;
}

function NewDevicesForm({ settings, profiles, onSaved }) {
  const [save, busy] = useAction(async (value) => {
    const result = await patch("/api/settings", { new_devices_profile_id: value ? Number(value) : null });
    showToast(t("common.saved"));
    await onSaved(result);
  });
  return html`<div class="field">
    <label for="new-devices-profile">${t("settings.new_devices_profile")}</label>
    <select id="new-devices-profile" disabled=${busy} value=${settings.new_devices_profile_id == null ? "" : String(settings.new_devices_profile_id)}
      onChange=${(e) => save(e.currentTarget.value)} aria-describedby="new-devices-help">
      <option value="">${t("settings.new_devices_default")}</option>
      ${profiles.map((p) => html`<option key=${p.id} value=${String(p.id)}>${p.name}</option>`)}
    </select>
    <p id="new-devices-help" class="hint">${t("settings.new_devices_help")}</p>
  </div>`;
}

function LanguageField() {
  const languages = availableLanguages();
  return html`<div class="field">
    <label for="settings-language">${t("settings.language")}</label>
    <select id="settings-language" value=${lang()} onChange=${(e) => requestLanguage(e.currentTarget.value)} aria-describedby="language-help">
      ${Object.entries(languages).map(([code, name]) => html`<option key=${code} value=${code} lang=${code}>${name}</option>`)}
    </select>
    <p id="language-help" class="hint">${t("settings.language_help")}</p>
  </div>`;
}

function PasswordForm({ refreshSession, onChanged }) {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [repeat, setRepeat] = useState("");
  const [errors, setErrors] = useState({});
  const [change, busy] = useAction(async () => {
    const found = {};
    if (next.length < MIN_PASSWORD) found.new = t("error.password_short");
    else if (next !== repeat) found.repeat = t("error.passwords_differ");
    setErrors(found);
    if (Object.keys(found).length) return;
    try {
      await post("/api/password", { current, new: next });
    } catch (err) {
      if (err.code === "wrong_password") { setErrors({ current: errorText(err) }); return; }
      if (err.field === "new") { setErrors({ new: errorText(err) }); return; }
      throw err;
    }
    setCurrent(""); setNext(""); setRepeat("");
    showToast(t("settings.password_changed"));
    await refreshSession(); // the new session's CSRF token
    await onChanged();
  });
  const field = (id, key, label, value, set, autocomplete, describedBy) => html`<div class="field">
    <label for=${id}>${label}</label>
    <input id=${id} type="password" autocomplete=${autocomplete} value=${value}
      onInput=${(e) => set(e.currentTarget.value)} aria-invalid=${errors[key] ? "true" : undefined}
      aria-describedby=${[describedBy, errors[key] ? id + "-error" : ""].filter(Boolean).join(" ") || undefined} />
    ${errors[key] && html`<p id=${id + "-error"} class="field-error" role="alert">${errors[key]}</p>`}
  </div>`;
  return html`<form onSubmit=${(e) => { e.preventDefault(); change(); }}>
    ${field("pw-current", "current", t("settings.password_current"), current, setCurrent, "current-password")}
    ${field("pw-new", "new", t("settings.password_new"), next, setNext, "new-password", "pw-help")}
    <p id="pw-help" class="hint">${t("settings.password_help")}</p>
    ${field("pw-repeat", "repeat", t("settings.password_repeat"), repeat, setRepeat, "new-password")}
    <button type="submit" class="btn btn-primary" disabled=${busy || !current || !next}>${t("settings.password")}</button>
  </form>`;
}

function Sessions({ sessions, reload, refreshSession }) {
  const [signOut, busy] = useAction(async (s) => {
    if (s.current) {
      await post("/api/logout", { everywhere: false });
      await refreshSession();
      return;
    }
    await del(`/api/sessions/${encodeURIComponent(s.id)}`);
    showToast(t("settings.signed_out"));
    await reload();
  });
  const [everywhere, busyAll] = useAction(async () => {
    if (!window.confirm(t("settings.everywhere_confirm"))) return;
    await post("/api/logout", { everywhere: true });
    await refreshSession();
  });
  return html`<div>
    <ul class="list-cards">
      ${sessions.map((s) => html`<li key=${s.id} class="list-card">
        <div class="row">
          <strong>${describeAgent(s.user_agent)}</strong>
          ${s.current && html`<span class="badge badge-ok">${t("settings.session_this")}</span>`}
        </div>
        <p class="small muted">${[
          t("settings.session_from", { address: s.address || "?" }),
          t("settings.session_since", { time: formatDateTime(s.created_at) }),
          t("settings.session_seen", { time: ago(s.last_seen_at) }),
        ].join(" · ")}</p>
        <button type="button" class="btn btn-small" disabled=${busy} onClick=${() => signOut(s)}>${t("settings.sign_out")}</button>
      </li>`)}
    </ul>
    <p><button type="button" class="btn btn-danger" disabled=${busyAll} onClick=${() => everywhere()}>${t("settings.sign_out_everywhere")}</button></p>
  </div>`;
}

export default function Page({ refreshSession }) {
  const { data, error, loading, reload } = useLoader(async () => {
    const [settings, profiles, sessions] = await Promise.all([
      get("/api/settings"), get("/api/profiles"), get("/api/sessions"),
    ]);
    return { settings, profiles, sessions };
  }, []);

  if (!data) {
    return html`<div><${PageTitle}>${t("settings.title")}</${PageTitle}>
      ${loading ? html`<${Loading} />` : html`<${ErrorBox} error=${error} retry=${reload} />`}</div>`;
  }
  const afterSettings = async () => { await reload(); await refreshSession(); };
  return html`<div class="settings">
    <${PageTitle}>${t("settings.title")}</${PageTitle}>
    <${ErrorBox} error=${error} retry=${reload} />
    <section class="card" aria-labelledby="s-general">
      <h2 id="s-general">${t("settings.general")}</h2>
      <${TimeZoneForm} key=${data.settings.time_zone} settings=${data.settings} onSaved=${afterSettings} />
      <hr class="sep" />
      <${NewDevicesForm} settings=${data.settings} profiles=${data.profiles} onSaved=${reload} />
    </section>
    <section class="card" aria-labelledby="s-language">
      <h2 id="s-language">${t("settings.language")}</h2>
      <${LanguageField} />
    </section>
    <section class="card" aria-labelledby="s-password">
      <h2 id="s-password">${t("settings.password")}</h2>
      <${PasswordForm} refreshSession=${refreshSession} onChanged=${reload} />
    </section>
    <section class="card" aria-labelledby="s-sessions">
      <h2 id="s-sessions">${t("settings.sessions")}</h2>
      <${Sessions} sessions=${data.sessions} reload=${reload} refreshSession=${refreshSession} />
    </section>
    <section class="card" aria-labelledby="s-about">
      <h2 id="s-about">${t("settings.about")}</h2>
      <dl class="device-facts">
        <dt>${t("settings.version")}</dt><dd>${data.settings.version}</dd>
        <dt>${t("settings.instance")}</dt><dd>${data.settings.instance}</dd>
        <dt>${t("settings.database")}</dt><dd>${data.settings.database}</dd>
      </dl>
    </section>
  </div>`;
}
