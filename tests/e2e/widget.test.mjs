// The web chat widget in a real browser (Chromium driven by playwright-core)
// against the real daemon on loopback:
//   - a long conversation opens on its latest messages; scrolling to the top
//     reads the older ones a page at a time, in order, until the first, and
//     the view stays where the visitor was reading.
//
//   BUILD=build node --test tests/e2e/widget.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { daemonMissing, startDaemon, wsClient } from './lib/daemon.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
let chromium = null;
let skip = daemonMissing();
if (!skip) {
	try {
		({ chromium } = await import('playwright-core'));
	} catch {
		skip = 'playwright-core is not installed (npm install in tests/e2e)';
	}
}
if (!skip && !existsSync(CHROMIUM)) skip = `no browser at ${CHROMIUM} (apt-get install chromium)`;

let d = null;
let browser = null;

before(async () => {
	if (skip) return;
	d = await startDaemon({ configOptions: { webchatExtra: '    limits: { messages_per_minute: 100000 }\n' } });
	browser = await chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
	});
});

after(async () => {
	if (browser) await browser.close();
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
