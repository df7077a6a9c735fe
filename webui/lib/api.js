// Fetch wrapper for the JSON API (see the API contract).
// - JSON in and out; `X-CSRF-Token` on every request that changes something.
// - Errors are thrown as ApiError {status, code, message, field, retry_after}.
// - 401 `unauthenticated` / `setup_required` call the handler set by app.js
//   (it shows the login or setup page); the error is still thrown, with
//   `handled = true`, so callers stop and need not show it again.

let csrfToken = null;
let onAuthLost = () => {};

export function setCsrfToken(token) {
  csrfToken = token || null;
}

/** app.js registers what to do when the session ends: fn(code). */
export function setAuthLostHandler(fn) {
  onAuthLost = fn;
}

export class ApiError extends Error {
  constructor({ status = 0, code = "network", message = "", field = null, retry_after = null } = {}) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.field = field;
    this.retry_after = retry_after;
    this.handled = false;
  }
}

/** Build "/api/log?x=1&y=2" from a path and an object; null/undefined/"" are left out. */
export function withQuery(path, query) {
  const parts = [];
  for (const [k, v] of Object.entries(query || {})) {
    if (v === null || v === undefined || v === "") continue;
    parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(String(v)));
  }
  return parts.length ? path + (path.includes("?") ? "&" : "?") + parts.join("&") : path;
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (method !== "GET" && method !== "HEAD") {
    headers["Content-Type"] = "application/json";
    if (csrfToken) headers["X-CSRF-Token"] = csrfToken;
    init.body = JSON.stringify(body === undefined ? {} : body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError({ code: "network", message: String(e && e.message || e) });
  }
  if (response.status === 204) return null;
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (e) {
      data = null;
    }
  }
  if (response.ok) return data;
  const err = (data && data.error) || {};
  const error = new ApiError({
    status: response.status,
    code: err.code || (response.status >= 500 ? "server" : "unknown"),
    message: err.message || response.statusText,
    field: err.field || null,
    retry_after: err.retry_after ?? null,
  });
  if (error.code === "unauthenticated" || error.code === "setup_required") {
    error.handled = true;
    onAuthLost(error.code);
  }
  throw error;
}

export const get = (path, query) => api("GET", withQuery(path, query));
export const post = (path, body) => api("POST", path, body);
export const patch = (path, body) => api("PATCH", path, body);
export const put = (path, body) => api("PUT", path, body);
export const del = (path) => api("DELETE", path);
