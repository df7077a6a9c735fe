// #/log : the query log with filters, paging, a live tail and "Why?".
// Query names and device names come from the network: text nodes only.
import { html, useState, useEffect, useRef, useId } from "../lib/html.js";
import { get } from "../lib/api.js";
import { t } from "../lib/i18n.js";
import { formatFull, formatTime, formatDateTime } from "../lib/format.js";
import { showError } from "../lib/toast.js";
import { useLoader, Loading, ErrorBox, PageTitle } from "../lib/ui.js";
import { loadCatalog, tagLabel } from "../lib/catalog.js";
import { tagOptions, familyLocalToIso, daysText } from "../lib/pieces.js";

const PAGE = 50;
const MAX_ROWS = 2000;

function pillClass(action) {
  if (action === "allow") return "pill pill-ok";
  if (action === "rewrite") return "pill pill-info";
  return "pill pill-block";
}

export function actionText(action) {
  return t("pages.log.action." + action);
}

export function reasonText(row) {
  const cat = row.category ? tagLabel(row.category) : "";
  const service = (row.tags || []).find((x) => x.startsWith("service:"));
  return t("pages.log.reason." + row.reason, { category: cat, service: service ? tagLabel(service) : cat });
}

function filtersFromQuery(q) {
  return {
    profile: q.profile || "", device: q.device || "", blocked: q.action === "block", tag: q.tag || "",
    name: q.name || "", since: "", until: "",
  };
}

function apiFilters(f) {
  return {
    profile: f.profile, device: f.device, action: f.blocked ? "block" : "", tag: f.tag, name: f.name.trim(),
    since: familyLocalToIso(f.since), until: familyLocalToIso(f.until),
  };
}

export default function Page({ params }) {
  const meta = useLoader(() => Promise.all([get("/api/profiles"), get("/api/devices"), loadCatalog()]), []);
  const [draft, setDraft] = useState(() => filtersFromQuery(params.query || {}));
  const [filters, setFilters] = useState(draft);
  const [rows, setRows] = useState([]);
  const [more, setMore] = useState(false);
  const [searchedSince, setSearchedSince] = useState(null);
  const [state, setState] = useState({ loading: true, error: null });
  const [live, setLive] = useState(false);
  const [why, setWhy] = useState(null);
  const lastId = useRef(0);
  const seq = useRef(0);

  const load = async (before) => {
    const mine = ++seq.current;
    setState({ loading: true, error: null });
    try {
      const body = await get("/api/log", { ...apiFilters(filters), before, limit: PAGE });
      if (mine !== seq.current) return;
      setRows((old) => (before ? [...old, ...body.rows] : body.rows));
      setMore(body.more);
      setSearchedSince(filters.name && !filters.since ? body.since : null);
      if (!before) lastId.current = body.rows.length ? body.rows[0].id : lastId.current;
      setState({ loading: false, error: null });
    } catch (error) {
      if (mine === seq.current) setState({ loading: false, error });
    }
  };
  useEffect(() => { lastId.current = 0; load(); }, [filters]);

  // Live tail: every 2 s ask for rows after the newest shown.
  useEffect(() => {
    if (!live) return undefined;
    let stopped = false;
    let timer = null;
    const tick = async () => {
      if (stopped) return;
      if (!document.hidden) {
        try {
          const body = await get("/api/log/tail", { ...apiFilters(filters), after: lastId.current || undefined });
          if (stopped) return;
          if (body.rows.length) {
            setRows((old) => [...body.rows.slice().reverse(), ...old].slice(0, MAX_ROWS));
          }
          lastId.current = Math.max(lastId.current, body.last_id || 0);
        } catch (error) {
          showError(error);
          setLive(false);
          return;
        }
      }
      timer = setTimeout(tick, 2000);
    };
    tick();
    return () => { stopped = true; clearTimeout(timer); };
  }, [live, filters]);

  const apply = (e) => {
    e.preventDefault();
    setFilters({ ...draft });
  };
  const reset = () => {
    const empty = filtersFromQuery({});
    setDraft(empty);
    setFilters(empty);
  };

  const [profiles, devices, catalog] = meta.data || [[], [], null];
  return html`<div class="page-body log-page">
    <${PageTitle} sub=${t("pages.log.subtitle")}>${t("nav.log")}</${PageTitle}>
    <${Filters} draft=${draft} setDraft=${setDraft} onSubmit=${apply} onReset=${reset}
      profiles=${profiles} devices=${devices} catalog=${catalog} />
    <div class="log-tools">
      <label class="live-switch">
        <input type="checkbox" role="switch" class="switch" checked=${live}
          onChange=${(e) => setLive(e.currentTarget.checked)} />
        <span>${t("pages.log.live")}</span>
        <span class=${"pill " + (live ? "pill-ok" : "pill-muted")}>${live ? t("pages.log.live_on") : t("pages.log.live_off")}</span>
      </label>
      <button type="button" class="btn btn-small" onClick=${() => load()}>${t("pages.log.refresh")}</button>
    </div>
    ${searchedSince && html`<p class="hint">${t("pages.log.name_since", { time: formatDateTime(searchedSince) })}</p>`}
    <p class="sr-only" role="status" aria-live="polite">${state.loading ? "" : t("pages.log.n_rows", { n: rows.length })}</p>
    <${ErrorBox} error=${state.error} retry=${() => load()} />
    ${rows.length === 0 && !state.loading && !state.error && html`<p class="muted">${t("pages.log.empty")}</p>`}
    ${rows.length > 0 && html`<div class="table-wrap">
      <table class="log-table">
        <caption class="sr-only">${t("pages.log.caption")}</caption>
        <thead><tr>
          <th scope="col">${t("pages.log.col.time")}</th>
          <th scope="col">${t("pages.log.col.device")}</th>
          <th scope="col">${t("pages.log.col.name")}</th>
          <th scope="col">${t("pages.log.col.type")}</th>
          <th scope="col">${t("pages.log.col.answer")}</th>
          <th scope="col"><span class="sr-only">${t("pages.log.col.why")}</span></th>
        </tr></thead>
        <tbody>
          ${rows.map((r) => html`<tr key=${r.id} class=${r.action === "allow" || r.action === "rewrite" ? "" : "row-block"}>
            <td data-label=${t("pages.log.col.time")} class="nowrap"><time datetime=${r.at} title=${formatFull(r.at)}>${formatDateTime(r.at)}</time></td>
            <td data-label=${t("pages.log.col.device")} class="wrap"><div>${r.device_name || r.device}
              ${r.profile_name && html`<span class="muted small block">${r.profile_name}</span>`}</div></td>
            <td data-label=${t("pages.log.col.name")} class="mono wrap"><div>${r.name}
              ${r.repeats > 1 && html` <span class="muted small">×${r.repeats}</span>`}</div></td>
            <td data-label=${t("pages.log.col.type")}>${r.type}</td>
            <td data-label=${t("pages.log.col.answer")}><div>
              <span class=${pillClass(r.action)}>${actionText(r.action)}</span>
              <span class="small block">${reasonText(r)}</span>
            </div></td>
            <td class="why-cell"><button type="button" class="btn btn-small" onClick=${() => setWhy(r)}
              aria-label=${t("pages.log.why_named", { name: r.name })}>${t("pages.log.why")}</button></td>
          </tr>`)}
        </tbody>
      </table>
    </div>`}
    ${state.loading && html`<${Loading} />`}
    ${more && !state.loading && html`<button type="button" class="btn load-more"
      onClick=${() => load(rows[rows.length - 1].id)}>${t("pages.log.older")}</button>`}
    ${why && html`<${WhyPanel} row=${why} onClose=${() => setWhy(null)} />`}
  </div>`;
}

function Filters({ draft, setDraft, onSubmit, onReset, profiles, devices, catalog }) {
  const ids = { p: useId(), d: useId(), tag: useId(), n: useId(), s: useId(), u: useId() };
  const set = (k) => (e) => setDraft({ ...draft, [k]: e.currentTarget.value });
  const shownDevices = draft.profile ? devices.filter((d) => String(d.profile_id) === draft.profile) : devices;
  return html`<details class="card filters" open=${window.innerWidth >= 700 || undefined}>
    <summary><h2 class="inline-h">${t("pages.log.filters")}</h2></summary>
    <form onSubmit=${onSubmit} class="filter-grid">
      <div class="field">
        <label for=${ids.p}>${t("pages.log.person")}</label>
        <select id=${ids.p} value=${draft.profile} onChange=${set("profile")}>
          <option value="">${t("pages.common.everyone")}</option>
          ${profiles.map((p) => html`<option key=${p.id} value=${String(p.id)}>${p.name}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for=${ids.d}>${t("pages.log.device")}</label>
        <select id=${ids.d} value=${draft.device} onChange=${set("device")}>
          <option value="">${t("pages.log.all_devices")}</option>
          ${shownDevices.map((d) => html`<option key=${d.key} value=${d.key}>${d.label || d.name || d.ip || d.key}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for=${ids.tag}>${t("pages.log.tag")}</label>
        <select id=${ids.tag} value=${draft.tag} onChange=${set("tag")}>
          <option value="">${t("pages.log.any_tag")}</option>
          ${tagOptions(catalog)}
        </select>
      </div>
      <div class="field">
        <label for=${ids.n}>${t("pages.log.text")}</label>
        <input id=${ids.n} type="search" autocapitalize="off" spellcheck="false" value=${draft.name}
          placeholder="youtube" onInput=${set("name")} />
      </div>
      <div class="field">
        <label for=${ids.s}>${t("pages.log.since")}</label>
        <input id=${ids.s} type="datetime-local" value=${draft.since} onInput=${set("since")} />
      </div>
      <div class="field">
        <label for=${ids.u}>${t("pages.log.until")}</label>
        <input id=${ids.u} type="datetime-local" value=${draft.until} onInput=${set("until")} />
      </div>
      <label class="check"><input type="checkbox" checked=${draft.blocked}
        onChange=${(e) => setDraft({ ...draft, blocked: e.currentTarget.checked })} /> ${t("pages.log.blocked_only")}</label>
      <div class="btn-row">
        <button type="submit" class="btn btn-primary">${t("pages.log.apply")}</button>
        <button type="button" class="btn" onClick=${onReset}>${t("pages.log.reset")}</button>
      </div>
    </form>
  </details>`;
}

// --- "Why?" ---------------------------------------------------------------------

const STEP_KEYS = {
  "allow list": "allow_list", "bypass protection": "bypass", pause: "pause", "deny list": "deny_list",
  bedtime: "bedtime", "blocked tags": "blocked_tags", "safe search": "safe_search",
};

function WhyPanel({ row, onClose }) {
  const ref = useRef(null);
  const { data, error, loading, reload } = useLoader(
    () => get("/api/explain", { name: row.name, type: row.type, device: row.device, at: row.at }), [row.id]);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) {
      if (dialog.showModal) dialog.showModal(); else dialog.setAttribute("open", "");
    }
    const heading = dialog && dialog.querySelector("h2");
    if (heading) heading.focus();
  }, []);
  return html`<dialog ref=${ref} class="why-dialog" aria-labelledby="why-h" onClose=${onClose}
    onCancel=${(e) => { e.preventDefault(); onClose(); }}>
    <div class="why-head">
      <h2 id="why-h" tabindex="-1">${t("pages.why.title")}</h2>
      <button type="button" class="btn btn-small" onClick=${onClose}>${t("common.close")}</button>
    </div>
    <p class="mono wrap why-name">${row.name} <span class="muted">${row.type}</span></p>
    <p class="muted small">${row.device_name || row.device} · ${formatFull(row.at)}
      ${" · " + t("pages.log.answered_by", { name: row.instance })}</p>
    ${loading && !data && html`<${Loading} />`}
    <${ErrorBox} error=${error} retry=${reload} />
    ${data && html`<${Explanation} x=${data} />`}
  </dialog>`;
}

function answerSentence(x) {
  const key = "pages.why.answer." + x.answer;
  return t(key, { with: x.answered_with || "", target: x.target || "" });
}

function Explanation({ x }) {
  const reached = new Map((x.steps || []).map((s) => [s.step, s]));
  const steps = Object.keys(STEP_KEYS);
  const reason = reasonText({ reason: x.reason, category: x.category, tags: x.tags || [] });
  return html`<div class="why-body">
    <p class="why-answer"><span class=${pillClass(x.answer === "allowed" ? "allow" : x.answer === "rewritten" ? "rewrite" : "block")}>
      ${t("pages.why.kind." + x.answer)}</span> ${answerSentence(x)}</p>
    <p>${t("pages.why.because", { reason })}</p>
    ${x.subject && html`<p class="muted small">${t("pages.why.subject", { profile: x.subject.profile_name || "" })}</p>`}
    ${(x.tags || []).length > 0 && html`<p class="small">${t("pages.why.tags")} ${x.tags.map(tagLabel).join(", ")}</p>`}
    <h3>${t("pages.why.steps")}</h3>
    <ol class="steps">
      ${steps.map((name) => {
        const s = reached.get(name);
        const state = !s ? "skip" : s.matched ? "yes" : "no";
        return html`<li key=${name} class=${"step step-" + state}>
          <span class="step-mark" aria-hidden="true">${state === "yes" ? "✔" : state === "no" ? "–" : "·"}</span>
          <span class="step-name">${t("pages.why.step." + STEP_KEYS[name])}</span>
          <span class=${"pill " + (state === "yes" ? "pill-warn" : "pill-muted")}>${t("pages.why.state." + state)}</span>
          ${s && s.detail && html`<span class="muted small block step-detail">${s.detail}</span>`}
        </li>`;
      })}
    </ol>
    ${(x.matches || []).length > 0 && html`<h3>${t("pages.why.matches")}</h3>
      <div class="table-wrap"><table class="small-table">
        <thead><tr><th scope="col">${t("pages.why.list")}</th><th scope="col">${t("pages.why.line")}</th>
          <th scope="col">${t("pages.why.rule")}</th></tr></thead>
        <tbody>${x.matches.map((m, i) => html`<tr key=${i}>
          <td class="wrap">${m.list_id}${m.tag && html`<span class="muted small block">${tagLabel(m.tag)}</span>`}</td>
          <td>${m.line}</td>
          <td class="mono wrap">${m.rule}${m.exception && html` <span class="pill pill-ok">${t("pages.why.exception")}</span>`}</td>
        </tr>`)}</tbody>
      </table></div>`}
    ${(x.rules_in_force || []).length > 0 && html`<h3>${t("pages.why.rules")}</h3>
      <ul class="plain-list small">${x.rules_in_force.map((r) => html`<li key=${r.id}>
        ${r.start}–${r.end} · ${daysText(r.weekdays)} · ${r.action === "allow_only" ? t("pages.sched.bedtime")
          : t("pages.sched.block_list", { tags: (r.tags || []).map(tagLabel).join(", ") })}</li>`)}</ul>`}
    ${(x.overrides_in_force || []).length > 0 && html`<h3>${t("pages.why.overrides")}</h3>
      <ul class="plain-list small">${x.overrides_in_force.map((o) => html`<li key=${o.id}>
        ${t("pages.override.kind." + o.kind)}${o.target ? " · " + (o.kind === "allow_name" ? o.target : tagLabel(o.target)) : ""}
        · ${t("pages.why.until", { time: formatTime(o.expires_at) })}</li>`)}</ul>`}
    ${(x.budgets || []).length > 0 && html`<h3>${t("pages.why.budgets")}</h3>
      <ul class="plain-list small">${x.budgets.map((b) => html`<li key=${b.id}>
        ${t("pages.why.budget_line", { tag: tagLabel(b.tag), used: b.used_today, minutes: b.minutes })}</li>`)}</ul>`}
    ${(x.problems || []).length > 0 && html`<div class="notice"><h3>${t("pages.why.problems")}</h3>
      <ul>${x.problems.map((p, i) => html`<li key=${i}>${typeof p === "string" ? p : JSON.stringify(p)}</li>`)}</ul></div>`}
  </div>`;
}
