// Control-room page: plain JS, no build step. One websocket; state is
// rebuilt from every snapshot and kept current from samples and alarm
// frames; reconnects by itself and resumes from the last alarm seq.
"use strict";

const T = {
  en: { connecting: "connecting…", connected: "connected", reconnecting: "disconnected — reconnecting…", flood: "ALARM FLOOD",
    silence: "Silence", silenced: "Silenced", alarms: "Alarms", prio: "Prio", time: "Time", alarm: "Alarm", state: "State",
    value: "Value", actions: "Actions", noalarms: "No alarms", trend: "Trend", events: "Events", duration: "Duration",
    comment: "Comment", reason: "Reason (required)", cancel: "Cancel", ok: "OK", ack: "Ack", reset: "Reset", shelve: "Shelve",
    unshelve: "Unshelve", oos: "Out of service", ios: "In service", first: "1st", limit: "limit",
    normal: "normal", unack: "UNACK", acked: "acked", rtn_unack: "cleared, unack", latched: "latched (reset)", shelved: "shelved", oos_s: "out of service",
    comm: "COMM FAIL", stale: "STALE", range: "OUT OF RANGE", decode: "DECODE ERR", bad: "BAD", ago: "ago", never: "never",
    urgent: "urgent", high: "high", medium: "medium", low: "low", viewer: "viewer", operator: "operator", commander: "commander", admin: "admin",
    nodata: "no data", sure: "Confirm", required: "required", until: "until", stage: "escalated", mine: "to you" },
  zh: { connecting: "连接中…", connected: "已连接", reconnecting: "连接中断 — 正在重连…", flood: "报警泛滥",
    silence: "消音", silenced: "已消音", alarms: "报警", prio: "优先级", time: "时间", alarm: "报警点", state: "状态",
    value: "数值", actions: "操作", noalarms: "无报警", trend: "趋势", events: "事件记录", duration: "时长",
    comment: "备注", reason: "原因（必填）", cancel: "取消", ok: "确定", ack: "确认", reset: "复位", shelve: "搁置",
    unshelve: "取消搁置", oos: "停用", ios: "恢复投用", first: "首报", limit: "限值",
    normal: "正常", unack: "未确认", acked: "已确认", rtn_unack: "已恢复未确认", latched: "锁存待复位", shelved: "已搁置", oos_s: "停用",
    comm: "通讯故障", stale: "数据过期", range: "超量程", decode: "解析错误", bad: "故障", ago: "前", never: "无数据",
    urgent: "紧急", high: "高", medium: "中", low: "低", viewer: "查看", operator: "操作员", commander: "指挥", admin: "管理员",
    nodata: "无数据", sure: "确认", required: "必填", until: "至", stage: "已升级", mine: "通知您" },
};
const FAULT = new Set(["fault", "comm", "stale"]);
const PRIO = { urgent: 4, high: 3, medium: 2, low: 1 };
const ROLE = { viewer: 0, operator: 1, commander: 2, admin: 3 };

const S = {
  lang: localStorage.getItem("lang") || "zh",
  token: "", role: "viewer", user: "", site: "", maxShelve: "60m",
  points: new Map(),   // id -> {point, value, quality, cause, time, unit, device, name, area}
  alarms: new Map(),   // id -> event
  seq: 0,              // last alarm seq seen
  flood: false,
  ws: null, up: false, backoff: 1000, ref: 0, pending: new Map(),
  silencedAt: -1,      // alarm seq up to which the horn is silenced
  trend: null,         // {point, span, samples: []}
};
window.consoleState = S; // for tests and curious engineers

const $ = (sel) => document.querySelector(sel);
const t = (k) => (T[S.lang][k] ?? T.en[k] ?? k);

// --- token: ?token= in the URL, kept in sessionStorage, removed from the URL
(function token() {
  const u = new URL(location.href);
  const q = u.searchParams.get("token");
  if (q) { sessionStorage.setItem("token", q); u.searchParams.delete("token"); history.replaceState(null, "", u); }
  S.token = sessionStorage.getItem("token") || "";
  const l = u.searchParams.get("lang");
  if (l === "en" || l === "zh") S.lang = l;
})();

// --- i18n
function applyLang() {
  document.documentElement.lang = S.lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("#lang").textContent = S.lang === "zh" ? "EN" : "中文";
  banner(); renderAll();
}
$("#lang").onclick = () => { S.lang = S.lang === "zh" ? "en" : "zh"; localStorage.setItem("lang", S.lang); applyLang(); };

// --- websocket
function connect() {
  const u = new URL("/ws", location.href);
  u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  if (S.token) u.searchParams.set("token", S.token);
  if (S.seq > 0) u.searchParams.set("resume", String(S.seq)); // replay what we missed
  const ws = new WebSocket(u);
  S.ws = ws;
  ws.onmessage = (m) => { let f; try { f = JSON.parse(m.data); } catch { return; } onFrame(f); };
  ws.onopen = () => { S.backoff = 1000; };
  ws.onclose = () => {
    if (S.ws !== ws) return;
    S.up = false; banner();
    for (const [, p] of S.pending) p.fail("disconnected");
    S.pending.clear();
    setTimeout(connect, S.backoff);
    S.backoff = Math.min(S.backoff * 2, 5000);
  };
}

function onFrame(f) {
  switch (f.type) {
    case "hello":
      S.up = true; S.role = f.role; S.user = f.user; S.site = f.site; S.maxShelve = f.max_shelve || "60m";
      $("#site-name").textContent = f.site_name || f.site; $("#site-id").textContent = f.site_name ? f.site : "";
      document.title = (f.site_name || f.site) + " — console";
      banner(); break;
    case "snapshot":
      S.points = new Map(f.points.map((p) => [p.point, p]));
      S.alarms = new Map(f.alarms.map((a) => [a.id, a]));
      S.seq = Math.max(S.seq, f.seq || 0); S.flood = !!f.flood;
      renderAll(); break;
    case "samples":
      for (const s of f.samples) {
        const p = S.points.get(s.point);
        if (p) Object.assign(p, s);
        if (S.trend && S.trend.point === s.point) S.trend.samples.push(s);
      }
      renderPointsSoon(); if (S.trend) drawTrendSoon(); break;
    case "alarm": onAlarm(f.alarm); break;
    case "result": {
      const p = S.pending.get(JSON.stringify(f.ref));
      if (p) { S.pending.delete(JSON.stringify(f.ref)); f.ok ? p.ok() : p.fail(f.error); }
      break;
    }
  }
  onSafetyFrame(f); // linkages, votes, deviations: their own section below
}

function onAlarm(a) {
  logEvent(a);
  const cur = S.alarms.get(a.id);
  if (cur && cur.seq >= a.seq) return; // a replayed event older than what we show
  if (a.state === "normal") S.alarms.delete(a.id); else S.alarms.set(a.id, a);
  S.seq = Math.max(S.seq, a.seq);
  S.flood = !!a.flood; // an event carries flood only while the site floods
  renderAlarms(); renderPointsSoon();
}

function send(cmd) {
  return new Promise((ok, fail) => {
    if (!S.ws || S.ws.readyState !== 1) { fail("disconnected"); return; }
    cmd.ref = ++S.ref;
    S.pending.set(JSON.stringify(cmd.ref), { ok, fail });
    S.ws.send(JSON.stringify(cmd));
  });
}

// --- banner, flood, who
function banner() {
  const b = $("#banner");
  b.className = "banner " + (S.up ? "up" : "down");
  b.textContent = S.up ? t("connected") : (S.ws ? t("reconnecting") : t("connecting"));
  $("#who").textContent = S.up ? (S.user || "—") + " · " + t(S.role) : "";
  $("#flood").hidden = !S.flood;
}

// --- alarms
const can = (role) => ROLE[S.role] >= ROLE[role];
function isFault(a) { return FAULT.has(a.cond); }
function fmtTime(s) { if (!s) return ""; const d = new Date(s); return d.toLocaleTimeString(S.lang === "zh" ? "zh-CN" : "en-GB", { hour12: false }); }
function fmtNum(v) { if (v === null || v === undefined) return "—"; return Math.abs(v) >= 1000 ? v.toFixed(0) : Number(v.toPrecision(4)).toString(); }
function stateText(s) { return t(s === "oos" ? "oos_s" : s); }

function sortedAlarms() {
  return [...S.alarms.values()].sort((x, y) => (PRIO[y.priority] - PRIO[x.priority]) || (y.time < x.time ? -1 : y.time > x.time ? 1 : 0));
}
function firstOut() {
  // The first alarm of the current episode: the earliest activation among
  // the active ones (acknowledged or not).
  let f = null;
  for (const a of S.alarms.values()) if (a.active && a.activated && (!f || a.activated < f.activated)) f = a;
  return f && f.id;
}

function renderAlarms() {
  const tb = $("#alarms tbody"); tb.textContent = "";
  const list = sortedAlarms(), fo = firstOut();
  $("#alarm-count").textContent = list.length; $("#no-alarms").hidden = list.length > 0;
  for (const a of list) {
    const tr = document.createElement("tr");
    tr.className = (isFault(a) ? "fault " : "alarm ") + a.state;
    tr.dataset.id = a.id; tr.dataset.state = a.state;
    const td = (html, cls) => { const c = document.createElement("td"); if (cls) c.className = cls; c.append(...html); tr.append(c); return c; };
    const sp = (txt, cls) => { const e = document.createElement("span"); e.textContent = txt; if (cls) e.className = cls; return e; };
    td([sp(t(a.priority), "prio " + a.priority)]);
    td([sp(fmtTime(a.activated || a.time))]);
    const name = [];
    if (a.id === fo) name.push(sp(t("first"), "first"));
    name.push(sp(a.id, "mono"), document.createElement("br"), sp(a.name || "", "muted"));
    td(name);
    const st = [sp(stateText(a.state), "state " + a.state)];
    if (a.shelved_until) st.push(sp(" " + t("until") + " " + fmtTime(a.shelved_until), "muted"));
    if (a.stage > 0) {
      // Escalated while unacknowledged: the stage, and whether this
      // console's role is among the stage's targets.
      const mine = (a.notify || []).includes(S.role);
      st.push(sp(" " + t("stage") + " " + a.stage + (mine ? " · " + t("mine") : ""), "stage" + (mine ? " mine" : "")));
    }
    if (a.by) st.push(document.createElement("br"), sp(a.by + (a.comment ? ": " + a.comment : ""), "muted"));
    td(st);
    td([sp(a.quality && a.quality !== "good" ? t(a.cond) : fmtNum(a.value) + " " + (a.unit || "")),
        sp(a.limit !== null && a.limit !== undefined ? " (" + t("limit") + " " + fmtNum(a.limit) + ")" : "", "muted")]);
    const acts = td([], "actions");
    const btn = (label, fn, enabled) => { const b = document.createElement("button"); b.type = "button"; b.textContent = t(label); b.dataset.act = label; b.disabled = !enabled; b.onclick = fn; acts.append(b); };
    if (can("operator")) {
      if (a.state === "unack" || a.state === "rtn_unack") btn("ack", () => ask("ack", a.id), true);
      if (a.state === "latched") btn("reset", () => ask("reset", a.id), true);
      if (a.state === "shelved") btn("unshelve", () => ask("unshelve", a.id), true);
      else if (a.state !== "oos") btn("shelve", () => ask("shelve", a.id), true);
    }
    if (can("commander")) {
      if (a.oos || a.state === "oos") btn("ios", () => ask("ios", a.point), true);
      else btn("oos", () => ask("oos", a.point), true);
    }
    tb.append(tr);
  }
  banner(); horn();
}

// --- operator dialog
let dlgOp = null;
function ask(op, target) {
  dlgOp = { op, target };
  $("#dlg-title").textContent = t(op); $("#dlg-target").textContent = target;
  $("#dlg-for-row").hidden = op !== "shelve";
  const needReason = op === "shelve" || op === "oos";
  $("#dlg-text-label").textContent = needReason ? t("reason") : t("comment");
  $("#dlg-text").value = ""; $("#dlg-err").textContent = "";
  $("#dlg-text").parentElement.hidden = op === "reset" || op === "unshelve" || op === "ios";
  const sel = $("#dlg-for");
  for (const o of sel.options) o.disabled = parseDur(o.value) > parseDur(S.maxShelve);
  $("#dlg").showModal();
  $("#dlg-text").focus();
}
function parseDur(s) { const m = /^(\d+)(m|h|s)/.exec(s || ""); if (!m) return 3600; return +m[1] * { s: 1, m: 60, h: 3600 }[m[2]]; }
$("#dlg-cancel").onclick = () => $("#dlg").close();
$("#dlg-form").onsubmit = (ev) => {
  ev.preventDefault();
  const { op, target } = dlgOp, text = $("#dlg-text").value.trim();
  const cmd = { type: op };
  if (op === "oos" || op === "ios") { cmd.point = target; if (text) cmd.reason = text; } else { cmd.alarm = target; }
  if (op === "ack") cmd.comment = text;
  if (op === "shelve") { cmd.for = $("#dlg-for").value; cmd.reason = text; }
  if ((op === "shelve" || op === "oos") && !text) { $("#dlg-err").textContent = t("reason"); return; }
  send(cmd).then(() => $("#dlg").close(), (e) => { $("#dlg-err").textContent = e; });
};

// --- overview
let pointsTimer = 0;
function renderPointsSoon() { if (!pointsTimer) pointsTimer = setTimeout(() => { pointsTimer = 0; renderPoints(); }, 100); }
function pointAlarm(id) {
  let worst = "";
  for (const a of S.alarms.values()) if (a.point === id && a.active && a.state !== "shelved" && a.state !== "oos") worst = !isFault(a) ? "in-alarm" : (worst || "in-fault");
  return worst;
}
function renderPoints() {
  const root = $("#overview"); root.textContent = "";
  const areas = new Map();
  for (const p of S.points.values()) {
    const area = p.area || p.device, dev = p.device;
    if (!areas.has(area)) areas.set(area, new Map());
    const devs = areas.get(area); if (!devs.has(dev)) devs.set(dev, []);
    devs.get(dev).push(p);
  }
  const now = Date.now();
  for (const [area, devs] of areas) {
    const sec = document.createElement("div"); sec.className = "area";
    const h = document.createElement("h3"); h.textContent = area; sec.append(h);
    for (const [dev, pts] of devs) {
      const d = document.createElement("div"); d.className = "device";
      if (devs.size > 1 || dev !== area) { const h4 = document.createElement("h4"); h4.textContent = dev; d.append(h4); }
      const grid = document.createElement("div"); grid.className = "points";
      for (const p of pts) grid.append(pointCard(p, now));
      d.append(grid); sec.append(d);
    }
    root.append(sec);
  }
}
function pointCard(p, now) {
  const c = document.createElement("div");
  c.className = "pt " + pointAlarm(p.point); c.dataset.point = p.point;
  c.onclick = () => openTrend(p.point);
  const line = (cls, txt) => { const e = document.createElement("div"); e.className = cls; e.textContent = txt; c.append(e); return e; };
  line("id", p.point); line("name", p.name || "");
  const v = line("val", "");
  // A bad or stale value is never shown as a normal number.
  if (p.quality === "bad" || p.value === null || p.value === undefined) {
    const b = document.createElement("span"); b.className = "bad"; b.textContent = t(p.cause || "bad"); v.append(b);
  } else {
    const n = document.createElement("span"); n.textContent = fmtNum(p.value);
    if (p.quality === "uncertain") { n.className = "uncertain"; n.title = t(p.cause); n.textContent += " ?"; }
    const u = document.createElement("span"); u.className = "unit"; u.textContent = p.unit || "";
    v.append(n, u);
  }
  const age = p.time ? Math.max(0, Math.round((now - new Date(p.time)) / 1000)) : null;
  const a = line("age", age === null ? t("never") : fmtAge(age) + " " + t("ago"));
  if (age === null || age > 30) a.classList.add("old");
  return c;
}
function fmtAge(s) { return s < 60 ? s + "s" : s < 3600 ? Math.floor(s / 60) + "m" : Math.floor(s / 3600) + "h"; }
setInterval(renderPoints, 1000); // freshness

// --- trend (canvas, no library)
async function openTrend(point) {
  const span = $("#trend-span").value;
  S.trend = { point, span, samples: [] };
  $("#trend-pane").hidden = false; $("#trend-point").textContent = point;
  try {
    const r = await fetch("/api/history?point=" + encodeURIComponent(point) + "&since=" + span,
      { headers: S.token ? { Authorization: "Bearer " + S.token } : {} });
    if (r.ok) { const h = await r.json(); if (S.trend && S.trend.point === point) S.trend.samples = h.samples.concat(S.trend.samples); }
  } catch { /* live samples still draw */ }
  drawTrend();
}
$("#trend-span").onchange = () => S.trend && openTrend(S.trend.point);
$("#trend-close").onclick = () => { S.trend = null; $("#trend-pane").hidden = true; };
let trendTimer = 0;
function drawTrendSoon() { if (!trendTimer) trendTimer = setTimeout(() => { trendTimer = 0; drawTrend(); }, 250); }
function drawTrend() {
  const cv = $("#trend"), g = cv.getContext("2d");
  const W = cv.width = cv.clientWidth || 900, H = cv.height = 200;
  g.clearRect(0, 0, W, H); g.font = "11px sans-serif"; g.fillStyle = "#8a939c";
  if (!S.trend) return;
  const spanMs = parseDur(S.trend.span) * 1000, t1 = Date.now(), t0 = t1 - spanMs;
  const pts = S.trend.samples.filter((s) => new Date(s.time) >= t0);
  S.trend.samples = pts;
  const good = pts.filter((s) => s.quality !== "bad" && s.value !== null);
  if (!good.length) { g.fillText(t("nodata"), W / 2 - 20, H / 2); return; }
  let lo = Math.min(...good.map((s) => s.value)), hi = Math.max(...good.map((s) => s.value));
  const p = S.points.get(S.trend.point);
  for (const a of S.alarms.values()) if (a.point === S.trend.point && a.limit !== null) { lo = Math.min(lo, a.limit); hi = Math.max(hi, a.limit); }
  if (hi === lo) { hi += 1; lo -= 1; }
  const pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
  const L = 48, R = W - 8, X = (ms) => L + (ms - t0) / spanMs * (R - L), Y = (v) => H - 18 - (v - lo) / (hi - lo) * (H - 30);
  g.strokeStyle = "#333"; g.beginPath();
  for (let i = 0; i <= 4; i++) { const v = lo + (hi - lo) * i / 4, y = Y(v); g.moveTo(L, y); g.lineTo(R, y); g.fillText(fmtNum(v), 4, y + 4); }
  g.stroke();
  g.fillText(new Date(t0).toLocaleTimeString(), L, H - 4); g.fillText(new Date(t1).toLocaleTimeString(), R - 60, H - 4);
  for (const a of S.alarms.values()) {
    if (a.point !== S.trend.point || a.limit === null || a.limit === undefined) continue;
    g.strokeStyle = isFault(a) ? "#f5c400" : "#d0021b"; g.setLineDash([5, 4]); g.beginPath();
    g.moveTo(L, Y(a.limit)); g.lineTo(R, Y(a.limit)); g.stroke(); g.setLineDash([]);
  }
  g.strokeStyle = "#4fc3f7"; g.lineWidth = 1.5; g.beginPath();
  let pen = false;
  for (const s of pts) {
    if (s.quality === "bad" || s.value === null) { pen = false; continue; } // a gap, never a fake value
    const x = X(new Date(s.time)), y = Y(s.value);
    pen ? g.lineTo(x, y) : g.moveTo(x, y); pen = true;
  }
  g.stroke(); g.lineWidth = 1;
  if (p) { g.fillStyle = "#e8e8e8"; g.fillText((p.name || p.point) + (p.unit ? " [" + p.unit + "]" : ""), L + 4, 12); }
}

// --- audible alert: beeps while an alarm is unacknowledged, until an
// operator silences it; the next new alarm sounds again.
let audio = null;
document.addEventListener("click", () => { if (!audio && window.AudioContext) audio = new AudioContext(); }, { capture: true });
function unackedNewerThan(seq) {
  for (const a of S.alarms.values()) if (a.state === "unack" && a.seq > seq && a.state !== "shelved") return true;
  return false;
}
function horn() {
  const loud = unackedNewerThan(S.silencedAt);
  const b = $("#silence"); b.disabled = !loud; b.textContent = loud ? t("silence") : t("silenced");
  return loud;
}
$("#silence").onclick = () => { S.silencedAt = S.seq; horn(); };
setInterval(() => {
  if (!horn() || !audio || audio.state !== "running") return;
  const o = audio.createOscillator(), g = audio.createGain();
  o.frequency.value = 880; g.gain.value = 0.15; o.connect(g); g.connect(audio.destination);
  o.start(); o.stop(audio.currentTime + 0.25);
}, 1500);

// --- event log
function logEvent(a) {
  const li = document.createElement("li");
  li.textContent = `#${a.seq} ${fmtTime(a.time)} ${a.id} → ${a.state}` + (a.stage > 0 ? ` [${t("stage")} ${a.stage}]` : "") +
    (a.by ? ` (${a.by}${a.comment ? ": " + a.comment : ""})` : "");
  const log = $("#log"); log.prepend(li);
  while (log.children.length > 200) log.lastChild.remove();
}

function renderAll() { renderAlarms(); renderPoints(); }

// The end of a flood is no alarm event: ask /api/health (open, no token)
// every 10 s so the flood sign goes away without waiting for the next event.
setInterval(async () => {
  if (!S.up) return;
  try {
    const h = await (await fetch("api/health", { cache: "no-store" })).json();
    if (typeof h.flood === "boolean" && h.flood !== S.flood) { S.flood = h.flood; banner(); }
  } catch (_) { /* the websocket banner already says when the gateway is away */ }
}, 10000);
applyLang();
connect();

// --- safety functions (SPEC §11): linkages with their state and a
// commander's run/release, each vote with its members, each deviation with
// both values. Fed by snapshot.linkages/votes/deviations, the linkage
// frame, and the alarm and samples frames the rest of the page handles.
Object.assign(T.en, { safety: "Safety functions", linkage: "Linkage", run: "Run", release: "Release", members: "members",
  idle: "idle", pending: "pending (run?)", written: "written, awaiting feedback", confirmed: "confirmed", failed: "FAILED", released: "released" });
Object.assign(T.zh, { safety: "安全联锁", linkage: "联动", run: "启动", release: "解除", members: "成员",
  idle: "待命", pending: "待启动", written: "已下发，等待反馈", confirmed: "已确认", failed: "失败", released: "已解除" });
const SF = { linkages: new Map(), votes: [], deviations: [] };
window.consoleSafety = SF; // for tests

let safetyTimer = 0;
function onSafetyFrame(f) {
  switch (f.type) {
    case "snapshot":
      SF.linkages = new Map((f.linkages || []).map((l) => [l.id, l]));
      SF.votes = f.votes || []; SF.deviations = f.deviations || [];
      renderSafety(); break;
    case "linkage": SF.linkages.set(f.linkage.id, f.linkage); renderSafety(); break;
    case "alarm": case "samples": case "hello":
      if (!safetyTimer) safetyTimer = setTimeout(() => { safetyTimer = 0; renderSafety(); }, 200);
      break;
  }
}

function renderSafety() {
  const pane = $("#safety-pane");
  pane.hidden = !SF.linkages.size && !SF.votes.length && !SF.deviations.length;
  const el = (tag, txt, cls) => { const e = document.createElement(tag); if (txt !== undefined) e.textContent = txt; if (cls) e.className = cls; return e; };
  const tb = $("#linkages tbody"); tb.textContent = "";
  for (const l of SF.linkages.values()) {
    const tr = el("tr", undefined, "link " + l.state); tr.dataset.linkage = l.id; tr.dataset.state = l.state;
    const name = el("td"); name.append(el("span", l.id, "mono"), el("br"), el("span", `${l.device} ${l.register} ${l.address} ← ${l.value}`, "muted"));
    const st = el("td"); st.append(el("span", t(l.state), "lstate " + l.state));
    if (l.cause) st.append(el("br"), el("span", l.cause, "muted mono"));
    if (l.feedback) st.append(el("br"), el("span", "↩ " + l.feedback + " " + fmtNum(S.points.get(l.feedback)?.value), "muted"));
    if (l.error) st.append(el("br"), el("span", l.error, "err"));
    if (l.by || l.why) st.append(el("br"), el("span", (l.by ? l.by + ": " : "") + (l.why || ""), "muted"));
    const acts = el("td", undefined, "actions");
    if (can("commander")) {
      const fired = l.state === "written" || l.state === "confirmed" || l.state === "failed";
      const b = (op, on) => { const x = el("button", t(op)); x.type = "button"; x.dataset.act = op; x.disabled = !on; x.onclick = () => askLinkage(op, l.id); acts.append(x); };
      b("run", l.state === "pending" || (l.mode === "manual" && !fired) || l.state === "failed");
      b("release", fired || l.state === "pending");
    }
    tr.append(name, st, acts); tb.append(tr);
  }
  const votes = $("#votes"); votes.textContent = "";
  for (const v of SF.votes) {
    const a = S.alarms.get(v.id + ":vote");
    const d = el("div", undefined, "vote" + (a && a.active ? " in-alarm" : "")); d.dataset.vote = v.id;
    d.append(el("span", `${v.id}:vote ${v.k}oo${v.alarms.length}`, "mono"), el("span", " " + (a ? stateText(a.state) : t("normal")) + " · " + t("members") + ":", "muted"));
    for (const m of v.alarms) {
      const ma = S.alarms.get(m), on = ma && ma.active;
      d.append(el("span", m + (ma ? " " + stateText(ma.state) : ""), "member" + (on ? " on" : "")));
    }
    votes.append(d);
  }
  const devs = $("#deviations"); devs.textContent = "";
  for (const v of SF.deviations) {
    const a = S.alarms.get(v.id + ":dev");
    const d = el("div", undefined, "dev" + (a && a.active ? " in-alarm" : "")); d.dataset.deviation = v.id;
    const [p, q] = v.points.map((id) => S.points.get(id) || { point: id });
    const val = (x) => (x.quality === "bad" || x.value === null || x.value === undefined) ? t(x.cause || "bad") : fmtNum(x.value) + " " + (x.unit || "");
    const diff = (p.value ?? null) !== null && (q.value ?? null) !== null ? Math.abs(p.value - q.value) : null;
    d.append(el("span", v.id + ":dev", "mono"), el("span", ` ${p.point} ${val(p)} · ${q.point} ${val(q)} · Δ ${fmtNum(diff)} (${t("limit")} ${fmtNum(v.max)})`),
      el("span", a ? " " + stateText(a.state) : "", "muted"));
    devs.append(d);
  }
}

let linkOp = null;
function askLinkage(op, id) {
  linkOp = { op, id };
  $("#link-title").textContent = t(op) + " · " + t("linkage"); $("#link-target").textContent = id;
  $("#link-text").value = ""; $("#link-err").textContent = "";
  $("#link-dlg").showModal(); $("#link-text").focus();
}
$("#link-cancel").onclick = () => $("#link-dlg").close();
$("#link-form").onsubmit = (ev) => {
  ev.preventDefault();
  send({ type: linkOp.op, linkage: linkOp.id, comment: $("#link-text").value.trim() })
    .then(() => $("#link-dlg").close(), (e) => { $("#link-err").textContent = e; });
};
// The texts above were added after the page's first applyLang.
document.querySelectorAll("#safety-pane [data-i18n]").forEach((e) => { e.textContent = t(e.dataset.i18n); });
