// Block lists: where each category's names come from, how fresh they are.
import { html, useEffect, useState } from "../lib/html.js";
import { get, post } from "../lib/api.js";
import { t } from "../lib/i18n.js";
import { formatDateTime, formatNumber, ago } from "../lib/format.js";
import { showToast } from "../lib/toast.js";
import { useLoader, useAction, Loading, ErrorBox, PageTitle } from "../lib/ui.js";
import { loadCatalog, tagLabel } from "../lib/catalog.js";

const POLL_UPDATING_MS = 2000;
const POLL_IDLE_MS = 60000;

/** The same failure (say, no internet) usually hits every list: say it once. */
function problemsOf(sources) {
  const byMessage = new Map();
  for (const source of sources) {
    if (!source.last_error) continue;
    if (!byMessage.has(source.last_error)) byMessage.set(source.last_error, []);
    byMessage.get(source.last_error).push(source.id);
  }
  return [...byMessage.entries()].sort((a, b) => b[1].length - a[1].length);
}

function Problems({ problems }) {
  if (!problems.length) return null;
  return html`<section class="card card-problem" aria-labelledby="problems-title">
    <h2 id="problems-title">${t("lists.problems")}</h2>
    <ul class="plain-list problem-list">
      ${problems.map(([message, ids]) => html`<li key=${message}>
        <p class="error-text">${message}</p>
        <details>
          <summary>${t("lists.problem_count", { n: formatNumber(ids.length) })}</summary>
          <p class="small muted">${ids.join(", ")}</p>
        </details>
      </li>`)}
    </ul>
  </section>`;
}

function updatedText(source) {
  if (source.updated_at) {
    return html`<time datetime=${source.updated_at} title=${formatDateTime(source.updated_at)}>${ago(source.updated_at)}</time>`;
  }
  return source.bundled ? t("lists.bundled") : t("time.never");
}

function SourceRow({ source }) {
  return html`<tr class=${source.last_error ? "has-error" : ""}>
    <th scope="row" data-label=${t("lists.category")}>
      <span class="cell-main">${tagLabel(source.category)}</span>
      <code class="cell-sub">${source.id}</code>
    </th>
    <td data-label=${t("lists.provider")} class="provider">${source.provider}</td>
    <td data-label=${t("lists.entries")} class="num">${source.entries == null ? "—" : formatNumber(source.entries)}</td>
    <td data-label=${t("lists.rejected")} class="num">${source.rejected == null ? "—" : formatNumber(source.rejected)}</td>
    <td data-label=${t("lists.updated")}>${updatedText(source)}</td>
    <td data-label=${t("lists.state")}>${source.last_error
      ? html`<span class="badge badge-block" title=${source.last_error}>${t("lists.error_badge")}</span>`
      : html`<span class="badge badge-ok">${t("lists.ok")}</span>`}</td>
  </tr>`;
}

export default function Page() {
  const [updating, setUpdating] = useState(false);
  const [onlyProblems, setOnlyProblems] = useState(false);
  const { data, error, loading, reload } = useLoader(() => get("/api/lists"), [updating],
    updating ? POLL_UPDATING_MS : POLL_IDLE_MS);
  const [, setCatalogReady] = useState(false);
  useEffect(() => { loadCatalog().then(() => setCatalogReady(true), () => {}); }, []);

  // Follow the server: poll fast while it says an update runs, stop when done.
  useEffect(() => {
    if (!data) return;
    if (data.updating && !updating) setUpdating(true);
    if (!data.updating && updating) {
      setUpdating(false);
      showToast(t("lists.update_done"));
    }
  }, [data]);

  const [update, starting] = useAction(async () => {
    await post("/api/lists/update", {});
    setUpdating(true);
  });

  if (!data) {
    return html`<div><${PageTitle}>${t("lists.title")}</${PageTitle}>
      ${loading ? html`<${Loading} />` : html`<${ErrorBox} error=${error} retry=${reload} />`}</div>`;
  }
  const busy = updating || data.updating;
  const problems = problemsOf(data.sources);
  const failing = data.sources.filter((s) => s.last_error).length;
  const sources = [...data.sources]
    .filter((s) => !onlyProblems || s.last_error)
    .sort((a, b) => tagLabel(a.category).localeCompare(tagLabel(b.category)) || a.id.localeCompare(b.id));
  return html`<div class="lists">
    <${PageTitle} sub=${t("lists.intro")}>${t("lists.title")}</${PageTitle}>
    <${ErrorBox} error=${error} retry=${reload} />
    <section class="card" aria-labelledby="index-title">
      <h2 id="index-title">${t("lists.index")}</h2>
      <p>
        <strong>${t("lists.index_names", { n: formatNumber(data.index.names) })}</strong>
        ${data.index.built_at && html` · <span>${t("lists.index_built", { time: formatDateTime(data.index.built_at) })}</span>`}
      </p>
      <p>${t("lists.summary", { n: formatNumber(data.sources.length), errors: formatNumber(failing) })}</p>
      ${!data.index.current && html`<p class="notice notice-warn">${t("lists.index_stale")}</p>`}
      <p class="muted">${data.auto_update ? t("lists.auto_on", { n: data.update_interval_hours }) : t("lists.auto_off")}</p>
      <div class="row">
        <button type="button" class="btn btn-primary" disabled=${busy || starting} onClick=${() => update()}>
          ${t("lists.update_now")}</button>
        <span role="status" class="muted">${busy ? t("lists.updating") : ""}</span>
      </div>
    </section>
    <${Problems} problems=${problems} />
    <section class="card" aria-labelledby="sources-title">
      <h2 id="sources-title">${t("lists.sources")}</h2>
      ${failing > 0 && html`<label class="check"><input type="checkbox" checked=${onlyProblems}
        onChange=${(e) => setOnlyProblems(e.currentTarget.checked)} /> ${t("lists.only_problems")}</label>`}
      ${sources.length
        ? html`<div class="table-wrap"><table class="stack-table">
            <thead><tr>
              <th scope="col">${t("lists.category")}</th><th scope="col">${t("lists.provider")}</th>
              <th scope="col" class="num">${t("lists.entries")}</th><th scope="col" class="num">${t("lists.rejected")}</th>
              <th scope="col">${t("lists.updated")}</th><th scope="col">${t("lists.state")}</th>
            </tr></thead>
            <tbody>${sources.map((s) => html`<${SourceRow} key=${s.id} source=${s} />`)}</tbody>
          </table></div>`
        : html`<p class="muted">${t("lists.none")}</p>`}
    </section>
  </div>`;
}
