// Pieces shared by the profile, schedule, log and charts pages:
// category colours, weekday names and pickers, a tag picker, small form bits.
import { html, useState, useId } from "./html.js";
import { t, lang } from "./i18n.js";
import { tagLabel } from "./catalog.js";
import { getTimeZone } from "./format.js";

// --- colours by category ----------------------------------------------------
// Ten colours; CSS has the same ones as classes .cc-0 .. .cc-9 (badges, legends),
// canvases (charts) take them from here. Colour is never the only signal.
export const PALETTE = [
  "#1f6fb2", "#c2410c", "#15803d", "#7c3aed", "#b91c1c",
  "#0f766e", "#a16207", "#be185d", "#4d7c0f", "#475569",
];

export function colorIndex(id) {
  let hash = 0;
  for (const ch of String(id || "")) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return hash % PALETTE.length;
}

/** The category a tag belongs to ("service:tiktok" -> "social"). */
export function tagCategory(catalog, tag) {
  if (!tag) return "";
  if (!tag.startsWith("service:")) return tag;
  const service = catalog && catalog.services.find((s) => s.tag === tag);
  return service ? service.category : "other";
}

/** A round letter badge coloured by category (aria-hidden: the name is beside it). */
export function LetterBadge({ name, category }) {
  const letter = (String(name || "?").trim()[0] || "?").toUpperCase();
  return html`<span class=${"letter-badge cc-" + colorIndex(category)} aria-hidden="true">${letter}</span>`;
}

export function categoryTitle(category) {
  if (!category) return "";
  return category.title[lang()] || category.title.en || category.id;
}

export function categoryDescription(category) {
  if (!category || !category.description) return "";
  return category.description[lang()] || category.description.en || "";
}

// --- weekdays (0 = Monday) ----------------------------------------------------

/** Short (or long) weekday names in the current language, Monday first. */
export function weekdayNames(style = "short") {
  const f = new Intl.DateTimeFormat(lang(), { weekday: style, timeZone: "UTC" });
  // 5 January 2026 is a Monday.
  return [0, 1, 2, 3, 4, 5, 6].map((i) => f.format(new Date(Date.UTC(2026, 0, 5 + i))));
}

export const EVERY_DAY = [0, 1, 2, 3, 4, 5, 6];
export const SCHOOL_DAYS = [0, 1, 2, 3, 4];
export const WEEKEND = [5, 6];

function same(a, b) {
  const x = [...a].sort().join(",");
  return x === [...b].sort().join(",");
}

/** [0,1,2,3,4] -> "Mon–Fri" / "Thứ Hai–Thứ Sáu"; others listed. */
export function daysText(weekdays) {
  const days = [...new Set(weekdays || [])].sort();
  if (same(days, EVERY_DAY)) return t("pages.days.every_day");
  if (same(days, SCHOOL_DAYS)) return t("pages.days.school_days");
  if (same(days, WEEKEND)) return t("pages.days.weekend");
  if (!days.length) return t("pages.days.none");
  const names = weekdayNames("short");
  return days.map((d) => names[d]).join(", ");
}

/** Every day / Mon-Fri / Sat-Sun / custom checkboxes. value: weekday numbers. */
export function DaysPicker({ value, onChange, legend }) {
  const id = useId();
  const preset = same(value, EVERY_DAY) ? "every" : same(value, SCHOOL_DAYS) ? "school"
    : same(value, WEEKEND) ? "weekend" : "custom";
  const [custom, setCustom] = useState(preset === "custom");
  const shown = custom ? "custom" : preset;
  const names = weekdayNames("short");
  const long = weekdayNames("long");
  const choose = (p) => {
    if (p === "custom") { setCustom(true); return; }
    setCustom(false);
    onChange(p === "every" ? EVERY_DAY : p === "school" ? SCHOOL_DAYS : WEEKEND);
  };
  const toggle = (d) => {
    const set = new Set(value);
    if (set.has(d)) set.delete(d); else set.add(d);
    onChange([...set].sort());
  };
  return html`<fieldset class="days-picker">
    <legend>${legend || t("pages.days.legend")}</legend>
    <div class="seg">
      ${[["every", "pages.days.every_day"], ["school", "pages.days.school_days"], ["weekend", "pages.days.weekend"],
        ["custom", "pages.days.custom"]].map(([p, key]) => html`<label key=${p} class="seg-item">
        <input type="radio" name=${id + "-preset"} value=${p} checked=${shown === p}
          onChange=${() => choose(p)} /><span>${t(key)}</span></label>`)}
    </div>
    ${shown === "custom" && html`<div class="day-checks">
      ${names.map((n, d) => html`<label key=${d} class="day-check">
        <input type="checkbox" checked=${value.includes(d)} onChange=${() => toggle(d)} />
        <span aria-hidden="true">${n}</span><span class="sr-only">${long[d]}</span></label>`)}
    </div>`}
  </fieldset>`;
}

// --- tags -------------------------------------------------------------------

const KIND_ORDER = ["optional", "block", "security", "neutral"];

/** <option>s for a tag <select>: categories (by kind), then apps by category. */
export function tagOptions(catalog, { services = true } = {}) {
  if (!catalog) return [];
  const cats = catalog.categories.filter((c) => c.kind !== "allow");
  const byKind = KIND_ORDER.map((kind) => cats.filter((c) => c.kind === kind))
    .flat()
    .map((c) => html`<option key=${c.id} value=${c.id}>${categoryTitle(c)}</option>`);
  const out = [html`<optgroup key="cats" label=${t("pages.tags.categories")}>${byKind}</optgroup>`];
  if (services) {
    const sorted = [...catalog.services].sort((a, b) => a.name.localeCompare(b.name, lang()));
    out.push(html`<optgroup key="apps" label=${t("pages.tags.apps")}>
      ${sorted.map((s) => html`<option key=${s.tag} value=${s.tag}>${s.name}</option>`)}
    </optgroup>`);
  }
  return out;
}

/** Several tags: chosen ones as removable chips, a select to add more. */
export function TagMultiSelect({ catalog, value, onChange, label }) {
  const id = useId();
  const add = (tag) => {
    if (tag && !value.includes(tag)) onChange([...value, tag]);
  };
  return html`<div class="field tag-multi">
    <label for=${id}>${label}</label>
    ${value.length > 0 && html`<ul class="chips" aria-label=${label}>
      ${value.map((tag) => html`<li key=${tag} class="chip">
        <${LetterBadge} name=${tagLabel(tag)} category=${tagCategory(catalog, tag)} />
        <span>${tagLabel(tag)}</span>
        <button type="button" class="chip-x" aria-label=${t("pages.common.remove_named", { name: tagLabel(tag) })}
          onClick=${() => onChange(value.filter((x) => x !== tag))}>×</button>
      </li>`)}
    </ul>`}
    <select id=${id} value="" onChange=${(e) => { add(e.currentTarget.value); e.currentTarget.value = ""; }}>
      <option value="">${t("pages.tags.add")}</option>
      ${tagOptions(catalog)}
    </select>
  </div>`;
}

// --- time zone helpers -------------------------------------------------------

function zoneParts(ms, timeZone) {
  const f = new Intl.DateTimeFormat("en-US", {
    timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  const p = {};
  for (const part of f.formatToParts(new Date(ms))) p[part.type] = part.value;
  return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second);
}

/** "2026-12-07T20:30" (wall clock in the family's zone) -> ISO UTC "...Z". */
export function familyLocalToIso(local) {
  if (!local) return "";
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)/.exec(local);
  if (!m) return "";
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  const zone = getTimeZone();
  try {
    let guess = wall - (zoneParts(wall, zone) - wall);
    guess = wall - (zoneParts(guess, zone) - guess);
    return new Date(guess).toISOString().replace(/\.\d{3}Z$/, "Z");
  } catch (e) {
    return new Date(wall).toISOString().replace(/\.\d{3}Z$/, "Z");
  }
}

/** ISO UTC -> "2026-12-07T20:30" in the family's zone (for datetime-local inputs). */
export function isoToFamilyLocal(iso) {
  if (!iso) return "";
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return "";
  let wall;
  try {
    wall = zoneParts(ms, getTimeZone());
  } catch (e) {
    wall = ms;
  }
  return new Date(wall).toISOString().slice(0, 16);
}

/** Today's date "YYYY-MM-DD" in the family's zone. */
export function familyToday() {
  return isoToFamilyLocal(new Date().toISOString()).slice(0, 10);
}

/** "20:30" -> minutes after midnight. */
export function hhmmToMinutes(s) {
  const m = /^(\d\d?):(\d\d)/.exec(s || "");
  return m ? +m[1] * 60 + +m[2] : 0;
}

/** A switch: a checkbox with role="switch", its label and an optional hint. */
export function Switch({ checked, onChange, label, hint, disabled, badge }) {
  const id = useId();
  return html`<div class="switch-row">
    <input id=${id} type="checkbox" role="switch" class="switch" checked=${!!checked} disabled=${disabled}
      aria-describedby=${hint ? id + "-hint" : undefined}
      onChange=${(e) => onChange(e.currentTarget.checked)} />
    <label for=${id} class="switch-label">
      ${badge}
      <span class="switch-text">${label}</span>
      <span class="switch-state" aria-hidden="true">${checked ? t("pages.common.on") : t("pages.common.off")}</span>
    </label>
    ${hint && html`<p id=${id + "-hint"} class="switch-hint muted">${hint}</p>`}
  </div>`;
}
