// Times, countdowns and numbers, in the family's time zone and the chosen language.
// The time zone comes from GET /api/session (app.js calls setTimeZone).
import { lang, t } from "./i18n.js";

let timeZone = undefined; // undefined = the browser's zone until the session says
let clockOffset = 0; // server now - browser now, in ms

export function setTimeZone(zone) {
  timeZone = zone || undefined;
}

export function getTimeZone() {
  return timeZone;
}

/** Keep countdowns right when the phone's clock is off: pass the API's `now`. */
export function setServerNow(iso) {
  const server = Date.parse(iso);
  if (!Number.isNaN(server)) clockOffset = server - Date.now();
}

export function now() {
  return Date.now() + clockOffset;
}

function formatter(options) {
  try {
    return new Intl.DateTimeFormat(lang(), { timeZone, ...options });
  } catch (e) {
    return new Intl.DateTimeFormat(lang(), options); // unknown zone: browser's own
  }
}

/** "21:00" */
export function formatTime(iso) {
  if (!iso) return "";
  return formatter({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date(iso));
}

/** "7 Dec, 21:00" (the date left out when it is today) */
export function formatDateTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const day = formatter({ year: "numeric", month: "2-digit", day: "2-digit" });
  if (day.format(date) === day.format(new Date(now()))) return formatTime(iso);
  return formatter({ day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
    .format(date);
}

/** "7 Dec 2026, 21:00:05" for tables that need precision */
export function formatFull(iso) {
  if (!iso) return "";
  return formatter({
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  }).format(new Date(iso));
}

/** A family day "2026-12-07" -> "Mon, 7 Dec" */
export function formatDay(day, options = { weekday: "short", day: "numeric", month: "short" }) {
  if (!day) return "";
  return new Intl.DateTimeFormat(lang(), { ...options, timeZone: "UTC" }).format(new Date(day + "T00:00:00Z"));
}

export function formatNumber(n) {
  if (n === null || n === undefined) return "";
  return new Intl.NumberFormat(lang()).format(n);
}

/** 65 -> "1 h 5 min" */
export function formatMinutes(minutes) {
  const m = Math.max(0, Math.round(minutes || 0));
  if (m < 60) return t("time.minutes", { n: m });
  const h = Math.floor(m / 60);
  const rest = m % 60;
  return rest ? t("time.hours_minutes", { h, m: rest }) : t("time.hours", { n: h });
}

/** Countdown to a future time: "in 25 min" / "còn 25 phút". */
export function countdown(iso) {
  const ms = Date.parse(iso) - now();
  if (Number.isNaN(ms)) return "";
  if (ms <= 0) return t("time.now");
  const minutes = Math.ceil(ms / 60000);
  if (minutes < 60) return t("time.in_minutes", { n: minutes });
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m ? t("time.in_hours_minutes", { h, m }) : t("time.in_hours", { n: h });
}

/** Seconds as "0:45" for the login throttle. */
export function clockSeconds(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
}

/** Past time: "just now", "5 min ago", "3 h ago", "2 days ago". */
export function ago(iso) {
  if (!iso) return t("time.never");
  const ms = now() - Date.parse(iso);
  if (Number.isNaN(ms)) return "";
  const minutes = Math.floor(ms / 60000);
  if (minutes < 1) return t("time.just_now");
  if (minutes < 60) return t("time.minutes_ago", { n: minutes });
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return t("time.hours_ago", { n: hours });
  return t("time.days_ago", { n: Math.floor(hours / 24) });
}
