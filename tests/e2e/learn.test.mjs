// Learning from the team, in a real browser (Debian's chromium driven by
// playwright-core) against the real daemon and real web chat sockets:
//
//   an escalated question shows the FAQ answers it is most like, with
//   their confidence; one click puts an answer in the reply box; "Teach"
//   records the question as an example of a rule, the daemon learns it at
//   once, and the same question from another customer is then answered by
//   the bot.  The insights page groups the questions nobody answered (the
//   same question asked three ways is one group of three), offers a new
//   FAQ rule with the questions pre-filled, lists what was taught, and
//   removing it makes the bot unlearn it.  Customer text with markup stays
//   text.  Screenshots at desktop and phone sizes go to
//   tests/e2e/artifacts/learn-*.png.
//
//   BUILD=build node --test tests/e2e/learn.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN, startDaemon, wsClient, daemonMissing, waitUntil } from './lib/daemon.mjs';
import { browserMissing, launchBrowser, dashboardLogin } from './lib/browser.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = path.join(HERE, 'artifacts');
const skip = daemonMissing() || (await browserMissing());

// Unanswered by the default rules, though it asks what `payment` answers.
const QUESTION = 'can i settle up with one of those phone wallets at the till';
const XSS = '<img src=x onerror="window.__xss=1"> is the terrace heated?';
const DOGS = ['can i bring my dog inside', 'is my dog allowed in the cafe', 'are dogs allowed inside the shop'];

let D, browser;

before(async () => {
	if (skip) return;
	mkdirSync(ARTIFACTS, { recursive: true });
	D = await startDaemon({ healthy: true });
	browser = await launchBrowser();
});

after(async () => {
	if (browser) await browser.close();
	if (D) {
		await D.stop();
		D.cleanup();
	}
});

async function ask(text, id) {
	const c = await wsClient(D.wsUrl('/chat'));
	try {
		c.send({ type: 'message', text, client_id: id });
		return await c.next((f) => f.type === 'message' && f.from === 'bot', 15000);
	} finally {
		c.close();
	}
}

function tickets() {
	const r = spawnSync(BIN, ['-c', D.config, 'queue', 'list', '--json', '--status', 'all'], { cwd: D.dir, encoding: 'utf8' });
	return JSON.parse(r.stdout);
}

const reloads = () => (D.log().match(/configuration reloaded/g) || []).length;

test('suggested answers, teach from a ticket, and the bot answers it after', { skip, timeout: 180000 }, async () => {
	const first = await ask(QUESTION, 'q1');
	assert.doesNotMatch(first.text, /card|cash/i, 'not answered before it is taught');
	const id = tickets().find((t) => t.opening_message === QUESTION).id;

	const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
	const page = await ctx.newPage();
	await dashboardLogin(page, D.url('/', 'dashboard'));
	await page.goto(D.url(`/#/ticket/${id}`, 'dashboard'));
	await page.waitForSelector('#learn:not([hidden]) .learn-teach');
	// The question being answered, and the answers it is most like.
	assert.match(await page.textContent('#learn .learn-question'), /phone wallets/);
	const offered = await page.$$eval('#learn .suggestion', (b) => b.map((x) => x.dataset.rule));
	assert.ok(offered.length >= 1, 'at least one FAQ answer is offered');
	assert.match(await page.textContent('#learn .suggestion-conf'), /^\d+%$/);
	// One click puts that answer in the reply box; nothing is sent.
	await page.click('#learn .suggestion');
	const box = await page.inputValue('#reply-text');
	assert.ok(box.length > 10, 'the answer is in the reply box');
	await page.screenshot({ path: path.join(ARTIFACTS, 'learn-ticket-desktop.png') });

	// Teach it as an example of `payment`: learned at once (a reload).
	const before = reloads();
	await page.selectOption('#teach-rule', 'payment');
	await page.click('#teach-submit');
	await page.waitForSelector('#learn .learn-done');
	assert.match(await page.textContent('#learn .learn-done'), /Taught/);
	await waitUntil(() => reloads() > before && /configuration reloaded.*taught=1/.test(D.log()), 60000, 'relearned');
	const after = await ask(QUESTION, 'q2');
	assert.match(after.text, /card|cash|pay/i, `now answered with the payment FAQ: ${after.text}`);
	// The ticket's history says who taught what.
	const events = JSON.parse(spawnSync(BIN, ['-c', D.config, 'queue', 'taught', '--json'], { cwd: D.dir, encoding: 'utf8' }).stdout);
	assert.equal(events.length, 1);
	assert.equal(events[0].by, 'sam');
	await ctx.close();
});

test('insights: unanswered questions grouped, a new FAQ rule, taught examples removable', { skip, timeout: 180000 }, async () => {
	for (const [i, q] of DOGS.entries()) await ask(q, 'd' + i);
	await ask(XSS, 'x1');
	const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
	const page = await ctx.newPage();
	await dashboardLogin(page, D.url('/', 'dashboard'));
	await page.click('#insights-link');
	await page.waitForSelector('#groups .group');
	const groups = await page.$$eval('#groups .group', (gs) =>
		gs.map((g) => ({ count: g.querySelector('.group-count').textContent, qs: [...g.querySelectorAll('.group-questions li')].map((l) => l.textContent) })));
	const dogs = groups.find((g) => g.qs.some((q) => /dog/.test(q)));
	assert.ok(dogs, JSON.stringify(groups));
	assert.equal(dogs.count, '×3', JSON.stringify(groups));
	assert.deepEqual([...dogs.qs].sort(), [...DOGS].sort());
	// The taught question is no longer among the unanswered.
	assert.ok(!groups.some((g) => g.qs.includes(QUESTION)));
	// Markup in customer text is text.
	const xss = groups.find((g) => g.qs.some((q) => q.includes('<img')));
	assert.ok(xss, 'the payload is shown as text');
	assert.equal(await page.evaluate(() => window.__xss), undefined);
	assert.equal(await page.$$eval('#view-insights img', (v) => v.length), 0);

	// A new FAQ rule from the dog group: the questions pre-filled.
	const dogIndex = groups.indexOf(dogs);
	await page.locator('#groups .group').nth(dogIndex).locator('.new-rule-btn').click();
	await page.fill('.new-rule-answer', 'Dogs are welcome on the terrace.');
	const yaml = await page.textContent('.new-rule-yaml');
	for (const q of DOGS) assert.ok(yaml.includes(JSON.stringify(q)), yaml);
	assert.match(yaml, /reply: faq\.\w+/);
	assert.match(yaml, /Dogs are welcome on the terrace\./);
	await page.screenshot({ path: path.join(ARTIFACTS, 'learn-insights-desktop.png'), fullPage: true });

	// What was taught is listed; removing it unlearns it.
	await page.waitForSelector('#taught tr');
	assert.match(await page.textContent('#taught'), /phone wallets/);
	const before = reloads();
	await page.click('#taught tr button');
	await waitUntil(() => reloads() > before && /configuration reloaded.*taught=0/.test(D.log()), 60000, 'unlearned');
	const again = await ask(QUESTION, 'q3');
	assert.doesNotMatch(again.text, /card|cash/i);

	await page.setViewportSize({ width: 390, height: 844 });
	await page.reload();
	await page.waitForSelector('#groups .group');
	await page.screenshot({ path: path.join(ARTIFACTS, 'learn-insights-phone.png'), fullPage: true });
	await ctx.close();
});
