// The Bundles page: reads /bundles-ext/api/v1/* with the UI's session cookie, renders two
// tables, and offers a refresh button to users the API says may edit DAGs.
"use strict";

const API = new URL("../api/v1/", window.location.href);
let canRefresh = false;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  }
  return node;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function say(text) {
  const box = document.getElementById("message");
  box.textContent = text;
  box.hidden = !text;
}

async function call(path, options) {
  const response = await fetch(new URL(path, API), { credentials: "same-origin", ...options });
  if (response.status === 401 || response.status === 403) {
    throw new Error("You are not logged in to Airflow, or may not read bundles.");
  }
  return response;
}

function healthCell(bundle) {
  if (!bundle.active) return el("span", { class: "badge inactive" }, "inactive");
  if (bundle.healthy) return el("span", { class: "badge ok" }, "healthy");
  return el("span", { class: "badge bad", title: bundle.problems.join("; ") }, "unhealthy");
}

function errorCell(bundle) {
  const e = bundle.error;
  if (!e) return "—";
  const head = e.consecutive_failures
    ? `${e.consecutive_failures} failed in a row since ${when(e.failing_since)}`
    : `last seen ${when(e.at)} (recovered)`;
  return el("div", {}, el("div", { class: "muted" }, head), el("div", { class: "error" }, e.message));
}

function refreshCell(bundle) {
  if (!canRefresh) return "";
  const button = el("button", { type: "button", "data-bundle": bundle.name }, "Refresh");
  button.disabled = !bundle.active || bundle.refresh.pending;
  if (bundle.refresh.pending) button.textContent = "Requested";
  button.addEventListener("click", () => requestRefresh(bundle.name, button));
  return button;
}

function bundleRow(b) {
  const r = b.refresh;
  return el("tr", { "data-bundle": b.name },
    el("td", {}, el("strong", {}, b.name)),
    el("td", {}, healthCell(b)),
    el("td", {}, b.source === "static" ? "static list" : (b.source ?? "—")),
    el("td", {}, el("code", {}, b.version ?? "—")),
    el("td", {}, when(r.ended_at || b.last_refreshed)),
    el("td", {}, r.duration_s === null ? "—" : `${r.duration_s.toFixed(2)} s`),
    el("td", {}, errorCell(b)),
    el("td", {}, b.storage ? `${bytes(b.storage.bytes)}, ${b.storage.versions} versions` : "—"),
    el("td", { class: "muted" }, b.reporter ?? "—"),
    el("td", {}, refreshCell(b)));
}

function fileRow(f) {
  return el("tr", { "data-file": f.file },
    el("td", {}, el("code", {}, f.file)), el("td", {}, f.bundle ?? "—"),
    el("td", {}, when(f.since)), el("td", { class: "error" }, f.error));
}

function render(report) {
  const health = document.getElementById("health");
  const ok = report.health.status === "healthy";
  health.textContent = ok ? "all healthy" : `unhealthy: ${report.health.unhealthy.join(", ")}`;
  health.className = `badge ${ok ? "ok" : "bad"}`;
  document.querySelector("#bundles tbody").replaceChildren(...report.bundles.map(bundleRow));
  const files = report.invalid_files.map(fileRow);
  if (!files.length) files.push(el("tr", {}, el("td", { colSpan: 4, class: "muted" }, "none")));
  document.querySelector("#invalid-files tbody").replaceChildren(...files);
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function requestRefresh(name, button) {
  button.disabled = true;
  try {
    const response = await call(`bundles/${encodeURIComponent(name)}/refresh`, { method: "POST" });
    const body = await response.json();
    if (response.status !== 202) throw new Error(body.detail || `refresh failed (${response.status})`);
    button.textContent = "Requested";
    say(`Refresh of ${name} requested; its DAG processor picks it up within a second or two.`);
  } catch (err) {
    button.disabled = false;
    say(err.message);
  }
}

async function load() {
  try {
    const response = await call("bundles");
    render(await response.json());
  } catch (err) {
    say(err.message);
  }
}

async function start() {
  try {
    const response = await call("permissions");
    canRefresh = (await response.json()).can_refresh === true;
  } catch (err) {
    say(err.message);
    return;
  }
  await load();
  setInterval(load, 5000);
}

start();
