// Short messages at the bottom of the screen, read out by screen readers
// (the region in app.js is aria-live). Any page may call these.
import { errorText, t } from "./i18n.js";

let nextId = 1;
let toasts = [];
const listeners = new Set();

function emit() {
  for (const fn of listeners) fn(toasts);
}

export function subscribeToasts(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function dismissToast(id) {
  toasts = toasts.filter((x) => x.id !== id);
  emit();
}

/** kind: "ok" | "error" | "info" */
export function showToast(text, kind = "ok", ms = 4000) {
  const id = nextId++;
  toasts = [...toasts.slice(-3), { id, text, kind }];
  emit();
  if (ms) setTimeout(() => dismissToast(id), kind === "error" ? ms * 2 : ms);
  return id;
}

/** Show an API error (skipped when the api layer already handled it: login shown). */
export function showError(error) {
  if (error && error.handled) return;
  showToast(errorText(error) || t("error.unknown"), "error");
}
