// The team's side of the dashboard, in a real browser (Debian's chromium
// driven by playwright-core) against the real daemon, with customers on
// real web chat sockets:
//
//   a label and a private note (the note never reaches the customer's own
//   socket, while a reply does); a change of priority moves the due time;
//   reopening a resolved conversation; search with words and filters;
//   unread marks and the counts on the tabs; keyboard shortcuts; a desktop
//   notification asked for and shown (permission granted by the browser
//   context); an admin adds an agent, who signs in and changes their own
//   password; markup in labels, notes, contact names and customer text
//   stays text.  Screenshots of every page at desktop and phone sizes go to
//   tests/e2e/artifacts/desk-*.png.
//
//   BUILD=build node --test tests/e2e/desk.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDaemon, wsClient, daemonMissing, sleep, AGENT_HASH, AGENT_PASSWORD } from './lib/daemon.mjs';
import { browserMissing, launchBrowser, dashboardLogin, dashboardApi } from './lib/browser.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = path.join(HERE, 'artifacts');

const skip = daemonMissing() || (await browserMissing());

const XSS = '<img src=x onerror="window.__xss=1">';
const RULES = `- id: opening-hours
  match: { any: ["opening hours", "when are you open"] }
  reply: faq.opening_hours
`;
const REPLIES = `faq.opening_hours: "We bake from 7:00 every day."
escalated: "Thanks! A person will reply by {{due}}."
negative: "Sorry to hear that. A person will reply by {{due}}."
abusive: "We've received your message."
human: "A person will reply by {{due}}."
waiting: "We have your message; a person will reply soon."
canned.order_number: "Could you send me your order number, please?"
`;

let D, browser;

before(async () => {
	if (skip) return;
	mkdirSync(ARTIFACTS, { recursive: true });
	D = await startDaemon({
		files: { 'rules.yaml': RULES, 'replies.yaml': REPLIES, 'lexicon.yaml': 'threshold: -0.3\nwords: { terrible: -3 }\n' },
		config: ({ ports }) => `business:
  name: Desk Bakery
  timezone: UTC
  hours: { mon-sun: "00:00-24:00" }
  response_targets: { urgent: 30m, high: 1h, normal: 4h, low: 1d }
rules: [rules.yaml]
replies: [replies.yaml]
sentiment: { lexicon: [lexicon.yaml] }
store: { path: frontdesk.db }
connectors:
  - { type: webchat, listen: "127.0.0.1:${ports.webchat}" }
dashboard:
  listen: "127.0.0.1:${ports.dashboard}"
  labels: [{ name: refund, color: "#e11d48" }, { name: wholesale }]
  agents:
    - { login: sam, name: Sam, role: admin, password_hash: "${AGENT_HASH}" }
    - { login: kim, name: Kim, password_hash: "${AGENT_HASH}" }
`,
	});
	browser = await launchBrowser();
});

after(async () => {
	if (browser) await browser.close();
	if (D) {
		const r = await D.stop();
		assert.deepEqual(r, { code: 0, signal: null }, D.log());
		D.cleanup();
	}
});

const DESKTOP = { width: 1400, height: 860 };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

async function page(ctxOptions = { viewport: DESKTOP }) {
	const ctx = await browser.newContext(ctxOptions);
	const p = await ctx.newPage();
	p.errors = [];
	p.on('pageerror', (e) => p.errors.push(String(e)));
	/* Markup that ran would set window.__xss. */
	await ctx.addInitScript(() => { window.__xss = undefined; });
	return p;
}

async function login(p, who = 'sam', password = AGENT_PASSWORD) {
	await dashboardLogin(p, D.url('/', 'dashboard'), who, password);
	await p.waitForSelector('#live.live-on');
}

// A customer on the web chat's own socket: every frame it receives is kept.
async function customer(text) {
	const c = await wsClient(D.wsUrl('/chat'));
	await c.next((f) => f.type === 'welcome');
	if (text) await say(c, text);
	return c;
}
async function say(c, text) {
	const id = 'c' + Math.random().toString(36).slice(2);
	c.send({ type: 'message', text, client_id: id });
	await c.next((f) => f.type === 'message' && f.client_id === id, 10000);
}

const api = dashboardApi;

async function ticketOf(p, id) {
	return (await api(p, 'GET', '/api/tickets/' + id)).json;
}

async function shot(p, name) {
	await sleep(250);
	await p.screenshot({ path: path.join(ARTIFACTS, `desk-${name}.png`), fullPage: /settings/.test(name) });
}

test('a label and a private note: the note stays with the team, a reply reaches the customer', { skip, timeout: 120000 }, async () => {
	const cust = await customer('My sourdough order #881 never came, can someone check?');
	const agent = await page();
	await login(agent);
	await shot(agent, 'queue-desktop');
	const item = agent.locator('#queue .qi').first();
	await item.waitFor();
	// Unread until opened; the Open and Unclaimed tabs count it.
	assert.equal(await item.evaluate((e) => e.classList.contains('qi-unread')), true);
	await agent.waitForFunction(() => document.querySelector('[data-count="open"]').textContent === '1');
	assert.equal(await agent.textContent('[data-count="waiting"]'), '1');
	await item.locator('a').click();
	await agent.waitForSelector('#thread .msg-customer');
	await agent.waitForFunction(() => !document.querySelector('#queue .qi-unread'));
	const id = Number((await agent.textContent('#t-title')).match(/#(\d+)/)[1]);

	// A note: marked as private in the thread.
	await agent.click('#mode-note');
	assert.equal(await agent.textContent('#reply-submit'), 'Add note');
	const note = 'Called the driver: the parcel is at the depot. ' + XSS;
	await agent.fill('#reply-text', note);
	await agent.click('#reply-submit');
	await agent.waitForSelector('#thread .msg-note');
	assert.equal(await agent.textContent('#thread .msg-note .msg-text'), note);
	assert.match(await agent.textContent('#thread .msg-note .note-mark'), /Private note/);
	// A label from the team's list, in its colour.
	await agent.selectOption('#a-label', 'refund');
	await agent.waitForSelector('#t-labels .chip-label');
	assert.match(await agent.textContent('#t-labels'), /refund/);
	assert.match(await agent.getAttribute('#t-labels .chip-label', 'style'), /#e11d48/);
	await agent.waitForFunction(() => /refund/.test(document.querySelector('#queue .qi .qi-meta').textContent));
	// A label that is not in the list is refused by the server.
	const bad = await api(agent, 'POST', `/api/tickets/${id}/label`, { label: 'made-up' });
	assert.equal(bad.status, 400);
	await shot(agent, 'ticket-desktop');

	// A reply does reach the customer: the socket is live...
	await agent.click('#mode-reply');
	await agent.fill('#reply-text', 'It is at the depot, we will bring it today.');
	await agent.click('#reply-submit');
	await cust.next((f) => f.type === 'message' && f.from === 'agent' && /depot/.test(f.text), 10000);
	// ...and the note never did, not even after a reconnect's history.
	await sleep(1000);
	assert.ok(!JSON.stringify(cust.frames).includes('Called the driver'), JSON.stringify(cust.frames));
	const visitor = cust.frames.find((f) => f.type === 'welcome').visitor;
	const again = await wsClient(D.wsUrl('/chat?visitor=' + encodeURIComponent(visitor)));
	const welcome = await again.next((f) => f.type === 'welcome');
	assert.ok(welcome.history.some((m) => /depot, we will bring/.test(m.text)));
	assert.ok(!JSON.stringify(welcome).includes('Called the driver'));
	// The command line shows the note, marked as private.
	const t = await ticketOf(agent, id);
	assert.ok(t.events.some((e) => e.kind === 'note' && e.detail === note && e.actor === 'sam'));
	assert.ok(!t.messages.some((m) => m.text.includes('Called the driver')));

	assert.equal(await agent.evaluate(() => window.__xss), undefined);
	assert.deepEqual(agent.errors, []);
	await again.close();
	await cust.close();
	await agent.context().close();
});

test('priority moves the due time; snooze; reopen; the contact panel', { skip, timeout: 120000 }, async () => {
	const cust = await customer('Do you do gluten free birthday cakes for 30 people?');
	const agent = await page();
	await login(agent);
	await agent.locator('#queue .qi a', { hasText: 'gluten free' }).click();
	await agent.waitForSelector('#thread .msg-customer');
	const id = Number((await agent.textContent('#t-title')).match(/#(\d+)/)[1]);
	let t = await ticketOf(agent, id);
	assert.equal(t.priority, 'normal');
	const created = Date.parse(t.created);
	assert.equal(Date.parse(t.due) - created, 4 * 3600e3); // open around the clock: plain 4 h

	await agent.selectOption('#a-priority', 'urgent');
	await agent.waitForFunction(() => /URGENT/i.test(document.querySelector('#t-meta .badge').textContent));
	t = await ticketOf(agent, id);
	assert.equal(t.priority, 'urgent');
	assert.equal(Date.parse(t.due) - created, 30 * 60e3, 'urgent: due 30 minutes after the customer wrote');
	assert.ok(t.events.some((e) => e.kind === 'priority' && e.detail === 'urgent'));
	await agent.selectOption('#a-priority', 'low');
	await agent.waitForFunction(() => /LOW/i.test(document.querySelector('#t-meta .badge').textContent));
	t = await ticketOf(agent, id);
	assert.equal(Date.parse(t.due) - created, 24 * 3600e3);

	// Snoozed: out of Open, into Snoozed, until the customer writes.
	await agent.selectOption('#a-snooze', '4h');
	await agent.waitForSelector('#t-meta .chip-snoozed');
	await agent.waitForFunction(() => document.querySelector('[data-count="snoozed"]').textContent === '1');
	await agent.click('.tab[data-filter="snoozed"]');
	await agent.waitForFunction((n) => [...document.querySelectorAll('#queue .qi')].some((e) => e.getAttribute('data-id') === String(n)), id);
	await say(cust, 'Also: could one of them be vegan?');
	await agent.waitForFunction(() => !document.querySelector('#t-meta .chip-snoozed'));
	await agent.waitForFunction(() => document.querySelector('[data-count="snoozed"]').textContent === '');

	// The contact panel: who the customer is, and a name an agent gives.
	await agent.waitForSelector('#contact-pane:not([hidden]) .contact-facts');
	assert.match(await agent.textContent('#contact-pane'), /First wrote on\s*webchat/);
	await agent.fill('#contact-name-input', 'Priya ' + XSS);
	await agent.click('#contact-pane .contact-edit button');
	await agent.waitForFunction((x) => document.querySelector('#contact-name').textContent === 'Priya ' + x, XSS);
	await agent.waitForFunction(() => /Priya/.test(document.querySelector('#t-title').textContent));
	assert.match(await agent.textContent('#contact-pane'), /set by an agent/);
	await shot(agent, 'contact-desktop');

	// Resolve, then reopen: waiting for a person again, the thread the team's.
	await agent.click('.tab[data-filter="open"]');
	await agent.click('#a-resolve');
	await agent.waitForSelector('.chip-resolved');
	await agent.waitForSelector('#a-reopen:visible');
	await agent.click('#a-reopen');
	await agent.waitForSelector('.chip-waiting');
	t = await ticketOf(agent, id);
	assert.equal(t.status, 'waiting');
	assert.equal(t.assignee, null);
	assert.ok(t.reopened);
	assert.ok(t.events.some((e) => e.kind === 'reopened' && e.actor === 'sam'));
	// The bot stays out of it: the customer's next words join this ticket.
	await say(cust, 'Thanks for coming back to me');
	await agent.waitForFunction(() => [...document.querySelectorAll('#thread .msg-customer')].some((e) => /coming back/.test(e.textContent)));
	t = await ticketOf(agent, id);
	assert.equal(t.status, 'waiting');
	assert.match(t.last_message, /coming back/);

	assert.equal(await agent.evaluate(() => window.__xss), undefined);
	assert.deepEqual(agent.errors, []);
	await cust.close();
	await agent.context().close();
});

test('search: words, notes, contacts and filters', { skip, timeout: 120000 }, async () => {
	const c1 = await customer('The croissants were burnt to a crisp, I want my money back');
	const c2 = await customer('Could you deliver pistachio macarons to Leith on Friday?');
	const agent = await page();
	await login(agent);
	await agent.locator('#queue .qi a', { hasText: 'macarons' }).click();
	await agent.waitForSelector('#thread .msg-customer');
	const mac = Number((await agent.textContent('#t-title')).match(/#(\d+)/)[1]);
	await agent.selectOption('#a-label', 'wholesale');
	await agent.waitForSelector('#t-labels .chip-label');

	// The search box in the top bar: words match beginnings, accents and case folded.
	await agent.fill('#search-input', 'PISTACH');
	await agent.press('#search-input', 'Enter');
	await agent.waitForSelector('.search-tickets .qi');
	const found = await agent.$$eval('.search-tickets .qi', (els) => els.map((e) => Number(e.getAttribute('data-id'))));
	assert.deepEqual(found, [mac]);
	await shot(agent, 'search-desktop');
	// A note's words find their conversation, and a contact's name its contact.
	const burnt = Number((await agent.evaluate(async () => (await (await fetch('/api/search?q=croissants')).json()).tickets[0].id)));
	await api(agent, 'POST', `/api/tickets/${burnt}/note`, { text: 'Offered a voucher for the quiche' });
	await agent.goto(D.url('/#/search?q=quiche', 'dashboard'));
	await agent.waitForFunction((n) => [...document.querySelectorAll('.search-tickets .qi')].map((e) => Number(e.getAttribute('data-id'))).join() === String(n), burnt);
	await agent.goto(D.url('/#/search?q=priya', 'dashboard'));
	await agent.waitForSelector('.contact-list .contact-link');
	assert.match(await agent.textContent('.contact-list'), /Priya/);
	await agent.click('.contact-list .contact-link');
	await agent.waitForSelector('#contact-pane:not([hidden]) .contact-tickets .qi');

	// Filters: by label, by status, and together with words.
	await agent.goto(D.url('/#/search?label=wholesale', 'dashboard'));
	await agent.waitForFunction((n) => [...document.querySelectorAll('.search-tickets .qi')].map((e) => Number(e.getAttribute('data-id'))).join() === String(n), mac);
	let r = await api(agent, 'GET', '/api/search?q=money&status=resolved');
	assert.equal(r.json.tickets.length, 0);
	r = await api(agent, 'GET', '/api/search?q=money&status=open&channel=webchat&assignee=none');
	assert.deepEqual(r.json.tickets.map((t) => t.id), [burnt]);
	r = await api(agent, 'GET', '/api/search?q=money&priority=low');
	assert.equal(r.json.tickets.length, 0);
	const tomorrow = new Date(Date.now() + 86400e3).toISOString().replace(/\.\d+Z$/, 'Z');
	r = await api(agent, 'GET', '/api/search?q=money&from=' + tomorrow);
	assert.equal(r.json.tickets.length, 0);
	r = await api(agent, 'GET', '/api/search?status=bogus');
	assert.equal(r.status, 400);
	// Words that look like a filter's name are words ("to", "from", "label").
	r = await api(agent, 'GET', '/api/search?q=' + encodeURIComponent('macarons to Leith from label'));
	assert.equal(r.status, 200, JSON.stringify(r.json));
	r = await api(agent, 'GET', '/api/search?q=' + encodeURIComponent('macarons to Leith'));
	assert.deepEqual(r.json.tickets.map((t) => t.id), [mac]);
	// Query syntax typed by a person is just text.
	r = await api(agent, 'GET', '/api/search?q=' + encodeURIComponent('"money" OR NEAR(x) *'));
	assert.equal(r.status, 200);

	assert.deepEqual(agent.errors, []);
	await c1.close();
	await c2.close();
	await agent.context().close();
});

test('keyboard shortcuts, and a desktop notification for a new conversation', { skip, timeout: 120000 }, async () => {
	const ctx = await browser.newContext({ viewport: DESKTOP, permissions: ['notifications'], origin: D.url('', 'dashboard') });
	/* Record every notification the page makes, and whether the browser showed it. */
	await ctx.addInitScript(() => {
		window.__notes = [];
		const Real = window.Notification;
		class Recorded extends Real {
			constructor(title, opts) {
				super(title, opts);
				const rec = { title, body: opts && opts.body, shown: false };
				window.__notes.push(rec);
				this.addEventListener('show', () => { rec.shown = true; });
			}
		}
		Object.defineProperty(Recorded, 'permission', { get: () => Real.permission });
		Recorded.requestPermission = (...a) => { window.__asked = true; return Real.requestPermission(...a); };
		window.Notification = Recorded;
	});
	const agent = await ctx.newPage();
	agent.errors = [];
	agent.on('pageerror', (e) => agent.errors.push(String(e)));
	await login(agent);
	await agent.click('#alerts');
	await agent.waitForFunction(() => document.querySelector('#alerts').getAttribute('aria-pressed') === 'true');
	assert.equal(await agent.evaluate(() => window.__asked), true, 'permission asked through the Notification API');

	const cust = await customer('Hi, is the shop wheelchair accessible?');
	await agent.waitForFunction(() => window.__notes.length > 0, null, { timeout: 10000 });
	const notes = await agent.evaluate(() => window.__notes);
	assert.match(notes[0].title, /^New conversation #\d+$/);
	assert.match(notes[0].body, /wheelchair/);
	await agent.waitForFunction(() => window.__notes[0].shown, null, { timeout: 10000 });

	// Shortcuts: ? lists them; j opens the first conversation; c claims it;
	// n writes a note; Esc leaves the text box; e resolves.
	await agent.keyboard.press('?');
	await agent.waitForSelector('#help:not([hidden])');
	const listed = await agent.textContent('#help-keys');
	for (const k of ['Next conversation', 'Previous conversation', 'Claim', 'Resolve', 'Write a reply', 'canned reply', 'Search'])
		assert.ok(listed.includes(k), `${k} listed: ${listed}`);
	await shot(agent, 'shortcuts-desktop');
	await agent.keyboard.press('Escape');
	await agent.waitForSelector('#help', { state: 'hidden' });
	await agent.click('.tab[data-filter="waiting"]');
	await agent.waitForSelector('#queue .qi');
	await agent.keyboard.press('j');
	await agent.waitForSelector('#ticket:not([hidden])');
	await agent.keyboard.press('c');
	await agent.waitForSelector('.chip-claimed');
	await agent.keyboard.press('r');
	assert.equal(await agent.evaluate(() => document.activeElement.id), 'reply-text');
	await agent.keyboard.press('Escape');
	await agent.keyboard.press('e');
	await agent.waitForSelector('.chip-resolved');
	assert.deepEqual(agent.errors, []);
	await cust.close();
	await ctx.close();
});

test('an admin adds an agent, who signs in and changes their own password', { skip, timeout: 180000 }, async () => {
	const admin = await page();
	await login(admin);
	await admin.goto(D.url('/#/settings', 'dashboard'));
	await admin.waitForSelector('#agents-table');
	// Config agents are listed as such; a label with markup is just text.
	assert.match(await admin.textContent('#agents-table'), /config\.yaml/);
	await admin.fill('#label-form input[name=name]', 'odd ' + XSS);
	await admin.click('#label-form button[type=submit]');
	await admin.waitForFunction((x) => [...document.querySelectorAll('#labels-list .chip-label')].some((e) => e.textContent === 'odd ' + x), XSS);
	await admin.fill('#agent-form input[name=login]', 'zoe');
	await admin.fill('#agent-form input[name=name]', 'Zoë');
	await admin.fill('#agent-form input[name=password]', 'first password here');
	await admin.click('#agent-form button[type=submit]');
	await admin.waitForFunction(() => /zoe/.test(document.querySelector('#agents-table').textContent));
	await admin.fill('#canned-form input[name=title]', 'Allergens');
	await admin.fill('#canned-form textarea[name=text]', 'Our {{business}} kitchen handles nuts. ' + XSS);
	await admin.click('#canned-form button[type=submit]');
	await admin.waitForFunction(() => /Allergens/.test(document.querySelector('#canned-list').textContent));
	await shot(admin, 'settings-desktop');
	// Only admins change the team; an agent gets 403.
	const kim = await page();
	await login(kim, 'kim');
	const refused = await api(kim, 'POST', '/api/team/labels', { name: 'sneaky' });
	assert.equal(refused.status, 403);
	await kim.context().close();

	// Zoë signs in, sees no admin forms, and has the dashboard's canned reply.
	const zoe = await page();
	await login(zoe, 'zoe', 'first password here');
	assert.equal(await zoe.textContent('#me'), 'Zoë');
	await zoe.goto(D.url('/#/settings', 'dashboard'));
	await zoe.waitForSelector('#password-form');
	assert.equal(await zoe.locator('#agent-form').count(), 0);
	const canned = await api(zoe, 'GET', '/api/canned');
	const allergens = canned.json.replies.find((c) => c.title === 'Allergens');
	assert.equal(allergens.text, 'Our Desk Bakery kitchen handles nuts. ' + XSS);

	// Her own password: a wrong current one is refused; then changed, and
	// her page goes on with a new session.
	await zoe.fill('#password-form input[name=current]', 'not my password');
	await zoe.fill('#password-form input[name=password]', 'second password here');
	await zoe.fill('#password-form input[name=again]', 'second password here');
	await zoe.click('#password-form button[type=submit]');
	await zoe.waitForFunction(() => /not right/.test(document.querySelector('#password-form .form-error').textContent));
	await zoe.fill('#password-form input[name=current]', 'first password here');
	await zoe.click('#password-form button[type=submit]');
	await zoe.waitForFunction(() => /password is changed/.test(document.querySelector('#toast').textContent), null, { timeout: 20000 });
	await zoe.waitForSelector('#live.live-on');
	const still = await api(zoe, 'GET', '/api/counts');
	assert.equal(still.status, 200);
	await zoe.click('#logout');
	await zoe.waitForSelector('#login:not([hidden])');
	await zoe.fill('#login-name', 'zoe');
	await zoe.fill('#login-password', 'first password here');
	await zoe.click('#login-submit');
	await zoe.waitForFunction(() => /Wrong login or password/.test(document.querySelector('#login-error').textContent));
	await login(zoe, 'zoe', 'second password here');

	// Sam, from config.yaml, changes his too: the store's hash wins over
	// the config's until the config gets a new one.
	const r = await api(admin, 'POST', '/api/me/password', { current: AGENT_PASSWORD, password: 'sams new password' });
	assert.equal(r.status, 200);
	assert.ok(r.json.csrf);
	const sam2 = await page();
	await login(sam2, 'sam', 'sams new password');
	await sam2.context().close();

	// The admin removes Zoë: her session ends.
	const admin2 = await page();
	await login(admin2, 'sam', 'sams new password');
	const gone = await api(admin2, 'POST', '/api/team/agents/remove', { login: 'zoe' });
	assert.equal(gone.status, 200);
	await zoe.waitForSelector('#login:not([hidden])', { timeout: 10000 });
	assert.equal(await admin2.evaluate(() => window.__xss), undefined);
	assert.deepEqual(zoe.errors, []);
	await zoe.context().close();
	await admin.context().close();
	await admin2.context().close();
});

test('every page at phone size', { skip, timeout: 120000 }, async () => {
	const cust = await customer('Phone check: can I change my collection time to 4pm?');
	const p = await page(PHONE);
	await p.goto(D.url('/', 'dashboard'));
	await p.waitForSelector('#login-form');
	await shot(p, 'login-phone');
	await p.fill('#login-name', 'kim');
	await p.fill('#login-password', AGENT_PASSWORD);
	await p.click('#login-submit');
	await p.waitForSelector('#queue .qi');
	const fits = () => p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
	assert.ok(await fits());
	await shot(p, 'queue-phone');
	await p.locator('#queue .qi a', { hasText: 'collection time' }).tap();
	await p.waitForSelector('#thread .msg-customer');
	assert.ok(await fits());
	await shot(p, 'ticket-phone');
	await p.click('#a-contact');
	await p.waitForSelector('#contact-pane:not([hidden]) .contact-facts');
	await shot(p, 'contact-phone');
	await p.click('#contact-pane .contact-close');
	await p.goto(D.url('/#/search?q=collection', 'dashboard'));
	await p.waitForSelector('.search-tickets .qi');
	assert.ok(await fits());
	await shot(p, 'search-phone');
	await p.goto(D.url('/#/settings', 'dashboard'));
	await p.waitForSelector('#password-form');
	assert.ok(await fits());
	await shot(p, 'settings-phone');
	await p.goto(D.url('/', 'dashboard'));
	await p.waitForSelector('#queue .qi');
	await p.evaluate(() => document.querySelector('#help-open').click());
	await p.waitForSelector('#help:not([hidden])');
	await shot(p, 'shortcuts-phone');
	const desktopLogin = await page();
	await desktopLogin.goto(D.url('/', 'dashboard'));
	await desktopLogin.waitForSelector('#login-form');
	await shot(desktopLogin, 'login-desktop');
	await desktopLogin.context().close();
	assert.deepEqual(p.errors, []);
	await cust.close();
	await p.context().close();
});
