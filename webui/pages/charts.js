// #/charts : queries and blocks per day, screen time per category per day,
// and today by hour. Each chart has a text summary and a table (a canvas
// says nothing to a screen reader).
import { html, useState, useEffect, useRef, useId } from "../lib/html.js";
import { get } from "../lib/api.js";
import { t } from "../lib/i18n.js";
import { formatDay, formatNumber, formatMinutes, formatTime } from "../lib/format.js";
import { useLoader, Loading, ErrorBox, PageTitle } from "../lib/ui.js";
import { loadCatalog, tagLabel } from "../lib/catalog.js";
import uPlot from "../vendor/uPlot.esm.js";
import { PALETTE, familyToday } from "../lib/pieces.js";

const QUERY_COLOR = "#1f6fb2";
const BLOCK_COLOR = "#b91c1c";

export default function Page({ params }) {
  const q = params.query || {};
  const [days, setDays] = useState(["7", "30", "90"].includes(q.days) ? +q.days : 7);
  const [profile, setProfile] = useState(q.profile || "");
  const ids = { p: useId(), r: useId() };
  const profiles = useLoader(() => Promise.all([get("/api/profiles"), loadCatalog()]), []);
  const stats = useLoader(() => get("/api/stats/days", { days, profile }), [days, profile]);
  const today = familyToday();
  const hours = useLoader(() => get("/api/stats/hours", { day: today, profile }), [profile], 60000);
  const [list, catalog] = profiles.data || [[], null];

  return html`<div class="page-body charts-page">
    <${PageTitle} sub=${t("pages.charts.subtitle")}>${t("nav.charts")}</${PageTitle}>
    <div class="card chart-controls">
      <fieldset class="fs">
        <legend>${t("pages.charts.range")}</legend>
        <div class="seg">
          ${[7, 30, 90].map((n) => html`<label key=${n} class="seg-item">
            <input type="radio" name=${ids.r} checked=${days === n} onChange=${() => setDays(n)} />
            <span>${t("pages.charts.n_days", { n })}</span></label>`)}
        </div>
      </fieldset>
      <div class="field">
        <label for=${ids.p}>${t("pages.log.person")}</label>
        <select id=${ids.p} value=${profile} onChange=${(e) => setProfile(e.currentTarget.value)}>
          <option value="">${t("pages.common.everyone")}</option>
          ${list.map((p) => html`<option key=${p.id} value=${String(p.id)}>${p.name}</option>`)}
        </select>
      </div>
    </div>
    <${ErrorBox} error=${stats.error} retry=${stats.reload} />
    ${!stats.data && stats.loading && html`<${Loading} />`}
    ${stats.data && html`<${QueriesChart} data=${stats.data.days} />`}
    ${stats.data && html`<${MinutesChart} data=${stats.data.days} catalog=${catalog} />`}
    <${ErrorBox} error=${hours.error} retry=${hours.reload} />
    ${hours.data && html`<${HoursChart} data=${hours.data.hours} />`}
  </div>`;
}

// --- a uPlot wrapper that follows its container's width ---------------------------

function UChart({ options, data, label }) {
  const box = useRef(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const width = () => Math.max(260, el.clientWidth);
    const height = () => (window.innerWidth < 600 ? 220 : 280);
    const chart = new uPlot({ ...options, width: width(), height: height() }, data, el);
    let frame = 0;
    const onResize = () => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => chart.setSize({ width: width(), height: height() }));
    };
    window.addEventListener("resize", onResize);
    const observer = window.ResizeObserver ? new ResizeObserver(onResize) : null;
    if (observer) observer.observe(el);
    return () => {
      window.removeEventListener("resize", onResize);
      if (observer) observer.disconnect();
      cancelAnimationFrame(frame);
      chart.destroy();
    };
  }, [options, data]);
  return html`<div class="uchart" ref=${box} role="img" aria-label=${label}></div>`;
}

const AXIS_FONT = "14px system-ui, sans-serif";

function axes(xLabels, yFormat, ySize = 60) {
  return [
    {
      font: AXIS_FONT, stroke: "#333", grid: { show: false },
      splits: (u) => {
        const n = xLabels.length;
        const room = Math.max(1, Math.floor(u.bbox.width / devicePixelRatio / 70));
        const step = Math.max(1, Math.ceil(n / room));
        const out = [];
        for (let i = 0; i < n; i += step) out.push(i);
        return out;
      },
      values: (u, splits) => splits.map((i) => xLabels[i] ?? ""),
    },
    { font: AXIS_FONT, stroke: "#333", size: ySize, grid: { stroke: "#e5e7eb" }, values: (u, splits) => splits.map(yFormat) },
  ];
}

function bars(index, count) {
  // Two series side by side: the first left of the day's mark, the second right of it.
  return uPlot.paths.bars({ size: [count > 1 ? 0.4 : 0.7, 48], align: count > 1 ? (index === 0 ? -1 : 1) : 0, gap: 1 });
}

function barSeries(label, color, index, count) {
  return { label, stroke: color, fill: color + "cc", width: 1, paths: bars(index, count), points: { show: false } };
}

function Legend({ items }) {
  return html`<ul class="legend">
    ${items.map((it) => html`<li key=${it.label}><span class=${"swatch " + it.cls} aria-hidden="true"></span>${it.label}</li>`)}
  </ul>`;
}

function Table({ caption, head, rows }) {
  return html`<details class="chart-table">
    <summary>${t("pages.charts.show_table")}</summary>
    <div class="table-wrap"><table class="small-table">
      <caption class="sr-only">${caption}</caption>
      <thead><tr>${head.map((h, i) => html`<th key=${i} scope="col">${h}</th>`)}</tr></thead>
      <tbody>${rows.map((r, i) => html`<tr key=${i}>${r.map((c, j) => j === 0
        ? html`<th key=${j} scope="row">${c}</th>` : html`<td key=${j} class="num">${c}</td>`)}</tr>`)}</tbody>
    </table></div>
  </details>`;
}

// --- queries and blocks per day ------------------------------------------------------

function QueriesChart({ data }) {
  const labels = data.map((d) => formatDay(d.day, { day: "numeric", month: "numeric" }));
  const total = data.reduce((s, d) => s + d.queries, 0);
  const blocked = data.reduce((s, d) => s + d.blocked, 0);
  const busiest = data.reduce((a, d) => (!a || d.queries > a.queries ? d : a), null);
  const [opts, rows] = useMemoJSON(() => [{
    scales: { x: { time: false, range: (u, min, max) => [min - 0.5, max + 0.5] } },
    legend: { show: false }, cursor: { drag: { x: false, y: false } },
    axes: axes(labels, (v) => formatNumber(v)),
    series: [{}, barSeries(t("pages.charts.queries"), QUERY_COLOR, 0, 2), barSeries(t("pages.charts.blocked"), BLOCK_COLOR, 1, 2)],
  }, [data.map((_, i) => i), data.map((d) => d.queries), data.map((d) => d.blocked)]], [data]);
  const summary = t("pages.charts.queries_summary", {
    n: data.length, queries: formatNumber(total), blocked: formatNumber(blocked),
    pct: total ? Math.round((blocked / total) * 100) : 0,
    day: busiest ? formatDay(busiest.day) : "", max: busiest ? formatNumber(busiest.queries) : 0,
  });
  return html`<section class="card chart-card" aria-labelledby="c1-h">
    <h2 id="c1-h">${t("pages.charts.queries_title")}</h2>
    <p>${summary}</p>
    <${Legend} items=${[{ label: t("pages.charts.queries"), cls: "sw-query" }, { label: t("pages.charts.blocked"), cls: "sw-block" }]} />
    <${UChart} options=${opts} data=${rows} label=${summary} />
    <${Table} caption=${t("pages.charts.queries_title")} head=${[t("pages.charts.day"), t("pages.charts.queries"), t("pages.charts.blocked")]}
      rows=${data.map((d) => [formatDay(d.day), formatNumber(d.queries), formatNumber(d.blocked)])} />
  </section>`;
}

// --- screen time per category per day ---------------------------------------------------

function MinutesChart({ data, catalog }) {
  const totals = new Map();
  for (const d of data) for (const [tag, m] of Object.entries(d.minutes || {})) totals.set(tag, (totals.get(tag) || 0) + m);
  const tags = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a));
  const labels = data.map((d) => formatDay(d.day, { day: "numeric", month: "numeric" }));
  // Distinct colours in order of use (a hash would give neighbours the same colour).
  const ORDER = [0, 1, 2, 3, 5, 7, 6, 8, 4, 9];
  const colorOf = new Map(tags.map((tag, i) => [tag, ORDER[i % ORDER.length]]));
  const [opts, rows] = useMemoJSON(() => [{
    scales: { x: { time: false } }, legend: { show: false },
    axes: axes(labels, (v) => formatMinutes(v), 84),
    series: [{}, ...tags.map((tag) => ({
      label: tagLabel(tag), stroke: PALETTE[colorOf.get(tag)], width: 3,
      points: { show: data.length <= 31, size: 7 }, dash: colorOf.get(tag) % 2 ? [8, 4] : undefined,
    }))],
  }, [data.map((_, i) => i), ...tags.map((tag) => data.map((d) => (d.minutes || {})[tag] || 0))]], [data, catalog]);
  const summary = tags.length === 0 ? t("pages.charts.minutes_none")
    : t("pages.charts.minutes_summary", { list: tags.slice(0, 5).map((tag) => `${tagLabel(tag)} ${formatMinutes(totals.get(tag))}`).join(", ") });
  return html`<section class="card chart-card" aria-labelledby="c2-h">
    <h2 id="c2-h">${t("pages.charts.minutes_title")}</h2>
    <p>${summary}</p>
    ${tags.length > 0 && html`
      <${Legend} items=${tags.map((tag) => ({ label: tagLabel(tag), cls: "cc-" + colorOf.get(tag) }))} />
      <${UChart} options=${opts} data=${rows} label=${summary} />
      <${Table} caption=${t("pages.charts.minutes_title")} head=${[t("pages.charts.day"), ...tags.map(tagLabel)]}
        rows=${data.map((d) => [formatDay(d.day), ...tags.map((tag) => formatMinutes((d.minutes || {})[tag] || 0))])} />`}
  </section>`;
}

// --- today by hour ---------------------------------------------------------------------------

function HoursChart({ data }) {
  const labels = data.map((h) => formatTime(h.hour).slice(0, 2));
  const total = data.reduce((s, h) => s + h.queries, 0);
  const busiest = data.reduce((a, h) => (!a || h.queries > a.queries ? h : a), null);
  const [opts, rows] = useMemoJSON(() => [{
    scales: { x: { time: false, range: (u, min, max) => [min - 0.5, max + 0.5] } },
    legend: { show: false }, cursor: { drag: { x: false, y: false } },
    axes: axes(labels, (v) => formatNumber(v)),
    series: [{}, barSeries(t("pages.charts.queries"), QUERY_COLOR, 0, 2), barSeries(t("pages.charts.blocked"), BLOCK_COLOR, 1, 2)],
  }, [data.map((_, i) => i), data.map((h) => h.queries), data.map((h) => h.blocked)]], [data]);
  const summary = t("pages.charts.hours_summary", {
    queries: formatNumber(total), blocked: formatNumber(data.reduce((s, h) => s + h.blocked, 0)),
    hour: busiest ? formatTime(busiest.hour) : "", max: busiest ? formatNumber(busiest.queries) : 0,
  });
  return html`<section class="card chart-card" aria-labelledby="c3-h">
    <h2 id="c3-h">${t("pages.charts.hours_title")}</h2>
    <p>${summary}</p>
    <${Legend} items=${[{ label: t("pages.charts.queries"), cls: "sw-query" }, { label: t("pages.charts.blocked"), cls: "sw-block" }]} />
    <${UChart} options=${opts} data=${rows} label=${summary} />
    <${Table} caption=${t("pages.charts.hours_title")} head=${[t("pages.charts.hour"), t("pages.charts.queries"), t("pages.charts.blocked")]}
      rows=${data.map((h) => [formatTime(h.hour), formatNumber(h.queries), formatNumber(h.blocked)])} />
  </section>`;
}

/** Build chart options/data once per input (so the chart is not rebuilt on every render). */
function useMemoJSON(build, deps) {
  const ref = useRef({ deps: null, value: null });
  if (!ref.current.deps || deps.some((d, i) => d !== ref.current.deps[i])) {
    ref.current = { deps, value: build() };
  }
  return ref.current.value;
}
