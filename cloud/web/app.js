// SPDX-License-Identifier: Apache-2.0
// The writ dashboard: a page over the /v1 API (docs/cloud-api.md), nothing more. The
// user's API token is kept in sessionStorage only (gone when the tab closes, cleared
// by "Sign out"); the portal decides what each caller may see, the page assumes
// nothing. Every text from the API goes into the page as a text node (textContent,
// never innerHTML), and the Content-Security-Policy admits no inline script.
'use strict';

const TOKEN_KEY = 'writ.token';
const $ = (id) => document.getElementById(id);
let me = null;

// ---- building the page: elements with text, never markup ----
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of kids.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of kids.flat(Infinity)) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
// what a factory said waits in its queues, with its last call (GET /v1/factories "queued")
function queuedText(f) {
  const q = f.queued;
  if (!q) return 'not reported yet';
  return `${q.records} record(s), ${q.journal} journal entr${q.journal === 1 ? 'y' : 'ies'}, ${q.telemetry} telemetry bucket(s) (as of ${when(q.at)})`;
}
function table(cols, rows, empty) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('table', {},
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { class: c.num ? 'num' : null }, c.title)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, cols.map((c) => {
      const v = c.get(r);
      return h('td', { class: [c.num ? 'num' : '', c.mono ? 'mono' : '', c.cls ? c.cls(r) : ''].join(' ').trim() || null }, v);
    })))));
}
function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.map(([k, v, mono]) => [h('dt', {}, k), h('dd', { class: mono ? 'mono' : null }, v === null || v === undefined || v === '' ? '—' : v)]));
}
const when = (t) => (t ? new Date(t * 1000).toISOString().replace('T', ' ').replace('.000Z', ' UTC') : 'never');
function ago(t, now) {
  if (!t) return 'never';
  const d = Math.max(0, (now || Date.now() / 1000) - t);
  if (d < 90) return `${Math.round(d)} s ago`;
  if (d < 5400) return `${Math.round(d / 60)} min ago`;
  if (d < 129600) return `${Math.round(d / 3600)} h ago`;
  return `${Math.round(d / 86400)} days ago`;
}
const short = (hex) => (hex && hex.length > 16 ? `${hex.slice(0, 8)}…${hex.slice(-8)}` : hex);
const link = (href, text) => h('a', { href }, text);
const oem = () => me && me.org_kind === 'oem';

// ---- messages: what went wrong and what to do ----
function say(text, info) {
  const m = $('msg');
  m.textContent = text;
  m.className = info ? 'info' : '';
  m.hidden = !text;
}
class ApiError extends Error {
  constructor(status, code, text) { super(text); this.status = status; this.code = code; }
}
function advice(status, code, text) {
  if (status === 401) return `${text} — your token was refused: sign in again with a valid token (writ-cloud org add, or POST /v1/tokens).`;
  if (status === 403) return `${text} — your role may not do this; ask an oem-admin of your organisation.`;
  if (status === 404) return `${text} — it does not exist, or it belongs to an organisation you cannot see.`;
  if (status === 409) return `${text}`;
  if (status === 0 || status >= 500) return `${text} — the portal or its store is unreachable or busy: retry in a moment.`;
  return text;
}

// ---- the API ----
async function api(method, path, body, raw) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ''}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let r;
  try {
    r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'omit' });
  } catch (e) {
    throw new ApiError(0, 'network', advice(0, 'network', 'the portal did not answer'));
  }
  if (!r.ok) {
    let j = {};
    try { j = await r.json(); } catch (e) { /* not writ's error shape */ }
    if (r.status === 401 && path !== '/v1/me') {
      signOut('Your token was refused (revoked, or the portal was reset): sign in again.');
    }
    throw new ApiError(r.status, j.code || '', advice(r.status, j.code, j.error || `HTTP ${r.status}`));
  }
  return raw ? r.blob() : r.json();
}
const get = (p) => api('GET', p);
const q = encodeURIComponent;

// ---- sign-in ----
// what the sign-in page says when a session ended on its own (a refused token)
let signinNote = '';
function signOut(note) {
  signinNote = note || '';
  sessionStorage.removeItem(TOKEN_KEY);
  me = null;
  $('nav').hidden = true;
  $('signout').hidden = true;
  $('who').textContent = '';
  if (location.hash !== '#/signin') location.hash = '#/signin';
}
function pageSignin(main) {
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', placeholder: 'wc_…', required: true });
  const form = h('form', { class: 'card signin', id: 'signin-form' },
    h('h1', {}, 'Sign in to the writ portal'),
    h('p', { class: 'muted' }, 'Use your API token (wc_…): the same user, role and organisation as the API. It stays in this tab only and is forgotten when you sign out or close the tab.'),
    h('label', {}, 'API token', input),
    h('p', {}, h('button', { type: 'submit', id: 'signin' }, 'Sign in')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const t = input.value.trim();
    if (!/^wc_[A-Za-z0-9_-]{20,80}$/.test(t)) { say('That is not a writ API token: it starts with wc_ and was printed once when it was made.'); return; }
    sessionStorage.setItem(TOKEN_KEY, t);
    try {
      me = await get('/v1/me');
      if (me.org_kind === 'factory') { sessionStorage.removeItem(TOKEN_KEY); me = null; say('That is a factory credential: sign in with a user token (oem-admin, oem-security or odm-engineer).'); return; }
      say('');
      location.hash = '#/overview';
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      me = null;
      say(e.status === 401 ? 'This token is unknown or revoked: check it, or ask your oem-admin for a new one.' : e.message);
    }
  });
  main.append(h('section', { class: 'card signin' }, form));
  if (signinNote) { say(signinNote); signinNote = ''; }
  input.focus();
}

// ---- Overview: production chart, batches, sync lag, alerts ----
const RANGES = { '1h': [3600, 60], '24h': [86400, 3600], '30d': [30 * 86400, 86400] };
function chart(prod) {
  const W = 900, H = 240, L = 48, R = 12, T = 12, B = 28;
  const n = Math.max(1, Math.round((prod.now - prod.since) / prod.bucket) + 1);
  const series = prod.factories.map((f) => {
    const counts = new Map(f.points.map(([t, c]) => [t, c]));
    const pts = [];
    for (let i = 0; i < n; i++) pts.push(counts.get(prod.since + i * prod.bucket) || 0);
    return { name: f.factory, pts };
  });
  const max = Math.max(1, ...series.flatMap((x) => x.pts));
  const x = (i) => L + (n === 1 ? 0 : (i * (W - L - R)) / (n - 1));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const svg = s('svg', { class: 'chart', id: 'production-chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'devices produced per factory over time' });
  for (const v of [0, max / 2, max]) {
    svg.append(s('line', { class: 'axis', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    svg.append(s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(Math.round(v))));
  }
  for (const i of [0, Math.floor((n - 1) / 2), n - 1]) {
    const t = new Date((prod.since + i * prod.bucket) * 1000);
    const txt = prod.bucket >= 86400 ? t.toISOString().slice(5, 10) : t.toISOString().slice(11, 16);
    svg.append(s('text', { x: x(i), y: H - 8, 'text-anchor': i === n - 1 ? 'end' : i ? 'middle' : 'start' }, txt));
  }
  series.forEach((sr, k) => {
    const d = sr.pts.map((v, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    const g = s('g', { class: `c${k % 6}`, 'data-factory': sr.name });
    g.append(s('path', { class: 'series', d }, s('title', {}, sr.name)));
    sr.pts.forEach((v, i) => { if (v) g.append(s('circle', { cx: x(i), cy: y(v), r: 3 }, s('title', {}, `${sr.name}: ${v}`))); });
    svg.append(g);
  });
  const legend = h('div', { class: 'legend' }, series.map((sr, k) => h('span', { class: `c${k % 6}` }, sr.name)));
  return [legend, svg];
}
async function pageOverview(main) {
  const range = sessionStorage.getItem('writ.range') || '24h';
  const [span, bucket] = RANGES[range] || RANGES['24h'];
  const now = Math.floor(Date.now() / 1000);
  const [prod, batches, facs, alerts] = await Promise.all([
    get(`/v1/production?since=${now - span + bucket}&bucket=${bucket}`),
    get('/v1/batches'),
    get('/v1/factories'),
    oem() ? get('/v1/alerts') : Promise.resolve(null),
  ]);
  const sel = h('select', { id: 'range' }, Object.keys(RANGES).map((k) => h('option', { value: k, selected: k === range }, `last ${k}`)));
  sel.addEventListener('change', () => { sessionStorage.setItem('writ.range', sel.value); route(); });
  const total = prod.factories.reduce((a, f) => a + (f.devices || 0), 0);
  main.append(h('h1', {}, 'Overview'),
    h('section', { class: 'card' }, h('h2', {}, `Production per factory (${total} devices, `, sel, ')'),
      prod.factories.length ? chart(prod) : h('p', { class: 'empty' }, 'No device verified in this window yet. Devices appear once their factory has synced its HSM journal.')));
  const active = batches.batches.filter((b) => b.state === 'active' || b.state === 'revoking');
  main.append(h('section', { class: 'card' }, h('h2', {}, 'Batches: used and remaining quantity'),
    table([
      { title: 'batch', get: (b) => link(`#/batch/${b.id}`, short(b.id)), mono: true },
      { title: 'product', get: (b) => `${b.product} ${b.version}` },
      { title: 'factory', get: (b) => b.factory },
      { title: 'state', get: (b) => b.state, cls: (b) => `state-${b.state}` },
      { title: 'used', get: (b) => h('div', { class: 'bar', title: `${b.produced} of ${b.quantity}` }, h('div', { class: `w${Math.min(100, Math.round((100 * b.produced) / b.quantity))}` })) },
      { title: 'produced', get: (b) => b.produced, num: true },
      { title: 'remaining', get: (b) => b.remaining, num: true },
    ], active.length ? active : batches.batches, 'No batch yet.')));
  const byFactory = new Map(prod.factories.map((f) => [f.factory, f]));
  main.append(h('section', { class: 'card' }, h('h2', {}, 'Sync lag per factory'),
    table([
      { title: 'factory', get: (f) => f.id },
      { title: 'last contact', get: (f) => ago(f.last_contact, prod.now), cls: (f) => (!f.last_contact || prod.now - f.last_contact > 3600 ? 'warn' : '') },
      { title: 'newest device verified', get: (f) => ago((byFactory.get(f.id) || {}).last_device, prod.now) },
      { title: 'devices awaiting their factory record', get: (f) => (byFactory.get(f.id) || {}).awaiting_record || 0, num: true },
      { title: 'queued at the factory', get: queuedText, cls: (f) => (f.queued && f.queued.records + f.queued.journal > 0 ? 'warn' : '') },
      { title: 'records received', get: (f) => f.records, num: true },
    ], facs.factories, 'No factory registered yet.')));
  if (alerts) {
    const kinds = {
      fork: 'journal fork', bad_journal: 'refused journal', bad_record: 'refused records', reordered: 'records out of order',
      unknown_writ: 'DAC under an unknown writ', wrong_pin: 'HSM pinned another key', bad_debug: 'debug under unknown rights',
      bad_reprovision: 'reprovision under unknown rights',
    };
    // repeats of an alert fold into it (docs/cloud-api.md): its count, first and latest occurrence
    main.append(h('section', { class: 'card' }, h('h2', {}, 'Alerts: refused bundles, forks, HSM refusals'),
      table([
        { title: 'first seen', get: (a) => when(a.first_seen || a.time) },
        { title: 'last seen', get: (a) => ago(a.last_seen || a.time, prod.now), cls: (a) => (a.open ? '' : 'closed') },
        { title: 'kind', get: (a) => kinds[a.kind] || a.kind, cls: () => 'bad' },
        { title: 'times', get: (a) => `×${a.count || 1}`, num: true, cls: (a) => (a.count > 1 ? 'warn' : '') },
        { title: 'factory', get: (a) => a.factory },
        { title: 'detail', get: (a) => (a.last_detail && a.last_detail !== a.detail ? [a.detail, h('br'), h('span', { class: 'latest' }, `latest: ${a.last_detail}`)] : a.detail) },
      ], alerts.alerts, 'No alert: every journal and record pushed so far verified.')));
  }
  // the quota bars' widths are classes (the CSP admits no inline style)
  ensureWidthRules();
}
let widthRules = false;
function ensureWidthRules() {
  if (widthRules) return;
  widthRules = true;
  const sheet = document.styleSheets[0];
  for (let i = 0; i <= 100; i++) sheet.insertRule(`.bar > div.w${i} { width: ${i}%; }`, sheet.cssRules.length);
}

// Matter's VID/PID subject attributes (OID 1.3.6.1.4.1.37244.2.1 / .2, a 4-character
// UTF8String) as OpenSSL prints them in RFC 2253 (#0C04 + hex), made readable.
function matterName(dn) {
  return (dn || '').replace(/1\.3\.6\.1\.4\.1\.37244\.2\.([12])=#0C04((?:3[0-9]|4[1-6]){4})/gi,
    (m, k, hx) => `${k === '1' ? 'VID' : 'PID'}=${hx.match(/../g).map((b) => String.fromCharCode(parseInt(b, 16))).join('')}`);
}

// ---- Products and versions ----
async function pageProducts(main) {
  const { products } = await get('/v1/products');
  main.append(h('h1', {}, 'Products'),
    table([
      { title: 'product', get: (p) => link(`#/product/${q(p.id)}`, p.id) },
      { title: 'name', get: (p) => p.name },
      { title: 'VID/PID', get: (p) => `${p.vid.toString(16).toUpperCase()}/${p.pid.toString(16).toUpperCase()}`, mono: true },
      { title: 'quota', get: (p) => p.quota, num: true },
      { title: 'allocated', get: (p) => p.allocated, num: true },
      { title: 'produced', get: (p) => p.produced, num: true },
    ], products, oem() ? 'No product yet: create one with `writ product create`.' : 'No product shared with your organisation yet: an OEM must invite you to its workspace.'));
}
async function pageProduct(main, id) {
  const [p, { versions }, { firmware }] = await Promise.all([get(`/v1/products/${q(id)}`), get(`/v1/products/${q(id)}/versions`), get(`/v1/products/${q(id)}/firmware`)]);
  const decide = (v, verb) => async (ev) => {
    const row = ev.target.closest('tr');
    const reason = row.querySelector('input.reason').value.trim();
    if (verb === 'reject' && !reason) { say('Give a reason to reject: the ODM reads it.'); return; }
    try {
      await api('POST', `/v1/products/${q(id)}/versions/${q(v.name)}/${verb}`, reason ? { reason } : {});
      say(`Version ${v.name} ${verb === 'approve' ? 'approved' : 'rejected'}.`, true);
      route();
    } catch (e) { say(e.message); }
  };
  main.append(h('h1', {}, `Product ${p.id}`),
    h('section', { class: 'card' }, kv([['name', p.name], ['VID / PID', `${p.vid.toString(16).toUpperCase()} / ${p.pid.toString(16).toUpperCase()}`],
      ['quota', `${p.quota} (allocated ${p.allocated}, produced ${p.produced})`], ['PAI mode', p.pai_mode],
      ['invited ODMs', (p.invited || []).join(', ')], ['writ-signing key', p.writ_signing_pub, true]])),
    h('h2', {}, 'Versions'),
    table([
      { title: 'version', get: (v) => v.name },
      { title: 'state', get: (v) => v.state, cls: (v) => `state-${v.state}` },
      { title: 'firmware', get: (v) => `v${v.fw_version} ${short(v.firmware_digest)}`, mono: true },
      { title: 'digest', get: (v) => short(v.digest), mono: true },
      { title: 'by', get: (v) => `${v.created_by}, ${when(v.created)}` },
      { title: 'decision', get: (v) => (v.state === 'pending' ? '' : `${v.decided_by} ${when(v.decided)}${v.reason ? ': ' + v.reason : ''}`) },
      { title: '', get: (v) => (oem() && v.state === 'pending' ? [
        h('input', { class: 'reason', placeholder: 'reason', maxlength: 256, 'aria-label': `reason for ${v.name}` }), ' ',
        h('button', { type: 'button', class: 'approve', 'data-version': v.name, onclick: decide(v, 'approve') }, 'Approve'), ' ',
        h('button', { type: 'button', class: 'danger reject', 'data-version': v.name, onclick: decide(v, 'reject') }, 'Reject')] : '') },
    ], versions, 'No version yet: the ODM creates one with `writ version create`.'),
    h('h2', {}, 'Firmware'),
    table([
      { title: 'sha256', get: (f) => f.sha256, mono: true },
      { title: 'fw_version', get: (f) => f.fw_version, num: true },
      { title: 'size', get: (f) => f.size, num: true },
      { title: 'uploaded', get: (f) => when(f.created) },
    ], firmware, 'No firmware uploaded.'));
}

// ---- Batches ----
async function pageBatches(main) {
  const [{ batches }, { products }, { factories }] = await Promise.all([get('/v1/batches'), get('/v1/products'), get('/v1/factories')]);
  main.append(h('h1', {}, 'Batches'),
    table([
      { title: 'batch', get: (b) => link(`#/batch/${b.id}`, short(b.id)), mono: true },
      { title: 'product', get: (b) => b.product },
      { title: 'version', get: (b) => b.version },
      { title: 'factory', get: (b) => b.factory },
      { title: 'state', get: (b) => b.state, cls: (b) => `state-${b.state}` },
      { title: 'quantity', get: (b) => b.quantity, num: true },
      { title: 'produced', get: (b) => b.produced, num: true },
      { title: 'serials', get: (b) => `${b.serial_first}–${b.serial_last}` },
      { title: 'window', get: (b) => `${when(b.not_before)} → ${when(b.not_after)}` },
    ], batches, 'No batch yet.'));
  if (me.role !== 'odm-engineer') return;
  // create: an ODM orders a run of an approved version at a factory it runs
  const prodSel = h('select', { id: 'b-product', name: 'product' }, products.map((p) => h('option', { value: p.id }, p.id)));
  const verSel = h('select', { id: 'b-version', name: 'version' });
  const facSel = h('select', { id: 'b-factory', name: 'factory' }, factories.map((f) => h('option', { value: f.id }, f.id)));
  const hsmSel = h('select', { id: 'b-hsm', name: 'hsm' });
  const qty = h('input', { id: 'b-quantity', type: 'number', min: 1, max: 16777216, value: 100, required: true });
  const days = h('input', { id: 'b-days', type: 'number', min: 1, max: 3650, value: 7, required: true });
  const loadVersions = async () => {
    verSel.replaceChildren();
    if (!prodSel.value) return;
    const { versions } = await get(`/v1/products/${q(prodSel.value)}/versions`);
    const ok = versions.filter((v) => v.state === 'approved');
    verSel.append(...ok.map((v) => h('option', { value: v.name }, v.name)));
    if (!ok.length) verSel.append(h('option', { value: '' }, '(no approved version)'));
  };
  const loadHsms = () => {
    const f = factories.find((x) => x.id === facSel.value);
    hsmSel.replaceChildren(...((f && f.hsms) || []).map((x) => h('option', { value: x.id }, short(x.id))));
  };
  prodSel.addEventListener('change', () => loadVersions().catch((e) => say(e.message)));
  facSel.addEventListener('change', loadHsms);
  await loadVersions();
  loadHsms();
  const form = h('form', { class: 'row', id: 'batch-form' },
    h('label', {}, 'product', prodSel), h('label', {}, 'approved version', verSel), h('label', {}, 'factory', facSel),
    h('label', {}, 'edge HSM', hsmSel), h('label', {}, 'quantity', qty), h('label', {}, 'days', days),
    h('button', { type: 'submit', id: 'b-create' }, 'Create batch'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!verSel.value) { say('This product has no approved version yet: the OEM must approve one first.'); return; }
    if (!hsmSel.value) { say('This factory has no enrolled edge HSM: enrol one (writ-factory enrol) first.'); return; }
    const nb = Math.floor(Date.now() / 1000) - 60;
    try {
      const b = await api('POST', '/v1/batches', { product: prodSel.value, version: verSel.value, factory: facSel.value, hsm: hsmSel.value,
        quantity: Number(qty.value), not_before: nb, not_after: nb + 60 + Number(days.value) * 86400 });
      say(`Batch ${b.id} created: its writ is on its way to the factory.`, true);
      location.hash = `#/batch/${b.id}`;
    } catch (e) { say(e.code === 'quota' ? `${e.message} Ask the OEM for more quota or a smaller quantity.` : e.message); }
  });
  main.append(h('section', { class: 'card' }, h('h2', {}, 'New batch'), form));
}
// hand a downloaded blob to the browser as a file
function save(blob, name) {
  const a = h('a', { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}
async function pageBatch(main, id) {
  if (!/^[0-9a-f]{32}$/.test(id)) throw new ApiError(400, 'bad_request', 'A batch id is 32 hex digits: pick one from the list.');
  const b = await get(`/v1/batches/${id}`);
  const dl = h('button', { type: 'button', class: 'secondary', id: 'writ-download', onclick: async () => {
    try { save(await api('GET', `/v1/batches/${id}/writ`, undefined, true), `${id}.writ`); } catch (e) { say(e.message); }
  } }, 'Download the sealed writ');
  const csv = h('button', { type: 'button', class: 'secondary', id: 'records-csv', onclick: async () => {
    try { save(await api('GET', `/v1/records?batch=${id}&format=csv&limit=10000`, undefined, true), `${id}.csv`); } catch (e) { say(e.message); }
  } }, 'Download its records (CSV)');
  const revoke = h('button', { type: 'button', class: 'danger', id: 'revoke', onclick: async () => {
    if (!confirm(`Revoke batch ${id}? Its HSM will refuse further devices once the revocation reaches it.`)) return;
    try { await api('POST', `/v1/batches/${id}/revoke`, {}); say('Revocation issued: the batch is revoked once the HSM\'s journal shows it.', true); route(); } catch (e) { say(e.message); }
  } }, 'Revoke');
  main.append(h('h1', {}, `Batch ${id}`),
    h('section', { class: 'card', id: 'writ-scope' }, h('h2', {}, 'The writ\'s scope'), kv([
      ['state', b.state], ['product', b.product], ['version', `${b.version} (digest ${b.version_digest})`], ['factory', b.factory],
      ['edge HSM', b.hsm, true], ['quantity', b.quantity], ['produced', `${b.produced} (re-issued ${b.reissued})`], ['remaining', b.remaining],
      ['serial range', `${b.serial_first} – ${b.serial_last}`], ['valid', `${when(b.not_before)} → ${when(b.not_after)}`],
      ['DAC validity', b.dac_days ? `${b.dac_days} days` : 'no expiry'], ['final count', b.final_count], ['revocation writ', b.revocation, true],
      ['created', `${b.created_by}, ${when(b.created)}`]])),
    h('p', {}, dl, ' ', csv, ' ', b.state === 'active' ? revoke : '', ' ', link(`#/devices?batch=${id}`, 'devices of this batch')));
}

// ---- Devices ----
async function pageDevices(main, params) {
  const kind = h('select', { id: 'd-kind' }, [['serial', 'serial number'], ['uid', 'chip UID (hex)'], ['dac_serial', 'DAC serial (hex)']].map(([v, t]) => h('option', { value: v, selected: params.get('by') === v }, t)));
  const val = h('input', { id: 'd-value', placeholder: 'value', value: params.get('v') || '', required: true });
  const form = h('form', { class: 'row', id: 'device-form' }, h('label', {}, 'search by', kind), h('label', {}, 'value', val), h('button', { type: 'submit', id: 'd-search' }, 'Search'));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); location.hash = `#/devices?by=${q(kind.value)}&v=${q(val.value.trim())}`; });
  main.append(h('h1', {}, 'Devices'), form);
  const cols = [
    { title: 'serial', get: (d) => link(`#/device/${d.id}`, String(d.serial)) },
    { title: 'UID', get: (d) => d.uid, mono: true },
    { title: 'DAC serial', get: (d) => d.dac_serial, mono: true },
    { title: 'product', get: (d) => d.product },
    { title: 'factory / line', get: (d) => `${d.factory}${d.line ? ' / ' + d.line : ''}` },
    { title: 'result', get: (d) => d.result || 'record pending', cls: (d) => `state-${d.result || 'pending'}` },
    { title: 'time', get: (d) => when(d.time) },
  ];
  let list = null;
  if (params.get('by') && params.get('v')) {
    const by = params.get('by'), v = params.get('v');
    if (by === 'serial' && !/^[0-9]+$/.test(v)) throw new ApiError(400, '', 'A serial number is digits only.');
    if (by !== 'serial' && !/^[0-9a-fA-F]+$/.test(v)) throw new ApiError(400, '', 'A UID or DAC serial is hex digits.');
    list = (await get(`/v1/devices?${by === 'serial' ? 'serial' : by === 'uid' ? 'uid' : 'dac_serial'}=${q(v)}`)).devices;
  } else if (params.get('batch')) {
    list = (await get(`/v1/records?batch=${q(params.get('batch'))}&limit=200`)).records;
  }
  if (list) main.append(h('section', { class: 'card', id: 'device-results' }, table(cols, list, 'No device matches (or none you may see).')));
}
async function pageDevice(main, id) {
  if (!/^[0-9]{1,18}$/.test(id)) throw new ApiError(400, '', 'A device id is a number: search for the device first.');
  const d = await get(`/v1/devices/${id}`);
  const img = h('img', { class: 'label-img', id: 'device-label', alt: `onboarding label of serial ${d.serial}` });
  const labelBox = h('div', {}, d.qr ? img : h('p', { class: 'empty' }, 'No label yet: the onboarding codes arrive with the factory\'s record of this device.'));
  const chainRows = d.chain.map((c) => h('section', { class: 'card' }, h('h2', {}, c.role.toUpperCase()), c.role === 'dac'
    ? kv([['serial', c.serial, true], ['SHA-256', c.sha256, true], ['key', 'made on the chip; never left it']])
    : c.error ? h('p', { class: 'bad' }, c.error)
      : kv([['subject', matterName(c.subject)], ['issuer', matterName(c.issuer)], ['serial', c.serial, true], ['valid', `${when(c.not_before)} → ${c.not_after >= 253402300799 ? 'no expiry' : when(c.not_after)}`], ['SHA-256', c.sha256, true]])));
  // re-issues of its certificate, and what was done under rework rights (each unlock the
  // HSM signed, with the factory's record of it once synced: who, and the outcome)
  const reissues = d.operations.filter((o) => o.id !== d.id || o.operation !== 'dac')
    .map((o) => ({ time: o.time, operation: o.operation, factory: o.factory, who: [o.line, o.station].filter(Boolean).join(' / '), hsm_seq: o.hsm_seq, outcome: o.result || '' }));
  const unlocks = (d.rework || []).map((e) => ({ time: e.time, operation: `${e.operation} (unlock ${e.session} s)`, factory: e.factory,
    who: e.record ? [e.record.line, e.record.station].filter(Boolean).join(' / ') : 'the station\'s record has not synced yet',
    hsm_seq: e.hsm_seq, outcome: e.record ? `${e.record.result}${e.record.reason ? ': ' + e.record.reason : ''}${e.record.firmware_version ? ' (firmware ' + e.record.firmware_version + ')' : ''}` : '' }));
  const rework = reissues.concat(unlocks).sort((a, b) => a.time - b.time);
  main.append(h('h1', {}, `Device ${d.serial}`),
    h('div', { class: 'grid2' },
      h('section', { class: 'card', id: 'device-record' }, h('h2', {}, 'Record'), kv([
        ['product / version', `${d.product} ${d.version}`], ['serial', d.serial], ['chip UID', d.uid, true], ['batch', link(`#/batch/${d.batch}`, d.batch)],
        ['factory / line / station', [d.factory, d.line, d.station].filter(Boolean).join(' / ')], ['result', d.result || 'the factory record has not synced yet'],
        ['firmware version', d.firmware_version], ['made', when(d.time)], ['edge HSM', `${d.hsm} (journal seq ${d.hsm_seq})`, true],
        ['QR payload', d.qr, true], ['manual code', d.manual, true]])),
      h('section', { class: 'card' }, h('h2', {}, 'Onboarding label'), labelBox)),
    h('h2', {}, 'Certificate chain'), h('div', { id: 'device-chain' }, chainRows),
    h('section', { class: 'card', id: 'device-rework' }, h('h2', {}, 'Rework history'),
      rework.length ? table([{ title: 'time', get: (o) => when(o.time) }, { title: 'operation', get: (o) => o.operation }, { title: 'factory', get: (o) => o.factory }, { title: 'line / station', get: (o) => o.who }, { title: 'outcome', get: (o) => o.outcome }, { title: 'HSM seq', get: (o) => o.hsm_seq, num: true }], rework, '')
        : h('p', { class: 'empty' }, 'No rework yet.')));
  if (d.qr) {
    try {
      const blob = await api('GET', `/v1/devices/${id}/label.svg`, undefined, true);
      img.src = URL.createObjectURL(blob);
    } catch (e) { labelBox.replaceChildren(h('p', { class: 'bad' }, e.message)); }
  }
}

// ---- Factories and edge HSMs ----
async function pageFactories(main) {
  const now = Math.floor(Date.now() / 1000);
  // what the portal knows is still to come from each factory: DACs verified from the
  // HSM journal whose factory record has not arrived (last 30 days)
  const [{ factories }, prod] = await Promise.all([get('/v1/factories'), get(`/v1/production?since=${now - 30 * 86400}&bucket=86400`)]);
  const awaiting = new Map(prod.factories.map((f) => [f.factory, f.awaiting_record || 0]));
  main.append(h('h1', {}, 'Factories and edge HSMs'));
  if (!factories.length) main.append(h('p', { class: 'empty' }, 'No factory yet: an oem-admin registers one (writ factory create) and the factory enrols its HSM with the code.'));
  for (const f of factories) {
    main.append(h('section', { class: 'card factory', 'data-factory': f.id }, h('h2', {}, `${f.id} `, link(`#/telemetry/${q(f.id)}`, '(line telemetry)')),
      kv([['run by', f.odm], ['for', f.oem], ['last contact', `${ago(f.last_contact, now)} (${when(f.last_contact)})`], ['records received', f.records],
        ['queued at the factory', queuedText(f)],
        ['records awaited', `${awaiting.get(f.id) || 0} device(s) verified from the journal, factory record not yet here`]]),
      h('h2', {}, 'Edge HSMs'),
      table([
        { title: 'HSM', get: (x) => x.id, mono: true },
        { title: 'journal verified to', get: (x) => x.next_seq, num: true },
        { title: 'last contact', get: (x) => ago(x.last_contact, now) },
        { title: 'enrolled', get: (x) => when(x.enrolled) },
        { title: 'state', get: (x) => (x.halted ? `halted: ${x.halted}` : 'ok'), cls: (x) => (x.halted ? 'bad' : 'state-ok') },
      ], f.hsms, 'No HSM enrolled yet.')));
  }
}

// ---- Line telemetry: yield, devices/hour, cycle time, failures per factory and line ----
const TRANGES = { '1h': 3600, '24h': 86400, '7d': 7 * 86400 };
const pct = (v) => (v === null || v === undefined ? '—' : `${(100 * v).toFixed(1)} %`);
const rate = (v) => (v === null || v === undefined ? '—' : v.toFixed(1));
const ms = (v) => (v ? (v >= 1000 ? `≤ ${v / 1000} s` : `≤ ${v} ms`) : '—');
function teleChart(t, span, bins) {
  const W = 900, H = 220, L = 48, R = 12, T = 12, B = 28;
  const width = Math.max(60, Math.ceil(span / bins));
  const n = Math.ceil((t.until - t.since) / width);
  const series = t.lines.map((l) => {
    const pts = new Array(n).fill(0);
    for (const [start, , ok] of l.points) {
      const i = Math.floor((start - t.since) / width);
      if (i >= 0 && i < n) pts[i] += ok;
    }
    return { name: l.line, pts };
  });
  const max = Math.max(1, ...series.flatMap((x) => x.pts));
  const x = (i) => L + (n <= 1 ? 0 : (i * (W - L - R)) / (n - 1));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const svg = s('svg', { class: 'chart', id: 'telemetry-chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'devices ok per line over time' });
  for (const v of [0, max / 2, max]) {
    svg.append(s('line', { class: 'axis', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    svg.append(s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(Math.round(v))));
  }
  for (const i of [0, Math.floor((n - 1) / 2), n - 1]) {
    const tt = new Date((t.since + i * width) * 1000);
    svg.append(s('text', { x: x(i), y: H - 8, 'text-anchor': i === n - 1 ? 'end' : i ? 'middle' : 'start' }, span > 86400 ? tt.toISOString().slice(5, 16).replace('T', ' ') : tt.toISOString().slice(11, 16)));
  }
  series.forEach((sr, k) => {
    const d = sr.pts.map((v, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    const g = s('g', { class: `c${k % 6}`, 'data-line': sr.name });
    g.append(s('path', { class: 'series', d }, s('title', {}, sr.name)));
    svg.append(g);
  });
  const legend = h('div', { class: 'legend' }, series.map((sr, k) => h('span', { class: `c${k % 6}` }, `${sr.name} (ok per ${Math.round(width / 60)} min)`)));
  return [legend, svg];
}
function failBars(byStep) {
  const rows = Object.entries(byStep || {}).sort((a, b) => b[1] - a[1]);
  if (!rows.length) return h('p', { class: 'empty' }, 'No failed device in this window.');
  const W = 900, bh = 22, L = 120, max = rows[0][1];
  const svg = s('svg', { class: 'chart', id: 'telemetry-failures', viewBox: `0 0 ${W} ${rows.length * bh + 8}`, role: 'img', 'aria-label': 'failed devices per step' });
  rows.forEach(([step, n], i) => {
    const w = Math.max(2, ((W - L - 60) * n) / max);
    svg.append(s('text', { x: L - 8, y: i * bh + 16, 'text-anchor': 'end' }, step));
    svg.append(s('rect', { class: 'fbar', x: L, y: i * bh + 4, width: w.toFixed(1), height: bh - 8 }, s('title', {}, `${step}: ${n}`)));
    svg.append(s('text', { x: L + w + 6, y: i * bh + 16 }, String(n)));
  });
  return svg;
}
async function pageTelemetry(main, id, params) {
  const { factories } = await get('/v1/factories');
  main.append(h('h1', {}, 'Line telemetry'));
  if (!factories.length) { main.append(h('p', { class: 'empty' }, 'No factory visible to you.')); return; }
  const fac = typeof id === 'string' && id ? id : factories[0].id;
  const range = (params && params.get && params.get('range')) || '24h';
  const span = TRANGES[range] || TRANGES['24h'];
  const line = params && params.get ? params.get('line') : null;
  main.append(h('p', { class: 'ranges' }, 'Factory: ', factories.map((f) => [link(`#/telemetry/${q(f.id)}?range=${range}`, f.id), ' ']),
    ' · window: ', Object.keys(TRANGES).map((r) => [r === range ? h('strong', {}, r) : link(`#/telemetry/${q(fac)}?range=${r}${line ? `&line=${q(line)}` : ''}`, r), ' ']),
    line ? [' · line ', h('strong', {}, line), ' ', link(`#/telemetry/${q(fac)}?range=${range}`, '(all lines)')] : ''));
  const now = Math.floor(Date.now() / 1000);
  const t = await get(`/v1/telemetry?factory=${q(fac)}&since=${now - span}&until=${now + 60}${line ? `&line=${q(line)}` : ''}`);
  const tot = t.totals;
  main.append(h('section', { class: 'card', id: 'telemetry-totals', 'data-factory': fac }, h('h2', {}, line ? `${fac} / ${line}` : fac),
    kv([['devices', tot.total], ['ok', tot.ok], ['failed', tot.failed], ['yield', pct(tot.yield)], ['devices per hour', rate(tot.devices_per_hour)],
      ['cycle time p50', ms(tot.cycle_ms.p50)], ['cycle time p95', ms(tot.cycle_ms.p95)], ['cycle time mean', tot.cycle_ms.mean === null ? '—' : `${tot.cycle_ms.mean} ms`]])));
  if (!tot.total) { main.append(h('p', { class: 'empty' }, 'No telemetry from this factory in this window: stations post it per minute, the factory forwards it when the cloud is reachable.')); return; }
  main.append(h('section', { class: 'card' }, h('h2', {}, 'Devices ok over time'), teleChart(t, span, 60)));
  main.append(h('section', { class: 'card' }, h('h2', {}, 'Lines'), table([
    { title: 'line', get: (l) => link(`#/telemetry/${q(fac)}?range=${range}&line=${q(l.line)}`, l.line) },
    { title: 'devices', get: (l) => l.total, num: true },
    { title: 'yield', get: (l) => pct(l.yield), num: true, cls: (l) => (l.yield !== null && l.yield < 0.95 ? 'bad' : '') },
    { title: 'devices/h', get: (l) => rate(l.devices_per_hour), num: true },
    { title: 'cycle p50', get: (l) => ms(l.cycle_ms.p50), num: true },
    { title: 'cycle p95', get: (l) => ms(l.cycle_ms.p95), num: true },
    { title: 'top failure', get: (l) => (l.top_reasons.length ? `${l.top_reasons[0].step}: ${l.top_reasons[0].reason} (${l.top_reasons[0].n})` : '—') },
  ], t.lines, 'No line.')));
  main.append(h('section', { class: 'card', id: 'telemetry-stations' }, h('h2', {}, 'Stations'), table([
    { title: 'line', get: (x) => x.line }, { title: 'station', get: (x) => x.station },
    { title: 'devices', get: (x) => x.total, num: true },
    { title: 'yield', get: (x) => pct(x.yield), num: true, cls: (x) => (x.yield !== null && x.yield < 0.95 ? 'bad' : '') },
    { title: 'devices/h', get: (x) => rate(x.devices_per_hour), num: true },
    { title: 'cycle p50', get: (x) => ms(x.cycle_ms.p50), num: true },
    { title: 'failed by step', get: (x) => Object.entries(x.fail_by_step).map(([k, v]) => `${k} ${v}`).join(', ') || '—' },
  ], t.lines.flatMap((l) => (l.stations || []).map((x) => ({ ...x, line: l.line }))), 'No station.')));
  main.append(h('section', { class: 'card' }, h('h2', {}, 'Failures by step'), failBars(tot.fail_by_step)));
  main.append(h('section', { class: 'card' }, h('h2', {}, 'Top failure reasons'), table([
    { title: 'step', get: (r) => r.step }, { title: 'reason', get: (r) => r.reason }, { title: 'devices', get: (r) => r.n, num: true },
  ], tot.top_reasons, 'No failure.')));
}

// ---- routing ----
const pages = { overview: pageOverview, products: pageProducts, product: pageProduct, batches: pageBatches, batch: pageBatch, devices: pageDevices, device: pageDevice, factories: pageFactories, telemetry: pageTelemetry };
let routing = 0;
async function route() {
  const n = ++routing;
  const main = $('main');
  const [path, query] = (location.hash.slice(1) || '/overview').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || '');
  main.replaceChildren();
  if (!sessionStorage.getItem(TOKEN_KEY) || parts[0] === 'signin') {
    if (parts[0] !== 'signin') { location.hash = '#/signin'; return; }
    if (sessionStorage.getItem(TOKEN_KEY)) { location.hash = '#/overview'; return; }
    pageSignin(main);
    return;
  }
  try {
    if (!me) me = await get('/v1/me');
    $('who').textContent = `${me.user} @ ${me.org} (${me.role})`;
    $('nav').hidden = false;
    $('signout').hidden = false;
    for (const a of document.querySelectorAll('nav a')) a.classList.toggle('on', parts[0] && parts[0].startsWith(a.dataset.page.replace(/s$/, '')));
    const page = pages[parts[0]];
    const box = h('div', { id: `page-${parts[0]}` });
    if (!page) throw new ApiError(404, '', 'No such page: use the menu.');
    await page(box, parts[1] !== undefined ? parts[1] : params, params);
    if (n === routing) { main.replaceChildren(box); document.body.dataset.ready = parts[0]; }
  } catch (e) {
    if (n !== routing) return;
    if (!sessionStorage.getItem(TOKEN_KEY)) return;
    main.replaceChildren(h('p', { class: 'empty', id: 'page-error' }, 'This page could not be shown.'));
    say(e.message || String(e));
    document.body.dataset.ready = 'error';
  }
}
window.addEventListener('hashchange', () => { say(''); delete document.body.dataset.ready; route(); });
document.addEventListener('DOMContentLoaded', () => {
  $('signout').addEventListener('click', () => { say(''); signOut(); });
  route();
});
