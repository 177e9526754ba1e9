// End-to-end tests of the Mastodon connector: the real daemon against the
// emulator in mastodon-emulator.mjs (PLATFORMS.md, "Mastodon").
//
//   - 1,000 mentions while the emulator drops the stream at random and the
//     daemon is SIGKILLed and restarted twice: every customer mention is
//     answered exactly once, in its thread, with the right visibility;
//     bots and the bot's own posts are never answered; pings are answered;
//   - a negative public post is taken offline: a short public pointer,
//     then the reply and the rest of the conversation go direct (agent
//     reply from the queue CLI, the next notice), while the team answers
//     an unmatched question in public;
//     direct messages from strangers arrive (notification policy);
//     customer text cannot mention anyone; HTML becomes plain text;
//   - a 429 storm without Retry-After and a small status budget: nothing is
//     sent before the reset, nothing is lost;
//   - a bad token: 401 reported in the log and /healthz, retried slowly;
//     the same for a 401 on the streaming upgrade;
//   - mentions that arrived while the bot was stopped are fetched page by
//     page (min_id, following the Link header), each answered once;
//   - a reply whose POST was in flight when the daemon died is not posted
//     twice (the same Idempotency-Key after the restart);
//   - a long reply becomes a thread within a 120-character instance limit
//     (an older server: /api/v1/instance, no notification policy).
//
//   BUILD=build node --test tests/e2e/mastodon.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startDaemon, daemonMissing, sleep, BIN, BUILD, AGENT_HASH } from './lib/daemon.mjs';
import { startMastodonEmulator, statusLength, mentionsIn } from './mastodon-emulator.mjs';

const SLOW = BUILD.includes('san') ? 3 : 1; // sanitizer builds are slower
const TOKEN = 'good-token-0123456789';
const MAX_INFLIGHT = 4; // MASTODON_MAX_INFLIGHT
const skip = daemonMissing();

const RULES = `- id: opening-hours
  match: { any: ["opening hours", "when are you open"] }
  reply: faq.opening_hours
- id: menu
  match: { any: ["full menu"] }
  reply: faq.menu
`;
const REPLIES = `faq.opening_hours: "Hi{{#author}} {{author}}{{/author}}! We bake from 7:00 every day."
faq.menu: >-
  Our menu today: sourdough loaves, seeded rye, cinnamon buns, almond croissants, lemon
  tarts, carrot cake by the slice, and celebration cakes to order with three days notice.
  Everything is baked on site each morning. The full list with prices and allergens is at
  https://bakery.example/menu/today-with-prices-and-allergen-information and we post
  changes there first.
escalated: "Thanks! A person will reply by {{due}}."
negative: "Sorry to hear that. Please send us the details by direct message; a person will reply by {{due}}."
abusive: "We've received your message."
human: "A person will reply by {{due}}."
waiting: "We have your message; {{#agent}}{{agent}}{{/agent}}{{^agent}}a person{{/agent}} will reply soon."
`;
const LEXICON = `threshold: -0.3
words: { terrible: -3, awful: -3, great: 2 }
`;

// The short public reply of a conversation taken offline (the `offline` key).
const OFFLINE = 'offline: "{{#author}}{{author}}, {{/author}}I\'ve sent you a direct message so we can sort this out."\n';

// A daemon with a web chat (for /healthz) and the Mastodon connector
// pointing at the emulator.  `restart` keeps the directory, the ports and
// the store.  d.logs collects the log of every run.
async function daemon(emu, { token = TOKEN, restart = null } = {}) {
	const opts = {
		files: { 'rules.yaml': RULES, 'replies.yaml': REPLIES + OFFLINE, 'lexicon.yaml': LEXICON },
		env: { FD_TEST_MASTODON_TOKEN: token },
		timeoutMs: 15000 * SLOW,
		config: ({ ports }) => `business:
  name: Test Bakery
  timezone: UTC
  hours: { mon-sun: "00:00-24:00" }
rules: [rules.yaml]
replies: [replies.yaml]
sentiment: { lexicon: [lexicon.yaml] }
store: { path: frontdesk.db, synchronous: normal }
connectors:
  - { type: webchat, listen: "127.0.0.1:${ports.webchat}" }
  - type: mastodon
    instance: "${emu.url}"
    token_env: FD_TEST_MASTODON_TOKEN
dashboard:
  listen: "127.0.0.1:${ports.dashboard}"
  agents: [ { login: sam, name: Sam, password_hash: "${AGENT_HASH}" } ]
`,
	};
	if (restart) Object.assign(opts, { dir: restart.dir, ports: restart.ports });
	const d = await startDaemon(opts);
	d.logs = () => (restart ? restart.logs() : '') + d.log();
	return d;
}

async function stopClean(d) {
	const ex = await d.stop();
	assert.deepEqual(ex, { code: 0, signal: null }, d.logs().slice(-4000));
}

async function finish(d, emu) {
	if (d) {
		await d.kill();
		d.cleanup();
	}
	await emu.close();
}

const sql = (d, q) => execFileSync('sqlite3', [d.db, q]).toString().trim();

async function mastodonHealth(d) {
	const r = await fetch(d.url('/healthz'));
	const body = await r.json();
	return { status: r.status, conn: body.connectors.find((c) => c.type === 'mastodon') };
}

test('1,000 mentions with random stream drops and two SIGKILLs: each answered exactly once, in thread and visibility', { skip, timeout: 150000 * SLOW }, async () => {
	const emu = await startMastodonEmulator({
		token: TOKEN,
		pingMs: 1000 * SLOW,
		drop: [400, 1600],
		rateLimit: { limit: 1000000, windowMs: 300000 },
		statusLimit: { limit: 1000000, windowMs: 3 * 3600 * 1000 },
	});
	let d = null;
	try {
		d = await daemon(emu);
		await d.waitLog('first start', 10000 * SLOW);
		const customers = [];
		for (let i = 0; i < 40; i++) customers.push(emu.account({ username: `cust${i}`, display_name: `Customer ${i}` }));
		for (let i = 0; i < 20; i++) customers.push(emu.account({ username: `far${i}`, domain: 'remote.example', display_name: `Far ${i}` }));
		const bots = [0, 1, 2].map((i) => emu.account({ username: `robot${i}`, bot: true }));

		const expected = new Map(); // mention id -> { acct, visibility, root }
		const ignored = []; // mention ids that must get no reply (bots, the bot itself)
		const answered = []; // conversations with a bot reply: { root, acct, from }
		let kills = 0;
		let restarting = Promise.resolve(d);
		const TOTAL = 1000;
		const t0 = Date.now();
		for (let i = 0; i < TOTAL; i++) {
			if (i === 330 || i === 660) {
				// The daemon dies mid-stream; mentions keep coming meanwhile.
				const old = await restarting;
				const ex = await old.kill();
				assert.equal(ex.signal, 'SIGKILL');
				kills++;
				restarting = daemon(emu, { restart: old }).then((n) => (d = n));
			}
			if (Math.random() < 0.05) {
				// Noise the connector must skip: other notification types, deletes.
				emu.favourite(customers[i % customers.length], [...emu.statuses.values()][0]);
				emu.deleteEvent('1');
			}
			const r = Math.random();
			if (i % 29 === 5) {
				const { status } = emu.mention({ from: bots[i % 3], text: 'what are your opening hours?' });
				ignored.push(status.id);
			} else if (i % 97 === 11) {
				const { status } = emu.mention({ from: emu.me, text: 'reminder: our opening hours changed' });
				ignored.push(status.id);
			} else if (r < 0.15 && answered.length) {
				// A customer answers the bot's reply: same thread, same visibility.
				const c = answered[Math.floor(Math.random() * answered.length)];
				const reply = emu.repliesTo(c.last)[0];
				const { status } = emu.mention({ from: c.from, text: 'and what are your opening hours on Sunday?',
					visibility: reply.visibility, inReplyTo: reply.id });
				expected.set(status.id, { acct: c.from.acct, visibility: reply.visibility, root: c.root, conv: c });
			} else {
				const from = customers[i % customers.length];
				const visibility = r < 0.4 ? 'direct' : r < 0.5 ? 'unlisted' : 'public';
				const { status } = emu.mention({ from, text: `when are you open? (${i})`, visibility });
				expected.set(status.id, { acct: from.acct, visibility, root: status.id, from });
			}
			// Remember conversations the bot already answered, for follow-ups.
			if (i % 10 === 0) {
				for (const [id, e] of expected) {
					if (e.tracked || !emu.repliesTo(id).length) continue;
					e.tracked = true;
					if (e.conv) e.conv.last = id;
					else answered.push({ root: e.root, from: e.from, last: id });
				}
			}
			await sleep(9);
		}
		await restarting;
		const pushed = Date.now() - t0;
		assert.equal(emu.filtered.length, 0, 'direct messages from strangers are let through');
		await emu.waitFor(() => [...expected.keys()].every((id) => emu.repliesTo(id).length > 0), 60000 * SLOW,
			'a reply to every mention').catch((e) => {
			const missing = [...expected.keys()].filter((id) => !emu.repliesTo(id).length);
			throw new Error(`${e.message}: ${missing.length} unanswered, e.g. ${missing.slice(0, 5)}\n${d.logs().slice(-3000)}`);
		});
		const allAnswered = Date.now() - t0;
		await sleep(1500); // late duplicates would show up now

		for (const [id, e] of expected) {
			const replies = emu.repliesTo(id);
			assert.equal(replies.length, 1, `mention ${id} answered ${replies.length} times`);
			const rep = replies[0];
			assert.equal(rep.visibility, e.visibility, `mention ${id}: reply visibility`);
			assert.ok(rep.text.startsWith(`@${e.acct} `), `reply ${rep.id} starts with @${e.acct}: ${rep.text}`);
			assert.deepEqual(mentionsIn(rep.text), [e.acct], `reply ${rep.id} mentions only the customer`);
			assert.ok(statusLength(rep.text) <= emu.options.maxChars);
		}
		for (const id of ignored) assert.equal(emu.repliesTo(id).length, 0, `bot or own mention ${id} answered`);
		assert.equal(emu.posted.length, expected.size, 'one status per customer mention, nothing else');

		// Threads: the root of the reply chain.
		const threads = new Map(sql(d, 'SELECT p.post_id, t.thread_key FROM posts p JOIN threads t ON t.id = p.thread_id')
			.split('\n').map((l) => l.split('|')));
		for (const [id, e] of expected) assert.equal(threads.get(id), e.root, `thread of mention ${id}`);
		const botMentions = ignored.filter((id) => emu.statuses.get(id).account.bot && emu.statuses.get(id).account.id !== emu.me.id);
		assert.equal(Number(sql(d, 'SELECT count(*) FROM posts')), expected.size + botMentions.length);
		assert.equal(sql(d, "SELECT count(*) FROM outbox WHERE state <> 'sent'"), '0');

		assert.equal(emu.stats.pongDrops, 0, 'the connector answers every ping');
		assert.ok(emu.stats.drops >= 3, `the emulator dropped the stream (${emu.stats.drops})`);
		assert.equal(kills, 2);
		const metrics = await (await fetch(d.url('/metrics', 'dashboard'))).text();
		const dups = /^frontdesk_posts_duplicate_total (\d+)/m.exec(metrics);
		await stopClean(d);
		const followUps = [...expected.values()].filter((e) => e.conv).length;
		console.log(`# ${TOTAL} mentions (${expected.size} from customers, ${followUps} in existing threads, ` +
			`${ignored.length} from bots or the bot) pushed in ${pushed} ms; all answered after ${allAnswered} ms; ` +
			`${emu.stats.connections} stream connections, ${emu.stats.drops} drops, ${kills} SIGKILLs, ` +
			`${emu.stats.idemRepeats} idempotent repeats, ${dups ? dups[1] : '?'} posts seen twice since the last start`);
	} finally {
		await finish(d, emu);
	}
});

test('a negative public post: one short public reply, then direct; other questions stay public; strangers can DM; text is safe and plain', { skip, timeout: 60000 * SLOW }, async () => {
	const emu = await startMastodonEmulator({ token: TOKEN });
	let d = null;
	try {
		d = await daemon(emu);
		await d.waitLog('first start', 10000 * SLOW);
		assert.match(d.logs(), /direct messages from accounts the bot does not follow are accepted/);
		assert.equal(emu.policy, 'accept');

		const zoe = emu.account({ username: 'zoe', domain: 'remote.example', display_name: 'Zoe' });
		const { status: angry } = emu.mention({ from: zoe, text: 'my cake was terrible and awful', visibility: 'public' });
		// Taken offline by the pipeline: one short public pointer where Zoe
		// posted, then the reply itself direct.
		await emu.waitFor(() => emu.repliesTo(angry.id).length === 2, 10000 * SLOW, 'the pointer and the reply');
		const [first, direct] = emu.repliesTo(angry.id);
		assert.equal(first.visibility, 'public');
		assert.ok(first.text.startsWith("@zoe@remote.example Zoe, I've sent you a direct message"), first.text);
		assert.equal(direct.visibility, 'direct');
		assert.ok(direct.text.startsWith('@zoe@remote.example Sorry to hear that.'), direct.text);
		assert.deepEqual(mentionsIn(direct.text), ['zoe@remote.example'], 'the direct reply reaches Zoe only');

		// Zoe answers the public reply in public while the ticket waits: the
		// "we have your message" notice goes direct.
		const { status: again } = emu.mention({ from: zoe, text: 'any news?', visibility: 'public', inReplyTo: first.id });
		await emu.waitFor(() => emu.repliesTo(again.id).length === 1, 10000 * SLOW, 'the notice');
		assert.equal(emu.repliesTo(again.id)[0].visibility, 'direct');
		assert.equal(sql(d, `SELECT t.thread_key FROM posts p JOIN threads t ON t.id = p.thread_id WHERE p.post_id = '${again.id}'`), angry.id);

		// An agent answers from the queue CLI (to the latest post): direct.
		const tickets = JSON.parse(execFileSync(BIN, ['queue', 'list', '--json', '-c', d.config]).toString());
		assert.equal(tickets.length, 1);
		execFileSync(BIN, ['queue', 'reply', String(tickets[0].id), '--agent', 'sam', 'So sorry Zoe, we will refund you today.', '-c', d.config]);
		await emu.waitFor(() => emu.repliesTo(again.id).length === 2, 10000 * SLOW, 'the agent reply');
		const agent = emu.repliesTo(again.id)[1];
		assert.equal(agent.visibility, 'direct');
		assert.ok(agent.text.startsWith('@zoe@remote.example So sorry Zoe'), agent.text);
		// Mastodon cannot show which person wrote it: the reply is signed.
		assert.ok(agent.text.endsWith('refund you today.\n\u2014 Sam'), agent.text);
		assert.equal(emu.repliesTo(angry.id).filter((r) => r.visibility !== 'direct').length, 1,
			'the public post got its one public reply only');

		// An unmatched question is not a private matter: the team answers in public.
		const ben = emu.account({ username: 'ben' });
		const { status: q } = emu.mention({ from: ben, text: 'do you sell gift vouchers?', visibility: 'public' });
		await emu.waitFor(() => emu.repliesTo(q.id).length === 1, 10000 * SLOW, 'the acknowledgement');
		assert.equal(emu.repliesTo(q.id)[0].visibility, 'public');
		const open = JSON.parse(execFileSync(BIN, ['queue', 'list', '--json', '-c', d.config]).toString());
		const t = open.find((x) => x.last_message.includes('gift vouchers'));
		assert.equal(t.reason, 'unmatched');
		execFileSync(BIN, ['queue', 'reply', String(t.id), '--agent', 'sam', 'Yes, from 10 pounds, at the counter.', '-c', d.config]);
		await emu.waitFor(() => emu.repliesTo(q.id).length === 2, 10000 * SLOW, 'the public agent reply');
		assert.equal(emu.repliesTo(q.id)[1].visibility, 'public');
		assert.ok(emu.repliesTo(q.id)[1].text.startsWith('@ben Yes, from 10 pounds'));

		// A direct message from an account the bot does not follow arrives.
		const stranger = emu.account({ username: 'stranger' });
		const { status: dm } = emu.mention({ from: stranger, text: 'when are you open?', visibility: 'direct' });
		assert.equal(emu.filtered.length, 0);
		await emu.waitFor(() => emu.repliesTo(dm.id).length === 1, 10000 * SLOW, 'the DM reply');
		assert.equal(emu.repliesTo(dm.id)[0].visibility, 'direct');

		// A display name cannot make the bot mention anyone; HTML is read as text.
		const mallory = emu.account({ username: 'mallory', display_name: 'Mallory @admin@evil.example @everyone' });
		emu.account({ username: 'admin', domain: 'evil.example' });
		const { status: sneaky } = emu.mention({ from: mallory,
			text: 'when are you open? & see https://example.com/a/rather/long/path/to/a/page?x=1&y=2 <b>\nthanks',
			visibility: 'unlisted' });
		await emu.waitFor(() => emu.repliesTo(sneaky.id).length === 1, 10000 * SLOW, 'the reply to mallory');
		const safe = emu.repliesTo(sneaky.id)[0];
		assert.deepEqual(safe.mentions.map((m) => m.acct), ['mallory'], safe.text);
		assert.equal(safe.visibility, 'unlisted');
		assert.equal(sql(d, `SELECT text FROM posts WHERE post_id = '${sneaky.id}'`),
			'@frontdesk when are you open? & see https://example.com/a/rather/long/path/to/a/page?x=1&y=2 <b>\nthanks');
		await stopClean(d);
	} finally {
		await finish(d, emu);
	}
});

test('a 429 storm and a small status budget: nothing is sent before the reset, nothing is lost', { skip, timeout: 90000 * SLOW }, async () => {
	const emu = await startMastodonEmulator({ token: TOKEN, statusLimit: { limit: 20, windowMs: 2000 } });
	let d = null;
	try {
		d = await daemon(emu);
		await d.waitLog('first start', 10000 * SLOW);
		const stormEnd = emu.storm(2500);
		const ids = [];
		for (let i = 0; i < 60; i++) {
			const { status } = emu.mention({ from: `c${i % 7}`, text: `what are your opening hours? ${i}`, visibility: i % 3 ? 'public' : 'direct' });
			ids.push(status.id);
			await sleep(5);
		}
		await emu.waitFor(() => ids.every((id) => emu.repliesTo(id).length > 0), 60000 * SLOW, 'every reply');
		await sleep(500);
		for (const id of ids) assert.equal(emu.repliesTo(id).length, 1, `mention ${id}`);
		const stormPosts = emu.posts.filter((p) => p.storm).length;
		assert.ok(stormPosts >= 1, 'the storm was hit');
		assert.ok(stormPosts <= MAX_INFLIGHT, `${stormPosts} POSTs during the storm: only those already in flight may arrive`);
		assert.ok(emu.posted.every((p) => p.at >= stormEnd), 'no status created before the reset');
		// The budget: after Remaining reached 0 the connector waits for the
		// reset; only requests already in flight can meet a 429.
		const budget429 = emu.requests.filter((r) => r.path === '/api/v1/statuses' && r.status === 429).length - stormPosts;
		const windows = Math.ceil(60 / 20) + 1;
		assert.ok(budget429 <= MAX_INFLIGHT * windows, `${budget429} 429s from the status budget`);
		assert.match(d.logs(), /rate limited \(429\): replies wait for the reset/);
		assert.equal(sql(d, "SELECT count(*) FROM outbox WHERE state <> 'sent'"), '0');
		console.log(`# 60 replies through a 2.5 s storm and a 20/2 s budget: ${stormPosts} POSTs met the storm, ${budget429} the budget`);
		await stopClean(d);
	} finally {
		await finish(d, emu);
	}
});

test('a bad token: 401 in the log and /healthz, retried slowly; a 401 on the stream upgrade too', { skip, timeout: 60000 * SLOW }, async () => {
	const emu = await startMastodonEmulator({ token: TOKEN });
	let d = null;
	try {
		d = await daemon(emu, { token: 'wrong-token' });
		await d.waitLog('refused the access token (401)', 5000 * SLOW);
		await sleep(2000);
		const h = await mastodonHealth(d);
		assert.equal(h.status, 503);
		assert.deepEqual([h.conn.health, h.conn.detail], ['down', '401 from instance: check the token']);
		const calls = emu.requests.filter((r) => r.path.startsWith('/api/')).length;
		assert.ok(calls <= 2, `${calls} requests with a bad token in 2 s`);
		await stopClean(d);

		// The REST token works but the stream refuses it.
		emu.refuseStream(401);
		const first = d;
		d = await daemon(emu, { restart: first });
		await d.waitLog('where=streaming', 10000 * SLOW);
		const h2 = await mastodonHealth(d);
		assert.equal(h2.status, 503);
		assert.deepEqual([h2.conn.health, h2.conn.detail], ['down', '401 from instance: check the token']);
		const upgrades = emu.stats.upgradesRefused;
		await sleep(1500);
		assert.equal(emu.stats.upgradesRefused, upgrades, 'no retry within seconds of a 401');
		await stopClean(d);
	} finally {
		await finish(d, emu);
	}
});

test('mentions that arrived while the bot was stopped are fetched page by page (min_id, Link header)', { skip, timeout: 90000 * SLOW }, async () => {
	const emu = await startMastodonEmulator({ token: TOKEN });
	let d = null;
	try {
		d = await daemon(emu);
		await d.waitLog('first start', 10000 * SLOW);
		const { status: before } = emu.mention({ from: 'early', text: 'when are you open?' });
		await emu.waitFor(() => emu.repliesTo(before.id).length === 1, 10000 * SLOW, 'the first reply');
		await stopClean(d);
		const missed = [];
		for (let i = 0; i < 200; i++) {
			missed.push(emu.mention({ from: `late${i % 9}`, text: `what are your opening hours? ${i}`, visibility: i % 2 ? 'public' : 'direct' }).status.id);
			if (i % 50 === 0) emu.favourite(emu.account({ username: `fan${i}` }), before); // other types in between
		}
		const seen = emu.requests.length;
		d = await daemon(emu, { restart: d });
		await emu.waitFor(() => missed.every((id) => emu.repliesTo(id).length > 0), 30000 * SLOW, 'every missed mention');
		await sleep(300);
		for (const id of missed) assert.equal(emu.repliesTo(id).length, 1);
		const pages = emu.requests.slice(seen).filter((r) => r.path.startsWith('/api/v1/notifications'));
		assert.ok(pages.length >= 4, `${pages.length} pages for 200 mentions (80 a page)`);
		assert.ok(pages.every((r) => /[?&]min_id=\d+/.test(r.path) && !/since_id/.test(r.path)), pages.map((r) => r.path).join('\n'));
		const mins = pages.map((r) => /min_id=(\d+)/.exec(r.path)[1]);
		for (let i = 1; i < mins.length; i++) assert.ok(BigInt(mins[i]) >= BigInt(mins[i - 1]), 'pages move forward');
		await stopClean(d);
		console.log(`# 200 mentions missed while stopped: caught up in ${pages.length} pages`);
	} finally {
		await finish(d, emu);
	}
});

test('a reply in flight when the daemon dies is posted once (Idempotency-Key)', { skip, timeout: 60000 * SLOW }, async () => {
	const emu = await startMastodonEmulator({ token: TOKEN, postDelayMs: 3000 });
	let d = null;
	try {
		d = await daemon(emu);
		await d.waitLog('first start', 10000 * SLOW);
		const { status } = emu.mention({ from: 'kim', text: 'when are you open?' });
		await emu.waitFor(() => emu.posts.length === 1, 10000 * SLOW, 'the POST');
		// The server created the status; the daemon dies before the answer.
		await d.kill();
		emu.setPostDelay(0);
		d = await daemon(emu, { restart: d });
		await emu.waitFor(() => emu.stats.idemRepeats >= 1, 15000 * SLOW, 'the repeated POST');
		await sleep(500);
		assert.equal(emu.posts.length, 2);
		assert.equal(emu.posts[0].key, emu.posts[1].key);
		assert.equal(emu.repliesTo(status.id).length, 1);
		assert.equal(sql(d, "SELECT count(*) FROM outbox WHERE state <> 'sent'"), '0');
		await stopClean(d);
	} finally {
		await finish(d, emu);
	}
});

test('a long reply becomes a thread within the instance limit (older server: v1 instance, no policy)', { skip, timeout: 60000 * SLOW }, async () => {
	const emu = await startMastodonEmulator({ token: TOKEN, maxChars: 120, apiV2Instance: false, policyEndpoint: false });
	let d = null;
	try {
		d = await daemon(emu);
		await d.waitLog('first start', 10000 * SLOW);
		assert.match(d.logs(), /no notification policy/);
		assert.match(d.logs(), /max_characters=120/);
		const ann = emu.account({ username: 'ann', domain: 'far.example' });
		const { status } = emu.mention({ from: ann, text: 'can I see your full menu?' });
		// Follow the chain: each part answers the previous one.
		await emu.waitFor(() => {
			let id = status.id, n = 0;
			for (;;) {
				const next = emu.repliesTo(id);
				if (!next.length) break;
				id = next[0].id;
				n++;
			}
			return n >= 3 && emu.posted.length === n;
		}, 15000 * SLOW, 'the reply thread');
		await sleep(500);
		const chain = [];
		for (let id = status.id; emu.repliesTo(id).length; id = chain[chain.length - 1].id) {
			assert.equal(emu.repliesTo(id).length, 1);
			chain.push(emu.repliesTo(id)[0]);
		}
		assert.equal(chain.length, emu.posted.length);
		for (const s of chain) {
			assert.ok(statusLength(s.text) <= 120, `${statusLength(s.text)}: ${s.text}`);
			assert.ok(s.text.startsWith('@ann@far.example '), s.text);
			assert.equal(s.visibility, 'public');
		}
		const joined = chain.map((s) => s.text.slice('@ann@far.example '.length)).join(' ');
		assert.ok(joined.startsWith('Our menu today: sourdough loaves'), joined);
		assert.ok(joined.includes('https://bakery.example/menu/today-with-prices-and-allergen-information'), joined);
		assert.ok(joined.endsWith('we post changes there first.'), joined);
		console.log(`# a ${joined.length}-character reply became ${chain.length} statuses of at most 120`);
		await stopClean(d);
	} finally {
		await finish(d, emu);
	}
});
