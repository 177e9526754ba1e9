// End-to-end test of the agent dashboard in a real browser (Debian's
// chromium driven by playwright-core) against the real daemon on loopback:
//
//   a customer chats in the widget and is escalated; an agent logs in to the
//   dashboard, sees the ticket arrive live with its countdown, opens it,
//   claims it, replies with a canned reply; the customer sees the reply with
//   the agent's name; a follow-up from the customer reaches the open
//   conversation live; the agent resolves; the customer's next question is
//   answered by the bot again.  Then: the live socket resumes after a
//   reconnect without losing events (sequence numbers), and the page
//   recovers by itself from a daemon restart.
//
// Screenshots (desktop and phone viewport, widget) go to tests/e2e/artifacts/.
//
//   BUILD=build node --test tests/e2e/dashboard.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, track } from './lib/daemon.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BUILD = process.env.BUILD || 'build';
const BIN = path.resolve(BUILD, 'frontdesk');
const ARTIFACTS = path.join(HERE, 'artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'correct horse';
const HASH = '$y$j9T$F2nKyQ2TZT4UzMbTJN6Va.$RMyDCRGkYXqbKiyH48zJY4u7/N9qyIhcPr1u/3DfILD';

let chromium = null;
let skip = false;
try {
	({ chromium } = await import('playwright-core'));
} catch (e) {
	skip = 'playwright-core is not installed (npm install in tests/e2e)';
}
if (!skip && !existsSync(CHROMIUM)) skip = `no browser at ${CHROMIUM} (apt-get install chromium)`;

const RULES = `- id: opening-hours
  match: { any: ["opening hours", "when are you open"] }
  reply: faq.opening_hours
`;
const REPLIES = `faq.opening_hours: "We bake from 7:00 every day."
escalated: "Thanks! A person will reply by {{due}}."
negative: "Sorry to hear that. A person will reply by {{due}}."
abusive: "We've received your message."
human: "A person will reply by {{due}}."
waiting: "We have your message; {{#agent}}{{agent}}{{/agent}}{{^agent}}a person{{/agent}} will reply soon."
canned.looking_into_it: "Thanks for waiting! {{agent}} here: I'm looking into it right now."
canned.refund_started: "I've started your refund. It shows up within 3-5 working days."
`;
const LEXICON = `threshold: -0.3
words: { terrible: -3, awful: -3, great: 2 }
abusive: ["idiot*"]
`;


// A daemon in its own directory: web chat and dashboard on free loopback
// ports.  `again` restarts one on the same directory and ports.
async function startDaemon(again) {
	const d = again || { dir: mkdtempSync(path.join(tmpdir(), 'fd-dash-')) };
	if (!again) {
		d.chatPort = await freePort();
		d.dashPort = await freePort();
		d.chat = `http://127.0.0.1:${d.chatPort}`;
		d.dash = `http://127.0.0.1:${d.dashPort}`;
		writeFileSync(path.join(d.dir, 'rules.yaml'), RULES);
		writeFileSync(path.join(d.dir, 'replies.yaml'), REPLIES);
		writeFileSync(path.join(d.dir, 'lexicon.yaml'), LEXICON);
		writeFileSync(path.join(d.dir, 'config.yaml'), `business:
  name: Test Bakery
  timezone: UTC
  hours: { mon-sun: "00:00-24:00" }
  response_targets: { urgent: 30m, high: 1h, normal: 4h, low: 1d }
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
	}
	d.log = '';
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

async function stopDaemon(d) {
	d.proc.kill('SIGTERM');
	return d.exited;
}

const LAUNCH = {
	executablePath: CHROMIUM,
	headless: true,
	args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
		'--disable-component-update', '--disable-sync'],
};

let D, browser;

before(async () => {
	if (skip) return;
	mkdirSync(ARTIFACTS, { recursive: true });
	D = await startDaemon();
	browser = await chromium.launch(LAUNCH);
});

after(async () => {
	if (browser) await browser.close();
	if (D) {
		const r = await stopDaemon(D);
		assert.deepEqual(r, { code: 0, signal: null }, D.log);
		rmSync(D.dir, { recursive: true, force: true });
	}
});

// A page that fails the test on any script error.
async function newPage(ctx) {
	const page = await ctx.newPage();
	page.errors = [];
	page.on('pageerror', (e) => page.errors.push(String(e)));
	return page;
}

async function login(page, who = 'sam') {
	await page.goto(D.dash + '/');
	await page.waitForSelector('#login-form');
	await page.fill('#login-name', who);
	await page.fill('#login-password', PASSWORD);
	await page.click('#login-submit');
	await page.waitForSelector('#app:not([hidden])');
	await page.waitForSelector('#live.live-on');
}

async function customer(viewport = { width: 1280, height: 800 }) {
	const ctx = await browser.newContext({ viewport });
	const page = await newPage(ctx);
	await page.goto(D.chat + '/');
	await page.click('.fd-launch');
	return page;
}

// The customer sends text and waits for the bot's answer to it (so the post
// is stored and decided: escalated, when the bot cannot answer).
async function say(page, text) {
	const before = await page.locator('.fd-msg.fd-bot').count();
	await page.fill('.fd-form textarea', text);
	await page.press('.fd-form textarea', 'Enter');
	await page.waitForFunction((n) => document.querySelectorAll('.fd-msg.fd-bot').length > n, before);
}

// The same for a thread a person owns: the bot stays quiet, so wait for the
// server's echo of the customer's message instead.
async function sayToPerson(page, text) {
	await page.fill('.fd-form textarea', text);
	await page.press('.fd-form textarea', 'Enter');
	await page.waitForFunction((t) => [...document.querySelectorAll('.fd-msg.fd-customer')]
		.some((e) => e.querySelector('.fd-text').textContent === t && !e.querySelector('.fd-state')), text);
}

test('customer escalated, agent claims and replies, customer sees who wrote it, resolve hands back to the bot',
	{ skip, timeout: 90000 }, async () => {
		const actx = await browser.newContext({ viewport: { width: 1366, height: 820 } });
		const agent = await newPage(actx);
		await login(agent, 'sam');
		assert.equal(await agent.locator('#queue .qi').count(), 0);
		assert.match(await agent.textContent('#queue-empty'), /Nothing waiting/);

		// The customer writes something the bot cannot answer: escalated.
		const cust = await customer();
		await say(cust, 'My order #123 never arrived, can someone look into it?');
		const ack = cust.locator('.fd-msg.fd-bot .fd-text').first();
		await ack.waitFor();
		assert.match(await ack.textContent(), /A person will reply by/);

		// The ticket arrives in the open dashboard without a reload.
		const item = agent.locator('#queue .qi').first();
		await item.waitFor({ timeout: 5000 });
		assert.match(await item.locator('.qi-preview').textContent(), /My order #123 never arrived/);
		assert.equal(await item.locator('.badge').textContent(), 'normal');
		assert.match(await item.locator('.qi-reason').textContent(), /Unanswered question/);
		assert.match(await item.locator('.chip').first().textContent(), /webchat/);
		// The countdown to the 4 h target runs.
		const due = item.locator('.due');
		assert.match(await due.textContent(), /^due in (3h 59m|4h)$/);
		// The counters follow the queue.
		await agent.waitForFunction(() => /1\s*waiting/.test(document.querySelector('#stats').textContent));
		await agent.screenshot({ path: path.join(ARTIFACTS, 'dashboard-queue-desktop.png') });

		// Open it: the whole thread, customer then bot.
		await item.locator('a').click();
		await agent.waitForSelector('#thread .msg-customer');
		const bubbles = await agent.$$eval('#thread .msg', (els) => els.map((e) => e.className.match(/msg-(\w+)/)[1]));
		assert.deepEqual(bubbles, ['customer', 'bot']);
		assert.equal(await agent.locator('#a-claim').isVisible(), true);

		await agent.click('#a-claim');
		await agent.waitForSelector('.chip-claimed');
		assert.match(await agent.textContent('.chip-claimed'), /claimed by Sam/);
		assert.equal(await agent.locator('#a-claim').isVisible(), false);
		assert.equal(await agent.locator('#a-release').isVisible(), true);

		// A canned reply, edited, then sent.
		const options = await agent.$$eval('#canned option', (os) => os.map((o) => o.textContent));
		// Only canned.*, in the order of the replies file: the bot's own
		// texts (faq.*) are not for a person to send.
		assert.deepEqual(options, ['Canned replies…', 'Looking into it', 'Refund started']);
		// The web chat shows who wrote a reply: no signature is added.
		assert.match(await agent.textContent('#sign-hint'), /The customer sees your name, Sam/);
		await agent.selectOption('#canned', { label: 'Looking into it' });
		assert.equal(await agent.inputValue('#reply-text'), "Thanks for waiting! Sam here: I'm looking into it right now.");
		await agent.fill('#reply-text', (await agent.inputValue('#reply-text')) + ' The driver has it.');
		await agent.click('#reply-submit');
		await agent.waitForSelector('#thread .msg-agent');
		assert.match(await agent.textContent('#thread .msg-agent .msg-text'), /The driver has it\.$/);
		assert.equal(await agent.inputValue('#reply-text'), '');

		// The customer sees it, from the agent, with the agent's name —
		// once, above the message, not again as a signature inside it.
		const reply = cust.locator('.fd-msg.fd-agent');
		await reply.waitFor({ timeout: 5000 });
		assert.match(await reply.locator('.fd-who').textContent(), /^Sam/);
		assert.equal(await reply.locator('.fd-text').textContent(),
			"Thanks for waiting! Sam here: I'm looking into it right now. The driver has it.");
		assert.equal((await reply.textContent()).split('Sam').length - 1, 2); // header + "Sam here"
		// Delivered: the dashboard stops showing it as "sending".
		await agent.waitForFunction(() => !document.querySelector('#thread .msg-pending'));
		assert.equal(await agent.textContent('#ticket .due'), 'answered');

		// Reassign to Kim, then take it back.
		await agent.selectOption('#a-assign', 'kim');
		await agent.waitForFunction(() => /claimed by Kim/.test(document.querySelector('#t-meta').textContent));
		assert.equal(await agent.textContent('#a-claim'), 'Take over');
		// Only a private note can be written while Kim has it.
		assert.equal(await agent.locator('#mode-reply').isDisabled(), true);
		assert.equal(await agent.textContent('#reply-submit'), 'Add note');
		assert.match(await agent.textContent('#reply-held'), /Kim has this conversation/);
		await agent.click('#a-claim');
		await agent.waitForFunction(() => /claimed by Sam/.test(document.querySelector('#t-meta').textContent));
		assert.equal(await agent.locator('#a-claim').isVisible(), false);
		await agent.click('#mode-reply');

		// A follow-up reaches the open conversation live.
		await sayToPerson(cust, 'Great, thank you!');
		await agent.waitForFunction(() => [...document.querySelectorAll('#thread .msg-customer .msg-text')]
			.some((e) => e.textContent === 'Great, thank you!'));
		await agent.waitForTimeout(300);
		await agent.screenshot({ path: path.join(ARTIFACTS, 'dashboard-ticket-desktop.png') });
		await cust.screenshot({ path: path.join(ARTIFACTS, 'widget.png') });

		// Resolve: the thread is the bot's again.
		await agent.click('#a-resolve');
		await agent.waitForSelector('.chip-resolved');
		assert.equal(await agent.locator('#mode-reply').isDisabled(), true);
		assert.equal(await agent.locator('#a-reopen').isVisible(), true);
		await agent.waitForFunction(() => document.querySelectorAll('#queue .qi').length === 0);
		const bots = await cust.locator('.fd-msg.fd-bot').count();
		await say(cust, 'when are you open?');
		await cust.waitForFunction((n) => document.querySelectorAll('.fd-msg.fd-bot').length > n, bots);
		assert.equal(await cust.locator('.fd-msg.fd-bot .fd-text').last().textContent(), 'We bake from 7:00 every day.');

		// The resolved tab lists it, with its first-response time kept.
		await agent.click('.tab[data-filter="resolved"]');
		await agent.locator('#queue .qi').first().waitFor();
		assert.equal(await agent.locator('#queue .qi').count(), 1);
		// The stats show the first-reply and resolution times the store holds.
		await agent.waitForFunction(() => {
			const t = document.querySelector('#stats').textContent;
			return !/–\s*first reply/.test(t) && !/–\s*resolution/.test(t);
		});

		assert.deepEqual(agent.errors, []);
		assert.deepEqual(cust.errors, []);
		await actx.close();
		await cust.context().close();
	});

test('phone viewport: queue, conversation and back', { skip, timeout: 120000 }, async () => {
	const cust = await customer({ width: 390, height: 844 });
	await say(cust, 'Hello, the cake for Saturday needs a different name on it, is that possible?');
	await cust.locator('.fd-msg.fd-bot').first().waitFor();
	await cust.screenshot({ path: path.join(ARTIFACTS, 'widget-phone.png') });

	const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
	const agent = await newPage(ctx);
	await login(agent, 'kim');
	await agent.locator('#queue .qi').first().waitFor();
	// One pane at a time, nothing wider than the screen.
	assert.equal(await agent.locator('#ticket-pane').isVisible(), false);
	assert.ok(await agent.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
	await agent.screenshot({ path: path.join(ARTIFACTS, 'dashboard-queue-phone.png') });

	await agent.locator('#queue .qi a', { hasText: 'different name' }).tap();
	await agent.waitForSelector('#thread .msg-customer');
	assert.equal(await agent.locator('#queue-pane').isVisible(), false);
	assert.equal(await agent.locator('#back').isVisible(), true);
	await agent.click('#a-claim');
	await agent.waitForSelector('.chip-claimed');
	await agent.fill('#reply-text', 'Of course! Which name should it say?');
	await agent.click('#reply-submit');
	await agent.waitForSelector('#thread .msg-agent');
	assert.ok(await agent.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
	await agent.waitForTimeout(300);
	await agent.screenshot({ path: path.join(ARTIFACTS, 'dashboard-ticket-phone.png') });
	await cust.locator('.fd-msg.fd-agent').waitFor({ timeout: 5000 }).catch((e) => {
		throw new Error(e.message + '\n' + D.log);
	});
	assert.match(await cust.locator('.fd-msg.fd-agent .fd-who').textContent(), /^Kim/);

	await agent.click('#back');
	await agent.waitForSelector('#queue-pane:visible');
	assert.equal(agent.url().endsWith('#/'), true);
	assert.deepEqual(agent.errors, []);
	await ctx.close();
	await cust.context().close();
});

test('live updates resume after a reconnect without losing events', { skip, timeout: 120000 }, async () => {
	const ctx = await browser.newContext();
	const agent = await newPage(ctx);
	await login(agent, 'sam');

	// A raw live socket in the page: it sees events numbered in order.
	await agent.evaluate(async () => {
		const me = await (await fetch('/api/me')).json();
		const list = await (await fetch('/api/tickets')).json();
		window.live = { csrf: me.csrf, epoch: list.epoch, seen: [], hello: null };
		window.liveConnect = (since) => new Promise((resolve) => {
			const ws = new WebSocket(`ws://${location.host}/api/live?since=${since}&epoch=${window.live.epoch}&csrf=${window.live.csrf}`);
			window.live.ws = ws;
			ws.onmessage = (m) => {
				const e = JSON.parse(m.data);
				if (e.type === 'hello') {
					window.live.hello = e;
					resolve();
				} else {
					window.live.seen.push(e);
				}
			};
		});
		await window.liveConnect(list.seq);
	});
	const seen = () => agent.evaluate(() => window.live.seen.map((e) => ({ seq: e.seq, type: e.type, id: e.ticket && e.ticket.id })));

	const c1 = await customer();
	await say(c1, 'Question one: do you make gluten-free bread?');
	await agent.waitForFunction(() => window.live.seen.length >= 1);

	// Disconnected while two more customers are escalated (the last number
	// seen is read in the same step as the socket is dropped: more of the
	// first customer's events may still be arriving until then)...
	const last = await agent.evaluate(() => {
		window.live.ws.onmessage = null;
		window.live.ws.close();
		return window.live.seen[window.live.seen.length - 1].seq;
	});
	const first = await seen();
	const c2 = await customer();
	await say(c2, 'Question two: can I pay by invoice?');
	const c3 = await customer();
	await say(c3, 'Question three: do you cater weddings?');
	await agent.waitForFunction(async () => (await (await fetch('/api/tickets')).json()).tickets.length >= 3);

	// ...and back with the last sequence number seen: every missed event, in order, once.
	await agent.evaluate((s) => window.liveConnect(s), last);
	await agent.waitForFunction((n) => window.live.seen.length >= n, first.length + 2);
	await agent.waitForTimeout(300);
	const all = await seen();
	const seqs = all.map((e) => e.seq);
	assert.deepEqual(seqs, seqs.map((_, i) => seqs[0] + i), 'consecutive, no gap, no repeat');
	const ids = new Set(all.map((e) => e.id));
	assert.ok(ids.size >= 3, 'events for all three tickets: ' + JSON.stringify(all));

	// The app itself: a dropped connection shows, and a daemon restart
	// (sessions live in memory) asks the agent to sign in again, after
	// which the page follows the queue live as before.
	await agent.waitForFunction(() => document.querySelectorAll('#queue .qi').length >= 3);
	assert.deepEqual(await stopDaemon(D), { code: 0, signal: null }, D.log);
	await agent.waitForSelector('#live.live-off');
	await startDaemon(D);
	await agent.waitForSelector('#login:not([hidden])', { timeout: 20000 });
	assert.match(await agent.textContent('#login-error'), /session ended/);
	await agent.fill('#login-name', 'sam');
	await agent.fill('#login-password', PASSWORD);
	await agent.click('#login-submit');
	await agent.waitForSelector('#live.live-on');
	const c4 = await customer();
	await say(c4, 'Question four: is there parking nearby?');
	await agent.waitForFunction(() => [...document.querySelectorAll('#queue .qi-preview')]
		.some((e) => e.textContent.includes('Question four')), null, { timeout: 10000 });
	assert.ok((await agent.locator('#queue .qi').count()) >= 4);
	assert.deepEqual(agent.errors, []);
	for (const c of [c1, c2, c3, c4]) await c.context().close();
	await ctx.close();
});
