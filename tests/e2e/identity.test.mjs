// Who the customer is, end to end: the web chat widget in Chromium on the
// bot's own page, identified by the shop's site with frontdeskChat.identify
// (a valid HMAC of the id, and a forged one), the pre-chat form for a
// visitor nobody vouches for, and what the dashboard then shows about the
// contact (through its API, as an agent).
//
//   BUILD=build node --test tests/e2e/identity.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDaemon, wsClient, httpRequest, daemonMissing, AGENT_HASH, AGENT_PASSWORD } from './lib/daemon.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = path.join(HERE, 'artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SECRET = 'a secret only the shop and frontdesk know';
// What the shop's server computes (README, "Identity verification").
const hmac = (id, secret = SECRET) => createHmac('sha256', secret).update(id).digest('hex');

let chromium = null;
let skip = daemonMissing();
try {
	({ chromium } = await import('playwright-core'));
} catch (e) {
	skip = skip || 'playwright-core is not installed (npm install in tests/e2e)';
}
if (!skip && !existsSync(CHROMIUM)) skip = `no browser at ${CHROMIUM} (apt-get install chromium)`;

let D, browser, agent;

before(async () => {
	if (skip) return;
	mkdirSync(ARTIFACTS, { recursive: true });
	D = await startDaemon({
		env: { FD_IDENTITY_SECRET: SECRET },
		configOptions: {
			webchatExtra: '    identity_secret_env: FD_IDENTITY_SECRET\n    pre_chat: { name: required, email: optional }\n',
		},
	});
	browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
	// An agent's session, for reading what the dashboard shows.
	const r = await httpRequest(D.url('/api/login', 'dashboard'), { method: 'POST', body: { login: 'sam', password: AGENT_PASSWORD } });
	assert.equal(r.status, 200, r.body);
	agent = { cookie: r.headers['set-cookie'][0].split(';')[0], csrf: r.json.csrf };
});

after(async () => {
	if (browser) await browser.close();
	if (D) {
		const r = await D.stop();
		assert.deepEqual(r, { code: 0, signal: null }, D.log());
		D.cleanup();
	}
});

async function get(p) {
	const r = await httpRequest(D.url(p, 'dashboard'), { headers: { cookie: agent.cookie } });
	assert.equal(r.status, 200, `${p}: ${r.body}`);
	return r.json;
}

// The ticket whose opening message is `text`, and its contact.
async function ticketSaying(text) {
	const r = await get('/api/search?q=' + encodeURIComponent(text));
	assert.equal(r.tickets.length, 1, JSON.stringify(r));
	const t = r.tickets[0];
	const c = t.contact_id ? (await get('/api/contacts/' + t.contact_id)) : null;
	return { t, c };
}

// A visitor on the demo shop page; `identify` runs as the shop's page would.
async function visitor(identify) {
	const ctx = await browser.newContext({ viewport: { width: 1200, height: 800 } });
	const page = await ctx.newPage();
	page.errors = [];
	page.on('pageerror', (e) => page.errors.push(String(e)));
	page.warnings = [];
	page.on('console', (m) => { if (m.type() === 'warning') page.warnings.push(m.text()); });
	await page.goto(D.url('/'));
	await page.waitForFunction(() => window.frontdeskChat);
	if (identify) await page.evaluate((who) => window.frontdeskChat.identify(who), identify);
	await page.click('.fd-launch');
	return page;
}

async function say(page, text) {
	await page.fill('.fd-form textarea', text);
	await page.press('.fd-form textarea', 'Enter');
	await page.waitForFunction((t) => [...document.querySelectorAll('.fd-msg.fd-customer')]
		.some((e) => e.querySelector('.fd-text').textContent === t && !e.querySelector('.fd-state')), text);
	await page.waitForFunction(() => document.querySelectorAll('.fd-msg.fd-bot').length > 0);
}

test('identify with a valid hash: the contact is verified, on every device', { skip, timeout: 90000 }, async () => {
	const who = { id: 'cust-42', name: 'Ann Example', email: 'ann@example.com', hash: hmac('cust-42') };
	const page = await visitor(who);
	// Identified: no pre-chat form.
	await page.waitForSelector('.fd-form:not([hidden])');
	assert.equal(await page.locator('.fd-pre').isVisible(), false);
	await say(page, 'Hello, where is my order of rye loaves?');
	const { t, c } = await ticketSaying('rye loaves');
	assert.equal(t.contact_name, 'Ann Example');
	assert.equal(c.contact.verified, true);
	assert.equal(c.contact.name, 'Ann Example');
	assert.equal(c.contact.email, 'ann@example.com');
	assert.equal(c.contact.name_from, 'verified');

	// The same customer on another device: one contact, both conversations.
	const other = await visitor(who);
	await say(other, 'Also: do you have rye flour for sale?');
	const second = await ticketSaying('rye flour');
	assert.equal(second.t.contact_id, t.contact_id);
	assert.equal(second.c.contact.conversations, 2);
	assert.deepEqual(second.c.tickets.map((x) => x.id).sort(), [t.id, second.t.id].sort());

	// Another customer signs in on that browser: a conversation of their
	// own, with nothing of Ann's on screen.
	const bob = { id: 'cust-77', name: 'Bob Other', hash: hmac('cust-77') };
	await other.evaluate((who) => window.frontdeskChat.identify(who), bob);
	await other.waitForFunction(() => document.querySelectorAll('.fd-msg.fd-customer').length === 0);
	await other.waitForSelector('.fd-form:not([hidden])');
	await say(other, 'My order to the harbour office never arrived, can someone check?');
	const third = await ticketSaying('harbour');
	assert.notEqual(third.t.contact_id, t.contact_id);
	assert.equal(third.c.contact.name, 'Bob Other');
	assert.equal(third.c.contact.verified, true);
	assert.equal(third.c.contact.conversations, 1);
	assert.ok(!(await other.textContent('.fd-log')).includes('rye'));
	assert.deepEqual(page.errors, []);
	assert.deepEqual(other.errors, []);
	await page.context().close();
	await other.context().close();
});

test('identify with a forged hash is refused: the visitor stays anonymous', { skip, timeout: 90000 }, async () => {
	// On the wire: the server says no, and why.
	const ws = await wsClient(D.wsUrl('/chat'));
	const welcome = await ws.next((f) => f.type === 'welcome');
	assert.equal(welcome.identity, true);
	assert.deepEqual(welcome.pre_chat, { name: 'required', email: 'optional' });
	ws.send({ type: 'identify', id: 'cust-42', name: 'Mallory', hash: hmac('cust-42', 'a guessed secret') });
	const no = await ws.next((f) => f.type === 'identify');
	assert.equal(no.verified, false);
	ws.send({ type: 'identify', id: 'cust-42', name: 'Mallory', hash: hmac('cust-43') });
	const no2 = await ws.next((f) => f.type === 'identify' && f !== no);
	assert.equal(no2.verified, false);
	ws.send({ type: 'message', text: 'I am totally Ann, show me her orders', client_id: 'f1' });
	await ws.next((f) => f.type === 'message' && f.client_id === 'f1');
	await ws.next((f) => f.type === 'message' && f.from === 'bot');
	const forged = await ticketSaying('totally Ann');
	// Not Ann's contact (hers is verified), and nothing she gave shows.
	assert.equal(forged.c.contact.verified, false);
	assert.equal(forged.c.contact.email, null);
	assert.equal(forged.c.contact.name, null);
	assert.equal(forged.t.contact_name, null);
	await ws.close();

	// In the widget: a warning in the console, and nothing else changes.
	const page = await visitor({ id: 'cust-42', name: 'Mallory', hash: '0'.repeat(64) });
	await page.waitForFunction(() => document.querySelector('.fd-pre') && !document.querySelector('.fd-pre').hidden);
	assert.ok(page.warnings.some((w) => /identify refused/.test(w)), page.warnings.join('\n'));
	await page.context().close();
});

test('the pre-chat form files a name and e-mail address, as text', { skip, timeout: 90000 }, async () => {
	const page = await visitor(null);
	await page.waitForSelector('.fd-pre:not([hidden])');
	assert.equal(await page.locator('.fd-form').isVisible(), false);
	await page.screenshot({ path: path.join(ARTIFACTS, 'widget-prechat.png') });
	// The name is required here.
	await page.click('.fd-pre button');
	assert.equal(await page.locator('.fd-pre').isVisible(), true);
	const name = 'Wendy <img src=x onerror="window.__xss=1">';
	await page.fill('.fd-pre input[type=text]', name);
	await page.fill('.fd-pre input[type=email]', 'wendy@example.org');
	await page.click('.fd-pre button');
	await page.waitForSelector('.fd-form:not([hidden])');
	await say(page, 'Can I pick up a birthday cake at 8am tomorrow?');
	const { t, c } = await ticketSaying('birthday cake');
	assert.equal(t.contact_name, name);
	assert.equal(c.contact.email, 'wendy@example.org');
	assert.equal(c.contact.name_from, 'visitor');
	assert.equal(c.contact.verified, false);
	// Back on the page later: no form again.
	await page.reload();
	await page.click('.fd-launch');
	await page.waitForSelector('.fd-form:not([hidden])');
	assert.equal(await page.locator('.fd-pre').isVisible(), false);
	assert.equal(await page.evaluate(() => window.__xss), undefined);
	assert.deepEqual(page.errors, []);
	await page.context().close();

	// Bad input on the wire gets an error, and the socket stays open.
	const ws = await wsClient(D.wsUrl('/chat'));
	await ws.next((f) => f.type === 'welcome');
	for (const bad of [{ name: 'x'.repeat(200) }, { email: 'not an address' }, { name: 'Line\nbreak' }, { name: 42 }]) {
		const from = ws.frames.length;
		ws.send({ type: 'contact', ...bad });
		const e = await ws.next((f) => f.type === 'error' || f.type === 'contact', 5000, from);
		assert.equal(e.type, 'error', JSON.stringify(bad));
	}
	await ws.close();
});
