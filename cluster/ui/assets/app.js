// The dashboard: polls the controller every 2 s and re-renders each
// section from the answers. Sections whose request failed keep their last
// rendering; the banner names the failing endpoints.

import { fetchAll, token, setToken, download } from './api.js';
import { h, replace, table, empty, code, badge, tone, ago, clock, fmt } from './dom.js';
import { describe, mergeClouds } from './policy.js';
import { drawChart } from './chart.js';

const POLL_MS = 2000;
const STATES = ['pending', 'provisioning', 'running', 'draining', 'terminating', 'failed', 'terminated'];
const ACTIVITY_LIMIT = 200;

const $ = (id) => document.getElementById(id);

function windowParam() {
  const sel = $('window');
  return sel ? sel.value : '1h';
}

function requests() {
  const win = encodeURIComponent(windowParam());
  return {
    leader: '/v1/status/leader',
    peers: '/v1/status/peers',
    hypervisors: '/v1/hypervisors',
    clouds: '/ui/api/clouds',
    tenants: '/v1/tenants',
    groups: '/v1/groups',
    instances: '/v1/instances',
    activity: `/v1/activity?limit=${ACTIVITY_LIMIT}`,
    actions: `/v1/activity?kind=scale&since=${win}`,
    metrics: `/v1/metrics/export?since=${win}`,
    evaluations: `/ui/api/evaluations?limit=400`,
  };
}

// ---- cluster --------------------------------------------------------------

function renderLeader(leader, err) {
  const pill = $('leader-pill');
  if (leader) {
    pill.className = 'pill ok';
    pill.textContent = `leader ${leader.id}`;
    pill.title = `raft ${leader.raft_addr} · http ${leader.http_addr || '?'}`;
  } else {
    pill.className = 'pill bad';
    pill.textContent = err && err.status === 503 ? 'no leader' : 'controller unreachable';
    pill.title = err ? err.message : '';
  }
}

function renderPeers(peers) {
  if (!peers.length) return replace('peers', empty('No Raft configuration yet — the node is waiting to bootstrap or join (', code('ctl join PEER'), ').'));
  replace('peers', table('Raft peers', [
    { head: 'ID', cell: (p) => h('strong', null, p.id) },
    { head: 'Role', cell: (p) => p.leader ? badge('leader', 'ok') : badge(p.suffrage === 'Voter' ? 'follower' : p.suffrage.toLowerCase(), 'muted') },
    { head: 'Raft', cell: (p) => p.raft_addr, cls: 'mono' },
    { head: 'HTTP', cell: (p) => p.http_addr || '—', cls: 'mono' },
  ], peers));
}

function renderClouds(clouds, instances, hypervisors) {
  // Clouds named only by hypervisors or instances still appear.
  const byName = new Map(clouds.map((c) => [c.name, { ...c }]));
  for (const x of [...hypervisors, ...instances]) {
    if (x.cloud && !byName.has(x.cloud)) byName.set(x.cloud, { name: x.cloud, priority: null, capacity: 0, live: 0, implicit: true });
  }
  const hyp = (name) => hypervisors.filter((x) => x.cloud === name);
  const live = (name) => instances.filter((i) => i.cloud === name && !['terminated', 'failed'].includes(i.state)).length;
  const rows = [...byName.values()];
  if (!rows.length) return replace('clouds', empty('No clouds yet — they appear when a hypervisor of a cloud registers or a cloud is defined.'));
  replace('clouds', table('Clouds', [
    { head: 'Cloud', cell: (c) => h('strong', null, c.name) },
    { head: 'Priority', cell: (c) => (c.priority === null ? '—' : String(c.priority)), num: true },
    { head: 'Hypervisors', cell: (c) => {
      const hs = hyp(c.name);
      const alive = hs.filter((x) => x.liveness === 'alive').length;
      return hs.length ? h('span', null, `${alive}/${hs.length} alive`) : h('span', { class: 'muted' }, 'none');
    } },
    { head: 'Live instances', cell: (c) => {
      const n = live(c.name);
      if (!(c.capacity > 0)) return `${n}`;
      const bar = h('span', { class: 'bar', title: `${n} of ${c.capacity}` }, h('span'));
      bar.firstChild.style.width = `${Math.min(100, (n / c.capacity) * 100)}%`;
      return h('span', null, `${n} / ${c.capacity}`, bar);
    }, num: true },
  ], rows));
}

function renderHypervisors(hs) {
  if (!hs.length) return replace('hypervisors', empty('No hypervisors have registered — start one with ', code('ctl agent -hypervisor -join GOSSIP_ADDR …'), ' or run ', code('ctl agent -dev'), '.'));
  replace('hypervisors', table('Hypervisors', [
    { head: 'ID', cell: (x) => h('strong', null, x.id) },
    { head: 'Cloud', cell: (x) => x.cloud },
    { head: 'Driver', cell: (x) => x.driver },
    { head: 'Capacity', cell: (x) => String(x.capacity), num: true },
    { head: 'Liveness', cell: (x) => badge(x.liveness || 'unknown', tone(x.liveness)) },
    { head: 'Since', cell: (x) => h('time', { datetime: x.since, title: x.since }, ago(x.since)) },
    { head: 'API', cell: (x) => x.api_addr || '—', cls: 'mono' },
  ], hs, (x) => ({ 'data-hypervisor': x.id })));
}

function kpi(label, value, note, tone) {
  return h('div', null, h('dt', null, label), h('dd', { class: tone || null }, value, note ? h('small', null, note) : null));
}

function renderKpis(d) {
  const items = [];
  const peers = d.peers || [];
  items.push(kpi('Controllers', String(peers.length), d.leader ? `leader ${d.leader.id}` : 'no leader', d.leader ? null : 'bad'));
  if (d.hypervisors) {
    const alive = d.hypervisors.filter((x) => x.liveness === 'alive').length;
    items.push(kpi('Hypervisors alive', `${alive}/${d.hypervisors.length}`, null, alive < d.hypervisors.length ? 'warn' : null));
  }
  if (d.tenants) items.push(kpi('Tenants', String(d.tenants.length)));
  if (d.groups) items.push(kpi('Groups', String(d.groups.length), `${d.groups.filter((g) => g.suspended).length} suspended`));
  if (d.instances) {
    const running = d.instances.filter((i) => i.state === 'running').length;
    const live = d.instances.filter((i) => !['terminated', 'failed'].includes(i.state)).length;
    items.push(kpi('Instances running', `${running}/${live}`, 'of live'));
  }
  const acts = (d.actions || []).filter((a) => a.from !== a.to);
  const last = acts[acts.length - 1];
  items.push(kpi('Last scaling action', last ? ago(last.time) : '—', last ? `${last.tenant}/${last.group} ${last.from}→${last.to}` : 'in this window'));
  replace('kpis', items);
}

// ---- tenants and groups ---------------------------------------------------

function renderTenants(ts) {
  if (!ts.length) return replace('tenants', empty('No tenants yet — ', code('ctl tenant apply examples/seed-tenant.yml')));
  replace('tenants', table('Tenants', [
    { head: 'Tenant', cell: (t) => h('span', null, h('strong', null, t.name), t.deleting ? [' ', badge('deleting', 'warn')] : null) },
    { head: 'Version', cell: (t) => String(t.version), num: true },
    { head: 'Public IP', cell: (t) => t.public_ip || '—', cls: 'mono' },
    { head: 'Networks', cell: (t) => (t.networks || []).join(', ') || '—' },
    { head: 'Groups', cell: (t) => (t.groups || []).join(', ') || '—' },
  ], ts));
}

function sizeCell(g) {
  const bar = h('span', { class: 'bar', title: `live ${g.live} · desired ${g.desired} · range ${g.min}–${g.max}` }, h('span'), h('i'));
  const max = Math.max(g.max, 1);
  bar.children[0].style.width = `${Math.min(100, (g.live / max) * 100)}%`;
  bar.children[1].style.left = `calc(${Math.min(100, (g.desired / max) * 100)}% - 1px)`;
  return h('span', null, `${g.min} / `, h('strong', null, String(g.desired)), ` / ${g.max}`, bar);
}

function lastDecision(g) {
  const d = g.cooldown && g.cooldown.last_decision;
  if (!d) return h('span', { class: 'muted' }, 'none yet');
  const dir = d.to > d.from ? h('span', { class: 'arrow-out' }, '▲ ') : d.to < d.from ? h('span', { class: 'arrow-in' }, '▼ ') : '';
  return h('span', { title: d.reason || '' }, dir, `${d.from} → ${d.to} `, h('span', { class: 'muted' }, `${d.policy || d.source || ''} · ${ago(d.time)}`));
}

function renderGroups(gs) {
  if (!gs.length) return replace('group-table', empty('No scaling groups yet — groups come with a tenant file: ', code('ctl tenant apply examples/seed-tenant.yml')));
  replace('group-table', table('Scaling groups', [
    { head: 'Group', cell: (g) => h('span', null, h('strong', null, `${g.tenant}/${g.name}`)) },
    { head: 'Min / desired / max', cell: sizeCell },
    { head: 'Live', cell: (g) => String(g.live), num: true },
    { head: 'Policy', cls: 'wrap', cell: (g) => describe(g.policy).text },
    { head: 'Clouds', cell: (g) => (g.clouds || []).map((c) => c.cloud).join(' › ') || 'any' },
    { head: 'State', cell: (g) => g.deleting ? badge('deleting', 'warn') : g.suspended ? badge('suspended', 'warn') : badge('active', 'ok') },
    { head: 'Last decision', cls: 'wrap', cell: lastDecision },
  ], gs, (g) => ({ 'data-group': `${g.tenant}/${g.name}` })));
}

// ---- charts -----------------------------------------------------------------

function renderCharts(groups, metrics, evaluations, actions) {
  if (!groups.length) return replace('chart-list', empty('No groups to chart yet — ', code('ctl tenant apply examples/seed-tenant.yml')));
  const key = (t, g) => `${t}/${g}`;
  const pts = new Map(), evs = new Map(), acts = new Map();
  for (const p of (metrics && metrics.points) || []) {
    const k = key(p.tenant, p.group);
    if (!pts.has(k)) pts.set(k, []);
    pts.get(k).push(p);
  }
  for (const e of evaluations || []) evs.set(key(e.tenant, e.group), e.evaluations || []);
  for (const a of actions || []) {
    if (a.from === a.to) continue;
    const k = key(a.tenant, a.group);
    if (!acts.has(k)) acts.set(k, []);
    acts.get(k).push(a);
  }
  const since = Date.now() - windowMs();
  const previous = new Map([...document.querySelectorAll('#chart-list figure.chart')].map((f) => [f.dataset.sig, f]));
  const figs = groups.map((g) => {
    const k = key(g.tenant, g.name);
    const info = describe(g.policy);
    const points = mergeClouds(pts.get(k) || [], info.periodMs); // each cloud writes its own
    const ev = (evs.get(k) || []).filter((e) => Date.parse(e.time) >= since);
    const ac = acts.get(k) || [];
    const ends = (xs) => (xs.length ? `${xs.length}:${xs[0].time}:${xs[xs.length - 1].time}` : '0');
    const sig = [k, info.text, ends(points), ends(ev), ac.map((a) => a.seq).join(',')].join('|');
    const old = previous.get(sig);
    if (old) return old; // unchanged: keep the node (and its hover state)
    const title = `${k}: load and capacity`;
    const fig = h('figure', { class: 'chart', 'data-group': k, 'data-sig': sig });
    if (!points.length && !ev.length) {
      fig.append(h('figcaption', null, h('strong', null, k), h('span', { class: 'muted' }, info.text)),
        empty('No metric points in this window yet — they appear after the scaler evaluates the group with running instances.'));
      return fig;
    }
    const c = drawChart(points, ev, ac, { metric: info.metric, threshold: info.threshold, title });
    const legend = h('div', { class: 'legend' },
      h('span', { class: 'l-load' }, 'load'),
      h('span', { class: 'l-cap' }, `capacity (instances × ${fmt(info.threshold)})`),
      c.hasForecast ? h('span', { class: 'l-fc' }, c.hasBand ? 'forecast (band to upper bound)' : 'forecast') : null,
      h('span', { class: 'l-out' }, 'scale out'),
      h('span', { class: 'l-in' }, 'scale in'));
    fig.append(h('figcaption', null, h('strong', null, k), h('span', { class: 'muted' }, `${info.text} · ${c.summary}`)), c.svg, legend, c.tip);
    return fig;
  });
  replace('chart-list', figs);
}

function windowMs() {
  const v = windowParam();
  const n = parseInt(v, 10);
  return v.endsWith('h') ? n * 3600e3 : n * 60e3;
}

// ---- instances ---------------------------------------------------------------

function renderInstances(insts) {
  if (!insts.length) {
    replace('inst-summary', empty('No instances yet — the scaler creates them once a group wants more than zero.'));
    replace('inst-table', empty('No instances yet.'));
    return;
  }
  const clouds = [...new Set(insts.map((i) => i.cloud))].sort();
  const present = STATES.filter((st) => insts.some((i) => i.state === st));
  const count = (c, st) => insts.filter((i) => i.cloud === c && i.state === st).length;
  replace('inst-summary', table('Instances by cloud and state', [
    { head: 'Cloud', cell: (c) => h('strong', null, c) },
    ...present.map((st) => ({ head: st, num: true, cell: (c) => {
      const n = count(c, st);
      return n ? h('span', { class: tone(st) }, String(n)) : h('span', { class: 'muted' }, '·');
    } })),
    { head: 'Total', num: true, cell: (c) => String(insts.filter((i) => i.cloud === c).length) },
  ], clouds, (c) => ({ 'data-cloud': c })));
  const order = (i) => { const k = STATES.indexOf(i.state); return k < 0 ? 99 : k; };
  const sorted = [...insts].sort((a, b) => (order(a) - order(b)) || a.id.localeCompare(b.id));
  replace('inst-table', table('Instances', [
    { head: 'ID', cell: (i) => i.id, cls: 'mono' },
    { head: 'Group', cell: (i) => `${i.tenant}/${i.group}` },
    { head: 'Cloud', cell: (i) => i.cloud },
    { head: 'Hypervisor', cell: (i) => i.hypervisor || '—' },
    { head: 'IP', cell: (i) => i.ip || '—', cls: 'mono' },
    { head: 'State', cell: (i) => badge(i.state, tone(i.state)) },
    { head: 'Health', cell: (i) => badge(i.health || 'unknown', tone(i.health || 'unknown')) },
    { head: 'Since', cell: (i) => h('time', { datetime: i.since, title: i.since }, ago(i.since)) },
    { head: 'Reason', cls: 'wrap', cell: (i) => i.reason || '' },
  ], sorted, (i) => ({ 'data-instance': i.id })));
}

// ---- activity ----------------------------------------------------------------

function inputsText(inputs) {
  if (!inputs) return '';
  return Object.keys(inputs).sort().map((k) => `${k}=${fmt(inputs[k])}`).join(' ');
}

function renderActivity(entries) {
  if (!entries.length) return replace('activity-list', empty('No activity yet — tenant changes, scaling decisions and instance events appear here.'));
  const rows = [...entries].sort((a, b) => b.seq - a.seq);
  replace('activity-list', table('Activity log, newest first', [
    { head: 'Time', cell: (e) => h('time', { datetime: e.time, title: e.time }, clock(e.time)) },
    { head: 'Kind', cell: (e) => badge(e.kind, e.kind === 'scale' ? 'info' : 'muted') },
    { head: 'Where', cell: (e) => [e.tenant, e.group].filter(Boolean).join('/') + (e.cloud ? ` @${e.cloud}` : '') },
    { head: 'Change', cell: (e) => {
      if (e.kind !== 'scale') return '';
      const dir = e.to > e.from ? h('span', { class: 'arrow-out' }, '▲ ') : e.to < e.from ? h('span', { class: 'arrow-in' }, '▼ ') : '';
      return h('span', null, dir, `${e.from} → ${e.to}`);
    } },
    { head: 'Policy', cell: (e) => e.policy || '' },
    { head: 'Reason', cls: 'reason', cell: (e) => h('span', { title: inputsText(e.inputs) }, e.reason || '') },
  ], rows, (e) => ({ 'data-seq': e.seq, class: 'activity-entry' })));
}

// ---- loop --------------------------------------------------------------------

let timer = null;
let inFlight = false;

async function refresh() {
  if (inFlight) return;
  inFlight = true;
  try {
    const { data, errors } = await fetchAll(requests());
    const failed = new Map(errors.map((e) => [e.name, e.error]));
    renderLeader(data.leader, failed.get('leader'));
    if (data.peers) renderPeers(data.peers);
    renderKpis(data);
    if (data.hypervisors && data.instances) renderClouds(data.clouds || [], data.instances, data.hypervisors);
    if (data.hypervisors) renderHypervisors(data.hypervisors);
    if (data.tenants) renderTenants(data.tenants);
    if (data.groups) renderGroups(data.groups);
    if (data.groups && data.metrics) renderCharts(data.groups, data.metrics, data.evaluations, data.actions);
    if (data.instances) renderInstances(data.instances);
    if (data.activity) renderActivity(data.activity);
    const denied = errors.some((e) => e.error.status === 401 || e.error.status === 403);
    $('token-form').hidden = !denied && !token();
    $('token-forget').hidden = !token();
    const shown = errors.filter((e) => !(e.name === 'leader' && e.error.status === 503));
    const banner = $('error');
    if (shown.length) {
      banner.hidden = false;
      banner.textContent = `Some data could not be loaded (showing the last known): ${shown.map((e) => e.error.message).join('; ')}`;
    } else {
      banner.hidden = true;
      banner.textContent = '';
    }
    $('updated').textContent = `updated ${clock(new Date().toISOString())}`;
    document.body.dataset.loaded = 'true';
  } finally {
    inFlight = false;
  }
}

function wireToken() {
  const form = $('token-form');
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    setToken($('token').value.trim());
    $('token').value = '';
    refresh();
  });
  $('token-forget').addEventListener('click', () => { setToken(''); refresh(); });
  for (const [id, name] of [['dl-activity', 'activity.csv'], ['dl-metrics', 'metrics.csv']]) {
    const a = $(id);
    a.addEventListener('click', (ev) => {
      if (!token()) return; // a plain link works without ACLs
      ev.preventDefault();
      download(a.getAttribute('href').replace(/^\.\./, ''), name).catch((err) => {
        const banner = $('error');
        banner.hidden = false;
        banner.textContent = `Download failed: ${err.message}`;
      });
    });
  }
}

function start() {
  wireToken();
  const sel = $('window');
  if (sel) sel.addEventListener('change', () => refresh());
  refresh();
  timer = setInterval(refresh, POLL_MS);
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) { clearInterval(timer); timer = null; } else if (!timer) { refresh(); timer = setInterval(refresh, POLL_MS); }
  });
}

start();
