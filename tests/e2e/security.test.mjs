// Security of the agent dashboard against the real daemon on loopback:
//   - every /api/ path answers 401 without a session (any method), and the
//     live socket refuses to open;
//   - the session cookie is HttpOnly and SameSite=Strict, invisible to
//     scripts;
//   - a write without the session's CSRF token, with a wrong one, or from a
//     foreign Origin answers 403 and changes nothing;
//   - customer text carrying <script>, <img onerror>, javascript: links and
//     other markup is shown as text in a real browser and runs nothing (a
//     flag the payloads would set stays unset, no element is created), and
//     bidi overrides are shown as U+FFFD, never reordering what is shown;
//   - repeated bad logins are slowed down (429 + Retry-After, also shown on
//     the login page), by address: failing with an agent's name from one
//     address never keeps the agent out from another;
//   - a page of another site whose name resolves to the dashboard (DNS
//     rebinding) gets 421 on every request, the login and live socket too.
//
//   BUILD=build node --test tests/e2e/security.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { freePort, track } from './lib/daemon.mjs';

const BUILD = process.env.BUILD || 'build';
const BIN = path.resolve(BUILD, 'frontdesk');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'correct horse';
const HASH = '$y$j9T$F2nKyQ2TZT4UzMbTJN6Va.$RMyDCRGkYXqbKiyH48zJY4u7/N9qyIhcPr1u/3DfILD';

let chromium = null;
let noBrowser = false;
try {
	({ chromium } = await import('playwright-core'));
} catch (e) {
	noBrowser = 'playwright-core is not installed (npm install in tests/e2e)';
}
if (!noBrowser && !existsSync(CHROMIUM)) noBrowser = `no browser at ${CHROMIUM} (apt-get install chromium)`;

const REPLIES = `escalated: "Thanks! A person will reply by {{due}}."
negative: "Sorry to hear that. A person will reply by {{due}}."
abusive: "We've received your message."
human: "A person will reply by {{due}}."
waiting: "We have your message; a person will reply soon."
`;


async function startDaemon() {
	const d = { dir: mkdtempSync(path.join(tmpdir(), 'fd-sec-')), log: '' };
	d.chatPort = await freePort();
	d.dashPort = await freePort();
	d.chat = `http://127.0.0.1:${d.chatPort}`;
	d.dash = `http://127.0.0.1:${d.dashPort}`;
	writeFileSync(path.join(d.dir, 'rules.yaml'), '[]\n');
	writeFileSync(path.join(d.dir, 'replies.yaml'), REPLIES);
	writeFileSync(path.join(d.dir, 'lexicon.yaml'), 'threshold: -0.3\nwords: { terrible: -3 }\n');
	writeFileSync(path.join(d.dir, 'config.yaml'), `business:
  name: Test Bakery
  timezone: UTC
  hours: { mon-sun: "00:00-24:00" }
rules: [rules.yaml]
replies: [replies.yaml]
sentiment: { lexicon: [lexicon.yaml] }
store: { path: fd.db }
connectors:
  - type: webchat
    listen: "127.0.0.1:${d.chatPort}"
dashboard:
  listen: "127.0.0.1:${d.dashPort}"
  agents:
    - { login: sam, name: Sam, password_hash: "${HASH}" }
    - { login: kim, name: Kim, password_hash: "${HASH}" }
`);
	d.proc = track(spawn(BIN, ['run', '-c', path.join(d.dir, 'config.yaml')], { cwd: d.dir, stdio: ['ignore', 'pipe', 'pipe'] }));
	d.exited = new Promise((resolve) => d.proc.on('exit', (code, signal) => resolve({ code, signal })));
	await new Promise((resolve, reject) => {
		const t = setTimeout(() => reject(new Error('daemon did not start:\n' + d.log)), 10000);
		const onData = (b) => {
			d.log += b;
			if (d.log.includes('frontdesk running')) {
				clearTimeout(t);
				resolve();
			}
		};
		d.proc.stdout.on('data', onData);
		d.proc.stderr.on('data', onData);
		d.proc.on('exit', () => reject(new Error('daemon exited:\n' + d.log)));
	});
	return d;
}

let D;

before(async () => {
	D = await startDaemon();
});

after(async () => {
	if (!D) return;
	D.proc.kill('SIGTERM');
	assert.deepEqual(await D.exited, { code: 0, signal: null }, D.log);
	rmSync(D.dir, { recursive: true, force: true });
});

async function login(who, extra = {}) {
	const r = await fetch(D.dash + '/api/login', {
		method: 'POST',
		headers: { 'Content-Type': 'application/json', ...extra },
		body: JSON.stringify({ login: who, password: PASSWORD }),
	});
	assert.equal(r.status, 200);
	const body = await r.json();
	const cookie = r.headers.get('set-cookie').split(';')[0];
	return { cookie, csrf: body.csrf, setCookie: r.headers.get('set-cookie') };
}

// A customer escalated through the web chat; resolves with the echo of
// every message once the bot has answered the last one.
async function customerSays(texts) {
	const ws = new WebSocket(`ws://127.0.0.1:${D.chatPort}/chat`);
	const frames = [];
	await new Promise((resolve, reject) => {
		ws.on('open', resolve);
		ws.on('error', reject);
	});
	ws.on('message', (m) => frames.push(JSON.parse(m.toString())));
	for (const [i, text] of texts.entries()) ws.send(JSON.stringify({ type: 'message', text, client_id: 'x' + i }));
	const deadline = Date.now() + 5000;
	while (frames.filter((f) => f.from === 'customer').length < texts.length && Date.now() < deadline)
		await new Promise((r) => setTimeout(r, 20));
	ws.close();
	assert.equal(frames.filter((f) => f.from === 'customer').length, texts.length, JSON.stringify(frames));
}

async function firstTicket(s) {
	const r = await fetch(D.dash + '/api/tickets', { headers: { Cookie: s.cookie } });
	assert.equal(r.status, 200);
	return (await r.json()).tickets;
}

test('every dashboard API without a session answers 401', async () => {
	await customerSays(['a question nobody has a rule for']);
	const paths = ['/api/me', '/api/tickets', '/api/tickets?status=all', '/api/tickets/1', '/api/tickets/1/claim',
		'/api/tickets/1/reply', '/api/tickets/1/release', '/api/tickets/1/resolve', '/api/tickets/1/assign',
		'/api/canned', '/api/canned?ticket=1', '/api/stats', '/api/logout', '/api/unknown', '/api/'];
	for (const p of paths) {
		for (const method of ['GET', 'POST', 'PUT', 'DELETE']) {
			const r = await fetch(D.dash + p, { method, body: method === 'GET' ? undefined : '{}' });
			assert.equal(r.status, 401, `${method} ${p}`);
			assert.deepEqual(await r.json(), { error: 'log in first' });
		}
	}
	// A forged or stale cookie is no session.
	for (const cookie of ['fd_session=' + '0'.repeat(64), 'fd_session=x', 'fd_session=']) {
		const r = await fetch(D.dash + '/api/tickets', { headers: { Cookie: cookie } });
		assert.equal(r.status, 401, cookie);
	}
	// The live socket does not open either.
	const status = await new Promise((resolve) => {
		const ws = new WebSocket(`ws://127.0.0.1:${D.dashPort}/api/live`);
		ws.on('unexpected-response', (req, res) => resolve(res.statusCode));
		ws.on('open', () => resolve(101));
		ws.on('error', () => resolve(0));
	});
	assert.equal(status, 401);
	// The static front end and /healthz need no session; /api is not on the web chat listener.
	assert.equal((await fetch(D.dash + '/')).status, 200);
	assert.equal((await fetch(D.dash + '/healthz')).status, 200);
	assert.equal((await fetch(D.chat + '/api/tickets')).status, 404);
});

test('the session cookie is HttpOnly and SameSite=Strict', async () => {
	const s = await login('sam');
	assert.match(s.setCookie, /^fd_session=[0-9a-f]{64}; /);
	assert.match(s.setCookie, /; HttpOnly/);
	assert.match(s.setCookie, /; SameSite=Strict/);
	assert.match(s.setCookie, /; Path=\//);
	assert.match(s.csrf, /^[0-9a-f]{64}$/);
	// Logout ends it.
	const out = await fetch(D.dash + '/api/logout', { method: 'POST', headers: { Cookie: s.cookie, 'X-CSRF-Token': s.csrf } });
	assert.equal(out.status, 200);
	assert.match(out.headers.get('set-cookie'), /Max-Age=0/);
	assert.equal((await fetch(D.dash + '/api/me', { headers: { Cookie: s.cookie } })).status, 401);
});

test('a write without the CSRF token answers 403 and changes nothing', async () => {
	const s = await login('sam');
	const other = await login('kim');
	const [t] = await firstTicket(s);
	assert.ok(t, 'a ticket exists');
	const writes = [
		[`/api/tickets/${t.id}/claim`, {}],
		[`/api/tickets/${t.id}/reply`, { text: 'hi' }],
		[`/api/tickets/${t.id}/resolve`, {}],
		[`/api/tickets/${t.id}/assign`, { login: 'kim' }],
		['/api/logout', {}],
	];
	const variants = [
		['no token', {}],
		['empty token', { 'X-CSRF-Token': '' }],
		['wrong token', { 'X-CSRF-Token': '0'.repeat(64) }],
		["another session's token", { 'X-CSRF-Token': other.csrf }],
		['right token, foreign page', { 'X-CSRF-Token': s.csrf, Origin: 'http://evil.example' }],
	];
	for (const [p, body] of writes) {
		for (const [what, headers] of variants) {
			const r = await fetch(D.dash + p, {
				method: 'POST',
				headers: { Cookie: s.cookie, 'Content-Type': 'application/json', ...headers },
				body: JSON.stringify(body),
			});
			assert.equal(r.status, 403, `${p}: ${what}`);
		}
	}
	const [after] = (await firstTicket(s)).filter((x) => x.id === t.id);
	assert.equal(after.status, 'waiting');
	assert.equal(after.assignee, null);
	// Logging in from a foreign page is refused too (login CSRF).
	const r = await fetch(D.dash + '/api/login', {
		method: 'POST',
		headers: { 'Content-Type': 'application/json', Origin: 'http://evil.example' },
		body: JSON.stringify({ login: 'sam', password: PASSWORD }),
	});
	assert.equal(r.status, 403);
	// The live socket needs the CSRF token as well as the cookie.
	const status = await new Promise((resolve) => {
		const ws = new WebSocket(`ws://127.0.0.1:${D.dashPort}/api/live`, { headers: { Cookie: s.cookie } });
		ws.on('unexpected-response', (req, res) => resolve(res.statusCode));
		ws.on('open', () => resolve(101));
		ws.on('error', () => resolve(0));
	});
	assert.equal(status, 403);
	// With the right token the same write works.
	const ok = await fetch(D.dash + `/api/tickets/${t.id}/claim`, {
		method: 'POST',
		headers: { Cookie: s.cookie, 'X-CSRF-Token': s.csrf, 'Content-Type': 'application/json' },
		body: '{}',
	});
	assert.equal(ok.status, 200);
	assert.equal((await ok.json()).assignee, 'sam');
});

// A request with any Host header (fetch will not send a foreign one).
function withHost(port, method, path, host, headers = {}, body) {
	return new Promise((resolve, reject) => {
		const req = http.request({ host: '127.0.0.1', port, method, path, headers: { Host: host, ...headers } }, (res) => {
			let data = '';
			res.on('data', (c) => (data += c));
			res.on('end', () => resolve({ status: res.statusCode, body: data, headers: res.headers }));
		});
		req.on('error', reject);
		req.end(body);
	});
}

test('a page of another site resolving to the dashboard (DNS rebinding) can neither log in nor read', async () => {
	const evil = `rebind.evil.example:${D.dashPort}`;
	const body = JSON.stringify({ login: 'sam', password: PASSWORD });
	// Host and Origin agree, as they do for the rebinding page itself.
	const r = await withHost(D.dashPort, 'POST', '/api/login', evil,
		{ 'Content-Type': 'application/json', Origin: `http://${evil}`, 'Content-Length': Buffer.byteLength(body) }, body);
	assert.equal(r.status, 421, r.body);
	assert.equal(r.headers['set-cookie'], undefined);
	for (const p of ['/', '/app.js', '/api/me', '/healthz'])
		assert.equal((await withHost(D.dashPort, 'GET', p, evil)).status, 421, p);
	const s = await login('sam');
	const live = await new Promise((resolve) => {
		const ws = new WebSocket(`ws://127.0.0.1:${D.dashPort}/api/live?csrf=${s.csrf}`, { headers: { Cookie: s.cookie, Host: evil } });
		ws.on('unexpected-response', (req, res) => resolve(res.statusCode));
		ws.on('open', () => resolve(101));
		ws.on('error', () => resolve(0));
	});
	assert.equal(live, 421);
	// The dashboard's own names work.
	assert.equal((await withHost(D.dashPort, 'GET', '/healthz', `localhost:${D.dashPort}`)).status, 200);
	assert.equal((await withHost(D.dashPort, 'GET', '/api/me', `127.0.0.1:${D.dashPort}`, { Cookie: s.cookie })).status, 200);
});

const PAYLOADS = [
	'<script>window.__pwned = "script"</script>',
	'<img src=x onerror="window.__pwned = \'img\'">',
	'<a href="javascript:window.__pwned=\'link\'">click me</a>',
	'<svg onload="window.__pwned = \'svg\'"></svg><iframe src="javascript:parent.__pwned=\'iframe\'"></iframe>',
	'"><b onmouseover="window.__pwned=\'attr\'">bold</b> &amp; &lt;x&gt; {{author}} ${1+1}',
];

// A bidi override turns "05 $10" around on screen: "refund 10$ 50" would
// read as another amount.  Shown as U+FFFD, in the message's own direction.
const BIDI = 'refund \u202E01$ 05\u202C please \u2067x\u2069';
const BIDI_SHOWN = BIDI.replace(/[\u202A-\u202E\u2066-\u2069]/g, '\uFFFD');

test('customer markup is shown as text and runs nothing', { skip: noBrowser, timeout: 60000 }, async () => {
	await customerSays([...PAYLOADS, BIDI]);
	const browser = await chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
			'--disable-component-update', '--disable-sync'],
	});
	try {
		const page = await browser.newPage();
		const dialogs = [];
		page.on('dialog', (d) => {
			dialogs.push(d.message());
			d.dismiss();
		});
		const errors = [];
		page.on('pageerror', (e) => errors.push(String(e)));
		await page.goto(D.dash + '/');
		await page.fill('#login-name', 'kim');
		await page.fill('#login-password', PASSWORD);
		await page.click('#login-submit');
		// The session cookie is not readable by scripts.
		await page.waitForSelector('#app:not([hidden])');
		assert.equal(await page.evaluate(() => document.cookie.includes('fd_session')), false);

		const item = page.locator('.qi', { hasText: 'window.__pwned' }).first();
		await item.waitFor();
		// The preview shows the message that opened the ticket and the
		// latest one, both literally.
		assert.equal(await item.locator('.qi-opening').textContent(), PAYLOADS[0]);
		assert.equal(await item.locator('.qi-preview:not(.qi-opening)').textContent(), 'Latest: ' + BIDI_SHOWN);
		await item.locator('a').click();
		await page.waitForFunction((n) => document.querySelectorAll('#thread .msg-customer').length >= n, PAYLOADS.length + 1);
		const texts = await page.$$eval('#thread .msg-customer .msg-text', (els) => els.map((e) => e.textContent));
		for (const p of PAYLOADS) assert.ok(texts.includes(p), 'shown verbatim: ' + p);
		// No bidi control reaches the page; the message keeps its own direction.
		assert.ok(texts.includes(BIDI_SHOWN), texts.join('\n'));
		assert.equal(await page.evaluate(() => /[\u202A-\u202E\u2066-\u2069]/.test(document.body.textContent)), false);
		assert.ok((await page.$$eval('#thread .msg-customer .msg-text', (els) => els.map((e) => e.dir))).every((d) => d === 'auto'));
		// Hover and click over everything a payload could have turned into.
		for (const el of await page.$$('#thread .msg-text')) {
			await el.hover();
			await el.click();
		}
		await page.waitForTimeout(500);
		assert.equal(await page.evaluate(() => window.__pwned), undefined);
		const created = await page.evaluate(() => ({
			img: document.querySelectorAll('img').length,
			/* The page's own: the shell and its views, and the bell's icon. */
			script: [...document.querySelectorAll('script')].filter((s) => !/\/(app|dash-[a-z]+)\.js$/.test(s.src)).length,
			svg: document.querySelectorAll('svg:not(.bell)').length,
			iframe: document.querySelectorAll('iframe').length,
			a: document.querySelectorAll('#thread a, #queue a:not(.qi-link)').length,
			b: document.querySelectorAll('#thread b, #queue b').length,
		}));
		assert.deepEqual(created, { img: 0, script: 0, svg: 0, iframe: 0, a: 0, b: 0 });
		assert.deepEqual(dialogs, []);
		assert.deepEqual(errors, []);
		// Belt and braces: the page forbids inline scripts anyway.
		const r = await fetch(D.dash + '/');
		assert.match(r.headers.get('content-security-policy'), /script-src 'self'/);
		assert.doesNotMatch(r.headers.get('content-security-policy'), /unsafe-inline/);
	} finally {
		await browser.close();
	}
});

test('repeated bad logins are slowed down', { timeout: 60000 }, async () => {
	const attempt = (password, login = 'kim') => fetch(D.dash + '/api/login', {
		method: 'POST',
		headers: { 'Content-Type': 'application/json' },
		body: JSON.stringify({ login, password }),
	});
	const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
	// The browser is ready before the clock starts: locks last seconds.
	const browser = noBrowser ? null : await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
	const page = browser ? await browser.newPage() : null;
	if (page) {
		await page.goto(D.dash + '/');
		// Filled in now: the lock the page must meet lasts 2 s, less than
		// typing takes on a loaded machine.
		await page.fill('#login-name', 'kim');
		await page.fill('#login-password', PASSWORD);
	}
	try {
		const statuses = [];
		for (let i = 0; i < 4; i++) statuses.push((await attempt('guess' + i)).status);
		assert.deepEqual(statuses, [401, 401, 401, 401]);
		// Locked now, even with the right password.
		let r = await attempt(PASSWORD);
		assert.equal(r.status, 429);
		const wait = Number(r.headers.get('retry-after'));
		assert.ok(wait >= 1);
		// Each further failure doubles the wait.
		await sleep(wait * 1000 + 100);
		assert.equal((await attempt('guess again')).status, 401);
		r = await attempt(PASSWORD);
		assert.equal(r.status, 429);
		assert.equal(Number(r.headers.get('retry-after')), 2);
		// The login page says so.
		if (page) {
			await page.click('#login-submit');
			await page.waitForSelector('#login-error:not([hidden])');
			assert.match(await page.textContent('#login-error'), /Too many attempts/);
		}
		// After the wait, the right password works again.
		await sleep(2100);
		assert.equal((await attempt(PASSWORD)).status, 200);
	} finally {
		if (browser) await browser.close();
	}
});

test('failing logins from one address never lock the agent out from another', async () => {
	const from = (localAddress, password) =>
		new Promise((resolve, reject) => {
			const body = JSON.stringify({ login: 'sam', password });
			const req = http.request({ host: '127.0.0.1', port: D.dashPort, localAddress, method: 'POST', path: '/api/login',
				headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
				res.resume();
				res.on('end', () => resolve(res.statusCode));
			});
			req.on('error', reject);
			req.end(body);
		});
	// Someone at 127.0.0.3 keeps failing with Sam's name until locked out...
	const seen = [];
	for (let i = 0; i < 8; i++) seen.push(await from('127.0.0.3', 'guess' + i));
	assert.ok(seen.includes(429), seen.join(' '));
	assert.equal(await from('127.0.0.3', PASSWORD), 429);
	// ...and Sam, at another address, logs in at once.
	assert.equal(await from('127.0.0.2', PASSWORD), 200);
});
