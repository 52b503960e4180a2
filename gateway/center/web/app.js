// The district page (SPEC §13): sites at a glance from `snapshot` and `site`
// frames, a site's alarms, latest samples and notices on selection, the
// notice form for commanders. The websocket resumes from the last alarm
// seq after a reconnect.
(function () {
  'use strict';
  const token = new URLSearchParams(location.search).get('token') || '';
  const auth = token ? { Authorization: 'Bearer ' + token } : {};
  const $ = (s) => document.querySelector(s);
  const sites = new Map();   // id -> summary
  let selected = '';
  let detail = { alarms: new Map(), samples: new Map(), notices: new Map() };
  let lastSeq = 0, canNotice = false, ws = null;

  function td(text, cls) {
    const c = document.createElement('td');
    c.textContent = text == null ? '' : String(text);
    if (cls) c.className = cls;
    return c;
  }
  function shortTime(t) { return t ? t.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : ''; }

  function renderSites() {
    const body = $('#sites tbody');
    body.replaceChildren();
    const ids = [...sites.keys()].sort();
    let alarms = 0, offline = 0;
    for (const id of ids) {
      const s = sites.get(id);
      const tr = document.createElement('tr');
      tr.dataset.site = id;
      tr.className = s.status + (id === selected ? ' selected' : '');
      tr.appendChild(td(id, 'site'));
      tr.appendChild(td(s.status + (s.since ? ' since ' + shortTime(s.since) : ''), 'status'));
      for (const p of ['urgent', 'high', 'medium', 'low']) {
        const n = (s.active && s.active[p]) || 0;
        alarms += n;
        tr.appendChild(td(n, 'n-' + p + (n ? ' hot' : '')));
      }
      tr.appendChild(td(s.worst ? s.worst.id + ' (' + s.worst.priority + ', ' + s.worst.state + ')' : '—', 'worst'));
      tr.appendChild(td((s.escalated || []).join(', '), 'escalated' + ((s.escalated || []).length ? ' hot' : '')));
      tr.appendChild(td(s.notices_open, 'notices' + (s.notices_open ? ' hot' : '')));
      tr.appendChild(td(s.seq + (s.missing ? ' · ' + s.missing + ' missing' : '') + (s.lost ? ' · ' + s.lost + ' lost' : ''),
        s.missing || s.lost ? 'gap' : ''));
      tr.addEventListener('click', () => select(id));
      body.appendChild(tr);
      if (s.status !== 'online') offline++;
    }
    $('#site-count').textContent = ids.length;
    $('#totals').textContent = alarms + ' active alarms · ' + offline + ' sites not online';
  }

  function renderDetail() {
    if (!selected) return;
    const s = sites.get(selected);
    $('#detail-site').textContent = selected;
    $('#detail-status').textContent = s ? s.status + (s.since ? ' since ' + shortTime(s.since) : '') : '';
    const ab = $('#detail-alarms tbody');
    ab.replaceChildren();
    const rank = { urgent: 0, high: 1, medium: 2, low: 3 };
    const list = [...detail.alarms.values()].filter((a) => a.state !== 'normal')
      .sort((a, b) => (b.active - a.active) || (rank[a.priority] - rank[b.priority]) || (a.time < b.time ? -1 : 1));
    for (const a of list) {
      const tr = document.createElement('tr');
      tr.className = 'alarm prio-' + a.priority + ' ' + a.state;
      tr.dataset.alarm = a.id;
      tr.appendChild(td(a.priority, 'prio'));
      tr.appendChild(td(shortTime(a.time)));
      tr.appendChild(td(a.id + (a.name ? ' ' + a.name : '')));
      tr.appendChild(td(a.state, 'state'));
      tr.appendChild(td(a.value == null ? '' : a.value + (a.unit ? ' ' + a.unit : '')));
      tr.appendChild(td(a.stage));
      ab.appendChild(tr);
    }
    $('#detail-alarm-count').textContent = list.length;
    const sb = $('#detail-samples tbody');
    sb.replaceChildren();
    for (const x of [...detail.samples.values()].sort((a, b) => (a.point < b.point ? -1 : 1))) {
      const tr = document.createElement('tr');
      tr.dataset.point = x.point;
      tr.appendChild(td(x.point));
      tr.appendChild(td(x.value));
      tr.appendChild(td(x.quality + (x.cause ? '/' + x.cause : '')));
      tr.appendChild(td(shortTime(x.time)));
      sb.appendChild(tr);
    }
    const nb = $('#detail-notices tbody');
    nb.replaceChildren();
    for (const n of [...detail.notices.values()].sort((a, b) => (a.time < b.time ? 1 : -1))) {
      const tr = document.createElement('tr');
      tr.dataset.notice = n.id;
      tr.className = n.acked ? 'acked' : 'open';
      tr.appendChild(td(shortTime(n.time)));
      tr.appendChild(td(n.by));
      tr.appendChild(td(n.text));
      let ack = 'open';
      if (n.acked) {
        const a = n.ack || {};
        ack = 'by ' + (a.by || '?') + ' ' + shortTime(a.time) + (a.comment ? ': ' + a.comment : '');
      }
      tr.appendChild(td(ack, 'ack'));
      nb.appendChild(tr);
    }
  }

  async function getJSON(path) {
    const r = await fetch(path, { headers: auth });
    if (!r.ok) throw new Error(path + ': ' + r.status);
    return r.json();
  }

  async function select(id) {
    selected = id;
    detail = { alarms: new Map(), samples: new Map(), notices: new Map() };
    $('#detail').hidden = false;
    $('#notice-form').hidden = !canNotice;
    renderSites();
    const enc = encodeURIComponent(id);
    const [alarms, samples, notices] = await Promise.all([
      getJSON('/api/sites/' + enc + '/alarms'), getJSON('/api/sites/' + enc + '/samples'), getJSON('/api/sites/' + enc + '/notices')]);
    if (selected !== id) return;
    for (const a of alarms) detail.alarms.set(a.id, a);
    for (const x of samples) detail.samples.set(x.point, x);
    for (const n of notices) detail.notices.set(n.id, n);
    renderDetail();
  }

  $('#close-detail').addEventListener('click', () => { selected = ''; $('#detail').hidden = true; renderSites(); });
  $('#notice-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = $('#notice-text').value.trim();
    if (!text || !selected) return;
    const r = await fetch('/api/sites/' + encodeURIComponent(selected) + '/notices', {
      method: 'POST', headers: Object.assign({ 'Content-Type': 'application/json' }, auth), body: JSON.stringify({ text }) });
    const body = await r.json().catch(() => ({}));
    if (r.ok) {
      $('#notice-text').value = '';
      $('#notice-result').textContent = 'sent ' + body.id;
      detail.notices.set(body.id, body);
      renderDetail();
    } else {
      $('#notice-result').textContent = 'refused: ' + (body.error || r.status);
    }
  });

  function onFrame(f) {
    switch (f.type) {
      case 'hello':
        $('#center-name').textContent = f.name || f.center;
        $('#center-id').textContent = f.center;
        $('#who').textContent = (f.user || 'anonymous') + ' (' + f.role + ')';
        canNotice = f.notices && (f.role === 'commander' || f.role === 'admin');
        if (selected) $('#notice-form').hidden = !canNotice;
        break;
      case 'snapshot':
        sites.clear();
        for (const s of f.sites) sites.set(s.site, s);
        if (!lastSeq) lastSeq = f.seq;
        renderSites();
        if (selected) select(selected);
        break;
      case 'site':
        sites.set(f.site, f.summary);
        renderSites();
        if (f.site === selected) renderDetail();
        break;
      case 'alarm':
        if (f.seq <= lastSeq) break;
        lastSeq = f.seq;
        if (f.site === selected) {
          const cur = detail.alarms.get(f.alarm.id);
          if (!cur || cur.seq < f.alarm.seq) detail.alarms.set(f.alarm.id, f.alarm);
          renderDetail();
        }
        break;
      case 'samples':
        if (f.site === selected) { for (const x of f.samples) detail.samples.set(x.point, x); renderDetail(); }
        break;
      case 'notice':
        if (f.site === selected) { detail.notices.set(f.notice.id, f.notice); renderDetail(); }
        break;
    }
  }

  function connect() {
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws' + (token ? '?token=' + encodeURIComponent(token) : '');
    const resumeFrom = lastSeq;
    ws = new WebSocket(url);
    ws.onopen = () => {
      $('#banner').className = 'banner up';
      $('#banner').textContent = 'connected';
      if (resumeFrom) ws.send(JSON.stringify({ type: 'resume', ref: 'r', seq: resumeFrom }));
    };
    ws.onmessage = (m) => onFrame(JSON.parse(m.data));
    ws.onclose = () => {
      $('#banner').className = 'banner down';
      $('#banner').textContent = 'reconnecting…';
      setTimeout(connect, 1000);
    };
  }
  connect();
})();
