// The customer's side of the web chat and the end of a conversation, in a
// real browser (Debian's chromium driven by playwright-core) against the
// real daemon:
//
//   - the widget's settings from config (colour, title, greeting, position,
//     launcher, a string) are what the visitor sees;
//   - typing both ways: the agent sees the visitor typing, the visitor sees
//     "Sam is typing…";
//   - links are clickable in the widget and the dashboard (http/https only,
//     rel="noopener nofollow"), and markup in messages stays text;
//   - satisfaction: a person resolves, the widget asks, the visitor rates
//     4 with a comment, the ticket shows it, /metrics counts it, the
//     question is gone after a reload and cannot be answered twice;
//   - on a text conversation (the web chat's socket, resolved with
//     `frontdesk queue resolve`), "5 - thanks!" is read as the rating and
//     thanked, never decided as a new question.
//
//   BUILD=build node --test tests/e2e/satisfaction.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN, daemonMissing, httpGet, startDaemon, waitUntil, wsClient, sleep } from './lib/daemon.mjs';
import { browserMissing, dashboardApi, dashboardLogin, launchBrowser } from './lib/browser.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = path.join(HERE, 'artifacts');
const skip = daemonMissing() || (await browserMissing());
const XSS = '<img src=x onerror="window.__xss=1">';

let d = null;
let browser = null;

before(async () => {
	if (skip) return;
	mkdirSync(ARTIFACTS, { recursive: true });
	d = await startDaemon({
		configOptions: {
			webchatExtra: `    limits: { messages_per_minute: 100000 }
    widget:
      color: "#aa3300"
      title: "Talk to the bakers"
      greeting: "Hello from the test bakery!"
      launcher: "Ask us"
      position: left
      strings: { send: "Go", rate_thanks: "Thanks for rating us!" }
`,
		},
	});
	browser = await launchBrowser();
});

after(async () => {
	if (browser) await browser.close();
	if (d) {
		const r = await d.stop();
		assert.equal(r.code, 0, d.log());
		d.cleanup();
	}
});

async function newPage(viewport = { width: 1280, height: 860 }) {
	const ctx = await browser.newContext({ viewport });
	const p = await ctx.newPage();
	p.errors = [];
	p.on('pageerror', (e) => p.errors.push(String(e)));
	await ctx.addInitScript(() => { window.__xss = undefined; });
	return p;
}

const api = dashboardApi;

async function agentPage() {
	const p = await newPage();
	await dashboardLogin(p, d.url('/', 'dashboard'));
	await p.waitForSelector('#live.live-on');
	return p;
}

async function openTicket(agent, words) {
	await agent.goto(d.url('/', 'dashboard') + '#/');
	await agent.locator('#queue .qi a', { hasText: words }).click();
	await agent.waitForSelector('#thread .msg-customer');
	return Number((await agent.textContent('#t-title')).match(/#(\d+)/)[1]);
}

test('widget settings, typing both ways, links; then the visitor rates the conversation', { skip, timeout: 180000 }, async () => {
	const shop = await newPage();
	await shop.goto(d.url('/'));
	// The settings from config.
	const launch = shop.locator('.fd-launch');
	assert.equal(await launch.textContent(), 'Ask us');
	assert.equal(await shop.evaluate(() => document.querySelector('.fd-chat').classList.contains('fd-left')), true);
	assert.equal(await shop.evaluate(() => getComputedStyle(document.querySelector('.fd-launch')).backgroundColor), 'rgb(170, 51, 0)');
	const box = await launch.boundingBox();
	assert.ok(box.x < 200, `launcher on the left, x=${box.x}`);
	await launch.click();
	assert.equal(await shop.textContent('.fd-head h2'), 'Talk to the bakers');
	assert.equal(await shop.textContent('.fd-intro'), 'Hello from the test bakery!');
	assert.equal(await shop.textContent('.fd-form button[type=submit]'), 'Go');

	// A question nobody has a rule for, with a link and markup in it.
	const question = `My order https://example.com/orders/881?x=1 never came, ${XSS} javascript:alert(1) help`;
	await shop.fill('.fd-form textarea', question);
	await shop.click('.fd-form button[type=submit]');
	await shop.waitForSelector('.fd-msg.fd-bot');
	const custLink = shop.locator('.fd-msg.fd-customer .fd-text a');
	assert.equal(await custLink.count(), 1);
	assert.equal(await custLink.getAttribute('href'), 'https://example.com/orders/881?x=1');

	const agent = await agentPage();
	const id = await openTicket(agent, 'never came');
	const link = agent.locator('#thread .msg-customer .msg-text a');
	assert.equal(await link.count(), 1, 'one link: javascript: is not one');
	assert.equal(await link.getAttribute('href'), 'https://example.com/orders/881?x=1');
	assert.match(await link.getAttribute('rel'), /noopener/);
	assert.match(await link.getAttribute('rel'), /nofollow/);
	assert.equal(await link.getAttribute('target'), '_blank');
	assert.ok((await agent.textContent('#thread .msg-customer .msg-text')).includes(XSS));

	// The visitor types: the agent sees it.
	await shop.type('.fd-form textarea', 'and another thing', { delay: 20 });
	await agent.waitForSelector('#t-typing:not([hidden])', { timeout: 10000 });
	assert.match(await agent.textContent('#t-typing'), /is typing/);
	await shop.fill('.fd-form textarea', '');

	// The agent types: the visitor sees "Sam is typing…".
	await agent.click('#mode-reply');
	await agent.type('#reply-text', 'Let me check ', { delay: 20 });
	await shop.waitForSelector('.fd-typing:not([hidden])', { timeout: 10000 });
	assert.equal(await shop.textContent('.fd-typing'), 'Sam is typing\u2026');
	await agent.fill('#reply-text', 'Found it: track it at https://example.com/track/881. See you soon!');
	await agent.click('#reply-submit');
	await shop.waitForSelector('.fd-msg.fd-agent');
	// The reply's arrival puts the indicator away.
	assert.equal(await shop.isHidden('.fd-typing'), true);
	const agentLink = shop.locator('.fd-msg.fd-agent .fd-text a');
	assert.equal(await agentLink.getAttribute('href'), 'https://example.com/track/881');
	assert.match(await agentLink.getAttribute('rel'), /noopener/);
	assert.match(await agentLink.getAttribute('rel'), /nofollow/);
	await shop.screenshot({ path: path.join(ARTIFACTS, 'satisfaction-widget-links.png') });

	// Resolved by the agent: the widget asks for a rating.
	await agent.click('#a-resolve');
	await agent.waitForSelector('#toast >> text=asked to rate', { timeout: 15000 });
	await shop.waitForSelector('.fd-rate:not([hidden])', { timeout: 15000 });
	await shop.waitForSelector('.fd-msg.fd-bot >> text=rate this conversation');
	assert.equal(await shop.isDisabled('.fd-rate button[type=submit]'), true);
	await shop.click('.fd-star[data-score="4"]');
	assert.equal(await shop.locator('.fd-star.fd-on').count(), 4);
	await shop.fill('.fd-rate textarea', `Kind and quick ${XSS}`);
	await shop.screenshot({ path: path.join(ARTIFACTS, 'satisfaction-widget-rate.png') });
	await shop.click('.fd-rate button[type=submit]');
	await shop.waitForSelector('.fd-rate', { state: 'hidden' });
	assert.equal(await shop.textContent('.fd-status'), 'Thanks for rating us!');

	// The ticket shows it.
	await waitUntil(async () => (await api(agent, 'GET', `/api/tickets/${id}`)).json.rating !== null, 10000, 'rating stored');
	const t = (await api(agent, 'GET', `/api/tickets/${id}`)).json;
	assert.deepEqual(t.rating, { score: 4, comment: `Kind and quick ${XSS}` });
	assert.ok(t.events.some((e) => e.kind === 'rating_asked'));
	assert.ok(t.events.some((e) => e.kind === 'rated' && e.detail === '4'));
	await agent.goto(d.url('/', 'dashboard') + '#/');
	await agent.goto(d.url('/', 'dashboard') + `#/ticket/${id}`);
	await agent.waitForSelector('#t-meta .chip-rating');
	assert.match(await agent.textContent('#t-meta .chip-rating'), /4\/5/);
	assert.ok((await agent.textContent('#t-meta .rating-comment')).includes(XSS));
	await agent.screenshot({ path: path.join(ARTIFACTS, 'satisfaction-ticket-desktop.png') });

	// Counted on /metrics.
	const m = await httpGet(d.url('/metrics', 'dashboard'));
	assert.match(m.body, /frontdesk_satisfaction_ratings_total\{channel="webchat",score="4"\} 1/);

	// Gone after a reload; a second answer is refused.
	await shop.reload();
	await shop.click('.fd-launch');
	await shop.waitForSelector('.fd-msg.fd-agent');
	await sleep(500);
	assert.equal(await shop.isHidden('.fd-rate'), true);
	const again = await shop.evaluate(() => new Promise((resolve) => {
		const host = location.host;
		const token = JSON.parse(localStorage.getItem(`frontdesk:${host}:visitor`));
		const ws = new WebSocket(`ws://${host}/chat?visitor=${encodeURIComponent(token)}`);
		ws.onmessage = (ev) => {
			const f = JSON.parse(ev.data);
			if (f.type === 'welcome') ws.send(JSON.stringify({ type: 'rating', score: 5 }));
			else if (f.type === 'error' || f.type === 'rating') { ws.close(); resolve(f); }
		};
	}));
	assert.equal(again.type, 'error');
	assert.match(again.error, /no rating to give/);

	assert.equal(await shop.evaluate(() => window.__xss), undefined);
	assert.equal(await agent.evaluate(() => window.__xss), undefined);
	assert.deepEqual(shop.errors, []);
	assert.deepEqual(agent.errors, []);
	await shop.context().close();
	await agent.context().close();
});

test('a text answer to the question is the rating, thanked, never a new question', { skip, timeout: 120000 }, async () => {
	const c = await wsClient(d.wsUrl('/chat'));
	await c.next((f) => f.type === 'welcome');
	c.send({ type: 'message', text: 'The candles I bought are the wrong colour', client_id: 'q1' });
	await c.next((f) => f.type === 'message' && f.client_id === 'q1', 10000);
	const tick = await c.next((f) => f.type === 'ticket', 10000);
	assert.equal(tick.open, true);
	const q = (args) => execFileSync(BIN, ['queue', ...args, '-c', d.config]).toString();
	const id = JSON.parse(q(['list', '--json'])).find((t) => /candles/.test(t.last_message)).id;
	q(['reply', String(id), '--agent', 'sam', 'Sorry! New ones are on their way.']);
	await c.next((f) => f.type === 'message' && f.from === 'agent', 10000);
	// Resolved from the command line: the running daemon sends the question.
	assert.match(q(['resolve', String(id), '--agent', 'sam']), /asked to rate/);
	const ask = await c.next((f) => f.type === 'message' && f.from === 'bot' && /rate/.test(f.text), 10000);
	const rate = await c.next((f) => f.type === 'rate', 10000);
	assert.equal(rate.rate.ticket, String(id));
	assert.ok(ask.id);

	const at = c.frames.length;
	c.send({ type: 'message', text: '5 - thanks!', client_id: 'r1' });
	await c.next((f) => f.type === 'message' && f.client_id === 'r1', 10000, at);
	const thanks = await c.next((f) => f.type === 'message' && f.from === 'bot', 10000, at);
	assert.match(thanks.text, /Thank you for your feedback/);
	await sleep(500);
	assert.ok(!c.frames.slice(at).some((f) => f.type === 'ticket'), 'no new ticket for the rating');
	const shown = JSON.parse(q(['show', String(id), '--json']));
	assert.equal(shown.status, 'resolved');
	assert.deepEqual(JSON.parse(q(['list', '--json'])).filter((t) => /candles|thanks/.test(t.last_message)), []);
	// The report counts it; the "5" is no question.
	const rep = JSON.parse(execFileSync(BIN, ['report', '--json', '-c', d.config]).toString());
	assert.ok(rep.total.csat.ratings >= 1, JSON.stringify(rep.total));
	const m = await httpGet(d.url('/metrics', 'dashboard'));
	assert.match(m.body, /frontdesk_satisfaction_ratings_total\{channel="webchat",score="5"\} 1/);
	await c.close();
});

test('insights: the figures of a chosen period, the same as frontdesk report', { skip, timeout: 120000 }, async () => {
	const agent = await agentPage();
	await agent.goto(d.url('/', 'dashboard') + '#/insights');
	await agent.waitForSelector('#figures .tiles');
	// The API and the command line compute the same figures.
	const api7 = (await api(agent, 'GET', '/api/report?days=7')).json;
	const cli = JSON.parse(execFileSync(BIN, ['report', '--json', '--since', '7d', '-c', d.config]).toString());
	assert.deepEqual(api7.total, cli.total);
	assert.ok(api7.total.posts >= 2, JSON.stringify(api7.total));
	assert.equal(api7.total.csat.ratings, 2);
	assert.equal(api7.total.csat.satisfied_share, 1);
	assert.equal(api7.total.csat.average, 4.5);
	assert.ok(api7.busiest.peak.posts >= 1);
	assert.equal(api7.busiest.posts.length, 7);
	assert.equal(api7.busiest.posts.flat().reduce((a, b) => a + b, 0), api7.total.posts);
	// /metrics carries the same figures, at most 10 seconds old.
	let m = '';
	await waitUntil(async () => {
		m = (await httpGet(d.url('/metrics', 'dashboard'))).body;
		return m.includes(`frontdesk_insights_posts{window="7d"} ${api7.total.posts}\n`);
	}, 30000, 'the insights figures on /metrics', 1000);
	assert.match(m, new RegExp(`frontdesk_insights_posts\\{window="7d"\\} ${api7.total.posts}\\b`));
	assert.match(m, /frontdesk_insights_ratings\{window="7d"\} 2\b/);
	assert.match(m, /frontdesk_insights_satisfied_ratio\{window="7d"\} 1\b/);
	assert.match(m, new RegExp(`frontdesk_insights_tickets\\{window="7d"\\} ${api7.total.tickets}\\b`));
	// The page shows them.
	assert.equal(await agent.textContent('#figures .t-posts .tile-value'), String(api7.total.posts));
	assert.equal(await agent.textContent('#figures .t-csat .tile-value'), '100%');
	assert.match(await agent.textContent('#figures .t-csat .tile-sub'), /2 ratings, average 4\.5/);
	assert.match(await agent.textContent('#figures .t-people .tile-sub'), /no answer known|unhappy|escalation rule/);
	assert.ok(await agent.locator('#figures-table tr.fig-period').count() >= 1);
	assert.ok(await agent.locator('#busiest td[data-n]').count() >= 1);
	await agent.screenshot({ path: path.join(ARTIFACTS, 'insights-figures-desktop.png'), fullPage: true });
	// By week; a chosen range with nothing in it.
	await agent.selectOption('#insights-by', 'week');
	await agent.waitForFunction(() => /Week of/.test(document.querySelector('#figures-table tr').textContent));
	await agent.fill('#insights-from', '2020-01-01');
	await agent.fill('#insights-to', '2020-01-31');
	await agent.click('.insights-range button');
	await agent.waitForSelector('#figures .empty');
	assert.equal(await agent.textContent('#figures .t-posts .tile-value'), '0');
	// Bad ranges are refused by the server.
	assert.equal((await api(agent, 'GET', '/api/report?since=2026-02-01&until=2026-01-01')).status, 400);
	assert.equal((await api(agent, 'GET', '/api/report?days=0')).status, 400);
	assert.equal((await api(agent, 'GET', '/api/report?by=month')).status, 400);
	assert.deepEqual(agent.errors, []);
	await agent.context().close();

	const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
	const p = await phone.newPage();
	await dashboardLogin(p, d.url('/', 'dashboard'));
	await p.goto(d.url('/', 'dashboard') + '#/insights');
	await p.waitForSelector('#figures .tiles');
	await p.screenshot({ path: path.join(ARTIFACTS, 'insights-figures-phone.png'), fullPage: true });
	await phone.close();
});
