// People (profiles) and their devices.
import { html, useState } from "../lib/html.js";
import { get, post, patch, del } from "../lib/api.js";
import { t, errorText } from "../lib/i18n.js";
import { formatDateTime, ago } from "../lib/format.js";
import { showToast } from "../lib/toast.js";
import { useLoader, useAction, Loading, ErrorBox, PageTitle } from "../lib/ui.js";

function deviceTitle(device) {
  return device.label || t("people.unnamed");
}

function deviceName(device) {
  return device.label || device.name || device.mac || device.ip || t("people.unnamed");
}

function AddProfile({ profiles, reload }) {
  const [name, setName] = useState("");
  const [copyFrom, setCopyFrom] = useState("");
  const [error, setError] = useState("");
  const [add, busy] = useAction(async () => {
    setError("");
    try {
      const created = await post("/api/profiles", { name: name.trim(), copy_from: copyFrom ? Number(copyFrom) : null });
      showToast(t("people.created", { name: created.name }));
      setName("");
      await reload();
    } catch (err) {
      if (err.field === "name") setError(errorText(err));
      else throw err;
    }
  });
  return html`<form class="card" onSubmit=${(e) => { e.preventDefault(); if (name.trim()) add(); }}>
    <h3>${t("people.add")}</h3>
    <div class="field">
      <label for="new-profile-name">${t("people.name")}</label>
      <input id="new-profile-name" value=${name} maxlength="64" placeholder=${t("people.name_hint")}
        onInput=${(e) => setName(e.currentTarget.value)} aria-invalid=${error ? "true" : undefined}
        aria-describedby=${error ? "new-profile-error" : undefined} />
      ${error && html`<p id="new-profile-error" class="field-error">${error}</p>`}
    </div>
    <div class="field">
      <label for="new-profile-copy">${t("people.copy_from")}</label>
      <select id="new-profile-copy" value=${copyFrom} onChange=${(e) => setCopyFrom(e.currentTarget.value)}>
        <option value="">${t("people.copy_none")}</option>
        ${profiles.map((p) => html`<option key=${p.id} value=${String(p.id)}>${p.name}</option>`)}
      </select>
    </div>
    <button type="submit" class="btn btn-primary" disabled=${busy || !name.trim()}>${t("people.create")}</button>
  </form>`;
}

function RenameForm({ id, current, label, onSave, onCancel }) {
  const [value, setValue] = useState(current || "");
  const inputId = `rename-${id}`;
  return html`<form class="inline-form" onSubmit=${(e) => { e.preventDefault(); onSave(value); }}>
    <label class="sr-only" for=${inputId}>${label}</label>
    <input id=${inputId} value=${value} maxlength="64" onInput=${(e) => setValue(e.currentTarget.value)}
      ref=${(el) => { if (el && !el.dataset.focused) { el.dataset.focused = "1"; el.focus(); } }} />
    <button type="submit" class="btn btn-primary btn-small">${t("common.save")}</button>
    <button type="button" class="btn btn-small" onClick=${onCancel}>${t("common.cancel")}</button>
  </form>`;
}

function ProfileCard({ profile, deviceCount, reload }) {
  const [renaming, setRenaming] = useState(false);
  const [run, busy] = useAction(async (body, message) => {
    await patch(`/api/profiles/${profile.id}`, body);
    showToast(message || t("common.saved"));
    await reload();
  });
  const [remove, removing] = useAction(async () => {
    if (!window.confirm(t("people.delete_confirm", { name: profile.name }))) return;
    const result = await del(`/api/profiles/${profile.id}`);
    showToast(t("people.deleted", { name: profile.name, n: result ? result.devices_moved : 0 }));
    await reload();
  });
  const headingId = `profile-${profile.id}-title`;
  return html`<section class="card profile-row" aria-labelledby=${headingId}>
    <div class="profile-title">
      ${renaming
        ? html`<${RenameForm} id=${"p" + profile.id} current=${profile.name} label=${t("people.rename_label", { name: profile.name })}
            onCancel=${() => setRenaming(false)}
            onSave=${async (name) => { await run({ name: name.trim() }); setRenaming(false); }} />`
        : html`<h3 id=${headingId}>${profile.name}</h3>`}
      ${profile.is_default && html`<span class="badge badge-plain">${t("people.default")}</span>`}
      ${profile.is_new_devices_profile && html`<span class="badge badge-new">${t("people.new_devices_profile")}</span>`}
    </div>
    <p class="muted small">${t("home.devices", { n: deviceCount })}${profile.is_default ? " · " + t("people.default_help") : ""}</p>
    <div class="row">
      <a class="btn btn-small" href=${`#/profile/${profile.id}`} aria-describedby=${headingId}>${t("people.rules")}</a>
      <a class="btn btn-small" href=${`#/schedule/${profile.id}`} aria-describedby=${headingId}>${t("people.schedule")}</a>
      ${!renaming && html`<button type="button" class="btn btn-small" aria-describedby=${headingId} onClick=${() => setRenaming(true)}>${t("common.rename")}</button>`}
      ${!profile.is_default && html`<button type="button" class="btn btn-small" disabled=${busy} aria-describedby=${headingId}
          onClick=${() => run({ is_default: true })}>${t("people.make_default")}</button>`}
      <button type="button" class="btn btn-small" disabled=${busy} aria-describedby=${headingId}
        onClick=${() => run({ is_new_devices_profile: !profile.is_new_devices_profile })}>
        ${profile.is_new_devices_profile ? t("people.stop_new_devices") : t("people.make_new_devices")}</button>
      ${!profile.is_default && html`<button type="button" class="btn btn-small btn-danger" disabled=${removing} aria-describedby=${headingId}
          onClick=${() => remove()}>${t("common.delete")}</button>`}
    </div>
  </section>`;
}

function DeviceCard({ device, profiles, reload }) {
  const [editing, setEditing] = useState(false);
  const [save, busy] = useAction(async (body, message) => {
    await patch(`/api/devices/${device.id}`, body);
    showToast(message || t("common.saved"));
    await reload();
  });
  const [forget, forgetting] = useAction(async () => {
    if (!window.confirm(t("people.forget_confirm", { device: deviceName(device) }))) return;
    await del(`/api/devices/${device.id}`);
    showToast(t("people.forgotten", { device: deviceName(device) }));
    await reload();
  });
  const selectId = `device-${device.id}-profile`;
  const [choice, setChoice] = useState(device.profile_id == null ? "" : String(device.profile_id));
  const give = (value) => {
    const profileId = Number(value);
    const profile = profiles.find((p) => p.id === profileId);
    save({ profile_id: profileId }, t("people.moved", { device: deviceName(device), name: profile ? profile.name : "" }));
  };
  // A known device moves as soon as another person is chosen; a new one waits
  // for "Give" (giving it to the profile it already uses must also clear "new").
  const onMove = (e) => {
    setChoice(e.currentTarget.value);
    if (!device.is_new) give(e.currentTarget.value);
  };
  return html`<li class=${"device-card" + (device.is_new ? " is-new" : "")}>
    <div class="device-main">
      ${device.is_new && html`<span class="badge badge-new">${t("people.new_badge")}</span>`}
      ${editing
        ? html`<${RenameForm} id=${"d" + device.id} current=${device.label || ""} label=${t("people.label")}
            onCancel=${() => setEditing(false)}
            onSave=${async (label) => { await save({ label: label.trim() || null }); setEditing(false); }} />`
        : html`<strong class="device-name">${deviceTitle(device)}</strong>
          <button type="button" class="btn-link btn-small" onClick=${() => setEditing(true)}
            aria-label=${t("common.rename") + ": " + deviceTitle(device)}>${t("common.rename")}</button>`}
    </div>
    <dl class="device-facts">
      ${device.name && html`<dt>${t("people.dhcp_name")}</dt><dd><code>${device.name}</code></dd>`}
      <dt>${t("people.address")}</dt><dd>${[device.ip, device.mac].filter(Boolean).join(" · ")}</dd>
      <dt>${t("people.last_seen")}</dt><dd><time datetime=${device.last_seen} title=${formatDateTime(device.last_seen)}>${ago(device.last_seen)}</time></dd>
      <dt>${t("people.first_seen")}</dt><dd><time datetime=${device.first_seen}>${formatDateTime(device.first_seen)}</time></dd>
    </dl>
    <div class="device-controls">
      <div>
        <label class="field-label" for=${selectId}>${t("people.belongs_to")}</label>
        <div class="row">
          <select id=${selectId} value=${choice} disabled=${busy} onChange=${onMove}>
            ${device.profile_id == null && html`<option value="">—</option>`}
            ${profiles.map((p) => html`<option key=${p.id} value=${String(p.id)}>${p.name}</option>`)}
          </select>
          ${device.is_new && html`<button type="button" class="btn btn-primary" disabled=${busy || !choice}
            onClick=${() => give(choice)}>${t("home.give")}</button>`}
        </div>
      </div>
      <div>
        <button type="button" class="btn btn-danger btn-small" disabled=${forgetting} onClick=${() => forget()}
          aria-label=${t("people.forget") + ": " + deviceName(device)}>${t("people.forget")}</button>
      </div>
    </div>
  </li>`;
}

function DeviceGroup({ id, title, devices, profiles, reload, level = "h3", attention = false }) {
  const Heading = level;
  return html`<section class=${"card" + (attention ? " card-attention" : "")} aria-labelledby=${id}>
    <${Heading} id=${id}>${title} <span class="muted small">(${devices.length})</span></${Heading}>
    ${devices.length
      ? html`<ul class="plain-list device-grid">${devices.map((d) => html`<${DeviceCard} key=${d.id} device=${d} profiles=${profiles} reload=${reload} />`)}</ul>`
      : html`<p class="muted">${t("people.no_devices")}</p>`}
  </section>`;
}

export default function Page() {
  const { data, error, loading, reload } = useLoader(async () => {
    const [profiles, devices] = await Promise.all([get("/api/profiles"), get("/api/devices")]);
    return { profiles, devices };
  }, [], 30000);

  if (!data) {
    return html`<div><${PageTitle}>${t("people.title")}</${PageTitle}>
      ${loading ? html`<${Loading} />` : html`<${ErrorBox} error=${error} retry=${reload} />`}</div>`;
  }
  const { profiles, devices } = data;
  const newDevices = devices.filter((d) => d.is_new);
  const known = devices.filter((d) => !d.is_new);
  return html`<div class="people">
    <${PageTitle} sub=${t("people.intro")}>${t("people.title")}</${PageTitle}>
    <${ErrorBox} error=${error} retry=${reload} />
    ${newDevices.length > 0 && html`<${DeviceGroup} id="devices-new" level="h2" attention=${true}
      title=${t("people.new_devices")} devices=${newDevices} profiles=${profiles} reload=${reload} />`}
    <h2>${t("people.profiles")}</h2>
    <div class="cards">
      ${profiles.map((p) => html`<${ProfileCard} key=${p.id} profile=${p}
        deviceCount=${devices.filter((d) => d.profile_id === p.id).length} reload=${reload} />`)}
      <${AddProfile} profiles=${profiles} reload=${reload} />
    </div>
    <h2>${t("people.devices")}</h2>
    ${profiles.map((p) => html`<${DeviceGroup} key=${p.id} id=${`devices-of-${p.id}`}
      title=${t("people.devices_of", { name: p.name })} devices=${known.filter((d) => d.profile_id === p.id)}
      profiles=${profiles} reload=${reload} />`)}
  </div>`;
}
