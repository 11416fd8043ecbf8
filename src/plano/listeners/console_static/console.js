// The Plano console: polls the admin listener's /console/api and renders it. No dependencies.
"use strict";
const POLL_MS = 1000; // the live list's poll rate (bench/ab.py's console set polls at this rate)
const KEEP = 500; // rows the page keeps
const state = { since: 0, rows: [], paused: false, selected: null, tab: "requests" };
const $ = (sel) => document.querySelector(sel);

function token() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) sessionStorage.setItem("plano-console-token", decodeURIComponent(m[1]));
  return sessionStorage.getItem("plano-console-token");
}

async function api(path) {
  const headers = {};
  const t = token();
  if (t) headers.authorization = "Bearer " + t;
  const res = await fetch("/console/api/" + path, { headers });
  if (res.status === 401) {
    $("#token-form").hidden = false;
    throw new Error("a console token is needed");
  }
  const doc = await res.json();
  if (!res.ok) throw new Error((doc.error && doc.error.message) || res.statusText);
  return doc;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return e;
}

const fmt = (v, digits = 1) => (v === null || v === undefined ? "–" : typeof v === "number" ? v.toFixed(digits) : String(v));
const money = (v) => (v === null || v === undefined ? "–" : v.toFixed(6));
const clock = (ms) => new Date(ms).toISOString().slice(11, 23);

function status(text, bad) {
  const s = $("#status");
  s.textContent = text;
  s.className = bad ? "err" : "";
}

function rowText(r) {
  return [r.method, r.path, r.listener, r.requested, r.model, r.provider, r.key, r.team, ...(r.flags || [])]
    .join(" ").toLowerCase();
}

// A word matches a status only whole or as a class (`4xx`), so "200" never matches a 404 row
// through its id,
// a request id by its first 8+ characters, anything else as part of the row's names and flags.
function matchesWord(r, w) {
  if (String(r.status) === w) return true;
  if (/^[1-5]xx$/.test(w) && String(r.status)[0] === w[0]) return true;
  if (w.length >= 8 && r.rid && String(r.rid).toLowerCase().startsWith(w)) return true;
  return rowText(r).includes(w);
}

function matches(r, filter) {
  return filter.split(/\s+/).filter(Boolean).every((w) => matchesWord(r, w));
}

function renderRows() {
  const filter = $("#filter").value.trim().toLowerCase();
  const body = $("#requests tbody");
  const shown = state.rows.filter((r) => matches(r, filter)).slice(-KEEP).reverse();
  body.replaceChildren(...shown.map((r) => {
    const tr = el("tr", { "data-id": r.id },
      el("td", {}, clock(r.t)), el("td", {}, r.method), el("td", {}, r.listener),
      el("td", {}, (r.requested || "–") + " → " + (r.model || "–")), el("td", {}, r.provider || "–"),
      el("td", { class: r.status >= 400 ? "err" : "" }, String(r.status)),
      el("td", {}, fmt(r.ms)), el("td", {}, fmt(r.ttft)),
      el("td", {}, r.pt === null && r.ct === null ? "–" : `${r.pt ?? 0}/${r.ct ?? 0}`),
      el("td", {}, money(r.cost)), el("td", {}, fmt(r.overhead, 2)),
      el("td", {}, ...(r.flags || []).map((f) => el("span", { class: "flag " + f }, f))));
    if (r.id === state.selected) tr.classList.add("sel");
    tr.addEventListener("click", () => showDetail(r.id));
    return tr;
  }));
  $("#count").textContent = `${shown.length} of ${state.rows.length} requests`;
}

async function pollRequests() {
  if (state.paused || state.tab !== "requests") return;
  try {
    const doc = await api(`requests?since=${state.since}`);
    const seen = new Set(state.rows.map((r) => r.id));
    for (const r of doc.data) {
      if (!seen.has(r.id)) state.rows.push(r);
      state.since = Math.max(state.since, r.f);
    }
    state.rows = state.rows.slice(-KEEP);
    renderRows();
    status(state.paused ? "paused" : "live"); // paused while this poll was in flight
  } catch (e) {
    status(String(e.message || e), true);
  }
}

function dl(pairs) {
  const d = el("dl");
  for (const [k, v] of pairs) {
    if (v === null || v === undefined || v === "" || (Array.isArray(v) && !v.length)) continue;
    d.append(el("dt", {}, k), el("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v)));
  }
  return d;
}

function traceView(spans) {
  const total = spans.length ? Math.max(spans[0][3], 0.001) : 1;
  return spans.map(([name, depth, start, dur]) => {
    const bar = el("div", { class: "sbar" });
    bar.style.left = `${(100 * start) / total}%`;
    bar.style.width = `${Math.max(0.5, (100 * dur) / total)}%`;
    const label = el("span", {}, name);
    label.style.paddingLeft = `${depth * 12}px`;
    return el("div", { class: "span" }, label, el("div", { class: "track" }, bar), el("span", {}, fmt(dur, 2) + " ms"));
  });
}

function why(routing) {
  if (routing.kind === undefined) return `model resolved by ${routing.route || "–"} match; no router ran`;
  if (routing.skip) return `router skipped: ${routing.skip}`;
  if (routing.fallback) return "the router chose nothing: the requested or default model served";
  return `the ${routing.kind} router selected ${routing.selected || "–"} (${routing.outcome || routing.decision || "–"})`;
}

async function showDetail(id) {
  state.selected = id;
  renderRows();
  let e;
  try {
    e = await api("requests/" + encodeURIComponent(id));
  } catch (err) {
    status(String(err.message || err), true);
    return;
  }
  $("#detail").hidden = false;
  $("#detail-title").textContent = `${e.method} ${e.path} → ${e.status} (${e.rid || e.id})`;
  $("#detail-trace").replaceChildren(...traceView(e.trace || []));
  const r = e.routing || {};
  $("#detail-routing").replaceChildren(dl([
    ["why", why(r)], ["route", r.route], ["outcome", r.outcome || r.decision], ["selected", r.selected],
    ["router ms", r.ms], ["session", r.session], ["session events", r.session_events], ["switch", r.switch],
    ["candidates", (e.candidates || []).map((c) => `${c.route}: ${c.models.join(", ")}`).join("; ")],
  ]));
  const a = e.attempts || {};
  $("#detail-attempts").replaceChildren(dl([
    ["attempts", a.count], ["retried/failover", a.count > 1 ? "yes" : "no"], ["continued", a.continued ? "yes" : "no"],
    ["upstream status", a.upstream_status], ["error", a.error],
    ["billed", (a.billed || []).map((b) => `${b[0]}: ${b[1] ?? 0}/${b[2] ?? 0}`).join("; ")],
  ]));
  const guards = (e.guards || []).map((g) => [g[0], `${g[1]} by ${g[2]} (score ${g[3]})${g[4] ? " rule " + g[4] : ""}`]);
  const pii = (e.pii || []).map((p) => [p[0], `${p[1]} ${p[2]} ×${p[3]}`]);
  $("#detail-guards").replaceChildren(guards.length || pii.length ? dl([...guards, ...pii]) : "none ran");
  const s = e.signals;
  if (!s) {
    $("#detail-signals").replaceChildren("not analysed");
  } else {
    $("#detail-signals").replaceChildren(
      dl([["quality", `${s.quality} (score ${s.score})`], ["flagged", s.flagged ? "yes" : "no"], ["turns", s.turns]]),
      el("ul", {}, ...s.instances.map(([kind, index, conf, snippet]) =>
        el("li", {}, `${kind} (message ${index}, ${conf}) `, el("span", { class: "snippet" }, snippet)))),
    );
  }
  $("#detail-body").replaceChildren(...(e.body ? [el("h3", {}, "Request body"), el("pre", {}, e.body)] : []));
}

function table(node, head, rows) {
  node.replaceChildren(el("tr", {}, ...head.map((h) => el("th", {}, h))), ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, c)))));
}

function summaryRows(groups) {
  return Object.entries(groups).map(([name, g]) => [
    name, String(g.requests), (100 * g.error_rate).toFixed(1) + "%", fmt(g.p50_ms), fmt(g.p95_ms),
    fmt(g.p50_ttft_ms), fmt(g.p95_ttft_ms), `${g.prompt_tokens}/${g.completion_tokens}`, money(g.spend_usd),
  ]);
}

async function loadTab() {
  try {
    if (state.tab === "summary") {
      const doc = await api("summary?minutes=" + $("#minutes").value);
      const head = ["", "requests", "errors", "p50 ms", "p95 ms", "p50 TTFT", "p95 TTFT", "tokens in/out", "spend $"];
      table($("#summary-models"), ["model", ...head.slice(1)], summaryRows(doc.models));
      table($("#summary-routes"), ["route / outcome", ...head.slice(1)], summaryRows(doc.routes));
    } else if (state.tab === "keys") {
      const doc = await api("keys");
      $("#keys-note").textContent = doc.enabled ? "" : "Access control is off: no gateway keys.";
      table($("#keys"), ["name", "team", "id", "budget $", "spent $", "period", "rpm", "tpm", "revoked"],
        doc.data.map((k) => [k.name, k.team, k.id, fmt(k.budget_usd, 2), money(k.spent_usd ?? null), k.period, k.rpm, k.tpm, k.revoked_at ? "yes" : ""].map((v) => String(v ?? "–"))));
    } else if (state.tab === "config") {
      const doc = await api("config");
      $("#config-meta").textContent = `${doc.source}, loaded ${new Date(doc.loaded_at * 1000).toISOString()}`;
      $("#config").textContent = JSON.stringify(doc.config, null, 2);
    }
    status("live");
  } catch (e) {
    status(String(e.message || e), true);
  }
}

function selectTab(name) {
  state.tab = name;
  for (const b of document.querySelectorAll("nav button")) b.classList.toggle("on", b.dataset.tab === name);
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== "tab-" + name;
  if (name === "requests") pollRequests(); else loadTab();
}

document.querySelectorAll("nav button").forEach((b) => b.addEventListener("click", () => selectTab(b.dataset.tab)));
$("#filter").addEventListener("input", renderRows);
$("#minutes").addEventListener("change", loadTab);
$("#pause").addEventListener("click", () => {
  state.paused = !state.paused;
  $("#pause").textContent = state.paused ? "Resume" : "Pause";
  $("#pause").setAttribute("aria-pressed", String(state.paused));
  status(state.paused ? "paused" : "live");
});
$("#token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("plano-console-token", $("#token").value);
  $("#token-form").hidden = true;
  selectTab(state.tab);
});
setInterval(pollRequests, POLL_MS);
setInterval(() => { if (state.tab === "summary") loadTab(); }, 5 * POLL_MS);
pollRequests();
