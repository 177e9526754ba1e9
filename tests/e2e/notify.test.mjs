// End-to-end tests of the notifications against local receivers on
// loopback: a webhook receiver (Slack, Discord, Mattermost and JSON
// formats; the JSON one fails with 500 twice and then recovers) and an SMTP
// sink with AUTH (Debian's python3-aiosmtpd).  Customers write through the
// real web chat; the real daemon notifies.  Covered: every format's shape,
// retries without loss and with a stable Idempotency-Key, the urgent-only
// e-mail (well-formed RFC 5322, UTF-8 body, neutralised mentions, the
// password never logged), "customer wrote again" to the assignee, "due
// soon" and "missed" for a 1-minute target, one digest for a flood, and
// every notification row settled as sent.
//
//   BUILD=build node --test tests/e2e/notify.test.mjs      (about 75 s)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { startWebhookReceiver } from './lib/receivers-http.mjs';
import { freePort, track } from './lib/daemon.mjs';
import { startSmtpSink } from './lib/smtp.mjs';

const BUILD = process.env.BUILD || 'build';
const BIN = path.resolve(BUILD, 'frontdesk');
const HASH = '$y$j9T$F2nKyQ2TZT4UzMbTJN6Va.$RMyDCRGkYXqbKiyH48zJY4u7/N9qyIhcPr1u/3DfILD';
const SMTP_PASSWORD = 'pw-' + Math.random().toString(36).slice(2) + '-never-logged';
const ZWSP = '\u200b';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));


async function waitUntil(what, fn, ms) {
	const end = Date.now() + ms;
	for (;;) {
		const v = fn();
		if (v) return v;
		if (Date.now() > end) throw new Error('timeout waiting for ' + what);
		await sleep(25);
	}
}

let H, S, D; // webhook receiver, smtp sink, daemon

async function startDaemon() {
	const dir = mkdtempSync(path.join(tmpdir(), 'fd-notify-'));
	const port = await freePort();
	const dash = await freePort();
	writeFileSync(path.join(dir, 'rules.yaml'), `- id: fire
  match: { any: ["oven on fire"] }
  escalate: { priority: urgent }
`);
	writeFileSync(path.join(dir, 'replies.yaml'), `escalated: "Thanks! A person will reply by {{due}}."
escalated.after_hours: "Thanks! A person will reply by {{due}}."
negative: "Sorry to hear that. A person will reply by {{due}}."
abusive: "We've received your message."
human: "A person will reply by {{due}}."
waiting: "We have your message; a person will reply soon."
`);
	writeFileSync(path.join(dir, 'lexicon.yaml'), 'threshold: -0.3\nwords: { terrible: -3 }\n');
	writeFileSync(path.join(dir, 'config.yaml'), `business:
  name: Notify Bakery
  timezone: UTC
  hours: { mon-sun: "00:00-24:00" }
  response_targets: { urgent: 1m, high: 1h, normal: 4h, low: 1d }
rules: [rules.yaml]
replies: [replies.yaml]
sentiment: { lexicon: [lexicon.yaml] }
store: { path: fd.db }
connectors:
  - type: webchat
    listen: "127.0.0.1:${port}"
    limits: { connections_per_address: 100, messages_per_minute: 1000 }
dashboard:
  listen: "127.0.0.1:${dash}"
  agents: [ { login: sam, name: Sam, password_hash: "${HASH}" } ]
notify:
  - { type: webhook, url: "${H.url('/slack')}", format: slack }
  - { type: webhook, url: "${H.url('/discord')}", format: discord }
  - { type: webhook, url: "${H.url('/mattermost')}", format: mattermost }
  - { type: webhook, url: "${H.url('/flaky')}", format: json }
  - type: email
    smtp: "smtp://127.0.0.1:${S.port}"
    from: bot@notify.example
    to: [owner@notify.example, night@notify.example]
    username: bot
    password_env: FD_TEST_SMTP_PASSWORD
    min_priority: high
`);
	const d = { dir, port, config: path.join(dir, 'config.yaml'), db: path.join(dir, 'fd.db'), log: '' };
	d.proc = track(spawn(BIN, ['run', '-c', d.config], {
		cwd: dir,
		stdio: ['ignore', 'pipe', 'pipe'],
		env: { ...process.env, FD_TEST_SMTP_PASSWORD: SMTP_PASSWORD },
	}));
	d.proc.stdout.on('data', (b) => (d.log += b));
	d.exited = new Promise((resolve) => d.proc.on('exit', (code, signal) => resolve({ code, signal })));
	await new Promise((resolve, reject) => {
		const t = setTimeout(() => reject(new Error('daemon did not start:\n' + d.log)), 10000);
		d.proc.stderr.on('data', (b) => {
			d.log += b;
			if (d.log.includes('frontdesk running')) {
				clearTimeout(t);
				resolve();
			}
		});
		d.proc.on('exit', () => reject(new Error('daemon exited:\n' + d.log)));
	});
	return d;
}

// A customer in the web chat.
async function customer() {
	const ws = new WebSocket(`ws://127.0.0.1:${D.port}/chat`);
	const frames = [];
	ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
	await new Promise((resolve, reject) => {
		ws.on('open', resolve);
		ws.on('error', reject);
	});
	await waitUntil('welcome', () => frames.find((f) => f.type === 'welcome'), 5000);
	return {
		ws,
		// Resolves once the message is stored (echoed): its ticket and
		// notifications are committed with it.
		async say(text) {
			ws.send(JSON.stringify({ type: 'message', text }));
			await waitUntil('echo', () => frames.find((f) => f.from === 'customer' && f.text === text), 5000);
		},
	};
}

const queue = (...args) => execFileSync(BIN, ['queue', ...args, '-c', D.config]).toString();
const tickets = () => JSON.parse(queue('list', '--json', '--status', 'all'));
const sql = (q) => execFileSync('sqlite3', [D.db, q]).toString().trim();
const ok = (p) => (q) => q.path === p && q.status === 200;
const textOf = (q) => q.json.text ?? q.json.content;

const customers = [];
let normal = []; // the first three tickets, announced one by one
let urgent; // the 4th within the minute: e-mailed at once, held for the webhooks' digest
let late = []; // the 5th and 6th: held for the digest too
let floodStart;

before(async () => {
	H = await startWebhookReceiver();
	H.failFirst('/flaky', 2, 500);
	S = await startSmtpSink({ user: 'bot', password: SMTP_PASSWORD });
	D = await startDaemon();
	for (let i = 0; i < 6; i++) customers.push(await customer());
});

after(async () => {
	for (const c of customers) c.ws.close();
	if (D) {
		D.proc.kill('SIGTERM');
		const r = await D.exited;
		assert.deepEqual(r, { code: 0, signal: null }, D.log);
		// The SMTP password and the webhook paths never reach the log.
		assert.ok(!D.log.includes(SMTP_PASSWORD), 'the SMTP password was logged');
		assert.ok(!D.log.includes('/flaky'), 'a webhook URL was logged');
		rmSync(D.dir, { recursive: true, force: true });
	}
	if (S) S.proc.kill('SIGTERM');
	if (H) await H.close();
});

test('new tickets reach every webhook format; the failing target gets them after retries', async () => {
	floodStart = Date.now();
	await customers[0].say('Do you deliver to Leeds on Sundays? @everyone');
	await customers[1].say('Can I pay with <@123456> vouchers <!channel>');
	await customers[2].say('Is the rye bread vegan? Tom & Jerry want <b>to know</b>');
	normal = tickets().map((t) => t.id).sort((a, b) => a - b);
	assert.equal(normal.length, 3);

	// Slack: {"text"} with &, <, > as entities and no live mention, and
	// no previews of links customers wrote.
	const slack = await H.waitCount(ok('/slack'), 3, 5000);
	for (const q of slack) {
		assert.deepEqual(Object.keys(q.json), ['text', 'unfurl_links', 'unfurl_media']);
		assert.equal(q.json.unfurl_links, false);
		assert.equal(q.json.unfurl_media, false);
		assert.equal(q.headers['content-type'], 'application/json');
		assert.match(q.json.text, /^New ticket #\d+ \(normal, unanswered question\) from .+ on webchat, due /);
		assert.ok(!/@everyone|@here|<!channel>|<@\d/.test(q.json.text), q.json.text);
	}
	const byId = (qs, id) => qs.find((q) => textOf(q).includes(`#${id} `));
	assert.ok(byId(slack, normal[0]).json.text.includes(`@${ZWSP}everyone`));
	assert.ok(byId(slack, normal[1]).json.text.includes('&lt;'));
	assert.ok(byId(slack, normal[2]).json.text.includes('Tom &amp; Jerry want &lt;b&gt;to know&lt;/b&gt;'));

	// Discord: {"content", "allowed_mentions": {"parse": []}, "flags": 4}
	// (SUPPRESS_EMBEDS).
	const discord = await H.waitCount(ok('/discord'), 3, 5000);
	for (const q of discord) {
		assert.deepEqual(Object.keys(q.json).sort(), ['allowed_mentions', 'content', 'flags']);
		assert.deepEqual(q.json.allowed_mentions, { parse: [] });
		assert.equal(q.json.flags, 4);
		assert.ok(!/@everyone|<@\d|<!channel>/.test(q.json.content), q.json.content);
	}
	assert.ok(byId(discord, normal[2]).json.content.includes('Tom & Jerry want <b>to know</b>'));

	// Mattermost: {"text"}.
	const mm = await H.waitCount(ok('/mattermost'), 3, 5000);
	for (const q of mm) assert.deepEqual(Object.keys(q.json), ['text']);

	// JSON: two 500s first, then every ticket arrives; a retried row keeps
	// its Idempotency-Key, and nothing is delivered twice.
	const flaky = await H.waitCount(ok('/flaky'), 3, 10000);
	const failed = H.requests.filter((q) => q.path === '/flaky' && q.status === 500);
	assert.equal(failed.length, 2);
	const delivered = flaky.map((q) => q.json.ticket.id).sort((a, b) => a - b);
	assert.deepEqual(delivered, normal);
	for (const f of failed) {
		const later = flaky.find((q) => q.headers['idempotency-key'] === f.headers['idempotency-key']);
		assert.ok(later, 'a failed notification was not retried with the same key');
		assert.deepEqual(later.json.ticket, f.json.ticket);
	}
	for (const q of flaky) {
		assert.equal(q.json.event, 'new_ticket');
		const t = q.json.ticket;
		assert.deepEqual(Object.keys(t), ['id', 'status', 'priority', 'reason', 'platform', 'author', 'due', 'created',
			'assignee', 'last_message']);
		assert.equal(t.status, 'waiting');
		assert.equal(t.priority, 'normal');
		assert.equal(t.reason, 'unmatched');
		assert.equal(t.assignee, null);
		assert.match(t.due, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
	}
	// Normal tickets are below the e-mail's min_priority.
	assert.equal(S.mails.length, 0);
});

test('an urgent ticket is e-mailed at once: well-formed, UTF-8, mentions neutralised', async () => {
	await customers[3].say('Hilfe! Der Ofen brennt — oven on fire at the Grüße party @here');
	urgent = tickets().find((t) => t.priority === 'urgent').id;
	const mail = await waitUntil('the e-mail', () => S.mails[0], 10000);
	assert.equal(mail.mail_from, 'bot@notify.example');
	assert.deepEqual(mail.rcpt_tos, ['owner@notify.example', 'night@notify.example']);
	assert.equal(mail.authenticated, true);
	assert.equal(mail.from, 'bot@notify.example');
	assert.equal(mail.to, 'owner@notify.example, night@notify.example');
	assert.match(mail.subject, new RegExp(`^\\[frontdesk\\] New ticket #${urgent} \\(urgent\\) from `));
	assert.match(mail.date, /^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000$/);
	assert.ok(Math.abs(Date.parse(mail.date) - Date.now()) < 60000);
	assert.match(mail.message_id, /^<frontdesk\.fdn[0-9a-f]{16}@notify\.example>$/);
	for (const h of ['From', 'To', 'Subject', 'Date', 'Message-ID', 'MIME-Version', 'Content-Type'])
		assert.ok(mail.header_names.includes(h), `header ${h} missing`);
	assert.equal(mail.content_type, 'text/plain');
	assert.equal(mail.charset, 'utf-8');
	assert.deepEqual(mail.defects, []);
	assert.equal(mail.bare_lf, false);
	assert.ok(mail.body.includes('Hilfe! Der Ofen brennt — oven on fire at the Grüße party @' + ZWSP + 'here'), mail.body);
	assert.ok(mail.body.includes(`Ticket #${urgent}`));
	assert.ok(!mail.body.includes(SMTP_PASSWORD));

	// For the webhooks it is the 4th new ticket within a minute: held for the digest.
	await sleep(1500);
	assert.equal(H.requests.filter((q) => q.path === '/slack' && q.json.text.includes(`#${urgent} `)).length, 0);
	// Two more in the same minute join it.
	await customers[4].say('Do you sell gift cards?');
	await customers[5].say('What flour do you use for the sourdough?');
	late = tickets().map((t) => t.id).filter((id) => !normal.includes(id) && id !== urgent);
	assert.equal(late.length, 2);
});

test('the customer writing again in a claimed thread notifies, naming the assignee', async () => {
	assert.match(queue('claim', String(normal[0]), '--agent', 'sam'), /claimed by sam/);
	await customers[0].say('Hello? Still waiting for an answer about Leeds');
	const q = await H.waitFor((r) => ok('/slack')(r) && r.json.text.includes('wrote again'), 5000);
	assert.match(q.json.text, new RegExp(`wrote again in ticket #${normal[0]} \\(normal\\), claimed by sam: “Hello\\? Still waiting`));
	const j = await H.waitFor((r) => ok('/flaky')(r) && r.json.event === 'customer_wrote', 5000);
	assert.equal(j.json.ticket.assignee, 'sam');
	assert.equal(j.json.ticket.status, 'claimed');
});

test('a 1-minute target: "due soon" 12 s before, then "missed"', async () => {
	const created = Date.parse(tickets().find((t) => t.id === urgent).created);
	const soon = await waitUntil('due soon e-mail', () => S.mails.find((m) => /is due soon/.test(m.subject)), 70000);
	assert.match(soon.subject, new RegExp(`^\\[frontdesk\\] Ticket #${urgent} is due soon$`));
	const missed = await waitUntil('missed e-mail', () => S.mails.find((m) => /missed/.test(m.subject)), 30000);
	assert.match(missed.subject, new RegExp(`^\\[frontdesk\\] Ticket #${urgent} missed its response target$`));
	assert.match(missed.body, /missed its response target: it was due /);
	const slack = await H.waitFor((q) => ok('/slack')(q) && q.json.text.includes('missed its response target'), 5000);
	assert.ok(slack.at - created >= 59000, `missed after ${slack.at - created} ms`);
	const warn = H.requests.find((q) => ok('/slack')(q) && q.json.text.includes('has no reply yet'));
	assert.ok(warn, 'no "due soon" on Slack');
	assert.ok(warn.at - created >= 47000 && warn.at - created < 59000, `due soon after ${warn.at - created} ms`);
	// Marked once each on the ticket.
	assert.equal(sql(`SELECT group_concat(kind) FROM ticket_events WHERE ticket_id = ${urgent} AND kind IN ('due_soon', 'missed') ORDER BY id`), 'due_soon,missed');
});

test('a flood becomes one digest per webhook, a minute after it started', async () => {
	const held = [urgent, ...late].sort((a, b) => a - b);
	const digest = await H.waitFor((q) => ok('/slack')(q) && q.json.text.startsWith('3 new tickets'), 75000);
	assert.ok(digest.at - floodStart >= 55000, `digest after ${digest.at - floodStart} ms`);
	for (const id of held) assert.ok(digest.json.text.includes(`#${id} `), `#${id} not in the digest`);
	const j = await H.waitFor((q) => ok('/flaky')(q) && q.json.event === 'digest', 5000);
	assert.deepEqual(j.json.tickets.map((t) => t.id).sort((a, b) => a - b), held);
	const d = await H.waitFor((q) => ok('/discord')(q) && q.json.content.startsWith('3 new tickets'), 5000);
	assert.deepEqual(d.json.allowed_mentions, { parse: [] });
	await H.waitFor((q) => ok('/mattermost')(q) && q.json.text.startsWith('3 new tickets'), 5000);
	// One message each, not three.
	await sleep(500);
	for (const p of ['/slack', '/discord', '/mattermost', '/flaky'])
		for (const id of held)
			assert.equal(H.requests.filter((q) => ok(p)(q) && textOf(q).includes(`#${id} `) && textOf(q).startsWith('New ticket')).length, 0);
});

test('every notification row is settled as sent', async () => {
	await waitUntil('outbox settled', () => sql(`SELECT count(*) FROM outbox WHERE kind = 'notify' AND state = 'pending'`) === '0', 5000);
	assert.equal(sql(`SELECT count(*) FROM outbox WHERE kind = 'notify' AND state <> 'sent'`), '0');
	// 6 tickets x 4 webhooks + 1 urgent e-mail; 4 customer_wrote; due soon and missed x 5.
	assert.equal(sql(`SELECT count(*) FROM outbox WHERE kind = 'notify'`), String(6 * 4 + 1 + 4 + 2 * 5));
});
