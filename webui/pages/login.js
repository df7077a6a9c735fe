// First-run setup (setup code + new password) and sign-in.
// Props: {session, onSession(body), refreshSession}
import { html, useState, useEffect, useRef } from "../lib/html.js";
import { post } from "../lib/api.js";
import { t, tx, errorText } from "../lib/i18n.js";
import { clockSeconds } from "../lib/format.js";
import { showToast } from "../lib/toast.js";

const MIN_PASSWORD = 10;

/** Counts down `until` (ms timestamp); returns seconds left (0 when done). */
function useCountdown(until) {
  const [left, setLeft] = useState(0);
  useEffect(() => {
    if (!until) { setLeft(0); return; }
    const tick = () => setLeft(Math.max(0, (until - Date.now()) / 1000));
    tick();
    const timer = setInterval(tick, 250);
    return () => clearInterval(timer);
  }, [until]);
  return left;
}

function FieldError({ id, text }) {
  if (!text) return null;
  return html`<p id=${id} class="field-error" role="alert">${text}</p>`;
}

function LoginForm({ onSession }) {
  const [password, setPassword] = useState("");
  const [show, setShow] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [until, setUntil] = useState(0);
  const left = useCountdown(until);
  const input = useRef(null);
  useEffect(() => { if (input.current) input.current.focus(); }, []);

  const submit = async (e) => {
    e.preventDefault();
    if (busy || left > 0 || !password) return;
    setBusy(true);
    setError("");
    try {
      const body = await post("/api/login", { password });
      onSession(body);
    } catch (err) {
      if (err.retry_after) setUntil(Date.now() + err.retry_after * 1000);
      setError(err.code === "throttled" ? "" : errorText(err));
      setPassword("");
      if (input.current) input.current.focus();
    } finally {
      setBusy(false);
    }
  };

  const describedBy = [error ? "login-error" : "", left > 0 ? "login-wait" : ""].filter(Boolean).join(" ");
  return html`<form class="card auth-card" onSubmit=${submit} novalidate>
    <h1 id="page-title" tabindex="-1">${t("login.title")}</h1>
    <p class="muted">${t("login.intro")}</p>
    <div class="field">
      <label for="login-password">${t("login.password")}</label>
      <input id="login-password" ref=${input} type=${show ? "text" : "password"} autocomplete="current-password"
        value=${password} onInput=${(e) => setPassword(e.currentTarget.value)}
        aria-invalid=${error ? "true" : undefined} aria-describedby=${describedBy || undefined} required />
      <label class="check"><input type="checkbox" checked=${show} onChange=${(e) => setShow(e.currentTarget.checked)} />
        ${t("login.show_password")}</label>
    </div>
    <${FieldError} id="login-error" text=${error} />
    ${left > 0 && html`<p id="login-wait" class="notice notice-warn" role="status">
      ${t("login.wait", { time: clockSeconds(left) })}</p>`}
    <button type="submit" class="btn btn-primary btn-block" disabled=${busy || left > 0 || !password}>
      ${busy ? t("common.loading") : t("login.submit")}</button>
    <p class="muted small">${tx("login.forgot", { command: html`<code>sudo dnsfilter passwd</code>` })}</p>
  </form>`;
}

function SetupForm({ onSession, refreshSession }) {
  const [code, setCode] = useState("");
  const [password, setPassword] = useState("");
  const [repeat, setRepeat] = useState("");
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState({});
  const [until, setUntil] = useState(0);
  const left = useCountdown(until);
  const codeInput = useRef(null);
  useEffect(() => { if (codeInput.current) codeInput.current.focus(); }, []);

  const submit = async (e) => {
    e.preventDefault();
    if (busy || left > 0) return;
    const found = {};
    if (password.length < MIN_PASSWORD) found.password = t("error.password_short");
    else if (password !== repeat) found.repeat = t("error.passwords_differ");
    setErrors(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      const body = await post("/api/setup", { code: code.trim(), password });
      showToast(t("setup.done"));
      onSession(body);
    } catch (err) {
      if (err.code === "conflict") {
        showToast(t("setup.already_set"), "info");
        await refreshSession();
        return;
      }
      if (err.retry_after) setUntil(Date.now() + err.retry_after * 1000);
      const field = err.code === "wrong_code" ? "code" : err.field === "password" ? "password" : "form";
      setErrors({ [field]: err.code === "throttled" ? "" : errorText(err) });
    } finally {
      setBusy(false);
    }
  };

  return html`<form class="card auth-card" onSubmit=${submit} novalidate>
    <h1 id="page-title" tabindex="-1">${t("setup.title")}</h1>
    <p>${t("setup.intro")}</p>
    <div class="notice">
      <h2 class="h3">${t("setup.where_title")}</h2>
      <ul class="plain-list">
        <li>${tx("setup.where_log", { command: html`<code>journalctl -u dnsfilter</code>` })}</li>
        <li>${tx("setup.where_console", { command: html`<code>dnsfilter run</code>` })}</li>
        <li>${tx("setup.where_passwd", { command: html`<code>sudo dnsfilter passwd</code>` })}</li>
      </ul>
    </div>
    <div class="field">
      <label for="setup-code">${t("setup.code")}</label>
      <input id="setup-code" ref=${codeInput} autocomplete="one-time-code" autocapitalize="characters" spellcheck="false"
        value=${code} onInput=${(e) => setCode(e.currentTarget.value)} aria-describedby="setup-code-hint"
        aria-invalid=${errors.code ? "true" : undefined} required />
      <p id="setup-code-hint" class="hint">${t("setup.code_hint")}</p>
      <${FieldError} id="setup-code-error" text=${errors.code} />
    </div>
    <div class="field">
      <label for="setup-password">${t("setup.password")}</label>
      <input id="setup-password" type="password" autocomplete="new-password" minlength=${MIN_PASSWORD}
        value=${password} onInput=${(e) => setPassword(e.currentTarget.value)} aria-describedby="setup-password-hint"
        aria-invalid=${errors.password ? "true" : undefined} required />
      <p id="setup-password-hint" class="hint">${t("setup.password_hint")}</p>
      <${FieldError} id="setup-password-error" text=${errors.password} />
    </div>
    <div class="field">
      <label for="setup-repeat">${t("setup.repeat")}</label>
      <input id="setup-repeat" type="password" autocomplete="new-password"
        value=${repeat} onInput=${(e) => setRepeat(e.currentTarget.value)}
        aria-invalid=${errors.repeat ? "true" : undefined} required />
      <${FieldError} id="setup-repeat-error" text=${errors.repeat} />
    </div>
    <${FieldError} id="setup-error" text=${errors.form} />
    ${left > 0 && html`<p class="notice notice-warn" role="status">${t("login.wait", { time: clockSeconds(left) })}</p>`}
    <button type="submit" class="btn btn-primary btn-block" disabled=${busy || left > 0}>
      ${busy ? t("common.loading") : t("setup.submit")}</button>
  </form>`;
}

export default function Page({ session, onSession, refreshSession }) {
  return html`<div class="auth">
    ${session.state === "setup"
      ? html`<${SetupForm} onSession=${onSession} refreshSession=${refreshSession} />`
      : html`<${LoginForm} onSession=${onSession} />`}
  </div>`;
}
