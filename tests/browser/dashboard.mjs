// SPDX-License-Identifier: Apache-2.0
// The dashboard, driven in headless Debian chromium by playwright-core (dashboard.sh
// starts the real services and sets the environment). Each check prints "ok: ..." or
// fails the run; on failure a screenshot of every open page is saved in $WORK (with
// SHOTS=1 and KEEP_WORKDIR=1, the overview and a device page are kept on success too).
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const URL = process.env.DASH_URL;
const WORK = process.env.WORK;
const T = { oem: process.env.TOKEN_OEM, odm: process.env.TOKEN_ODM, oem2: process.env.TOKEN_OEM2, factory: process.env.TOKEN_FACTORY };
let passed = 0;
const ok = (what) => { passed++; console.log(`ok: ${what}`); };
function check(what, cond, detail) {
  if (!cond) throw new Error(`${what}${detail ? ': ' + detail : ''}`);
  ok(what);
}
async function api(path, token, method, body) {
  const r = await fetch(URL + path, { method: method || 'GET', headers: { Authorization: `Bearer ${token}` }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, json: r.headers.get('content-type') === 'application/json' ? await r.json() : null };
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const pages = [];
const problems = [];
async function newPage(who) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  page.on('pageerror', (e) => problems.push(`${who}: page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(`${who}: console: ${m.text()}`); });
  pages.push([who, page]);
  return page;
}
const ready = (page, name) => page.waitForSelector(`body[data-ready="${name}"]`);
async function go(page, hash, name) {
  await page.evaluate((hh) => { location.hash = hh; }, hash);
  await ready(page, name);
}
async function signIn(page, token, who) {
  await page.waitForSelector('#signin-form');
  await page.fill('#token', token);
  await page.click('#signin');
  await ready(page, 'overview');
  const stored = await page.evaluate(() => [sessionStorage.getItem('writ.token') !== null, localStorage.length, document.cookie]);
  check(`${who} signs in; the token is in sessionStorage only`, stored[0] && stored[1] === 0 && stored[2] === '', JSON.stringify(stored));
}
async function signOut(page, who) {
  await page.click('#signout');
  await page.waitForSelector('#signin-form');
  check(`${who} signs out: the token is gone`, (await page.evaluate(() => sessionStorage.getItem('writ.token'))) === null);
}

const t0 = Date.now();
try {
  // ---- the page itself: headers ----
  const oemPage = await newPage('oem');
  const resp = await oemPage.goto(URL + '/');
  const hd = resp.headers();
  check('GET / is the dashboard (text/html)', resp.status() === 200 && hd['content-type'].startsWith('text/html'), JSON.stringify(hd));
  check('strict CSP: scripts from self only, nothing inline, no framing',
    /script-src 'self'(;|$)/.test(hd['content-security-policy']) && !/unsafe/.test(hd['content-security-policy']) &&
    /frame-ancestors 'none'/.test(hd['content-security-policy']), hd['content-security-policy']);
  check('nosniff, X-Frame-Options DENY, Cache-Control', hd['x-content-type-options'] === 'nosniff' && hd['x-frame-options'] === 'DENY' &&
    /no-cache/.test(hd['cache-control']) && !!hd.etag, JSON.stringify(hd));

  // ---- sign-in refusals say what to do ----
  await oemPage.waitForSelector('#signin-form');
  await oemPage.fill('#token', 'not-a-token');
  await oemPage.click('#signin');
  await oemPage.waitForSelector('#msg:not([hidden])');
  check('a malformed token is refused with advice', /starts with wc_/.test(await oemPage.textContent('#msg')));
  await oemPage.fill('#token', 'wc_' + 'A'.repeat(43));
  await oemPage.click('#signin');
  await oemPage.waitForFunction(() => /unknown or revoked/.test(document.getElementById('msg').textContent));
  check('an unknown token is refused with advice', (await oemPage.evaluate(() => sessionStorage.getItem('writ.token'))) === null);
  await oemPage.fill('#token', T.factory);
  await oemPage.click('#signin');
  await oemPage.waitForFunction(() => /factory credential/.test(document.getElementById('msg').textContent));
  ok('a factory credential cannot sign in to the dashboard');

  // ---- OEM approves the ODM's version ----
  await signIn(oemPage, T.oem, 'OEM (alice)');
  check('the OEM sees its identity', /alice @ acme \(oem-admin\)/.test(await oemPage.textContent('#who')));
  await go(oemPage, '#/product/lamp', 'product');
  const row = oemPage.locator('tr', { has: oemPage.locator('button.approve[data-version="1.0.0"]') });
  check('version 1.0.0 is pending with approve/reject for the OEM', /pending/.test(await row.textContent()));
  await row.locator('button.approve').click();
  await oemPage.waitForFunction(() => /approved/.test(document.getElementById('msg').textContent));
  await ready(oemPage, 'product');
  const st = await api('/v1/products/lamp/versions/1.0.0', T.oem);
  check('the version is approved (through the page)', st.json.state === 'approved' && st.json.decided_by === 'alice', JSON.stringify(st.json));
  await signOut(oemPage, 'OEM');

  // ---- ODM: sees its workspace only, orders a batch ----
  const odmPage = await newPage('odm');
  await odmPage.goto(URL + '/#/overview');
  await signIn(odmPage, T.odm, 'ODM (bob)');
  await go(odmPage, '#/products', 'products');
  const prodText = await odmPage.textContent('#page-products');
  check("the ODM sees the product it was invited to, not another OEM's", /lamp/.test(prodText) && !/secret-thing/.test(prodText), prodText);
  await go(odmPage, '#/product/secret-thing', 'error');
  check("another OEM's product by URL: not found, with advice", /does not exist, or it belongs to an organisation you cannot see/.test(await odmPage.textContent('#msg')));
  await go(odmPage, '#/product/lamp', 'product');
  check('the ODM has no approve button', (await odmPage.locator('button.approve').count()) === 0);
  await go(odmPage, '#/batches', 'batches');
  await odmPage.waitForSelector('#b-version option[value="1.0.0"]', { state: 'attached' });
  await odmPage.selectOption('#b-product', 'lamp');
  await odmPage.waitForSelector('#b-version option[value="1.0.0"]', { state: 'attached' });
  await odmPage.selectOption('#b-version', '1.0.0');
  await odmPage.fill('#b-quantity', '2');
  await odmPage.click('#b-create');
  await odmPage.waitForFunction(() => /^#\/batch\/[0-9a-f]{32}$/.test(location.hash));
  await ready(odmPage, 'batch');
  const batch = (await odmPage.evaluate(() => location.hash)).slice(8);
  const scope = await odmPage.textContent('#writ-scope');
  check(`batch ${batch} created on the page; its writ's scope is shown`, /quantity\s*2/.test(scope) && /sz1/.test(scope), scope);
  const [dl] = await Promise.all([odmPage.waitForEvent('download'), odmPage.click('#writ-download')]);
  const wpath = `${WORK}/downloaded.writ`;
  await dl.saveAs(wpath);
  const size = Number(execFileSync('stat', ['-c', '%s', wpath]).toString().trim());
  check('the sealed writ downloads', size > 200, `${size} bytes`);

  // ---- the line produces; the records sync ----
  execFileSync('bash', [`${WORK}/line.sh`, batch], { stdio: 'inherit', timeout: 60000 });
  let b = null;
  let devs = [];
  for (let i = 0; i < 150; i++) {
    b = (await api(`/v1/batches/${batch}`, T.oem)).json;
    devs = ((await api(`/v1/records?batch=${batch}`, T.oem)).json || {}).records || [];
    if (b.produced === 2 && devs.length === 2 && devs.every((d) => d.qr)) break;
    await sleep(200);
  }
  check('the line made 2 devices and the factory synced them', b.produced === 2 && devs.length === 2 && devs.every((d) => d.qr), JSON.stringify(b));

  await go(odmPage, `#/batch/${batch}`, 'batch');
  const [cdl] = await Promise.all([odmPage.waitForEvent('download'), odmPage.click('#records-csv')]);
  await cdl.saveAs(`${WORK}/records.csv`);
  const csvLines = execFileSync('cat', [`${WORK}/records.csv`]).toString().trim().split('\n');
  check("the batch's records download as CSV", csvLines.length === 3 && csvLines[0].startsWith('id,product,batch'), csvLines.join(' | '));

  // ---- the device appears with its label ----
  const serial = devs[0].serial;
  await go(odmPage, `#/devices?by=serial&v=${serial}`, 'devices');
  await odmPage.click(`#device-results a[href="#/device/${devs[0].id}"]`);
  await ready(odmPage, 'device');
  await odmPage.waitForFunction(() => { const i = document.getElementById('device-label'); return i && i.complete && i.naturalWidth > 0; });
  ok(`device ${serial} appears with its onboarding label (SVG drawn by the portal)`);
  const rec = await odmPage.textContent('#device-record');
  check('its record: UID, QR payload, station', rec.includes(devs[0].uid) && rec.includes(devs[0].qr) && /st1/.test(rec), rec);
  const chain = await odmPage.textContent('#device-chain');
  check('its certificate chain: DAC, PAI and PAA with subjects', /DAC/.test(chain) && /PAI/.test(chain) && /PAA/.test(chain) && /subject/.test(chain), chain);
  check('rework history: none yet', /No rework yet/.test(await odmPage.textContent('#device-rework')));
  await go(odmPage, `#/devices?by=uid&v=${devs[1].uid}`, 'devices');
  check('search by UID finds the other device', (await odmPage.locator('#device-results tbody tr').count()) === 1,
    `${await odmPage.evaluate(() => location.hash)}: ${await odmPage.textContent('#main')}`);
  await go(odmPage, `#/devices?by=dac_serial&v=${devs[1].dac_serial}`, 'devices');
  check('search by DAC serial finds it', (await odmPage.locator('#device-results tbody tr').count()) === 1);

  // ---- a bad push repeated: a stored record resent changed, three times (409 fork each) ----
  const forks = [];
  for (let i = 0; i < 3; i++) forks.push((await api('/v1/sync/records', T.factory, 'POST', { records: [JSON.stringify({ seq: 1, hash: '00' })] })).status);
  check('a stored record resent changed three times: 409 each', forks.join() === '409,409,409', forks.join());

  // ---- OEM overview: the chart, the batch's quota, sync lag, alerts; another OEM sees none ----
  await signIn(oemPage, T.oem, 'OEM again');
  check('the overview charts production of factory sz1', (await oemPage.locator('#production-chart g[data-factory="sz1"] circle').count()) >= 1);
  const ov = await oemPage.textContent('#page-overview');
  check('the overview lists the batch, sync lag and alerts', ov.includes(batch.slice(0, 8)) && /Sync lag/.test(ov) && /Alerts/.test(ov), ov.slice(0, 400));
  const forkRows = await oemPage.locator('#page-overview tr', { hasText: 'journal fork' }).allTextContents();
  check('the three refusals are one alert, shown ×3 with its last seen', forkRows.length === 1 && forkRows[0].includes('×3') && /s ago|min ago/.test(forkRows[0]), forkRows.join(' | '));
  await go(oemPage, '#/factories', 'factories');
  check('factories: no record awaited once synced', /0 device\(s\) verified from the journal/.test(await oemPage.textContent('#page-factories')));
  check('factories and their HSMs with last contact', /sz1/.test(await oemPage.textContent('#page-factories')) && /s ago|min ago/.test(await oemPage.textContent('#page-factories')));
  // ---- line telemetry: the station's buckets follow its records to the cloud ----
  let tele = '';
  for (let i = 0; i < 20 && !/L1/.test(tele); i++) {
    if (i) await new Promise((r) => setTimeout(r, 500));
    await oemPage.evaluate((hh) => { location.hash = hh; }, `#/telemetry/sz1?range=1h&try=${i}`);
    await oemPage.waitForSelector('body[data-ready="telemetry"], body[data-ready="error"]');
    if (await oemPage.locator('body[data-ready="error"]').count()) { tele = `error: ${await oemPage.textContent('#msg')}`; break; }
    tele = await oemPage.textContent('#page-telemetry');
  }
  check('telemetry: factory sz1, line L1, yield, devices per hour, cycle time', /L1/.test(tele) && /yield/.test(tele) &&
    /devices per hour/.test(tele) && /cycle time p95/.test(tele), tele.slice(0, 400));
  check('telemetry: station st1 in the stations table', /st1/.test(await oemPage.textContent('#telemetry-stations')));
  check('telemetry: the line drawn in SVG', (await oemPage.locator('#telemetry-chart g[data-line="L1"] path').count()) === 1);
  const otherPage = await newPage('oem2');
  await otherPage.goto(URL + '/');
  await signIn(otherPage, T.oem2, 'another OEM (gina)');
  check('another OEM sees no device of acme', (await otherPage.locator('#production-chart').count()) === 0);
  await go(otherPage, `#/device/${devs[0].id}`, 'error');
  check("another OEM cannot open acme's device", /does not exist/.test(await otherPage.textContent('#msg')));
  // a token revoked while its page is open: the next read sends it back to sign-in
  const spare = (await api('/v1/tokens', T.oem2, 'POST', { label: 'browser' })).json;
  await signOut(otherPage, 'another OEM');
  await signIn(otherPage, spare.token, 'another OEM with a second token');
  check('the second token is revoked', (await api(`/v1/tokens/${spare.id}`, T.oem2, 'DELETE')).status === 200);
  await otherPage.evaluate(() => { location.hash = '#/factories'; });
  await otherPage.waitForSelector('#signin-form');
  check('a revoked token ends the session: back to sign-in, with what to do',
    /refused.*sign in again/.test(await otherPage.textContent('#msg')) &&
    (await otherPage.evaluate(() => sessionStorage.getItem('writ.token'))) === null);

  // the ODM revokes its batch on the page
  await go(odmPage, `#/batch/${batch}`, 'batch');
  odmPage.once('dialog', (d) => d.accept());
  await odmPage.click('#revoke');
  await odmPage.waitForFunction(() => /Revocation issued/.test(document.getElementById('msg').textContent));
  await ready(odmPage, 'batch');
  const rb = (await api(`/v1/batches/${batch}`, T.oem)).json;
  check('the ODM revokes the batch on its page', rb.state === 'revoking' && !!rb.revocation &&
    (await odmPage.textContent('#writ-scope')).includes('revoking'), JSON.stringify(rb));

  if (process.env.SHOTS) {
    await go(oemPage, '#/overview', 'overview');
    await oemPage.screenshot({ path: `${WORK}/overview.png`, fullPage: true });
    await go(odmPage, `#/device/${devs[0].id}`, 'device');
    await odmPage.screenshot({ path: `${WORK}/device.png`, fullPage: true });
  }
  check('no script error, no CSP violation in any page', problems.length === 0, problems.join('\n'));
  console.log(`${passed} passed, 0 failed (${((Date.now() - t0) / 1000).toFixed(1)} s in the browser)`);
} catch (e) {
  console.log(`FAIL: ${e.message}`);
  if (problems.length) console.log(problems.join('\n'));
  for (const [who, page] of pages) {
    const path = `${WORK}/failure-${who}.png`;
    try { await page.screenshot({ path, fullPage: true }); console.log(`screenshot: ${path}`); } catch (x) { /* page gone */ }
  }
  console.log(`${passed} passed, 1 failed`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
