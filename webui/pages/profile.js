// #/profile/:id : one person's rules. Right-now overrides, daily budgets,
// protection settings, categories, apps, allow and deny lists.
import { html, useState, useEffect, useMemo, useId } from "../lib/html.js";
import { get, post, patch, put, del } from "../lib/api.js";
import { t, lang, errorText } from "../lib/i18n.js";
import { formatTime, formatMinutes, countdown } from "../lib/format.js";
import { showToast, showError } from "../lib/toast.js";
import { useLoader, useAction, useTick, Loading, ErrorBox, PageTitle, Meter } from "../lib/ui.js";
import { loadCatalog, tagLabel } from "../lib/catalog.js";
import {
  LetterBadge, Switch, DaysPicker, tagOptions, tagCategory, categoryTitle, categoryDescription,
  daysText, SCHOOL_DAYS,
} from "../lib/pieces.js";

const KINDS = ["block", "security", "optional", "neutral"];

export default function Page({ params }) {
  const id = params.id;
  const { data, error, loading, reload } = useLoader(
    () => Promise.all([get(`/api/profiles/${id}`), loadCatalog()]), [id], 30000);
  // What an action returned wins until the next load.
  const [local, setLocal] = useState(null);
  useEffect(() => setLocal(null), [data]);
  const setProfile = (p) => setLocal(p);

  if (!data) {
    return html`<div>
      <${PageTitle}>${t("nav.profile")}</${PageTitle}>
      ${loading ? html`<${Loading} />` : html`<${ErrorBox} error=${error} retry=${reload} />`}
    </div>`;
  }
  const catalog = data[1];
  const p = local || data[0];
  return html`<div class="page-body profile-page">
    <${PageTitle} sub=${t("pages.profile.subtitle")}>${p.name}</${PageTitle}>
    <nav class="sub-links" aria-label=${t("pages.profile.related")}>
      <a class="btn" href=${"#/schedule/" + p.id}>${t("pages.profile.open_schedule")}</a>
      <a class="btn" href=${"#/log?profile=" + p.id}>${t("pages.profile.open_log")}</a>
      <a class="btn" href="#/people">${t("pages.profile.back_people")}</a>
    </nav>
    <${ErrorBox} error=${error} retry=${reload} />
    <${Overrides} profile=${p} catalog=${catalog} setProfile=${setProfile} reload=${reload} />
    <${Budgets} profile=${p} catalog=${catalog} reload=${reload} />
    <${Protection} profile=${p} setProfile=${setProfile} />
    <${Categories} profile=${p} catalog=${catalog} setProfile=${setProfile} />
    <${Services} profile=${p} catalog=${catalog} setProfile=${setProfile} />
    <div class="cards names-cards">
      <${NameList} profile=${p} list="allow" setProfile=${setProfile} />
      <${NameList} profile=${p} list="deny" setProfile=${setProfile} />
    </div>
  </div>`;
}

// --- right now: pause, extra time, allow one site --------------------------------

function overrideText(o) {
  if (o.kind === "pause") return t("pages.override.pause");
  if (o.kind === "grant") {
    if (o.target && o.target.startsWith("rule:")) return t("pages.override.grant_rule");
    return t("pages.override.grant", { tag: tagLabel(o.target) });
  }
  return t("pages.override.allow_name", { name: o.target || "" });
}

function Overrides({ profile, catalog, reload }) {
  useTick(15000);
  const [grantTag, setGrantTag] = useState("games");
  const [site, setSite] = useState("");
  const [siteError, setSiteError] = useState("");
  const siteId = useId();
  const grantId = useId();
  const base = `/api/profiles/${profile.id}/overrides`;
  const [run, busy] = useAction(async (body, okText) => {
    await post(base, body);
    showToast(okText);
    await reload();
  });
  const [end] = useAction(async (o) => {
    await del(`/api/overrides/${o.id}`);
    showToast(t("pages.override.ended"));
    await reload();
  });
  const allowSite = async (e) => {
    e.preventDefault();
    const name = site.trim();
    if (!name) return;
    setSiteError("");
    try {
      await post(base, { kind: "allow_name", target: name, until: "tonight" });
      setSite("");
      showToast(t("pages.override.allowed_site", { name }));
      await reload();
    } catch (error) {
      if (error.code === "invalid") setSiteError(errorText(error));
      else showError(error);
    }
  };
  const active = (profile.overrides || []).filter((o) => Date.parse(o.expires_at) > Date.now() - 60000);
  return html`<section class="card" aria-labelledby="ov-h">
    <h2 id="ov-h">${t("pages.override.title")}</h2>
    <div class="ov-block">
      <h3>${t("pages.override.pause_title")}</h3>
      <p class="muted">${t("pages.override.pause_hint")}</p>
      <div class="btn-row">
        <button type="button" class="btn" disabled=${busy}
          onClick=${() => run({ kind: "pause", minutes: 30 }, t("pages.override.paused"))}>${t("pages.override.pause_30")}</button>
        <button type="button" class="btn" disabled=${busy}
          onClick=${() => run({ kind: "pause", minutes: 60 }, t("pages.override.paused"))}>${t("pages.override.pause_60")}</button>
        <button type="button" class="btn" disabled=${busy}
          onClick=${() => run({ kind: "pause", until: "tonight" }, t("pages.override.paused"))}>${t("pages.override.pause_tonight")}</button>
      </div>
    </div>
    <div class="ov-block">
      <h3>${t("pages.override.grant_title")}</h3>
      <div class="field">
        <label for=${grantId}>${t("pages.override.grant_for")}</label>
        <select id=${grantId} value=${grantTag} onChange=${(e) => setGrantTag(e.currentTarget.value)}>
          ${tagOptions(catalog)}
        </select>
      </div>
      <div class="btn-row">
        ${[15, 30, 60].map((m) => html`<button key=${m} type="button" class="btn" disabled=${busy}
          aria-label=${t("pages.override.grant_button_long", { n: m, min: t("pages.common.min"), tag: tagLabel(grantTag) })}
          onClick=${() => run({ kind: "grant", target: grantTag, minutes: m },
            t("pages.override.granted", { n: m, tag: tagLabel(grantTag) }))}>+${m} ${t("pages.common.min")}</button>`)}
      </div>
    </div>
    <form class="ov-block" onSubmit=${allowSite} novalidate>
      <h3>${t("pages.override.site_title")}</h3>
      <div class="field">
        <label for=${siteId}>${t("pages.override.site_label")}</label>
        <div class="input-row">
          <input id=${siteId} type="text" inputmode="url" autocomplete="off" autocapitalize="off" spellcheck="false"
            placeholder="example.org" value=${site} onInput=${(e) => setSite(e.currentTarget.value)}
            aria-invalid=${siteError ? "true" : undefined} aria-describedby=${siteError ? siteId + "-err" : undefined} />
          <button type="submit" class="btn">${t("pages.override.site_button")}</button>
        </div>
        ${siteError && html`<p id=${siteId + "-err"} class="field-error" role="alert">${siteError}</p>`}
      </div>
    </form>
    <h3>${t("pages.override.active")}</h3>
    ${active.length === 0 ? html`<p class="muted">${t("pages.override.none")}</p>` : html`<ul class="plain-list">
      ${active.map((o) => html`<li key=${o.id} class="ov-item">
        <span class=${"pill pill-" + (o.kind === "pause" ? "warn" : "ok")}>${t("pages.override.kind." + o.kind)}</span>
        <span class="ov-text">${overrideText(o)}</span>
        <span class="ov-time">${t("pages.override.until", { time: formatTime(o.expires_at), left: countdown(o.expires_at) })}</span>
        <button type="button" class="btn btn-small" onClick=${() => end(o)}>${t("pages.override.end_now")}</button>
      </li>`)}
    </ul>`}
  </section>`;
}

// --- daily budgets ------------------------------------------------------------

function Budgets({ profile, catalog, reload }) {
  const [editing, setEditing] = useState(null); // null | {tag, minutes, weekdays, id?}
  const tagId = useId();
  const minId = useId();
  const [save, saving] = useAction(async (e) => {
    e.preventDefault();
    const minutes = parseInt(editing.minutes, 10);
    if (!(minutes >= 1 && minutes <= 1440)) {
      showToast(t("pages.budget.bad_minutes"), "error");
      return;
    }
    if (!editing.weekdays.length) {
      showToast(t("pages.days.pick_one"), "error");
      return;
    }
    await put(`/api/profiles/${profile.id}/budgets`, { tag: editing.tag, minutes, weekdays: editing.weekdays });
    showToast(t("pages.budget.saved"));
    setEditing(null);
    await reload();
  });
  const [remove] = useAction(async (b) => {
    if (!confirm(t("pages.budget.confirm_remove", { tag: tagLabel(b.tag) }))) return;
    await del(`/api/budgets/${b.id}`);
    showToast(t("pages.budget.removed"));
    await reload();
  });
  const budgets = profile.budgets || [];
  return html`<section class="card" aria-labelledby="bu-h">
    <h2 id="bu-h">${t("pages.budget.title")}</h2>
    <p class="muted">${t("pages.budget.hint")}</p>
    ${budgets.length === 0 && html`<p class="muted">${t("pages.budget.none")}</p>`}
    <ul class="plain-list">
      ${budgets.map((b) => {
        const label = t("pages.budget.line", { tag: tagLabel(b.tag), time: formatMinutes(b.minutes), days: daysText(b.weekdays) });
        const text = !b.applies_today ? t("pages.budget.not_today")
          : b.remaining_today === 0 ? t("pages.budget.used_up", { used: formatMinutes(b.used_today) })
          : t("pages.budget.used_left", { used: formatMinutes(b.used_today), left: formatMinutes(b.remaining_today ?? 0) });
        return html`<li key=${b.id} class="budget-item">
          <div class="budget-head">
            <${LetterBadge} name=${tagLabel(b.tag)} category=${tagCategory(catalog, b.tag)} />
            <div class="grow">
              <${Meter} value=${b.applies_today ? b.used_today : 0} max=${b.minutes} label=${label} text=${text} />
            </div>
          </div>
          <div class="btn-row">
            <button type="button" class="btn btn-small"
              onClick=${() => setEditing({ id: b.id, tag: b.tag, minutes: b.minutes, weekdays: b.weekdays })}
              aria-label=${t("pages.common.change_named", { name: tagLabel(b.tag) })}>${t("pages.common.change")}</button>
            <button type="button" class="btn btn-small btn-danger" onClick=${() => remove(b)}
              aria-label=${t("pages.common.remove_named", { name: tagLabel(b.tag) })}>${t("pages.common.remove")}</button>
          </div>
        </li>`;
      })}
    </ul>
    ${editing ? html`<form class="sub-form" onSubmit=${save}>
      <h3>${editing.id ? t("pages.budget.change_title") : t("pages.budget.add_title")}</h3>
      <div class="field">
        <label for=${tagId}>${t("pages.budget.what")}</label>
        <select id=${tagId} value=${editing.tag} disabled=${!!editing.id}
          onChange=${(e) => setEditing({ ...editing, tag: e.currentTarget.value })}>${tagOptions(catalog)}</select>
      </div>
      <div class="field">
        <label for=${minId}>${t("pages.budget.minutes")}</label>
        <input id=${minId} type="number" min="1" max="1440" step="5" inputmode="numeric" class="input-short"
          value=${editing.minutes} onInput=${(e) => setEditing({ ...editing, minutes: e.currentTarget.value })} />
      </div>
      <${DaysPicker} value=${editing.weekdays} onChange=${(w) => setEditing({ ...editing, weekdays: w })} />
      <div class="btn-row">
        <button type="submit" class="btn btn-primary" disabled=${saving}>${t("pages.common.save")}</button>
        <button type="button" class="btn" onClick=${() => setEditing(null)}>${t("pages.common.cancel")}</button>
      </div>
    </form>` : html`<button type="button" class="btn"
      onClick=${() => setEditing({ tag: "games", minutes: 60, weekdays: SCHOOL_DAYS })}>${t("pages.budget.add")}</button>`}
  </section>`;
}

// --- protection ---------------------------------------------------------------

function Protection({ profile, setProfile }) {
  const name = useId();
  const [change] = useAction(async (body) => {
    setProfile(await patch(`/api/profiles/${profile.id}`, body));
    showToast(t("pages.common.saved"));
  });
  const radios = (field, options) => html`<div class="radio-list">
    ${options.map((v) => html`<label key=${v} class="radio-card">
      <input type="radio" name=${name + field} value=${v} checked=${profile[field] === v}
        onChange=${() => change({ [field]: v })} />
      <span><strong>${t(`pages.${field}.${v}`)}</strong><span class="muted block">${t(`pages.${field}.${v}_hint`)}</span></span>
    </label>`)}
  </div>`;
  return html`<section class="card" aria-labelledby="pr-h">
    <h2 id="pr-h">${t("pages.protection.title")}</h2>
    <fieldset class="fs">
      <legend>${t("pages.safe_search.title")}</legend>
      <p class="muted">${t("pages.safe_search.hint")}</p>
      ${radios("safe_search", ["off", "on", "strict"])}
    </fieldset>
    <${Switch} checked=${profile.bypass_protection} label=${t("pages.bypass.title")} hint=${t("pages.bypass.hint")}
      onChange=${(v) => change({ bypass_protection: v })} />
    <fieldset class="fs">
      <legend>${t("pages.block_mode.title")}</legend>
      ${radios("block_mode", ["null_ip", "nxdomain"])}
    </fieldset>
  </section>`;
}

// --- categories ----------------------------------------------------------------

function Categories({ profile, catalog, setProfile }) {
  const blocked = new Set(profile.blocked);
  const [toggle] = useAction(async (tag, on) => {
    const p = await patch(`/api/profiles/${profile.id}/blocked`, on ? { add: [tag] } : { remove: [tag] });
    setProfile(p);
    showToast(on ? t("pages.cat.now_blocked", { name: tagLabel(tag) }) : t("pages.cat.now_allowed", { name: tagLabel(tag) }));
  });
  return html`<section class="card" aria-labelledby="cat-h">
    <h2 id="cat-h">${t("pages.cat.title")}</h2>
    <p class="muted">${t("pages.cat.hint")}</p>
    ${KINDS.map((kind) => {
      const cats = catalog.categories.filter((c) => c.kind === kind);
      if (!cats.length) return null;
      const count = cats.filter((c) => blocked.has(c.id)).length;
      const body = html`<div class="switch-grid">
        ${cats.map((c) => html`<${Switch} key=${c.id} checked=${blocked.has(c.id)} label=${categoryTitle(c)}
          hint=${categoryDescription(c)} badge=${html`<${LetterBadge} name=${categoryTitle(c)} category=${c.id} />`}
          onChange=${(v) => toggle(c.id, v)} />`)}
      </div>`;
      const head = html`<span>${t("pages.kind." + kind)}</span>
        <span class="muted small">${t("pages.cat.n_of_m_blocked", { n: count, m: cats.length })}</span>`;
      if (kind === "neutral") {
        return html`<details key=${kind} class="group">
          <summary><h3 class="inline-h">${head}</h3></summary>
          <p class="muted">${t("pages.kind.neutral_hint")}</p>${body}</details>`;
      }
      return html`<div key=${kind} class="group">
        <h3 class="group-h">${head}</h3>
        <p class="muted">${t("pages.kind." + kind + "_hint")}</p>
        ${body}
      </div>`;
    })}
  </section>`;
}

// --- apps and services -----------------------------------------------------------

function fold(s) {
  return String(s).toLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/đ/g, "d");
}

function Services({ profile, catalog, setProfile }) {
  const [query, setQuery] = useState("");
  const [onlyBlocked, setOnlyBlocked] = useState(false);
  const searchId = useId();
  const blocked = new Set(profile.blocked);
  const [toggle] = useAction(async (tag, on) => {
    setProfile(await patch(`/api/profiles/${profile.id}/blocked`, on ? { add: [tag] } : { remove: [tag] }));
    showToast(on ? t("pages.cat.now_blocked", { name: tagLabel(tag) }) : t("pages.cat.now_allowed", { name: tagLabel(tag) }));
  });
  const groups = useMemo(() => {
    const byCat = new Map();
    for (const s of catalog.services) {
      if (!byCat.has(s.category)) byCat.set(s.category, []);
      byCat.get(s.category).push(s);
    }
    const out = [];
    for (const [cat, list] of byCat) {
      const c = catalog.categories.find((x) => x.id === cat);
      out.push({ cat, title: c ? categoryTitle(c) : cat, list: list.sort((a, b) => a.name.localeCompare(b.name)) });
    }
    return out.sort((a, b) => a.title.localeCompare(b.title, lang()));
  }, [catalog]);
  const q = fold(query.trim());
  const searching = q.length > 0 || onlyBlocked;
  const total = catalog.services.filter((s) => blocked.has(s.tag)).length;
  let shown = 0;
  const rendered = groups.map((g) => {
    const list = g.list.filter((s) => (!q || fold(s.name).includes(q) || fold(s.id).includes(q) || fold(g.title).includes(q))
      && (!onlyBlocked || blocked.has(s.tag)));
    if (!list.length) return null;
    shown += list.length;
    const n = list.filter((s) => blocked.has(s.tag)).length;
    return html`<details key=${g.cat} class="group" open=${searching || undefined}>
      <summary><h3 class="inline-h"><span>${g.title}</span>
        <span class="muted small">${t("pages.cat.n_of_m_blocked", { n, m: list.length })}</span></h3></summary>
      <div class="switch-grid compact">
        ${list.map((s) => html`<${Switch} key=${s.tag} checked=${blocked.has(s.tag)} label=${s.name}
          badge=${html`<${LetterBadge} name=${s.name} category=${s.category} />`} onChange=${(v) => toggle(s.tag, v)} />`)}
      </div>
    </details>`;
  });
  return html`<section class="card" aria-labelledby="svc-h">
    <h2 id="svc-h">${t("pages.svc.title")}</h2>
    <p class="muted">${t("pages.svc.hint", { n: total })}</p>
    <div class="filter-row">
      <div class="field grow">
        <label for=${searchId}>${t("pages.svc.search")}</label>
        <input id=${searchId} type="search" value=${query} placeholder=${t("pages.svc.search_placeholder")}
          onInput=${(e) => setQuery(e.currentTarget.value)} />
      </div>
      <label class="check"><input type="checkbox" checked=${onlyBlocked}
        onChange=${(e) => setOnlyBlocked(e.currentTarget.checked)} /> ${t("pages.svc.only_blocked")}</label>
    </div>
    <p class="sr-only" role="status">${searching ? t("pages.svc.n_found", { n: shown }) : ""}</p>
    ${shown === 0 && html`<p class="muted">${t("pages.svc.nothing")}</p>`}
    ${rendered}
  </section>`;
}

// --- allow list / deny list ----------------------------------------------------------

function NameList({ profile, list, setProfile }) {
  const [name, setName] = useState("");
  const [fieldError, setFieldError] = useState("");
  const [busy, setBusy] = useState(false);
  const inputId = useId();
  const names = profile[list] || [];
  const add = async (e) => {
    e.preventDefault();
    const value = name.trim();
    if (!value) return;
    setBusy(true);
    setFieldError("");
    try {
      setProfile(await post(`/api/profiles/${profile.id}/names`, { list, name: value }));
      setName("");
      showToast(t(`pages.names.added_${list}`, { name: value }));
    } catch (error) {
      if (error.code === "invalid") setFieldError(errorText(error));
      else showError(error);
    } finally {
      setBusy(false);
    }
  };
  const [remove] = useAction(async (n) => {
    setProfile(await del(`/api/profiles/${profile.id}/names/${encodeURIComponent(n)}`));
    showToast(t("pages.names.removed", { name: n }));
  });
  return html`<section class="card" aria-labelledby=${inputId + "-h"}>
    <h2 id=${inputId + "-h"}>${t(`pages.names.${list}_title`)}</h2>
    <p class="muted">${t(`pages.names.${list}_hint`)}</p>
    <form onSubmit=${add} novalidate>
      <div class="field">
        <label for=${inputId}>${t("pages.names.label")}</label>
        <div class="input-row">
          <input id=${inputId} type="text" inputmode="url" autocomplete="off" autocapitalize="off" spellcheck="false"
            placeholder="example.org" value=${name} onInput=${(e) => setName(e.currentTarget.value)}
            aria-invalid=${fieldError ? "true" : undefined} aria-describedby=${fieldError ? inputId + "-err" : undefined} />
          <button type="submit" class="btn" disabled=${busy}>${t("pages.names.add")}</button>
        </div>
        ${fieldError && html`<p id=${inputId + "-err"} class="field-error" role="alert">${fieldError}</p>`}
      </div>
    </form>
    ${names.length === 0 ? html`<p class="muted">${t("pages.names.empty")}</p>` : html`<ul class="name-list">
      ${names.map((n) => html`<li key=${n}><span class="mono wrap">${n}</span>
        <button type="button" class="btn btn-small" aria-label=${t("pages.common.remove_named", { name: n })}
          onClick=${() => remove(n)}>${t("pages.common.remove")}</button></li>`)}
    </ul>`}
  </section>`;
}
