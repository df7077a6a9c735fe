// Small shared pieces for pages: forms, buttons, loading and error states.
import { html, useState, useEffect, useRef, useCallback } from "./html.js";
import { t, errorText } from "./i18n.js";
import { showError } from "./toast.js";

/**
 * Load data and optionally refresh it every `interval` ms (paused while the
 * tab is hidden). Returns {data, error, loading, reload}.
 *   const {data, reload} = useLoader(() => get("/api/overview"), [], 15000);
 */
export function useLoader(load, deps = [], interval = 0) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const loadRef = useRef(load);
  loadRef.current = load;
  const seq = useRef(0);

  const reload = useCallback(async () => {
    const mine = ++seq.current;
    try {
      const data = await loadRef.current();
      if (mine === seq.current) setState({ data, error: null, loading: false });
      return data;
    } catch (error) {
      if (mine === seq.current) setState((s) => ({ data: s.data, error, loading: false }));
      return null;
    }
  }, []);

  useEffect(() => {
    setState((s) => ({ ...s, loading: true }));
    reload();
    if (!interval) return () => { seq.current++; };
    const timer = setInterval(() => {
      if (!document.hidden) reload();
    }, interval);
    const onVisible = () => { if (!document.hidden) reload(); };
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      seq.current++;
      clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, deps);

  return { ...state, reload };
}

/** Re-render every `ms` (for countdowns). */
export function useTick(ms = 1000) {
  const [, setN] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setN((n) => n + 1), ms);
    return () => clearInterval(timer);
  }, [ms]);
}

/**
 * Wrap an action (a button press): disables while running, shows errors as
 * toasts, returns [run, busy].
 *   const [save, saving] = useAction(async () => { await patch(...); reload(); });
 */
export function useAction(fn) {
  const [busy, setBusy] = useState(false);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const run = useCallback(async (...args) => {
    setBusy(true);
    try {
      return await fnRef.current(...args);
    } catch (error) {
      showError(error);
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  return [run, busy];
}

export function Loading() {
  return html`<p class="muted loading" role="status">${t("common.loading")}</p>`;
}

/** An error box with a "Try again" button. */
export function ErrorBox({ error, retry }) {
  if (!error || error.handled) return null;
  return html`<div class="notice notice-error" role="alert">
    <p>${errorText(error)}</p>
    ${retry && html`<button type="button" class="btn" onClick=${retry}>${t("common.retry")}</button>`}
  </div>`;
}

/** Page heading; app.js moves focus here on navigation (id="page-title"). */
export function PageTitle({ children, sub }) {
  return html`<header class="page-head">
    <h1 id="page-title" tabindex="-1">${children}</h1>
    ${sub && html`<p class="muted">${sub}</p>`}
  </header>`;
}

/** A progress bar with its text (colour is never the only signal). */
export function Meter({ value, max, label, text }) {
  const ratio = max > 0 ? Math.min(1, value / max) : 0;
  const level = ratio >= 1 ? "full" : ratio >= 0.8 ? "high" : "ok";
  return html`<div class="meter-row">
    <div class="meter-label"><span>${label}</span><span class="meter-text">${text}</span></div>
    <div class="meter meter-${level}" role="progressbar" aria-label=${label}
      aria-valuemin="0" aria-valuemax=${max} aria-valuenow=${Math.min(value, max)} aria-valuetext=${text}>
      <div class="meter-fill" ref=${(el) => { if (el) el.style.width = (ratio * 100).toFixed(1) + "%"; }}></div>
    </div>
  </div>`;
}
