// Home: what is happening now, a card per person, new devices, bypass attempts.
import { html, useState, useEffect } from "../lib/html.js";
import { get, post, patch, del } from "../lib/api.js";
import { t } from "../lib/i18n.js";
import { formatTime, formatDay, formatNumber, formatMinutes, formatDateTime, countdown, ago, setServerNow } from "../lib/format.js";
import { showToast } from "../lib/toast.js";
import { useLoader, useAction, useTick, Loading, ErrorBox, PageTitle, Meter } from "../lib/ui.js";
import { loadCatalog, tagLabel } from "../lib/catalog.js";

const REFRESH_MS = 15000;
// On a phone the top-sites lists start folded, so every person's card stays short.
const WIDE = window.matchMedia("(min-width: 700px)");

export function deviceDisplayName(device) {
  return device.label || device.name || device.mac || device.ip || t("home.unknown_device");
}

/** One plain sentence on why a bypass attempt matters. */
function bypassReason(row) {
  const name = String(row.name || "").toLowerCase();
  const tags = new Set([row.category, ...(row.tags || [])].filter(Boolean));
  if (name === "use-application-dns.net" || name.endsWith(".use-application-dns.net")) return t("home.bypass_canary");
  if (tags.has("service:icloud_private_relay") || (name.startsWith("mask") && name.endsWith("icloud.com"))) {
    return t("home.bypass_relay");
  }
  if (tags.has("doh_bypass")) return t("home.bypass_doh");
  if (tags.has("proxy_vpn") || [...tags].some((x) => /vpn|proxy/.test(x))) return t("home.bypass_vpn");
  return t("home.bypass_doh");
}

/** "ip:192.168.1.5" -> "192.168.1.5" for a device with no name. */
function deviceKeyText(key) {
  return String(key || "").replace(/^(ip|mac):/, "");
}

function StatusBadges({ person }) {
  const badges = [];
  if (person.paused_until) {
    badges.push(html`<span class="badge badge-block"><span aria-hidden="true">⏸ </span>
      ${t("home.paused_until", { time: formatTime(person.paused_until) })}
      <span class="badge-sub"> · ${countdown(person.paused_until)}</span></span>`);
  }
  if (person.bedtime) {
    badges.push(html`<span class="badge badge-night"><span aria-hidden="true">☾ </span>
      ${t("home.bedtime_until", { time: formatTime(person.bedtime.until) })}
      <span class="badge-sub"> · ${countdown(person.bedtime.until)}</span></span>`);
  }
  for (const block of person.blocking_now || []) {
    badges.push(html`<span class="badge badge-warn"><span aria-hidden="true">⛔ </span>
      ${t("home.blocking_until", { tags: block.tags.map(tagLabel).join(", "), time: formatTime(block.until) })}
      <span class="badge-sub"> · ${countdown(block.until)}</span></span>`);
  }
  if (!badges.length) badges.push(html`<span class="badge badge-ok"><span aria-hidden="true">✓ </span>${t("home.status_ok")}</span>`);
  return html`<div class="badges">${badges}</div>`;
}

function SiteList({ title, sites, kind }) {
  return html`<div class="sites">
    <h4>${title}</h4>
    ${sites && sites.length
      ? html`<ol class=${"site-list site-list-" + kind}>
          ${sites.map(([name, count]) => html`<li key=${name}><span class="site-name">${name}</span>
            <span class="site-count">${formatNumber(count)}</span></li>`)}
        </ol>`
      : html`<p class="muted small">${t("home.no_sites")}</p>`}
  </div>`;
}

const EXTRA_MINUTES = [15, 30, 60];

/** +15/+30/+60 min, shown when a budget is (nearly) used up. */
function ExtraTime({ person, budget, reload }) {
  const label = tagLabel(budget.tag);
  const [grant, busy] = useAction(async (minutes) => {
    await post(`/api/profiles/${person.id}/overrides`, { kind: "grant", target: budget.tag, minutes });
    showToast(t("home.extra_done", { name: person.name, n: minutes, tag: label }));
    await reload();
  });
  return html`<div class="extra-time row">
    ${EXTRA_MINUTES.map((n) => html`<button key=${n} type="button" class="btn btn-small" disabled=${busy}
      aria-label=${t("home.extra_label", { n, tag: label, name: person.name })} onClick=${() => grant(n)}>
      ${t("home.extra_minutes", { n })}</button>`)}
  </div>`;
}

function ScreenTime({ person, reload }) {
  const budgets = person.budgets || [];
  const budgeted = new Set(budgets.map((b) => b.tag));
  const others = Object.entries(person.minutes || {}).filter(([tag, m]) => !budgeted.has(tag) && m > 0);
  if (!budgets.length && !others.length) return null;
  return html`<div class="screen-time">
    <h4>${t("home.screen_time")}</h4>
    ${budgets.filter((b) => b.applies_today).map((b) => {
      const used = b.used_today || 0;
      const over = used >= b.minutes;
      const text = t("home.budget_text", { used: formatMinutes(used), limit: formatMinutes(b.minutes) }) +
        (over ? " · " + t("home.budget_over") : "");
      return html`<div key=${b.tag}>
        <${Meter} label=${tagLabel(b.tag)} value=${used} max=${b.minutes} text=${text} />
        ${used >= b.minutes * 0.8 && html`<${ExtraTime} person=${person} budget=${b} reload=${reload} />`}
      </div>`;
    })}
    ${others.length > 0 && html`<ul class="plain-list minutes-list">
      ${others.map(([tag, m]) => html`<li key=${tag}><span>${tagLabel(tag)}</span> <span class="muted">${formatMinutes(m)}</span></li>`)}
    </ul>`}
  </div>`;
}

function PersonCard({ person, reload }) {
  const pauses = (person.overrides || []).filter((o) => o.kind === "pause");
  const [pause, pausing] = useAction(async (body) => {
    await post(`/api/profiles/${person.id}/overrides`, { kind: "pause", ...body });
    showToast(t("home.paused_done", { name: person.name }));
    await reload();
  });
  const [endPause, ending] = useAction(async () => {
    for (const o of pauses) await del(`/api/overrides/${o.id}`);
    showToast(t("home.unpaused_done", { name: person.name }));
    await reload();
  });
  const busy = pausing || ending;
  const allowed = Math.max(0, (person.queries || 0) - (person.blocked || 0));
  const headingId = `person-${person.id}`;
  return html`<section class="card person" aria-labelledby=${headingId}>
    <div class="person-head">
      <h3 id=${headingId}>${person.name}</h3>
      <span class="muted small">${t("home.devices", { n: formatNumber(person.devices) })}</span>
    </div>
    <${StatusBadges} person=${person} />
    <dl class="stats">
      <div><dt>${t("home.allowed")}</dt><dd>${formatNumber(allowed)}</dd></div>
      <div class="stat-blocked"><dt>${t("home.blocked")}</dt><dd>${formatNumber(person.blocked)}</dd></div>
    </dl>
    <${ScreenTime} person=${person} reload=${reload} />
    <details class="site-details" open=${WIDE.matches}>
      <summary>${t("home.sites_summary")}</summary>
      <div class="site-columns">
        <${SiteList} title=${t("home.top_sites")} sites=${person.top_sites} kind="allowed" />
        <${SiteList} title=${t("home.top_blocked")} sites=${person.top_blocked} kind="blocked" />
      </div>
    </details>
    <div class="actions">
      ${person.paused_until || pauses.length
        ? html`<button type="button" class="btn btn-primary" disabled=${busy} aria-describedby=${headingId} onClick=${() => endPause()}>
            <span aria-hidden="true">▶ </span>${t("home.end_pause")}</button>`
        : html`<button type="button" class="btn btn-warn" disabled=${busy} aria-describedby=${headingId} onClick=${() => pause({ minutes: 60 })}>
              <span aria-hidden="true">⏸ </span>${t("home.pause_1h")}</button>
            <button type="button" class="btn" disabled=${busy} aria-describedby=${headingId} onClick=${() => pause({ until: "tonight" })}>
              ${t("home.pause_tonight")}</button>`}
    </div>
    <p class="links">
      <a href=${`#/profile/${person.id}`}>${t("home.settings_link", { name: person.name })}</a>
      <a href=${`#/schedule/${person.id}`}>${t("nav.schedule")}</a>
      <a href=${`#/log?profile=${person.id}`}>${t("home.log_link")}</a>
    </p>
  </section>`;
}

function NewDevice({ device, profiles, reload }) {
  const [choice, setChoice] = useState(String(device.profile_id ?? (profiles[0] && profiles[0].id) ?? ""));
  const name = deviceDisplayName(device);
  const selectId = `give-${device.id}`;
  const [give, busy] = useAction(async () => {
    const profileId = Number(choice);
    await patch(`/api/devices/${device.id}`, { profile_id: profileId });
    const profile = profiles.find((p) => p.id === profileId);
    showToast(t("home.given", { device: name, name: profile ? profile.name : "" }));
    await reload();
  });
  return html`<li class="device-row new">
    <div class="device-main">
      <span class="badge badge-new">${t("people.new_badge")}</span>
      <strong class="device-name">${name}</strong>
      <span class="muted small">${[device.ip, device.mac].filter(Boolean).join(" · ")} · ${ago(device.first_seen)}</span>
    </div>
    <form class="give" onSubmit=${(e) => { e.preventDefault(); give(); }}>
      <label for=${selectId}>${t("home.give_to", { device: name })}</label>
      <div class="row">
        <select id=${selectId} value=${choice} onChange=${(e) => setChoice(e.currentTarget.value)}>
          ${profiles.map((p) => html`<option key=${p.id} value=${String(p.id)}>${p.name}</option>`)}
        </select>
        <button type="submit" class="btn btn-primary" disabled=${busy || !choice}>${t("home.give")}</button>
      </div>
    </form>
  </li>`;
}

function Bypass({ rows }) {
  return html`<section class="card" aria-labelledby="bypass-title">
    <h2 id="bypass-title">${t("home.bypass")}</h2>
    ${rows.length
      ? html`<p class="muted small">${t("home.bypass_intro")}</p>
        <ul class="bypass-list">
          ${rows.map((row) => html`<li key=${row.id}>
            <div class="bypass-head">
              <strong>${row.profile_name || ""}</strong>
              <span>${row.device_name || deviceKeyText(row.device) || t("home.unknown_device")}</span>
              <time class="muted small" datetime=${row.at} title=${formatDateTime(row.at)}>${ago(row.at)}</time>
            </div>
            <p class="bypass-name"><code>${row.name}</code></p>
            <p class="small">${bypassReason(row)}</p>
          </li>`)}
        </ul>`
      : html`<p class="muted">${t("home.bypass_none")}</p>`}
  </section>`;
}

export default function Page() {
  const { data, error, loading, reload } = useLoader(async () => {
    const overview = await get("/api/overview");
    setServerNow(overview.now);
    return overview;
  }, [], REFRESH_MS);
  const [, setCatalogReady] = useState(false);
  useEffect(() => { loadCatalog().then(() => setCatalogReady(true), () => {}); }, []);
  useTick(30000); // countdowns

  if (!data) {
    return html`<div><${PageTitle}>${t("home.title")}</${PageTitle}>
      ${loading ? html`<${Loading} />` : html`<${ErrorBox} error=${error} retry=${reload} />`}</div>`;
  }
  const profiles = data.profiles.map((p) => ({ id: p.id, name: p.name }));
  const sub = t("home.today", { day: formatDay(data.day, { weekday: "long", day: "numeric", month: "long" }) }) +
    " · " + t("home.totals", { queries: formatNumber(data.totals.queries), blocked: formatNumber(data.totals.blocked) });
  return html`<div class="home">
    <${PageTitle} sub=${sub}>${t("home.title")}</${PageTitle}>
    <${ErrorBox} error=${error} retry=${reload} />
    ${data.new_devices.length > 0 && html`<section class="card card-attention" aria-labelledby="new-devices-title">
      <h2 id="new-devices-title">${t("home.new_devices")} <span class="count">${data.new_devices.length}</span></h2>
      <p class="muted small">${t("home.new_devices_intro")}</p>
      <ul class="device-list">
        ${data.new_devices.map((d) => html`<${NewDevice} key=${d.id} device=${d} profiles=${profiles} reload=${reload} />`)}
      </ul>
    </section>`}
    <h2 class="sr-only">${t("people.profiles")}</h2>
    ${data.profiles.length
      ? html`<div class="cards">${data.profiles.map((p) => html`<${PersonCard} key=${p.id} person=${p} reload=${reload} />`)}</div>`
      : html`<p class="notice">${t("home.no_profiles")} <a href="#/people">${t("nav.people")}</a></p>`}
    <${Bypass} rows=${data.bypass_attempts || []} />
  </div>`;
}
