// The web chat widget in a real browser (Chromium driven by playwright-core)
// against the real daemon on loopback:
//   - a long conversation opens on its latest messages; scrolling to the top
//     reads the older ones a page at a time, in order, until the first, and
//     the view stays where the visitor was reading;
//   - the visitor's e-mail, round trip: the widget offers the e-mail field
//     as soon as a person has the conversation (in opening hours too) and
//     confirms only what was stored; the ticket shows the address in the
//     dashboard, the API and `frontdesk queue show --json`; the visitor
//     leaves, the agent replies in the dashboard, and the reply arrives at
//     an SMTP sink addressed to the visitor, answerable at the business's
//     address, with a link that reopens the conversation in a new browser;
//     the dashboard says it was mailed.
//
//   BUILD=build node --test tests/e2e/widget.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { BIN, daemonMissing, httpGet, startDaemon, waitUntil, wsClient } from './lib/daemon.mjs';
import { browserMissing, dashboardLogin, launchBrowser } from './lib/browser.mjs';
import { startSmtpSink } from './lib/smtp.mjs';

const skip = daemonMissing() || (await browserMissing());

let d = null;
let browser = null;
let sink = null;

before(async () => {
	if (skip) return;
	sink = await startSmtpSink();
	d = await startDaemon({
		configOptions: {
			webchatExtra: '    limits: { messages_per_minute: 100000 }\n',
			extra: `notify:\n  - { type: email, smtp: "smtp://127.0.0.1:${sink.port}", from: bot@test.example, to: [owner@test.example] }\n`,
		},
	});
	browser = await launchBrowser();
});

after(async () => {
	if (browser) await browser.close();
	if (sink) sink.stop();
	if (d) {
		const r = await d.stop();
		assert.equal(r.code, 0, d.log());
		d.cleanup();
	}
});

// A page of the demo shop whose widget already holds `token`.
async function shopPage(token) {
	const page = await (await browser.newContext()).newPage();
	const errors = [];
	page.on('pageerror', (e) => errors.push(String(e)));
	const host = new URL(d.url('/')).host;
	if (token) {
		await page.addInitScript(([key, value]) => localStorage.setItem(key, value), [`frontdesk:${host}:visitor`, JSON.stringify(token)]);
	}
	await page.goto(d.url('/'));
	return { page, errors };
}

test('a long conversation opens on its latest messages; scrolling up reads the rest', { skip, timeout: 120000 }, async () => {
	// 60 questions and their answers: 120 messages.
	const c = await wsClient(d.wsUrl('/chat'));
	const w = await c.next((f) => f.type === 'welcome');
	for (let i = 0; i < 60; i++) {
		const at = c.frames.length;
		c.send({ type: 'message', text: `question ${i}: when are you open?`, client_id: `q${i}` });
		await c.next((f) => f.type === 'message' && f.client_id === `q${i}`, 10000, at);
		await c.next((f) => f.type === 'message' && f.from === 'bot', 10000, at);
	}
	c.close();

	const { page, errors } = await shopPage(w.visitor);
	await page.click('.fd-launch');
	const msgs = page.locator('.fd-log .fd-msg');
	await page.waitForFunction(() => document.querySelectorAll('.fd-log .fd-msg').length >= 50, null, { timeout: 15000 });
	assert.equal(await msgs.count(), 50);
	assert.equal(await page.isVisible('.fd-more button'), true);
	const last = await msgs.last().locator('.fd-text').textContent();
	assert.doesNotMatch(last, /^question/); // the latest is the answer to question 59

	// Scroll to the top, twice: a page each time, oldest first, and the
	// message that was at the top stays in view.
	for (const want of [100, 120]) {
		const top = await msgs.first().locator('.fd-text').textContent();
		await page.$eval('.fd-log', (el) => el.scrollTo(0, 0));
		await page.waitForFunction((n) => document.querySelectorAll('.fd-log .fd-msg').length >= n, want, { timeout: 15000 });
		assert.equal(await msgs.count(), want);
		const visible = await page.$eval('.fd-log', (log, text) => {
			const li = [...log.querySelectorAll('.fd-msg')].find((x) => x.querySelector('.fd-text').textContent === text);
			const a = li.getBoundingClientRect(), b = log.getBoundingClientRect();
			return a.bottom > b.top && a.top < b.bottom;
		}, top);
		assert.ok(visible, `"${top}" stayed in view`);
	}
	await page.waitForFunction(() => document.querySelector('.fd-more').hidden, null, { timeout: 5000 });
	const texts = await page.$$eval('.fd-log .fd-msg.fd-customer .fd-text', (els) => els.map((e) => e.textContent));
	assert.deepEqual(texts, Array.from({ length: 60 }, (_, i) => `question ${i}: when are you open?`));
	assert.deepEqual(errors, []);
	await page.context().close();
});

test('the e-mail a visitor leaves: on the ticket, and a reply they miss arrives by e-mail with a link back', { skip, timeout: 120000 }, async () => {
	// The shop is open: the field appears because a person has the conversation.
	const { page: cust, errors } = await shopPage(null);
	await cust.click('.fd-launch');
	await cust.fill('.fd-form textarea', 'I want to speak to a person about my order');
	await cust.press('.fd-form textarea', 'Enter');
	await cust.waitForSelector('.fd-msg.fd-bot', { timeout: 15000 });
	await cust.waitForSelector('.fd-mail:not([hidden])', { timeout: 10000 });
	assert.match(await cust.textContent('.fd-mail label'), /A person will answer here/);
	await cust.fill('.fd-mail input', 'kim@example.org');
	await cust.click('.fd-mail button');
	await cust.waitForFunction(() => /follow up at kim@example\.org/.test(document.querySelector('.fd-status').textContent), null, { timeout: 10000 });
	assert.equal(await cust.isHidden('.fd-mail'), true);
	const token = await cust.evaluate(() => {
		for (let i = 0; i < localStorage.length; i++) {
			const k = localStorage.key(i);
			if (k.endsWith(':visitor')) return JSON.parse(localStorage.getItem(k));
		}
		return null;
	});
	assert.match(token, /^[A-Za-z0-9_-]{16,}$/);

	// The agent's dashboard shows the address on the ticket.
	const agent = await (await browser.newContext()).newPage();
	agent.on('pageerror', (e) => errors.push(String(e)));
	await dashboardLogin(agent, d.url('/', 'dashboard'));
	const item = agent.locator('.qi').first();
	await item.waitFor({ timeout: 10000 });
	await item.locator('a').click();
	await agent.waitForSelector('#thread .msg-customer');
	assert.match(await agent.textContent('.chip-email'), /kim@example\.org/);
	assert.match(await agent.textContent('#sign-hint'), /by e-mail to kim@example\.org/);
	const id = await agent.evaluate(() => location.hash.match(/(\d+)/)[1]);
	const api = await agent.evaluate(async (n) => (await fetch('/api/tickets/' + n)).json(), id);
	assert.equal(api.email, 'kim@example.org');
	const shown = JSON.parse(execFileSync(BIN, ['queue', 'show', id, '--json', '-c', d.config], { encoding: 'utf8' }));
	assert.equal(shown.email, 'kim@example.org');

	// The visitor leaves; the agent replies.
	await cust.context().close();
	await waitUntil(async () => /^frontdesk_webchat_connections 0$/m.test((await httpGet(d.url('/metrics', 'dashboard'))).body), 10000, 'the visitor gone');
	const text = 'Your order is ready: come and collect it at ten.';
	await agent.fill('#reply-text', text);
	await agent.click('#reply-submit');
	const mail = await waitUntil(() => sink.mails.find((m) => m.rcpt_tos.includes('kim@example.org')), 15000, 'the e-mail to the visitor');
	assert.deepEqual(mail.rcpt_tos, ['kim@example.org']);
	assert.equal(mail.to, 'kim@example.org');
	assert.equal(mail.subject, 'Re: your message to Test Bakery');
	assert.ok(mail.header_names.includes('Reply-To'), mail.header_names.join(','));
	assert.ok(mail.body.includes(text), mail.body);
	assert.match(mail.body, /Sam from Test Bakery replied/);
	const link = mail.body.match(/http:\/\/\S+#frontdesk=\S+/)[0];
	assert.equal(link, `${d.url('/')}#frontdesk=${token}`);
	assert.deepEqual(mail.defects, []);
	// The dashboard says so, under the reply.
	await agent.waitForSelector('#thread .ev:has-text("also sent by e-mail to kim@example.org")', { timeout: 10000 });

	// The link reopens the conversation in another browser, with the reply.
	const back = await (await browser.newContext()).newPage();
	back.on('pageerror', (e) => errors.push(String(e)));
	await back.goto(link);
	await back.waitForSelector('.fd-panel:not([hidden]) .fd-msg.fd-agent', { timeout: 15000 });
	assert.equal(await back.textContent('.fd-msg.fd-agent .fd-text'), text);
	assert.equal(await back.evaluate(() => location.hash), '');
	// Nothing was mailed twice, and only the one e-mail went to the visitor.
	await new Promise((r) => setTimeout(r, 1000));
	assert.equal(sink.mails.filter((m) => m.rcpt_tos.includes('kim@example.org')).length, 1);
	assert.deepEqual(errors, []);
	await agent.context().close();
	await back.context().close();
});
