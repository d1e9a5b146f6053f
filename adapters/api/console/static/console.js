// chargelog web console: station map, sessions, charge point pages, transaction timelines and
// operator commands. Plain JavaScript, no build step. Live updates come from /console/ws (the
// project's catch-up push stream: resume by position, no polling); lists are virtualised so a
// 10,000-station network re-renders only the rows on screen that a push changed.
"use strict";

const ROW_HEIGHT = 32;
const state = {
  credential: sessionStorage.getItem("chargelog.credential") || "",
  me: null,
  stations: new Map(),      // chargePointId -> ChargePointView (mutated by pushes)
  sites: new Map(),         // siteId -> SiteView
  sessions: new Map(),      // transactionId -> SessionView
  commands: new Map(),      // correlationId -> {at, chargePointId, action, outcome, detail}
  position: null,           // resume position of the push stream
  socket: null,
  retryMs: 500,
  view: null,
  cp: null,                 // the charge point page's id
};

const $ = (id) => document.getElementById(id);
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}
const kWh = (wh) => (wh == null ? "–" : (wh / 1000).toFixed(2) + " kWh");
const kW = (w) => (w == null ? "–" : (w / 1000).toFixed(1) + " kW");
const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "–");

async function api(path, options = {}) {
  const response = await fetch(path, {...options, headers: {
    "Authorization": "Bearer " + state.credential, "Content-Type": "application/json", ...(options.headers || {})}});
  if (response.status === 401) { signOut("Your credentials were refused."); throw new Error("unauthorized"); }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || body.detail || response.statusText);
  return body;
}

// -- virtualised table --------------------------------------------------------------------
class VirtualTable {
  // columns: [{title, width, render(item) -> string|Node}]; keyOf(item); rows rendered on screen only
  constructor(container, label, columns, items) {
    this.columns = columns; this.items = items; this.keys = []; this.index = new Map();
    this.filter = () => true; this.rendered = new Map(); this.dirty = new Set(); this.frame = 0;
    const template = columns.map((c) => c.width || "1fr").join(" ");
    this.root = el("div", {class: "vt", role: "table", "aria-label": label, tabindex: "0"});
    const head = el("div", {class: "vt-head", role: "row", "aria-rowindex": "1"});
    head.style.gridTemplateColumns = template;
    for (const c of columns) head.append(el("span", {role: "columnheader", text: c.title}));
    this.body = el("div", {class: "vt-body", role: "rowgroup"});
    this.template = template;
    this.root.append(head, this.body);
    container.replaceChildren(this.root);
    this.root.addEventListener("scroll", () => this.schedule(true));
    this.refilter();
  }
  refilter() {
    this.keys = [...this.items.keys()].filter((k) => this.filter(this.items.get(k))).sort(this.compare || undefined);
    this.index = new Map(this.keys.map((k, i) => [k, i]));
    this.root.setAttribute("aria-rowcount", String(this.keys.length + 1));
    this.body.style.height = this.keys.length * ROW_HEIGHT + "px";
    for (const row of this.rendered.values()) row.remove();
    this.rendered.clear();
    this.schedule(true);
  }
  changed(key) {  // one item changed: re-render its row if it is on screen
    if (!this.index.has(key)) { if (this.items.has(key) && this.filter(this.items.get(key))) this.refilter(); return; }
    if (!this.items.has(key)) { this.refilter(); return; }
    if (this.rendered.has(key)) { this.dirty.add(key); this.schedule(false); }
  }
  schedule(all) {
    if (all) this.all = true;
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.render(); });
  }
  render() {
    if (this.all) {
      this.all = false;
      const top = this.root.scrollTop, height = this.root.clientHeight || 400;
      const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - 5);
      const last = Math.min(this.keys.length, Math.ceil((top + height) / ROW_HEIGHT) + 5);
      const wanted = new Set(this.keys.slice(first, last));
      for (const [key, row] of this.rendered) if (!wanted.has(key)) { row.remove(); this.rendered.delete(key); }
      for (let i = first; i < last; i++) {
        const key = this.keys[i];
        if (!this.rendered.has(key)) { const row = this.row(key, i); this.rendered.set(key, row); this.body.append(row); }
      }
    }
    for (const key of this.dirty) {
      const old = this.rendered.get(key);
      if (old) { const row = this.row(key, this.index.get(key)); old.replaceWith(row); this.rendered.set(key, row); }
    }
    this.dirty.clear();
  }
  row(key, i) {
    const item = this.items.get(key);
    const row = el("div", {class: "vt-row", role: "row", "aria-rowindex": String(i + 2)});
    row.style.top = i * ROW_HEIGHT + "px";
    row.style.gridTemplateColumns = this.template;
    for (const c of this.columns) {
      const value = c.render(item);
      const cell = el("span", {role: "cell"});
      cell.append(value instanceof Node ? value : String(value));
      row.append(cell);
    }
    return row;
  }
}

function availabilityCell(item) {
  const span = el("span");
  span.append(el("span", {class: "dot " + item.availability, "aria-hidden": "true"}),
    `${item.available}/${item.total} ${item.availability.replace("_", " ")}`);
  return span;
}
const cpLink = (id) => el("a", {href: "#/cp/" + encodeURIComponent(id), text: id});
const txLink = (tx) => el("a", {href: "#/tx/" + tx, text: "#" + tx});

let tables = {};
function buildTables() {
  tables.sites = new VirtualTable($("sites-table"), "Sites", [
    {title: "Site", render: (s) => s.name || s.siteId},
    {title: "Address", render: (s) => s.address || "–"},
    {title: "Free / total", render: availabilityCell},
  ], state.sites);
  tables.cps = new VirtualTable($("cps-table"), "Charge points", [
    {title: "Charge point", width: "10rem", render: (c) => cpLink(c.chargePointId)},
    {title: "Site", render: (c) => c.siteId || "–"},
    {title: "Online", width: "5rem", render: (c) => (c.online ? "online" : "offline")},
    {title: "Status", width: "10rem", render: (c) => c.status},
    {title: "Free / total", width: "11rem", render: availabilityCell},
    {title: "Connectors", width: "2fr", render: (c) => c.connectors.map((k) => `${k.connectorId}: ${k.status}`).join(" · ")},
  ], state.stations);
  tables.sessions = new VirtualTable($("sessions-table"), "Active sessions", [
    {title: "Transaction", width: "8rem", render: (s) => txLink(s.transactionId)},
    {title: "Charge point", render: (s) => cpLink(s.chargePointId)},
    {title: "Connector", width: "6rem", render: (s) => s.connectorId},
    {title: "User / idTag", render: (s) => `${s.userId || "–"} / ${s.idTag || "–"}`},
    {title: "Energy", render: (s) => kWh(s.energyWh)},
    {title: "Power", render: (s) => kW(s.powerW)},
    {title: "Started", render: (s) => time(s.startTime)},
  ], state.sessions);
  tables.sessions.compare = (a, b) => b - a;
  tables.commands = new VirtualTable($("commands-table"), "Commands", [
    {title: "Sent / seen", width: "8rem", render: (c) => time(c.at)},
    {title: "Charge point", render: (c) => cpLink(c.chargePointId)},
    {title: "Action", render: (c) => c.action},
    {title: "Outcome", render: (c) => c.outcome + (c.detail ? ` (${c.detail})` : "")},
  ], state.commands);
  tables.commands.compare = (a, b) => (state.commands.get(b).at || "").localeCompare(state.commands.get(a).at || "");
  $("cp-filter").addEventListener("input", (e) => {
    const q = e.target.value.trim().toLowerCase();
    tables.cps.filter = (c) => !q || c.chargePointId.toLowerCase().includes(q) || (c.siteId || "").toLowerCase().includes(q)
      || c.status.toLowerCase().includes(q);
    tables.cps.refilter();
  });
}

// -- map ----------------------------------------------------------------------------------
let map = null, markers = new Map();
function buildMap() {
  const located = [...state.sites.values()].filter((s) => s.latitude != null && s.longitude != null);
  if (!window.L || !state.me.tileUrl || !located.length) {
    $("map-note").textContent = located.length ? "Map tiles are switched off: the site list below shows every site." : "";
    return;
  }
  $("map").hidden = false;
  map = L.map("map", {keyboard: true});
  let loaded = false;
  L.tileLayer(state.me.tileUrl, {attribution: state.me.tileAttribution, maxZoom: 19})
    .on("tileload", () => { loaded = true; $("map-note").textContent = ""; })
    .on("tileerror", () => {
      if (!loaded) { $("map").hidden = true; $("map-note").textContent = "Map tiles could not be loaded: the site list below shows every site."; }
    }).addTo(map);
  for (const site of located) {
    const marker = L.circleMarker([site.latitude, site.longitude], {radius: 9, weight: 2});
    marker.bindTooltip("").addTo(map);
    markers.set(site.siteId, marker);
    paintMarker(site);
  }
  map.fitBounds(L.latLngBounds(located.map((s) => [s.latitude, s.longitude])).pad(0.3));
}
const COLOURS = {available: "#136c2e", in_use: "#0b57a8", unavailable: "#a8201a"};
function paintMarker(site) {
  const marker = markers.get(site.siteId);
  if (!marker) return;
  marker.setStyle({color: COLOURS[site.availability], fillColor: COLOURS[site.availability], fillOpacity: 0.7});
  marker.setTooltipContent(`${site.name || site.siteId}: ${site.available}/${site.total}`);
}
function refreshSite(siteId) {  // sums over the site's charge points (websocket-communication-protocol.md)
  const site = state.sites.get(siteId);
  if (!site) return;
  let available = 0, total = 0, inUse = 0;
  for (const cp of state.stations.values()) if (cp.siteId === siteId) {
    available += cp.available; total += cp.total; inUse += cp.availability === "in_use" ? 1 : 0;
  }
  site.available = available; site.total = total;
  site.availability = available > 0 ? "available" : inUse > 0 ? "in_use" : "unavailable";
  tables.sites.changed(siteId);
  paintMarker(site);
}

// -- live updates -------------------------------------------------------------------------
function station(id) {
  let cp = state.stations.get(id);
  if (!cp) {
    cp = {chargePointId: id, siteId: null, online: false, status: "Offline", availability: "unavailable",
          available: 0, total: 0, connectors: []};
    state.stations.set(id, cp);
  }
  return cp;
}
function apply(event) {
  const p = event.payload, id = event.chargePointId;
  switch (event.type) {
    case "station.connected": case "station.disconnected":
      station(id).online = event.type === "station.connected"; break;
    case "station.status.changed": {
      const cp = station(id);
      Object.assign(cp, {status: p.status, availability: p.availability, available: p.available, total: p.total,
                         maintenance: p.maintenance});
      if (cp.siteId) refreshSite(cp.siteId);
      break;
    }
    case "connector.status.changed": {
      if (!p.connectorId) break;
      const cp = station(id);
      const connector = cp.connectors.find((c) => c.connectorId === p.connectorId);
      const value = {connectorId: p.connectorId, status: p.status, errorCode: p.errorCode, transactionId: p.transactionId};
      if (connector) Object.assign(connector, value);
      else cp.connectors = [...cp.connectors, value].sort((a, b) => a.connectorId - b.connectorId);
      break;
    }
    case "transaction.started":
      state.sessions.set(p.transactionId, {transactionId: p.transactionId, chargePointId: id, connectorId: p.connectorId,
        userId: p.userId, idTag: p.idTag, energyWh: 0, powerW: null, startTime: p.startTime, status: "active"});
      tables.sessions.refilter(); break;
    case "meter.update": {
      const s = state.sessions.get(p.transactionId);
      if (s) { Object.assign(s, {energyWh: p.energyWh, powerW: p.powerW}); tables.sessions.changed(p.transactionId); }
      break;
    }
    case "transaction.stopped":
      if (state.sessions.delete(p.transactionId)) tables.sessions.refilter();
      break;
    default:
      if (event.type.startsWith("command.")) commandOutcome(event);
  }
  if (state.stations.has(id)) tables.cps.changed(id);
  if (state.view === "cp" && state.cp === id) renderConnectors();
  $("summary").textContent = summary();
  $("sessions-summary").textContent = `${state.sessions.size} active sessions`;
}
function summary() {
  let online = 0, charging = 0;
  for (const cp of state.stations.values()) { online += cp.online ? 1 : 0; charging += cp.status === "Charging" ? 1 : 0; }
  return `${state.stations.size} charge points, ${online} online, ${charging} charging, ${state.sessions.size} active sessions`;
}

function connect() {
  if (state.socket) return;
  const socket = new WebSocket(location.origin.replace(/^http/, "ws") + "/console/ws");
  state.socket = socket;
  socket.onopen = () => socket.send(JSON.stringify({credential: state.credential, after: state.position}));
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.kind === "ready") { $("live").textContent = "live"; state.retryMs = 500; return; }
    state.position = data.position;
    apply(data);
  };
  socket.onclose = (e) => {
    state.socket = null;
    if (!state.credential) return;
    $("live").textContent = "reconnecting…";
    if (e.code === 4401 || e.code === 4403) { signOut("The push stream refused your credentials."); return; }
    const again = e.code === 4410 ? () => loadSnapshot().then(connect) : connect;  // position gone: reload
    setTimeout(again, state.retryMs);
    state.retryMs = Math.min(state.retryMs * 2, 10000);
  };
}

// -- commands -----------------------------------------------------------------------------
async function sendCommand(chargePointId, action, payload) {
  const at = new Date().toISOString();
  try {
    const {correlationId} = await api("/api/operator/commands", {method: "POST",
      body: JSON.stringify({chargePointId, action, payload})});
    const known = state.commands.get(correlationId);  // the outcome may have been pushed first
    state.commands.set(correlationId, {at, chargePointId, action: label(action, payload),
      outcome: known ? known.outcome : "pending", detail: known ? known.detail : ""});
    tables.commands.refilter();
    renderOutcomes();
  } catch (error) {
    announce(`${label(action, payload)} on ${chargePointId}: not sent (${error.message})`);
  }
}
function label(action, payload) {
  if (action === "Reset") return `Reset (${payload.type})`;
  if (payload.connectorId) return `${action} (connector ${payload.connectorId})`;
  if (payload.transactionId) return `${action} (#${payload.transactionId})`;
  return action;
}
function commandOutcome(event) {
  const p = event.payload, cid = event.correlationId || p.correlationId;
  if (!cid) return;
  const entry = state.commands.get(cid) || {at: event.recordedAt, chargePointId: event.chargePointId, action: p.action || "?"};
  entry.outcome = event.type.replace("command.", "").replace("_", " ");
  entry.detail = p.reason || p.errorCode || "";
  const fresh = !state.commands.has(cid);
  state.commands.set(cid, entry);
  if (fresh) tables.commands.refilter(); else tables.commands.changed(cid);
  renderOutcomes();
}
function announce(text) { $("cp-outcomes").prepend(el("li", {text})); }
function renderOutcomes() {
  if (state.view !== "cp") return;
  const items = [...state.commands.values()].filter((c) => c.chargePointId === state.cp)
    .sort((a, b) => (b.at || "").localeCompare(a.at || "")).slice(0, 20)
    .map((c) => el("li", {text: `${time(c.at)} ${c.action}: ${c.outcome}${c.detail ? " (" + c.detail + ")" : ""}`}));
  $("cp-outcomes").replaceChildren(...items);
}

// -- charge point page ---------------------------------------------------------------------
function renderConnectors() {
  const cp = state.stations.get(state.cp);
  if (!cp) return;
  $("cp-summary").textContent = `${cp.online ? "Online" : "Offline"} · ${cp.status} · ${cp.available}/${cp.total} free`
    + (cp.siteId ? ` · site ${cp.siteId}` : "") + (cp.vendor ? ` · ${cp.vendor} ${cp.model || ""}` : "");
  const operator = state.me.role === "operator";
  const rows = cp.connectors.map((k) => {
    const session = k.transactionId != null ? state.sessions.get(k.transactionId) : null;
    const buttons = el("td", {class: "op-only"});
    if (operator) {
      const start = el("button", {type: "button", text: `Start on ${k.connectorId}`});
      start.onclick = () => sendCommand(cp.chargePointId, "RemoteStartTransaction",
        {connectorId: k.connectorId, idTag: $("id-tag").value || "OPERATOR"});
      const unlock = el("button", {type: "button", text: `Unlock ${k.connectorId}`});
      unlock.onclick = () => sendCommand(cp.chargePointId, "UnlockConnector", {connectorId: k.connectorId});
      buttons.append(start, " ", unlock);
      if (k.transactionId != null) {
        const stop = el("button", {type: "button", text: `Stop #${k.transactionId}`});
        stop.onclick = () => sendCommand(cp.chargePointId, "RemoteStopTransaction", {transactionId: k.transactionId});
        buttons.append(" ", stop);
      }
    }
    return el("tr", {"data-connector": String(k.connectorId)},
      el("td", {text: String(k.connectorId)}),
      el("td", {class: "status-" + k.status, text: k.status}),
      el("td", {}, k.transactionId != null ? txLink(k.transactionId) : "–"),
      el("td", {text: session ? kWh(session.energyWh) : "–"}),
      el("td", {text: session ? kW(session.powerW) : "–"}),
      buttons);
  });
  $("cp-connectors").tBodies[0].replaceChildren(...rows);
}
function frameRow(f) {
  const p = f.payload, kinds = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR"};
  return el("tr", {}, el("td", {text: time(f.recordedAt)}), el("td", {text: p.direction || "–"}),
    el("td", {text: f.type === "ocpp.frame" ? kinds[p.messageTypeId] || "?" : "invalid"}),
    el("td", {text: p.action || "–"}), el("td", {text: JSON.stringify(p.payload ?? p.raw ?? "")}));
}
function describe(e) {
  const p = e.payload;
  const bits = Object.entries(p).filter(([k, v]) => k !== "raw" && v != null && typeof v !== "object")
    .map(([k, v]) => `${k}=${v}`).join(", ");
  return `${time(e.recordedAt)} ${e.type}${bits ? ": " + bits : ""}`;
}
async function openChargePoint(id) {
  state.cp = id;
  $("cp-title").textContent = `Charge point ${id}`;
  const data = await api("/console/api/chargepoints/" + encodeURIComponent(id));
  if (state.cp !== id) return;
  if (!state.stations.has(id)) state.stations.set(id, data.station);
  for (const s of data.sessions) state.sessions.set(s.transactionId, s);
  renderConnectors();
  renderOutcomes();
  $("cp-frames").tBodies[0].replaceChildren(...data.frames.map(frameRow));
  $("cp-connections").replaceChildren(...(data.connections.length ? data.connections.map((e) => el("li", {text: describe(e)}))
    : [el("li", {text: "No connection changes in the last 30 minutes."})]));
  $("cp-anomalies").replaceChildren(...(data.anomalies.length ? data.anomalies.map((e) => el("li", {text: describe(e)}))
    : [el("li", {text: "No anomalies in the last 30 minutes."})]));
}

// -- transaction timeline ------------------------------------------------------------------
async function openTransaction(tx) {
  $("tx-title").textContent = `Transaction #${tx}`;
  $("tx-timeline").replaceChildren();
  const data = await api("/console/api/transactions/" + tx);
  const s = data.session;
  $("tx-summary").replaceChildren(`${s.status} on `, cpLink(s.chargePointId),
    ` connector ${s.connectorId} · idTag ${s.idTag || "–"} · ${kWh(s.energyWh)} · started ${time(s.startTime)}`
    + (s.stopTime ? ` · stopped ${time(s.stopTime)} (${s.reason || "–"})` : ""));
  $("tx-timeline").replaceChildren(...data.timeline.map((e) => {
    const p = e.payload;
    const what = e.type === "ocpp.frame"
      ? `OCPP ${p.direction === "in" ? "from" : "to"} charge point: ${({2: "CALL", 3: "CALLRESULT", 4: "CALLERROR"})[p.messageTypeId]} ${p.action || ""}`
      : `${e.stream === "domain" ? "Domain" : "Source"} event ${e.type}`;
    return el("li", {}, el("strong", {text: `${time(e.recordedAt)} ${what}`}),
      e.summary ? ` — ${e.summary} ` : " ", el("code", {text: JSON.stringify(e.type === "ocpp.frame" ? p.payload : p)}));
  }));
}

// -- navigation and sign-in ----------------------------------------------------------------
const VIEWS = ["login", "map", "sessions", "commands", "cp", "tx"];
function show(view) {
  state.view = view;
  for (const v of VIEWS) $("view-" + v).hidden = v !== view;
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === view) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
}
async function route() {
  if (!state.me) { show("login"); return; }
  const [, view, arg] = (location.hash || "#/map").split("/");
  try {
    if (view === "cp" && arg) { show("cp"); await openChargePoint(decodeURIComponent(arg)); }
    else if (view === "tx" && arg) { show("tx"); await openTransaction(Number(arg)); }
    else if (view === "sessions" || view === "commands") show(view);
    else { show("map"); }
    if (view === "map" || !view) tables.cps.schedule(true), tables.sites.schedule(true);
    else if (tables[view]) tables[view].schedule(true);
  } catch (error) {
    $("main").prepend(el("p", {class: "error", role: "alert", text: error.message}));
  }
}
async function loadSnapshot() {
  const [snapshot, sessions] = await Promise.all([api("/console/api/stations"), api("/console/api/sessions")]);
  state.stations.clear(); state.sites.clear(); state.sessions.clear();
  for (const cp of snapshot.stations) state.stations.set(cp.chargePointId, cp);
  for (const site of snapshot.sites) state.sites.set(site.siteId, site);
  for (const s of sessions.sessions) state.sessions.set(s.transactionId, s);
  state.position = snapshot.position || null;
  for (const t of Object.values(tables)) t.refilter();
  $("summary").textContent = summary();
  $("sessions-summary").textContent = `${state.sessions.size} active sessions`;
}
async function signIn() {
  state.me = await api("/console/api/me");
  document.body.classList.toggle("auditor", state.me.role !== "operator");
  $("who-text").textContent = `${state.me.userId} (${state.me.role})`;
  $("nav").hidden = false; $("who").hidden = false;
  buildTables();
  await loadSnapshot();
  buildMap();
  connect();
  await route();
}
function signOut(reason) {
  sessionStorage.removeItem("chargelog.credential");
  state.credential = ""; state.me = null;
  if (state.socket) state.socket.close();
  $("nav").hidden = true; $("who").hidden = true;
  $("login-error").textContent = reason || "";
  show("login");
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  state.credential = $("credential").value.trim();
  $("login-error").textContent = "";
  try {
    await signIn();
    sessionStorage.setItem("chargelog.credential", state.credential);
    $("credential").value = "";
  } catch (error) {
    if (error.message !== "unauthorized") $("login-error").textContent = `Sign-in failed: ${error.message}`;
  }
});
$("logout").addEventListener("click", () => signOut(""));
for (const button of document.querySelectorAll("[data-reset]")) {
  button.addEventListener("click", () => sendCommand(state.cp, "Reset", {type: button.dataset.reset}));
}
$("cp-refresh").addEventListener("click", () => openChargePoint(state.cp));
window.addEventListener("hashchange", route);
if (state.credential) signIn().catch(() => signOut("")); else show("login");
