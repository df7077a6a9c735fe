// #/schedule/:id : the weekly time windows of one profile. A grid (days x hours)
// shows every window; a form (keyboard-usable) adds and changes them.
import { html, useState, useEffect, useRef, useId } from "../lib/html.js";
import { get, post, patch, del } from "../lib/api.js";
import { t, errorText } from "../lib/i18n.js";
import { showToast, showError } from "../lib/toast.js";
import { useLoader, useAction, Loading, ErrorBox, PageTitle } from "../lib/ui.js";
import { loadCatalog, tagLabel } from "../lib/catalog.js";
import {
  DaysPicker, TagMultiSelect, Switch, daysText, weekdayNames, hhmmToMinutes, SCHOOL_DAYS,
} from "../lib/pieces.js";

const DAY_MIN = 24 * 60;

/** The pieces of a rule on the week: [{day, from, to}] in minutes; across midnight = two pieces. */
export function rulePieces(rule) {
  const start = hhmmToMinutes(rule.start);
  let end = hhmmToMinutes(rule.end);
  const out = [];
  for (const day of rule.weekdays || []) {
    if (end > start) {
      out.push({ day, from: start, to: end });
    } else {
      out.push({ day, from: start, to: DAY_MIN, evening: true });
      if (end > 0) out.push({ day: (day + 1) % 7, from: 0, to: end, morning: true });
    }
  }
  return out;
}

function ruleTitle(rule) {
  if (rule.action === "allow_only") return t("pages.sched.bedtime");
  const tags = (rule.tags || []).map(tagLabel);
  return tags.length ? t("pages.sched.block_list", { tags: tags.join(", ") }) : t("pages.sched.block_nothing");
}

function ruleClass(rule) {
  return "win " + (rule.action === "allow_only" ? "win-bed" : "win-block") + (rule.enabled ? "" : " win-off");
}

/** Sets an element's position from JS (CSS classes cannot hold per-window numbers). */
function place(vertical, piece) {
  return (el) => {
    if (!el) return;
    const a = (piece.from / DAY_MIN) * 100;
    const b = ((piece.to - piece.from) / DAY_MIN) * 100;
    if (vertical) { el.style.top = a + "%"; el.style.height = b + "%"; } else { el.style.left = a + "%"; el.style.width = b + "%"; }
  };
}

export default function Page({ params }) {
  const id = params.id;
  const { data, error, loading, reload } = useLoader(
    () => Promise.all([get(`/api/profiles/${id}`), loadCatalog()]), [id]);
  const [editing, setEditing] = useState(null); // null | form values (+ id when changing)
  const formRef = useRef(null);
  useEffect(() => {
    if (editing && formRef.current) {
      formRef.current.scrollIntoView({ block: "start" });
      const first = formRef.current.querySelector("h2");
      if (first) first.focus();
    }
  }, [editing && editing.key]);

  const [copyMonday, copying] = useAction(async () => {
    const rules = data[0].rules.filter((r) => r.weekdays.includes(0) && !SCHOOL_DAYS.every((d) => r.weekdays.includes(d)));
    if (!rules.length) { showToast(t("pages.sched.copy_nothing"), "info"); return; }
    if (!confirm(t("pages.sched.copy_confirm", { n: rules.length }))) return;
    for (const r of rules) {
      await patch(`/api/rules/${r.id}`, { weekdays: [...new Set([...r.weekdays, ...SCHOOL_DAYS])].sort() });
    }
    showToast(t("pages.sched.copied", { n: rules.length }));
    await reload();
  });
  const [toggle] = useAction(async (rule, on) => {
    await patch(`/api/rules/${rule.id}`, { enabled: on });
    showToast(on ? t("pages.sched.now_on") : t("pages.sched.now_off"));
    await reload();
  });
  const [remove] = useAction(async (rule) => {
    if (!confirm(t("pages.sched.confirm_delete", { what: ruleTitle(rule), days: daysText(rule.weekdays) }))) return;
    await del(`/api/rules/${rule.id}`);
    showToast(t("pages.sched.deleted"));
    if (editing && editing.id === rule.id) setEditing(null);
    await reload();
  });

  if (!data) {
    return html`<div><${PageTitle}>${t("nav.schedule")}</${PageTitle}>
      ${loading ? html`<${Loading} />` : html`<${ErrorBox} error=${error} retry=${reload} />`}</div>`;
  }
  const [profile, catalog] = data;
  const rules = [...profile.rules].sort((a, b) => a.start.localeCompare(b.start));
  const startNew = (day, hour) => setEditing({
    key: Date.now(), weekdays: day === undefined ? SCHOOL_DAYS : [day],
    start: hour === undefined ? "20:30" : String(hour).padStart(2, "0") + ":00",
    end: hour === undefined ? "07:00" : String((hour + 1) % 24).padStart(2, "0") + ":00",
    action: hour === undefined ? "allow_only" : "block_tags", tags: [], allow: "", enabled: true,
  });
  const edit = (r) => setEditing({
    key: Date.now(), id: r.id, weekdays: r.weekdays, start: r.start, end: r.end, action: r.action,
    tags: r.tags || [], allow: (r.allow || []).join("\n"), enabled: r.enabled,
  });

  return html`<div class="page-body schedule-page">
    <${PageTitle} sub=${t("pages.sched.subtitle")}>${t("pages.sched.title", { name: profile.name })}</${PageTitle}>
    <nav class="sub-links" aria-label=${t("pages.profile.related")}>
      <a class="btn" href=${"#/profile/" + profile.id}>${t("pages.sched.back_profile")}</a>
    </nav>
    <${ErrorBox} error=${error} retry=${reload} />
    <section class="card" aria-labelledby="wk-h">
      <h2 id="wk-h">${t("pages.sched.week")}</h2>
      <${Legend} />
      <${WeekGrid} rules=${rules} onPick=${edit} onEmpty=${startNew} />
      <${DayBars} rules=${rules} onPick=${edit} />
      <p class="muted small">${t("pages.sched.grid_hint")}</p>
    </section>
    <section class="card" aria-labelledby="ls-h">
      <h2 id="ls-h">${t("pages.sched.windows")}</h2>
      <div class="btn-row">
        <button type="button" class="btn btn-primary" onClick=${() => startNew()}>${t("pages.sched.add")}</button>
        <button type="button" class="btn" disabled=${copying} onClick=${copyMonday}>${t("pages.sched.copy_monday")}</button>
      </div>
      ${rules.length === 0 ? html`<p class="muted">${t("pages.sched.none")}</p>` : html`<ul class="plain-list rule-list">
        ${rules.map((r) => html`<li key=${r.id} class=${"rule-item" + (r.enabled ? "" : " is-off")}>
          <div class="rule-main">
            <span class=${"win-swatch " + ruleClass(r)} aria-hidden="true"></span>
            <div>
              <p class="rule-title"><strong>${r.start}–${r.end}</strong> · ${daysText(r.weekdays)}
                ${hhmmToMinutes(r.end) <= hhmmToMinutes(r.start) && html` <span class="muted small">${t("pages.sched.next_day")}</span>`}</p>
              <p>${ruleTitle(r)}</p>
              ${r.action === "allow_only" && html`<p class="muted small">${(r.allow || []).length
                ? t("pages.sched.still_allowed", { names: r.allow.join(", ") }) : t("pages.sched.nothing_allowed")}</p>`}
              ${!r.enabled && html`<p class="pill pill-muted">${t("pages.sched.disabled")}</p>`}
            </div>
          </div>
          <div class="btn-row">
            <${Switch} checked=${r.enabled} label=${t("pages.sched.enabled")} onChange=${(v) => toggle(r, v)} />
            <button type="button" class="btn btn-small" onClick=${() => edit(r)}
              aria-label=${t("pages.sched.edit_named", { what: ruleTitle(r), days: daysText(r.weekdays) })}>${t("common.edit")}</button>
            <button type="button" class="btn btn-small btn-danger" onClick=${() => remove(r)}
              aria-label=${t("pages.sched.delete_named", { what: ruleTitle(r), days: daysText(r.weekdays) })}>${t("common.delete")}</button>
          </div>
        </li>`)}
      </ul>`}
    </section>
    ${editing && html`<div ref=${formRef} class="form-anchor">
      <${RuleForm} key=${editing.key} initial=${editing} profile=${profile} catalog=${catalog}
        onDone=${async () => { setEditing(null); await reload(); }} onCancel=${() => setEditing(null)} />
    </div>`}
  </div>`;
}

function Legend() {
  return html`<ul class="legend" aria-label=${t("pages.sched.legend")}>
    <li><span class="win-swatch win win-bed" aria-hidden="true"></span>${t("pages.sched.bedtime")}</li>
    <li><span class="win-swatch win win-block" aria-hidden="true"></span>${t("pages.sched.block_some")}</li>
    <li><span class="win-swatch win win-block win-off" aria-hidden="true"></span>${t("pages.sched.disabled")}</li>
  </ul>`;
}

/** Desktop: 7 columns (Mon..Sun), 24 rows of hours. Hidden on narrow screens by CSS. */
function WeekGrid({ rules, onPick, onEmpty }) {
  const names = weekdayNames("short");
  const long = weekdayNames("long");
  const pieces = rules.flatMap((r) => rulePieces(r).map((p) => ({ ...p, rule: r })));
  return html`<div class="week-grid" role="group" aria-label=${t("pages.sched.week")}>
    <div class="wg-hours" aria-hidden="true">
      <div class="wg-head"></div>
      <div class="wg-body">${Array.from({ length: 24 }, (_, h) => html`<span key=${h} class="wg-hour">${String(h).padStart(2, "0")}</span>`)}</div>
    </div>
    ${names.map((n, day) => html`<div key=${day} class="wg-day">
      <div class="wg-head">${n}</div>
      <div class="wg-body">
        ${Array.from({ length: 24 }, (_, h) => html`<button key=${"c" + h} type="button" class="wg-cell" tabindex="-1"
          aria-label=${t("pages.sched.add_at", { day: long[day], hour: String(h).padStart(2, "0") + ":00" })}
          onClick=${() => onEmpty(day, h)}></button>`)}
        ${pieces.filter((p) => p.day === day).map((p, i) => html`<button key=${p.rule.id + "-" + i} type="button"
          class=${ruleClass(p.rule) + " wg-win"} ref=${place(true, p)} onClick=${() => onPick(p.rule)}
          title=${p.rule.start + "–" + p.rule.end + " " + ruleTitle(p.rule)}
          aria-label=${t("pages.sched.edit_named", { what: ruleTitle(p.rule), days: long[day] + " " + p.rule.start + "–" + p.rule.end })}>
          <span class="win-text">${p.morning ? "…" + p.rule.end : p.rule.start + (p.evening ? "…" : "–" + p.rule.end)}</span>
        </button>`)}
      </div>
    </div>`)}
  </div>`;
}

/** Phone: one row per day with a 0-24 h bar. Hidden on wide screens by CSS. */
function DayBars({ rules, onPick }) {
  const long = weekdayNames("long");
  const pieces = rules.flatMap((r) => rulePieces(r).map((p) => ({ ...p, rule: r })));
  return html`<ol class="day-bars">
    ${long.map((n, day) => {
      const mine = pieces.filter((p) => p.day === day).sort((a, b) => a.from - b.from);
      return html`<li key=${day} class="db-day">
        <div class="db-name">${n}</div>
        <div class="db-bar" aria-hidden="true">
          ${mine.map((p, i) => html`<span key=${i} class=${ruleClass(p.rule) + " db-win"} ref=${place(false, p)}></span>`)}
        </div>
        <div class="db-scale" aria-hidden="true"><span>0</span><span>6</span><span>12</span><span>18</span><span>24</span></div>
        ${mine.length === 0 ? html`<p class="muted small">${t("pages.sched.free_day")}</p>` : html`<ul class="db-list">
          ${mine.map((p, i) => html`<li key=${i}><button type="button" class="linklike" onClick=${() => onPick(p.rule)}>
            ${String(Math.floor(p.from / 60)).padStart(2, "0")}:${String(p.from % 60).padStart(2, "0")}–${p.to === DAY_MIN ? "24:00"
              : String(Math.floor(p.to / 60)).padStart(2, "0") + ":" + String(p.to % 60).padStart(2, "0")}
            ${" " + ruleTitle(p.rule)}${p.rule.enabled ? "" : " (" + t("pages.sched.disabled") + ")"}
          </button></li>`)}
        </ul>`}
      </li>`;
    })}
  </ol>`;
}

function RuleForm({ initial, profile, catalog, onDone, onCancel }) {
  const [v, setV] = useState(initial);
  const [problem, setProblem] = useState(null);
  const [busy, setBusy] = useState(false);
  const ids = { start: useId(), end: useId(), allow: useId(), act: useId() };
  const set = (k) => (e) => setV({ ...v, [k]: e.currentTarget.value });
  const submit = async (e) => {
    e.preventDefault();
    setProblem(null);
    if (!v.weekdays.length) { setProblem({ field: "days", text: t("pages.days.pick_one") }); return; }
    if (!v.start || !v.end || v.start === v.end) { setProblem({ field: "end", text: t("pages.sched.same_times") }); return; }
    if (v.action === "block_tags" && !v.tags.length) { setProblem({ field: "tags", text: t("pages.sched.pick_tags") }); return; }
    const body = {
      weekdays: v.weekdays, start: v.start, end: v.end, action: v.action, enabled: v.enabled,
      tags: v.action === "block_tags" ? v.tags : [],
      allow: v.action === "allow_only" ? v.allow.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean) : [],
    };
    setBusy(true);
    try {
      if (v.id) await patch(`/api/rules/${v.id}`, body);
      else await post(`/api/profiles/${profile.id}/rules`, body);
      showToast(t("pages.sched.saved"));
      await onDone();
    } catch (error) {
      if (error.code === "invalid") setProblem({ field: error.field, text: errorText(error) });
      else showError(error);
    } finally {
      setBusy(false);
    }
  };
  const crosses = v.start && v.end && hhmmToMinutes(v.end) <= hhmmToMinutes(v.start);
  return html`<form class="card rule-form" onSubmit=${submit} novalidate>
    <h2 tabindex="-1">${v.id ? t("pages.sched.change_title") : t("pages.sched.add_title")}</h2>
    <${DaysPicker} value=${v.weekdays} onChange=${(w) => setV({ ...v, weekdays: w })} />
    <div class="time-row">
      <div class="field">
        <label for=${ids.start}>${t("pages.sched.from")}</label>
        <input id=${ids.start} type="time" required value=${v.start} onInput=${set("start")} />
      </div>
      <div class="field">
        <label for=${ids.end}>${t("pages.sched.to")}</label>
        <input id=${ids.end} type="time" required value=${v.end} onInput=${set("end")}
          aria-describedby=${ids.end + "-hint"} />
      </div>
    </div>
    <p id=${ids.end + "-hint"} class="muted small">${crosses ? t("pages.sched.crosses_midnight") : ""}</p>
    <fieldset class="fs">
      <legend>${t("pages.sched.what")}</legend>
      <div class="radio-list">
        <label class="radio-card"><input type="radio" name=${ids.act} checked=${v.action === "block_tags"}
          onChange=${() => setV({ ...v, action: "block_tags" })} />
          <span><strong>${t("pages.sched.block_some")}</strong><span class="muted block">${t("pages.sched.block_some_hint")}</span></span></label>
        <label class="radio-card"><input type="radio" name=${ids.act} checked=${v.action === "allow_only"}
          onChange=${() => setV({ ...v, action: "allow_only" })} />
          <span><strong>${t("pages.sched.bedtime")}</strong><span class="muted block">${t("pages.sched.bedtime_hint")}</span></span></label>
      </div>
    </fieldset>
    ${v.action === "block_tags" ? html`<${TagMultiSelect} catalog=${catalog} value=${v.tags}
        label=${t("pages.sched.tags")} onChange=${(tags) => setV({ ...v, tags })} />`
      : html`<div class="field">
        <label for=${ids.allow}>${t("pages.sched.allow_label")}</label>
        <textarea id=${ids.allow} rows="3" autocapitalize="off" spellcheck="false" placeholder="olm.vn"
          value=${v.allow} onInput=${set("allow")} aria-describedby=${ids.allow + "-hint"}></textarea>
        <p id=${ids.allow + "-hint"} class="muted small">${t("pages.sched.allow_hint")}</p>
      </div>`}
    <label class="check"><input type="checkbox" checked=${v.enabled}
      onChange=${(e) => setV({ ...v, enabled: e.currentTarget.checked })} /> ${t("pages.sched.enabled")}</label>
    ${problem && html`<p class="field-error" role="alert">${problem.text}</p>`}
    <div class="btn-row">
      <button type="submit" class="btn btn-primary" disabled=${busy}>${t("common.save")}</button>
      <button type="button" class="btn" onClick=${onCancel}>${t("common.cancel")}</button>
    </div>
  </form>`;
}
