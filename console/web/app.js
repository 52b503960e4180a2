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
    nodata: "no data", sure: "Confirm", required: "required", until: "until", stage: "escalated", mine: "to you",
    fire_alarms: "Fire alarms", keys: "keys: j/k select · a ack · r record", v_live: "Live", v_plan: "Site plan",
    v_history: "Alarm history", v_handover: "Shift handover", v_report: "Report", from: "From", to: "To", point: "Point",
    all: "all", search: "Search", csv: "CSV", by: "By", print: "Print", shift_start: "Shift start", refresh: "Refresh",
    records_csv: "Records CSV", active_now: "Active now", since: "Since", who_did: "Who did what", kind: "Kind",
    action_l: "Action", result_l: "Result", shift_events: "Alarm events in the shift", rate_title: "Alarms per 10 minutes",
    prio_mix: "Priority mix", ack_time: "Time to acknowledge", top10: "Top 10 alarms", dispose: "Record action",
    action_q: "Action taken (required)", result_q: "Result", now: "now", trend_add: "shift-click a point to add it",
    gateway: "Gateway", acceptable: "1 per 10 min (acceptable)", flood_line: "flood (>10 per 10 min)",
    activations: "activations", avg10: "average per 10 min", peak10: "peak per 10 min", floods: "floods",
    median: "median", p90: "90th percentile", chattering: "Chattering", standing: "Standing (> 24 h)",
    shelved_t: "Shelved time", oos_t: "Out of service time", recorded: "recorded", more: "more…", events_n: "events",
    records_n: "operator actions", active_n: "active alarms", none: "none", ack_n: "acknowledged", unacked: "never acknowledged" },
  zh: { connecting: "连接中…", connected: "已连接", reconnecting: "连接中断 — 正在重连…", flood: "报警泛滥",
    silence: "消音", silenced: "已消音", alarms: "报警", prio: "优先级", time: "时间", alarm: "报警点", state: "状态",
    value: "数值", actions: "操作", noalarms: "无报警", trend: "趋势", events: "事件记录", duration: "时长",
    comment: "备注", reason: "原因（必填）", cancel: "取消", ok: "确定", ack: "确认", reset: "复位", shelve: "搁置",
    unshelve: "取消搁置", oos: "停用", ios: "恢复投用", first: "首报", limit: "限值",
    normal: "正常", unack: "未确认", acked: "已确认", rtn_unack: "已恢复未确认", latched: "锁存待复位", shelved: "已搁置", oos_s: "停用",
    comm: "通讯故障", stale: "数据过期", range: "超量程", decode: "解析错误", bad: "故障", ago: "前", never: "无数据",
    urgent: "紧急", high: "高", medium: "中", low: "低", viewer: "查看", operator: "操作员", commander: "指挥", admin: "管理员",
    nodata: "无数据", sure: "确认", required: "必填", until: "至", stage: "已升级", mine: "通知您",
    fire_alarms: "火灾报警", keys: "键盘: j/k 选择 · a 确认 · r 处置记录", v_live: "实时", v_plan: "平面图",
    v_history: "报警历史", v_handover: "交接班", v_report: "统计报表", from: "从", to: "到", point: "测点",
    all: "全部", search: "查询", csv: "导出 CSV", by: "操作人", print: "打印", shift_start: "本班开始", refresh: "刷新",
    records_csv: "处置记录 CSV", active_now: "当前报警", since: "开始", who_did: "操作与处置记录", kind: "类型",
    action_l: "处置措施", result_l: "处置结果", shift_events: "本班报警事件", rate_title: "每 10 分钟报警数",
    prio_mix: "优先级构成", ack_time: "确认用时", top10: "最频繁的 10 个报警", dispose: "处置记录",
    action_q: "处置措施（必填）", result_q: "处置结果", now: "当前", trend_add: "按住 Shift 点击测点可叠加",
    gateway: "网关", acceptable: "每 10 分钟 1 次（可接受）", flood_line: "报警泛滥（每 10 分钟 >10 次）",
    activations: "报警次数", avg10: "平均每 10 分钟", peak10: "峰值每 10 分钟", floods: "泛滥时段",
    median: "中位数", p90: "90% 分位", chattering: "振荡报警", standing: "长期报警（> 24 小时）",
    shelved_t: "搁置时长", oos_t: "停用时长", recorded: "已记录", more: "更多…", events_n: "条事件",
    records_n: "条操作记录", active_n: "条当前报警", none: "无", ack_n: "已确认", unacked: "未确认" },
};
const FAULT = new Set(["fault", "comm", "stale"]);
const PRIO = { urgent: 4, high: 3, medium: 2, low: 1 };
const ROLE = { viewer: 0, operator: 1, commander: 2, admin: 3 };
const GW_DEVICE = "_GATEWAY"; // the gateway's own points (ARCHITECTURE.md, self-monitoring)

const S = {
  lang: localStorage.getItem("lang") || "zh",
  token: "", role: "viewer", user: "", site: "", maxShelve: "60m",
  points: new Map(),   // id -> {point, value, quality, cause, time, unit, device, name, area} + presentation
  present: null,       // id -> {states, decimals, fire, plan, limits} from /api/presentation
  alarms: new Map(),   // id -> event
  seq: 0,              // last alarm seq seen
  flood: false,
  ws: null, up: false, backoff: 1000, ref: 0, pending: new Map(),
  silencedAt: -1,      // alarm seq up to which the horn is silenced
  trend: null,         // {points: [id], span, samples: Map(id -> [])}
  log: new Map(),      // seq -> event, the Events pane (last 200)
  incident: null,      // id of the first alarm of the current incident (first-out)
  selected: "",        // alarm row selected with the keyboard
  view: "live",
  reportDrawn: false,  // for tests: the report plots were drawn
};
window.consoleState = S; // for tests and curious engineers

const $ = (sel) => document.querySelector(sel);
const t = (k) => (T[S.lang][k] ?? T.en[k] ?? k);
const el = (tag, txt, cls) => { const e = document.createElement(tag); if (txt !== undefined && txt !== null) e.textContent = txt; if (cls) e.className = cls; return e; };

// --- token: ?token= in the URL, kept in sessionStorage, removed from the URL
(function token() {
  const u = new URL(location.href);
  const q = u.searchParams.get("token");
  if (q) { sessionStorage.setItem("token", q); u.searchParams.delete("token"); history.replaceState(null, "", u); }
  S.token = sessionStorage.getItem("token") || "";
  const l = u.searchParams.get("lang");
  if (l === "en" || l === "zh") S.lang = l;
})();
const authHeaders = () => (S.token ? { Authorization: "Bearer " + S.token } : {});
async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, cache: "no-store", headers: { ...authHeaders(), ...(opts.headers || {}) } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
  return body;
}
// A link the browser downloads itself (CSV) carries the token in the URL.
const withToken = (path) => path + (S.token ? (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(S.token) : "");

// The fire-alarm table has the same columns as the alarm table: one header
// in index.html, copied here before the first translation.
$("#fire-alarms").prepend($("#alarms thead").cloneNode(true));

// --- i18n
function applyLang() {
  document.documentElement.lang = S.lang;
  document.querySelectorAll("[data-i18n]").forEach((e) => { e.textContent = t(e.dataset.i18n); });
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
      S.points = new Map(f.points.map((p) => [p.point, Object.assign(p, S.present && S.present.get(p.point))]));
      S.alarms = new Map(f.alarms.map((a) => [a.id, a]));
      S.seq = Math.max(S.seq, f.seq || 0); S.flood = !!f.flood;
      if (!S.incident || !S.alarms.has(S.incident)) S.incident = earliestActive();
      fillHistoryPoints(); renderAll(); loadLog(); loadPresentation(); break;
    case "samples":
      for (const s of f.samples) {
        const p = S.points.get(s.point);
        if (p) Object.assign(p, s);
        if (S.trend && S.trend.samples.has(s.point)) S.trend.samples.get(s.point).push(s);
      }
      renderPointsSoon(); renderAlarmsSoon(); if (S.trend) drawTrendSoon(); break;
    case "alarm": onAlarm(f.alarm); break;
    case "result": {
      const p = S.pending.get(JSON.stringify(f.ref));
      if (p) { S.pending.delete(JSON.stringify(f.ref)); f.ok ? p.ok() : p.fail(f.error); }
      break;
    }
  }
  onSafetyFrame(f); // linkages, votes, deviations: their own section below
  onNoticeFrame(f); // district notices: their own section below
}

function onAlarm(a) {
  logEvent(a);
  const cur = S.alarms.get(a.id);
  if (cur && cur.seq >= a.seq) return; // a replayed event older than what we show
  const wasActive = anyProcessActive();
  if (a.state === "normal") S.alarms.delete(a.id); else S.alarms.set(a.id, a);
  S.seq = Math.max(S.seq, a.seq);
  S.flood = !!a.flood; // an event carries flood only while the site floods
  // First-out: the first alarm of an incident keeps the marker until no
  // process alarm is active any more, even after it clears itself.
  if (a.active && !isFault(a) && (!wasActive || !S.incident)) S.incident = a.id;
  if (!anyProcessActive() && ![...S.alarms.values()].some((x) => !isFault(x) && (x.state === "unack" || x.state === "rtn_unack"))) S.incident = null;
  renderAlarms(); renderPointsSoon();
}

// Presentation (states, decimals, fire, plan, limits) comes from the
// config, once: it is merged into every point of every snapshot.
async function loadPresentation() {
  if (S.present) return;
  try {
    const list = await api("/api/presentation");
    S.present = new Map(list.map((x) => [x.point, x]));
    for (const [id, p] of S.points) Object.assign(p, S.present.get(id));
    renderAll(); if (S.trend) drawTrend();
  } catch { /* shown plainly until the next snapshot */ }
}

function send(cmd) {
  return new Promise((ok, fail) => {
    if (!S.ws || S.ws.readyState !== 1) { fail("disconnected"); return; }
    cmd.ref = ++S.ref;
    S.pending.set(JSON.stringify(cmd.ref), { ok, fail });
    S.ws.send(JSON.stringify(cmd));
  });
}

// --- banner, flood, who, the gateway's own corner
function banner() {
  const b = $("#banner");
  b.className = "banner " + (S.up ? "up" : "down");
  b.textContent = S.up ? t("connected") : (S.ws ? t("reconnecting") : t("connecting"));
  $("#who").textContent = S.up ? (S.user || "—") + " · " + t(S.role) : "";
  $("#flood").hidden = !S.flood;
}
function renderGateway() {
  const box = $("#gw-corner"); box.textContent = "";
  const pts = [...S.points.values()].filter(isGateway);
  box.hidden = pts.length === 0;
  box.append(el("span", t("gateway"), "gw-title"));
  for (const p of pts) {
    const a = [...S.alarms.values()].find((x) => x.point === p.point);
    const chip = el("span", p.point.replace(/^_GW\./, ""), "gw-chip " + (a ? "prio-" + a.priority + " " + a.state + (isFault(a) ? " fault" : " alarm") : "ok"));
    chip.title = (p.name || p.point) + (a ? " — " + stateText(a.state) : "");
    chip.dataset.point = p.point;
    if (a && (a.state === "unack" || a.state === "rtn_unack") && can("operator")) chip.onclick = () => ask("ack", a.id);
    box.append(chip);
  }
}

// --- value formatting: decimals and discrete state texts
const can = (role) => ROLE[S.role] >= ROLE[role];
function isFault(a) { return FAULT.has(a.cond); }
function isGateway(p) { return p && p.device === GW_DEVICE; }
function isFire(a) { const p = S.points.get(a.point); return !!(p && p.fire); }
function fmtTime(s) { if (!s) return ""; const d = new Date(s); return d.toLocaleTimeString(S.lang === "zh" ? "zh-CN" : "en-GB", { hour12: false }); }
function fmtDateTime(s) { if (!s) return ""; const d = new Date(s); return d.toLocaleString(S.lang === "zh" ? "zh-CN" : "en-GB", { hour12: false }); }
function fmtNum(v, dec) {
  if (v === null || v === undefined) return "—";
  if (dec !== undefined && dec !== null) return Number(v).toFixed(dec);
  return Math.abs(v) >= 1000 ? v.toFixed(0) : Number(v.toPrecision(4)).toString();
}
// fmtValue shows a point's value: the `states` text of a discrete point,
// or the number with the point's `decimals`.
function fmtValue(point, v) {
  const p = S.points.get(point);
  if (p && p.states && p.states.length === 2 && v !== null && v !== undefined) return p.states[v ? 1 : 0];
  return fmtNum(v, p ? p.decimals : undefined);
}
function stateText(s) { return t(s === "oos" ? "oos_s" : s); }

function sortedAlarms(list) {
  return list.sort((x, y) => (PRIO[y.priority] - PRIO[x.priority]) || (y.time < x.time ? -1 : y.time > x.time ? 1 : 0));
}
function anyProcessActive() { for (const a of S.alarms.values()) if (a.active && !isFault(a)) return true; return false; }
function earliestActive() {
  let f = null;
  for (const a of S.alarms.values()) if (a.active && !isFault(a) && a.activated && (!f || a.activated < f.activated)) f = a;
  return f && f.id;
}

// --- alarm lists: fire alarms apart (GB 50116), the gateway's own in its
// corner, every other alarm in the main list. Colour by priority (urgent
// and high red, medium amber, low yellow-brown; faults and shelved
// yellow); unacknowledged rows flash, acknowledged are steady, a cleared
// but unacknowledged row flashes hollow.
let alarmsTimer = 0;
function renderAlarmsSoon() { if (!alarmsTimer) alarmsTimer = setTimeout(() => { alarmsTimer = 0; renderAlarms(); }, 500); }
function renderAlarms() {
  const all = [...S.alarms.values()].filter((a) => !isGateway(S.points.get(a.point)));
  const fire = sortedAlarms(all.filter(isFire)), rest = sortedAlarms(all.filter((a) => !isFire(a)));
  const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest(".alarm-table");
  fillAlarmTable($("#alarms tbody"), rest);
  fillAlarmTable($("#fire-alarms tbody"), fire);
  $("#fire-pane").hidden = fire.length === 0; $("#fire-count").textContent = fire.length;
  $("#alarm-count").textContent = rest.length; $("#no-alarms").hidden = all.length > 0;
  if (focused && S.selected) { const r = document.querySelector(`tr[data-id="${CSS.escape(S.selected)}"]`); if (r) r.focus(); }
  renderGateway(); banner(); horn();
}
function alarmClass(a) {
  let c = isFault(a) || a.state === "shelved" || a.state === "oos" ? "fault" : "alarm prio-" + a.priority;
  return c + " " + a.state;
}
function fillAlarmTable(tb, list) {
  tb.textContent = "";
  for (const a of list) {
    const tr = document.createElement("tr");
    tr.className = alarmClass(a);
    tr.dataset.id = a.id; tr.dataset.state = a.state; tr.dataset.priority = a.priority; tr.tabIndex = 0;
    if (a.id === S.selected) tr.classList.add("selected");
    tr.onfocus = () => { S.selected = a.id; };
    const td = (kids, cls) => { const c = document.createElement("td"); if (cls) c.className = cls; c.append(...kids); tr.append(c); return c; };
    td([el("span", t(a.priority), "prio " + a.priority)]);
    td([el("span", fmtTime(a.activated || a.time))]);
    const name = [];
    if (a.id === S.incident) name.push(el("span", t("first"), "first"));
    name.push(el("span", a.id, "mono"), document.createElement("br"), el("span", a.name || "", "muted"));
    td(name);
    const st = [el("span", stateText(a.state), "state " + a.state)];
    if (a.shelved_until) st.push(el("span", " " + t("until") + " " + fmtTime(a.shelved_until), "muted"));
    if (a.stage > 0) {
      // Escalated while unacknowledged: the stage, and whether this
      // console's role is among the stage's targets.
      const mine = (a.notify || []).includes(S.role);
      st.push(el("span", " " + t("stage") + " " + a.stage + (mine ? " · " + t("mine") : ""), "stage" + (mine ? " mine" : "")));
    }
    if (a.by) st.push(document.createElement("br"), el("span", a.by + (a.comment ? ": " + a.comment : ""), "muted"));
    td(st);
    // The alarm's value (at its last event) and the point's value now.
    const p = S.points.get(a.point), val = [];
    val.push(el("span", a.quality && a.quality !== "good" && FAULT.has(a.cond) ? t(a.cond) : fmtValue(a.point, a.value) + " " + (a.unit || "")));
    if (a.limit !== null && a.limit !== undefined && a.cond !== "on") val.push(el("span", " (" + t("limit") + " " + fmtValue(a.point, a.limit) + ")", "muted"));
    if (p) {
      const now = p.quality === "bad" || p.value === null ? t(p.cause || "bad") : fmtValue(a.point, p.value) + " " + (p.unit || "");
      val.push(document.createElement("br"), el("span", t("now") + " " + now, "now-val"));
    }
    td(val);
    const acts = td([], "actions");
    const btn = (label, fn) => { const b = el("button", t(label)); b.type = "button"; b.dataset.act = label; b.tabIndex = -1; b.onclick = fn; acts.append(b); };
    if (can("operator")) {
      if (a.state === "unack" || a.state === "rtn_unack") btn("ack", () => ask("ack", a.id));
      if (a.state === "latched") btn("reset", () => ask("reset", a.id));
      if (a.state === "shelved") btn("unshelve", () => ask("unshelve", a.id));
      else if (a.state !== "oos") btn("shelve", () => ask("shelve", a.id));
      btn("dispose", () => ask("dispose", a.id));
    }
    if (can("commander")) {
      if (a.oos || a.state === "oos") btn("ios", () => ask("ios", a.point));
      else btn("oos", () => ask("oos", a.point));
    }
    tb.append(tr);
  }
}

// --- keyboard: j/k (or arrows) move between alarm rows, a acknowledges,
// r records an action, Enter on a row acknowledges or opens its trend.
document.addEventListener("keydown", (ev) => {
  if ($("#dlg").open || ev.ctrlKey || ev.metaKey || ev.altKey || /^(INPUT|SELECT|TEXTAREA)$/.test(ev.target.tagName) || S.view !== "live") return;
  const rows = [...document.querySelectorAll(".alarm-table tbody tr")];
  const i = rows.findIndex((r) => r.dataset.id === S.selected);
  const go = (k) => { const r = rows[Math.max(0, Math.min(rows.length - 1, k))]; if (r) { S.selected = r.dataset.id; rows.forEach((x) => x.classList.toggle("selected", x === r)); r.focus(); } };
  const a = S.alarms.get(S.selected);
  switch (ev.key) {
    case "j": case "ArrowDown": go(i + 1); break;
    case "k": case "ArrowUp": go(i < 0 ? 0 : i - 1); break;
    case "a": case "Enter":
      if (!a) { go(0); break; }
      if ((a.state === "unack" || a.state === "rtn_unack") && can("operator")) ask("ack", a.id, true);
      else if (ev.key === "Enter") openTrend(a.point);
      break;
    case "r": if (a && can("operator")) ask("dispose", a.id, true); break;
    default: return;
  }
  ev.preventDefault();
});

// --- operator dialog (commands over the websocket; disposal records over HTTP)
let dlgOp = null, dlgFresh = false;
document.addEventListener("keyup", () => { dlgFresh = false; });
$("#dlg").addEventListener("beforeinput", (ev) => { if (dlgFresh) ev.preventDefault(); });
function ask(op, target, byKey) {
  dlgOp = { op, target };
  $("#dlg-title").textContent = t(op); $("#dlg-target").textContent = target;
  $("#dlg-for-row").hidden = op !== "shelve";
  $("#dlg-action-row").hidden = $("#dlg-result-row").hidden = op !== "dispose";
  const needReason = op === "shelve" || op === "oos";
  $("#dlg-text-label").textContent = needReason ? t("reason") : t("comment");
  for (const id of ["#dlg-text", "#dlg-action", "#dlg-result"]) $(id).value = "";
  $("#dlg-err").textContent = "";
  $("#dlg-text-row").hidden = op === "reset" || op === "unshelve" || op === "ios" || op === "dispose";
  const sel = $("#dlg-for");
  for (const o of sel.options) o.disabled = parseDur(o.value) > parseDur(S.maxShelve);
  $("#dlg").showModal();
  dlgFresh = !!byKey; // the key that opened it types nothing (see keyup)
  (op === "dispose" ? $("#dlg-action") : $("#dlg-text")).focus();
}
function parseDur(s) { const m = /^(\d+)(m|h|s)/.exec(s || ""); if (!m) return 3600; return +m[1] * { s: 1, m: 60, h: 3600 }[m[2]]; }
$("#dlg-cancel").onclick = () => $("#dlg").close();
$("#dlg").addEventListener("close", () => { const r = S.selected && document.querySelector(`tr[data-id="${CSS.escape(S.selected)}"]`); if (r) r.focus(); });
$("#dlg-form").onsubmit = (ev) => {
  ev.preventDefault();
  const { op, target } = dlgOp, text = $("#dlg-text").value.trim();
  if (op === "dispose") {
    const action = $("#dlg-action").value.trim(), result = $("#dlg-result").value.trim();
    if (!action) { $("#dlg-err").textContent = t("action_q"); return; }
    api("/api/alarms/" + encodeURIComponent(target) + "/dispose", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ action, result }) })
      .then(() => { $("#dlg").close(); toast(t("recorded")); }, (e) => { $("#dlg-err").textContent = e.message; });
    return;
  }
  const cmd = { type: op };
  if (op === "oos" || op === "ios") { cmd.point = target; if (text) cmd.reason = text; } else { cmd.alarm = target; }
  if (op === "ack") cmd.comment = text;
  if (op === "shelve") { cmd.for = $("#dlg-for").value; cmd.reason = text; }
  if ((op === "shelve" || op === "oos") && !text) { $("#dlg-err").textContent = t("reason"); return; }
  send(cmd).then(() => $("#dlg").close(), (e) => { $("#dlg-err").textContent = e; });
};
function toast(msg) { const e = $("#toast"); e.textContent = msg; e.hidden = false; clearTimeout(toast.t); toast.t = setTimeout(() => { e.hidden = true; }, 3000); }

// --- overview (the gateway's own points are in the header corner)
let pointsTimer = 0;
function renderPointsSoon() { if (!pointsTimer) pointsTimer = setTimeout(() => { pointsTimer = 0; renderPoints(); }, 100); }
function pointAlarm(id) {
  let worst = "";
  for (const a of S.alarms.values()) if (a.point === id && a.active && a.state !== "shelved" && a.state !== "oos") worst = !isFault(a) ? "in-alarm prio-" + a.priority : (worst || "in-fault");
  return worst;
}
function renderPoints() {
  const root = $("#overview"); root.textContent = "";
  const areas = new Map();
  for (const p of S.points.values()) {
    if (isGateway(p)) continue;
    const area = p.area || p.device, dev = p.device;
    if (!areas.has(area)) areas.set(area, new Map());
    const devs = areas.get(area); if (!devs.has(dev)) devs.set(dev, []);
    devs.get(dev).push(p);
  }
  const now = Date.now();
  for (const [area, devs] of areas) {
    const sec = el("div", undefined, "area");
    sec.append(el("h3", area));
    for (const [dev, pts] of devs) {
      const d = el("div", undefined, "device");
      if (devs.size > 1 || dev !== area) d.append(el("h4", dev));
      const grid = el("div", undefined, "points");
      for (const p of pts) grid.append(pointCard(p, now));
      d.append(grid); sec.append(d);
    }
    root.append(sec);
  }
  renderGateway(); renderPlanMarks();
}
function pointCard(p, now) {
  const c = el("div", undefined, "pt " + pointAlarm(p.point) + (p.fire ? " fire" : ""));
  c.dataset.point = p.point;
  c.onclick = (ev) => (ev.shiftKey && S.trend ? addTrend(p.point) : openTrend(p.point));
  const line = (cls, txt) => { const e = el("div", txt, cls); c.append(e); return e; };
  line("id", p.point); line("name", p.name || "");
  const v = line("val", "");
  // A bad or stale value is never shown as a normal number.
  if (p.quality === "bad" || p.value === null || p.value === undefined) {
    v.append(el("span", t(p.cause || "bad"), "bad"));
  } else {
    const n = el("span", fmtValue(p.point, p.value));
    if (p.quality === "uncertain") { n.className = "uncertain"; n.title = t(p.cause); n.textContent += " ?"; }
    v.append(n, el("span", p.unit || "", "unit"));
  }
  const age = p.time ? Math.max(0, Math.round((now - new Date(p.time)) / 1000)) : null;
  const a = line("age", age === null ? t("never") : fmtAge(age) + " " + t("ago"));
  if (age === null || age > 30) a.classList.add("old");
  return c;
}
function fmtAge(s) { return s < 60 ? s + "s" : s < 3600 ? Math.floor(s / 60) + "m" : Math.floor(s / 3600) + "h"; }
setInterval(renderPoints, 1000); // freshness

// --- site plan (console.plan): each placed point coloured by its alarm state
let planLoaded = false;
function renderPlanMarks() {
  const placed = [...S.points.values()].filter((p) => p.plan);
  $("#nav-plan").hidden = placed.length === 0;
  if (!placed.length || S.view !== "plan") return;
  if (!planLoaded) { $("#plan-img").src = withToken("/plan"); planLoaded = true; }
  const box = $("#plan-marks"); box.textContent = "";
  for (const p of placed) {
    const m = el("div", undefined, "mark " + (pointAlarm(p.point) || "ok"));
    m.style.left = (p.plan[0] * 100) + "%"; m.style.top = (p.plan[1] * 100) + "%";
    m.dataset.point = p.point;
    const bad = p.quality === "bad" || p.value === null || p.value === undefined;
    m.append(el("b", p.point), el("span", bad ? t(p.cause || "bad") : fmtValue(p.point, p.value) + " " + (p.unit || "")));
    m.onclick = () => { location.hash = "#live"; openTrend(p.point); };
    box.append(m);
  }
}

// --- trend (canvas, no library): several points, labelled limit lines,
// 24-hour clock, spans up to 24 h; the history survives a restart (the
// server reads InfluxDB or its bounded local history).
const TREND_COLOURS = ["#4fc3f7", "#b388ff", "#69f0ae", "#ffab40", "#f48fb1", "#e0e0e0"];
async function loadTrend(point) {
  try {
    const h = await api("/api/history?point=" + encodeURIComponent(point) + "&since=" + S.trend.span);
    if (S.trend && S.trend.samples.has(point)) S.trend.samples.set(point, h.samples.concat(S.trend.samples.get(point)));
  } catch { /* live samples still draw */ }
  drawTrend();
}
function openTrend(point) {
  S.trend = { points: [point], span: $("#trend-span").value, samples: new Map([[point, []]]) };
  $("#trend-pane").hidden = false; $("#trend-point").textContent = point;
  return loadTrend(point);
}
function addTrend(point) {
  if (!S.trend || S.trend.samples.has(point) || S.trend.points.length >= TREND_COLOURS.length) return;
  S.trend.points.push(point); S.trend.samples.set(point, []);
  $("#trend-point").textContent = S.trend.points.join(", ");
  return loadTrend(point);
}
$("#trend-span").onchange = () => {
  if (!S.trend) return;
  const pts = S.trend.points;
  openTrend(pts[0]); for (const p of pts.slice(1)) addTrend(p);
};
$("#trend-close").onclick = () => { S.trend = null; $("#trend-pane").hidden = true; };
let trendTimer = 0;
function drawTrendSoon() { if (!trendTimer) trendTimer = setTimeout(() => { trendTimer = 0; drawTrend(); }, 250); }
const hhmm = (ms) => { const d = new Date(ms); return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0"); };
function drawTrend() {
  const cv = $("#trend"), g = cv.getContext("2d");
  const W = cv.width = cv.clientWidth || 900, H = cv.height = 220;
  g.clearRect(0, 0, W, H); g.font = "11px sans-serif"; g.fillStyle = "#8a939c";
  if (!S.trend) return;
  const spanMs = parseDur(S.trend.span) * 1000, t1 = Date.now(), t0 = t1 - spanMs;
  let lo = Infinity, hi = -Infinity;
  const limits = [];
  for (const id of S.trend.points) {
    const pts = S.trend.samples.get(id).filter((s) => new Date(s.time) >= t0);
    S.trend.samples.set(id, pts);
    for (const s of pts) if (s.quality !== "bad" && s.value !== null) { lo = Math.min(lo, s.value); hi = Math.max(hi, s.value); }
    const p = S.points.get(id);
    for (const l of (p && p.limits) || []) limits.push({ id, ...l });
  }
  if (lo === Infinity) { g.fillText(t("nodata"), W / 2 - 20, H / 2); return; }
  for (const l of limits) { lo = Math.min(lo, l.value); hi = Math.max(hi, l.value); }
  if (hi === lo) { hi += 1; lo -= 1; }
  const pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
  const L = 52, R = W - 70, X = (ms) => L + (ms - t0) / spanMs * (R - L), Y = (v) => H - 20 - (v - lo) / (hi - lo) * (H - 34);
  g.strokeStyle = "#333"; g.beginPath();
  for (let i = 0; i <= 4; i++) { const v = lo + (hi - lo) * i / 4, y = Y(v); g.moveTo(L, y); g.lineTo(R, y); g.fillText(fmtNum(v), 4, y + 4); }
  // 24-hour time axis: ticks on round minutes/hours.
  const step = [60e3, 5 * 60e3, 10 * 60e3, 30 * 60e3, 3600e3, 2 * 3600e3, 3 * 3600e3].find((s) => spanMs / s <= 10) || 6 * 3600e3;
  for (let ms = Math.ceil(t0 / step) * step; ms <= t1; ms += step) { const x = X(ms); g.moveTo(x, 14); g.lineTo(x, H - 18); g.fillText(hhmm(ms), x - 14, H - 4); }
  g.stroke();
  // Limit lines, labelled (HIHI 60 ppm).
  for (const l of limits) {
    const y = Y(l.value);
    g.strokeStyle = l.cond === "hihi" || l.cond === "lolo" ? "#d0021b" : "#ff9800"; g.setLineDash([5, 4]); g.beginPath();
    g.moveTo(L, y); g.lineTo(R, y); g.stroke(); g.setLineDash([]);
    g.fillStyle = g.strokeStyle;
    g.fillText(l.cond.toUpperCase() + " " + fmtNum(l.value) + (S.trend.points.length > 1 ? " " + l.id : ""), R + 4, y + 4);
  }
  S.trend.points.forEach((id, k) => {
    const colour = TREND_COLOURS[k % TREND_COLOURS.length];
    g.strokeStyle = colour; g.lineWidth = 1.5; g.beginPath();
    let pen = false;
    for (const s of S.trend.samples.get(id)) {
      if (s.quality === "bad" || s.value === null) { pen = false; continue; } // a gap, never a fake value
      const x = X(new Date(s.time)), y = Y(s.value);
      pen ? g.lineTo(x, y) : g.moveTo(x, y); pen = true;
    }
    g.stroke(); g.lineWidth = 1;
    const p = S.points.get(id);
    g.fillStyle = colour; g.fillText("■ " + ((p && p.name) || id) + (p && p.unit ? " [" + p.unit + "]" : ""), L + 4 + k * 200, 11);
  });
}

// --- audible alert: beeps while an alarm is unacknowledged, until an
// operator silences it; the next new alarm sounds again.
let audio = null;
document.addEventListener("click", () => { if (!audio && window.AudioContext) audio = new AudioContext(); }, { capture: true });
function unackedNewerThan(seq) {
  for (const a of S.alarms.values()) if (a.state === "unack" && a.seq > seq) return true;
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

// --- event log: filled from /api/events at every snapshot (page load and
// reconnect), then live; the last 200, newest first.
const LOG_KEEP = 200;
async function loadLog() {
  try {
    const evs = await api("/api/events?after=" + Math.max(0, S.seq - LOG_KEEP) + "&limit=" + LOG_KEEP);
    for (const a of evs) S.log.set(a.seq, a);
    renderLog();
  } catch { /* the live events still come */ }
}
function logEvent(a) { S.log.set(a.seq, a); renderLogSoon(); }
let logTimer = 0;
function renderLogSoon() { if (!logTimer) logTimer = setTimeout(() => { logTimer = 0; renderLog(); }, 100); }
function eventLine(a) {
  return `#${a.seq} ${fmtTime(a.time)} ${a.id} → ${stateText(a.state)}` + (a.stage > 0 ? ` [${t("stage")} ${a.stage}]` : "") +
    (a.by ? ` (${a.by}${a.comment ? ": " + a.comment : ""})` : "");
}
function renderLog() {
  const seqs = [...S.log.keys()].sort((x, y) => y - x);
  for (const s of seqs.slice(LOG_KEEP)) S.log.delete(s);
  const log = $("#log"); log.textContent = "";
  for (const s of seqs.slice(0, LOG_KEEP)) {
    const a = S.log.get(s), li = el("li", eventLine(a), "ev " + (isFault(a) ? "fault" : "alarm prio-" + a.priority) + " " + a.state);
    li.dataset.seq = a.seq; log.append(li);
  }
}

function renderAll() { renderAlarms(); renderPoints(); renderLog(); }

// --- views: live, plan, alarm history, shift handover, report (#hash)
function showView() {
  S.view = (location.hash || "#live").slice(1);
  if (!document.getElementById("view-" + S.view)) S.view = "live";
  document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== "view-" + S.view; });
  document.querySelectorAll("#views a").forEach((a) => a.classList.toggle("on", a.dataset.view === S.view));
  if (S.view === "history") searchHistory();
  if (S.view === "handover") loadHandover();
  if (S.view === "report") loadReport();
  if (S.view === "plan") renderPlanMarks();
}
window.addEventListener("hashchange", showView);
// datetime-local inputs hold local time; the API takes RFC 3339.
const localInput = (ms) => { const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60e3); return d.toISOString().slice(0, 16); };
const fromInput = (v) => (v ? new Date(v).toISOString() : "");
function defaultRange(fromSel, toSel, hours) {
  if (!$(fromSel).value) $(fromSel).value = localInput(Date.now() - hours * 3600e3);
  if (toSel && !$(toSel).value) $(toSel).value = localInput(Date.now() + 60e3);
}
function fillHistoryPoints() {
  const sel = $("#hist-point");
  if (sel.options.length > 1) return;
  for (const p of S.points.values()) { const o = el("option", p.point + (p.name ? " — " + p.name : "")); o.value = p.point; sel.append(o); }
}
function eventRow(tb, a) {
  const tr = el("tr", undefined, (isFault(a) ? "fault " : "alarm prio-" + a.priority + " ") + a.state);
  tr.dataset.seq = a.seq;
  for (const v of [a.seq, fmtDateTime(a.time), a.id + (a.name ? " " + a.name : ""), t(a.priority), stateText(a.state),
    fmtValue(a.point, a.value) + " " + (a.unit || ""), a.by ? a.by + (a.comment ? ": " + a.comment : "") : ""]) tr.append(el("td", String(v)));
  tb.append(tr);
}
function historyQuery() {
  const q = new URLSearchParams();
  const f = fromInput($("#hist-from").value), to = fromInput($("#hist-to").value);
  if (f) q.set("from", f); if (to) q.set("to", to);
  for (const [k, id] of [["point", "#hist-point"], ["priority", "#hist-prio"], ["state", "#hist-state"]]) if ($(id).value) q.set(k, $(id).value);
  return q;
}
async function searchHistory(ev) {
  if (ev) ev.preventDefault();
  defaultRange("#hist-from", "#hist-to", 8);
  const q = historyQuery(); q.set("limit", "1000");
  $("#hist-csv").href = withToken("/api/events?" + q + "&format=csv");
  const tb = $("#hist-table tbody"); tb.textContent = "";
  try {
    const evs = await api("/api/events?" + q);
    for (const a of evs) eventRow(tb, a);
    $("#hist-more").textContent = evs.length + " " + t("events_n") + (evs.length >= 1000 ? " — " + t("more") : "");
  } catch (e) { $("#hist-more").textContent = e.message; }
}
$("#hist-form").onsubmit = searchHistory;

// Shift handover: what is active now, what happened in the shift, who did
// what. Printable (the print style sheet keeps only this view).
async function loadHandover(ev) {
  if (ev) ev.preventDefault();
  defaultRange("#ho-from", null, 8);
  const from = fromInput($("#ho-from").value);
  $("#ho-csv").href = withToken("/api/records?format=csv&from=" + encodeURIComponent(from));
  const act = $("#ho-active tbody"); act.textContent = "";
  const now = sortedAlarms([...S.alarms.values()]);
  for (const a of now) {
    const tr = el("tr", undefined, alarmClass(a));
    const p = S.points.get(a.point);
    for (const v of [t(a.priority), a.id + (a.name ? " " + a.name : ""), stateText(a.state), fmtDateTime(a.activated || a.time),
      (p && p.value !== null ? fmtValue(a.point, p.value) : "—") + " " + (a.unit || "")]) tr.append(el("td", v));
    act.append(tr);
  }
  let recs = [], evs = [];
  try {
    [recs, evs] = await Promise.all([api("/api/records?from=" + encodeURIComponent(from)),
      api("/api/events?from=" + encodeURIComponent(from) + "&limit=1000")]);
  } catch (e) { $("#ho-summary").textContent = e.message; return; }
  const rt = $("#ho-records tbody"); rt.textContent = "";
  for (const r of recs) {
    const tr = el("tr", undefined, "rec " + r.kind);
    for (const v of [fmtDateTime(r.time), r.by + (r.role ? " (" + t(r.role) + ")" : ""), t(r.kind), r.alarm || r.point || r.linkage || r.notice || "",
      r.action, r.result, r.comment]) tr.append(el("td", v || ""));
    rt.append(tr);
  }
  const et = $("#ho-events tbody"); et.textContent = "";
  for (const a of evs) eventRow(et, a);
  $("#ho-summary").textContent = `${S.site} · ${fmtDateTime(from)} — ${fmtDateTime(new Date().toISOString())} · ` +
    `${now.length} ${t("active_n")} · ${evs.length} ${t("events_n")} · ${recs.length} ${t("records_n")}`;
}
$("#ho-form").onsubmit = loadHandover;
$("#ho-print").onclick = () => window.print();

// Report: ISA-18.2 / EEMUA 191 KPIs with plots.
async function loadReport(ev) {
  if (ev) ev.preventDefault();
  defaultRange("#rep-from", "#rep-to", 24);
  const from = fromInput($("#rep-from").value), to = fromInput($("#rep-to").value);
  let r;
  try { r = await api("/api/report?from=" + encodeURIComponent(from) + "&to=" + encodeURIComponent(to)); }
  catch (e) { $("#rep-kpis").textContent = e.message; return; }
  S.report = r;
  const k = $("#rep-kpis"); k.textContent = "";
  const kpi = (label, v, bad) => { const d = el("div", undefined, "kpi" + (bad ? " bad" : "")); d.append(el("b", String(v)), el("span", label)); k.append(d); };
  kpi(t("activations"), r.activations);
  kpi(t("avg10"), r.avg_per_10min.toFixed(2), r.avg_per_10min > 1);
  kpi(t("peak10"), r.peak_per_10min, r.peak_per_10min > 10);
  kpi(t("floods"), r.floods.length, r.floods.length > 0);
  kpi(t("ack_time") + " " + t("median"), fmtSecs(r.ack.median_s));
  kpi(t("chattering"), r.chattering.length, r.chattering.length > 0);
  kpi(t("standing"), r.standing.length, r.standing.length > 0);
  drawRate(r); drawPrio(r); drawTop(r);
  const ack = $("#rep-ack"); ack.textContent = "";
  for (const [l, v] of [[t("median"), fmtSecs(r.ack.median_s)], [t("p90"), fmtSecs(r.ack.p90_s)], [t("ack_n"), r.ack.count], [t("unacked"), r.ack.unacked]]) {
    const d = el("div", undefined, "kv"); d.append(el("span", l), el("b", String(v))); ack.append(d);
  }
  const lists = $("#rep-lists"); lists.textContent = "";
  const list = (title, items, fmt) => {
    lists.append(el("h3", title));
    const ul = el("ul"); if (!items.length) ul.append(el("li", t("none"), "muted"));
    for (const x of items) ul.append(el("li", fmt(x))); lists.append(ul);
  };
  list(t("floods"), r.floods, (f) => `${fmtDateTime(f.from)} — ${fmtTime(f.to)}: ${f.activations}`);
  list(t("chattering"), r.chattering, (c) => `${c.id} ${c.name || ""}: ${c.count}`);
  list(t("standing"), r.standing, (s) => `${s.id} ${s.name || ""}: ${s.hours.toFixed(1)} h`);
  list(t("shelved_t"), r.shelved, (s) => `${s.id}: ${fmtSecs(s.seconds)}`);
  list(t("oos_t"), r.oos, (s) => `${s.id}: ${fmtSecs(s.seconds)}`);
  S.reportDrawn = true;
}
$("#rep-form").onsubmit = loadReport;
function fmtSecs(s) { return s < 120 ? s.toFixed(0) + " s" : s < 7200 ? (s / 60).toFixed(1) + " min" : (s / 3600).toFixed(1) + " h"; }
const PRIO_COLOUR = { urgent: "#d0021b", high: "#ff3b30", medium: "#ff9800", low: "#b8860b" };
function canvas(id, h) { const cv = $(id), g = cv.getContext("2d"); const W = cv.width = cv.clientWidth || cv.width; cv.height = h; g.clearRect(0, 0, W, h); g.font = "11px sans-serif"; return [g, W, h]; }
function drawRate(r) {
  const [g, W, H] = canvas("#rep-rate", 220), n = r.per_10min.length, L = 40, R = W - 10, B = H - 20;
  const top = Math.max(12, ...r.per_10min) * 1.1, X = (i) => L + i * (R - L) / n, Y = (v) => B - v / top * (B - 10);
  const t0 = new Date(r.from).getTime();
  g.fillStyle = "#8a939c"; g.strokeStyle = "#333"; g.beginPath();
  for (let v = 0; v <= top; v += Math.max(1, Math.ceil(top / 5))) { g.moveTo(L, Y(v)); g.lineTo(R, Y(v)); g.fillText(String(v), 8, Y(v) + 4); }
  const every = Math.max(1, Math.ceil(n / 12));
  for (let i = 0; i < n; i += every) g.fillText(hhmm(t0 + i * 600e3), X(i), H - 4);
  g.stroke();
  r.per_10min.forEach((v, i) => { g.fillStyle = v > 10 ? "#d0021b" : v > 1 ? "#ff9800" : "#4fc3f7"; g.fillRect(X(i) + 1, Y(v), Math.max(1, (R - L) / n - 2), B - Y(v)); });
  for (const [v, colour, label] of [[1, "#2e9e44", t("acceptable")], [10, "#d0021b", t("flood_line")]]) {
    g.strokeStyle = colour; g.fillStyle = colour; g.setLineDash([6, 4]); g.beginPath(); g.moveTo(L, Y(v)); g.lineTo(R, Y(v)); g.stroke(); g.setLineDash([]);
    g.fillText(label, R - g.measureText(label).width - 4, Y(v) - 4);
  }
}
function drawPrio(r) {
  const [g, W] = canvas("#rep-prio", 160), total = Math.max(1, r.activations);
  ["urgent", "high", "medium", "low"].forEach((p, i) => {
    const v = r.by_priority[p] || 0, y = 10 + i * 36, w = (W - 170) * v / total;
    g.fillStyle = "#e8e8e8"; g.fillText(t(p), 4, y + 16);
    g.fillStyle = PRIO_COLOUR[p]; g.fillRect(70, y, Math.max(w, 1), 24);
    g.fillStyle = "#e8e8e8"; g.fillText(`${v} (${(100 * v / total).toFixed(0)} %)`, 76 + w, y + 16);
  });
}
function drawTop(r) {
  const [g, W] = canvas("#rep-top", 240), most = Math.max(1, ...r.top.map((x) => x.count));
  r.top.forEach((x, i) => {
    const y = 4 + i * 23, w = (W - 330) * x.count / most;
    g.fillStyle = "#e8e8e8"; g.fillText((x.id + " " + (x.name || "")).slice(0, 40), 4, y + 14);
    g.fillStyle = PRIO_COLOUR[x.priority] || "#4fc3f7"; g.fillRect(280, y, Math.max(w, 1), 18);
    g.fillStyle = "#e8e8e8"; g.fillText(String(x.count), 286 + w, y + 14);
  });
  if (!r.top.length) { g.fillStyle = "#8a939c"; g.fillText(t("none"), 4, 20); }
}

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
showView();
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

// --- district notices (督办通知, SPEC §13): shown under the header in every
// view until an operator acknowledges them. Fed by snapshot.notices (the
// open ones) and the notice frame (a notice's state at every change).
Object.assign(T.en, { notices: "District notices", notice_sign: "Acknowledge", notice_from: "from", notice_comment: "comment",
  notice: "Notice received", notice_ack: "Notice acknowledged" });
Object.assign(T.zh, { notices: "督办通知", notice_sign: "签收", notice_from: "发自", notice_comment: "回复",
  notice: "收到督办通知", notice_ack: "督办通知已签收" });
const NT = { open: new Map() }; // id -> notice, not acknowledged
window.consoleNotices = NT; // for tests

function onNoticeFrame(f) {
  switch (f.type) {
    case "snapshot": NT.open = new Map((f.notices || []).map((n) => [n.id, n])); renderNotices(); break;
    case "notice":
      if (f.notice.acked) NT.open.delete(f.notice.id); else NT.open.set(f.notice.id, f.notice);
      renderNotices(); break;
  }
}

function renderNotices() {
  const pane = $("#notices-pane"), ul = $("#notices");
  pane.hidden = NT.open.size === 0;
  $("#notice-count").textContent = String(NT.open.size);
  ul.textContent = "";
  const el = (tag, txt, cls) => { const e = document.createElement(tag); if (txt !== undefined) e.textContent = txt; if (cls) e.className = cls; return e; };
  for (const n of NT.open.values()) {
    const li = el("li"); li.dataset.notice = n.id;
    li.append(el("span", n.text, "ntext"), el("span", `${t("notice_from")} ${n.by} · ${fmtDateTime(n.time)}`, "nmeta"));
    if (can("operator")) {
      const c = el("input"); c.placeholder = t("notice_comment"); c.maxLength = 500;
      const b = el("button", t("notice_sign")); b.type = "button"; b.dataset.act = "notice-ack";
      b.onclick = () => {
        b.disabled = true;
        api("/api/notices/" + encodeURIComponent(n.id) + "/ack", { method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ comment: c.value.trim() }) })
          .then((x) => { NT.open.delete(x.id); renderNotices(); toast(t("notice_ack")); },
            (e) => { b.disabled = false; toast(e.message); });
      };
      li.append(c, b);
    }
    ul.append(li);
  }
}
document.querySelectorAll("#notices-pane [data-i18n]").forEach((e) => { e.textContent = t(e.dataset.i18n); });
$("#lang").addEventListener("click", renderNotices);
