// End-to-end tests of the Discord connector: the real daemon against the
// emulator in discord-emulator.mjs (PLATFORMS.md, "Discord").
//
//   BUILD=build node --test tests/e2e/discord.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startDaemon, daemonMissing, sleep, BIN, BUILD, AGENT_HASH } from './lib/daemon.mjs';
import { LEXICON } from './lib/contract.mjs';
import { startDiscordEmulator, chars } from './discord-emulator.mjs';

const SLOW = BUILD.includes('san') ? 3 : 1; // sanitizer builds are slower
const TOKEN = 'discord-good-token-0123456789';
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
  ${'Our menu today: sourdough loaves, seeded rye, cinnamon buns, almond croissants, lemon tarts [fresh] and more. '.repeat(24)}
escalated: "Thanks! A person will reply by {{due}}."
negative: "Sorry to hear that. A person will reply by {{due}}."
abusive: "We've received your message."
human: "A person will reply by {{due}}."
waiting: "We have your message; {{#agent}}{{agent}}{{/agent}}{{^agent}}a person{{/agent}} will reply soon."
`;
// The short public reply of a conversation taken offline (the `offline` key).
const OFFLINE = 'offline: "{{#author}}{{author}}, {{/author}}I\'ve sent you a direct message so we can sort this out."\n';

// A daemon with a web chat (for /healthz) and the Discord connector pointing
// at the emulator.  `restart` keeps the directory, the ports and the store.
export async function discordDaemon(emu, { token = TOKEN, restart = null, healthy = false } = {}) {
	const opts = {
		files: { 'rules.yaml': RULES, 'replies.yaml': REPLIES + OFFLINE, 'lexicon.yaml': LEXICON },
		env: { FD_TEST_DISCORD_TOKEN: token },
		timeoutMs: 15000 * SLOW,
		healthy,
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
  - type: discord
    instance: "${emu.url}"
    token_env: FD_TEST_DISCORD_TOKEN
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

// The emulator with the guild "Bakery" and its #support channel.
async function bakery(options = {}) {
	const emu = await startDiscordEmulator({ token: TOKEN, heartbeatMs: 1000, ...options });
	const g = emu.guild('Bakery');
	return { emu, g, support: emu.channel(g, 'support') };
}

// A daemon connected to emu, once signed in to the gateway.
async function signedIn(emu, opts) {
	const d = await discordDaemon(emu, opts);
	await d.waitLog('signed in', 10000 * SLOW);
	return d;
}

async function finish(d, emu) {
	if (d) {
		await d.kill();
		d.cleanup();
	}
	await emu.close();
}

const sql = (d, q) => execFileSync('sqlite3', [d.db, q]).toString().trim();

async function discordHealth(d) {
	const r = await fetch(d.url('/healthz'));
	const body = await r.json();
	return { status: r.status, conn: body.connectors.find((c) => c.type === 'discord') };
}

test('a guild message and a DM are answered once, in place, as replies, with nobody pinged', { skip, timeout: 60000 * SLOW }, async () => {
	const { emu, support } = await bakery();
	let d = null;
	try {
		d = await signedIn(emu);
		const amy = emu.user('amy');
		const m1 = emu.say(amy, support, 'when are you open? @everyone');
		await emu.waitFor(() => emu.repliesTo(m1.id).length === 1, 10000 * SLOW, 'the guild reply');
		const r1 = emu.repliesTo(m1.id)[0];
		assert.equal(r1.channel_id, support.id);
		assert.match(r1.content, /We bake from 7:00/);
		assert.deepEqual(r1.allowed_mentions, { parse: [] });
		const body = emu.posted.find((p) => p.message.id === r1.id).body;
		assert.equal(body.message_reference.fail_if_not_exists, false);
		assert.equal(body.enforce_nonce, true);
		assert.ok(body.nonce && body.nonce.length <= 25, body.nonce);

		const bob = emu.user('bob');
		const m2 = emu.dm(bob, 'what are your opening hours?');
		await emu.waitFor(() => emu.repliesTo(m2.id).length === 1, 10000 * SLOW, 'the DM reply');
		assert.equal(emu.repliesTo(m2.id)[0].channel_id, emu.dmChannel(bob).id);
		assert.equal(emu.stats.pings, 0);
		assert.equal(emu.stats.badUserAgent, 0);
		assert.equal(emu.stats.identifies, 1);
		const h = await discordHealth(d);
		assert.equal(h.conn.health, 'ok', JSON.stringify(h));
		assert.match(d.logs(), /msg=post connector=discord post=\d+ /);
		await sleep(500);
		assert.equal(emu.posted.length, 2, 'nothing else was posted');
	} finally {
		await finish(d, emu);
	}
});

test('1,000 messages in channels, threads and DMs through drops, op 7/9, zombies, 429s and two SIGKILLs: each answered exactly once, in place', { skip, timeout: 180000 * SLOW }, async () => {
	// Mostly what Discord lets a client resume from; a new session (op 9
	// false, 4009) is scheduled twice on its own, since each costs the
	// 5-second IDENTIFY spacing and a REST catch-up.
	const emu = await startDiscordEmulator({
		token: TOKEN,
		heartbeatMs: 700 * SLOW,
		identifySpacingMs: 5000,
		sessionTtlMs: 60000,
		routeLimit: { limit: 12, windowMs: 1000 },
		getLimit: { limit: 20, windowMs: 1000 },
		globalPerSec: 50,
		reconnectBeforeHello: 0.1,
		duplicates: 0.02,
		random429: 0.02,
		random429Global: 0.004,
		chaosKinds: ['terminate', 'terminate', 'close4000', 'close1001', 'op7', 'op7', 'op9true', 'zombie', 'beat', 'beat', 'dupe', 'dupe'],
	});
	let d = null;
	try {
		const g = emu.guild('Bakery');
		const channels = [emu.channel(g, 'support'), emu.channel(g, 'orders'), emu.channel(g, 'general')];
		channels.push(emu.thread(channels[0], 'cake order 1234'), emu.thread(channels[1], 'delivery question'));
		const customers = [];
		for (let i = 0; i < 40; i++) customers.push(emu.user(`cust${i}`, { global_name: `Customer ${i}` }));
		const dmers = customers.slice(0, 12);
		const bots = [0, 1, 2].map((i) => emu.user(`robot${i}`, { bot: true }));

		d = await discordDaemon(emu);
		await d.waitLog('signed in', 10000 * SLOW);
		const expected = new Map(); // message id -> { channel }
		const ignored = []; // message ids that must get no reply
		// Each DM customer has talked to the bot once before (a DM channel
		// the bot never saw cannot be caught up on: Discord lets no bot
		// list them).
		for (const u of dmers) {
			const m = emu.dm(u, 'hello, when are you open?');
			expected.set(m.id, { channel: m.channel_id });
		}
		await emu.waitFor(() => [...expected.keys()].every((id) => emu.repliesTo(id).length), 20000 * SLOW, 'the first DMs');

		emu.setChaos([400 * SLOW, 1600 * SLOW]);
		const TOTAL = 1000;
		let kills = 0;
		let restarting = Promise.resolve(d);
		const killedAt = [];
		const t0 = Date.now();
		for (let i = 0; i < TOTAL; i++) {
			if (i === 330 || i === 660) {
				const old = await restarting;
				const ex = await old.kill();
				assert.equal(ex.signal, 'SIGKILL');
				killedAt.push(Date.now());
				kills++;
				restarting = discordDaemon(emu, { restart: old }).then((n) => (d = n));
			}
			if (i === 200 || i === 800) emu.unpleasant(i === 200 ? 'op9false' : 'close4009');
			const r = Math.random();
			const who = customers[i % customers.length];
			if (i % 31 === 7) {
				ignored.push(emu.say(bots[i % 3], channels[i % 3], 'when are you open?').id);
			} else if (i % 47 === 9) {
				ignored.push(emu.say(who, channels[i % 3], 'when are you open?', { webhook: true }).id);
			} else if (i % 53 === 3) {
				ignored.push(emu.say(who, channels[i % 3], '', { type: 7 }).id); // "joined the server"
			} else if (r < 0.25) {
				const u = dmers[i % dmers.length];
				const m = emu.dm(u, `when are you open? (${i})`);
				expected.set(m.id, { channel: m.channel_id });
			} else {
				const ch = channels[i % channels.length];
				const m = emu.say(who, ch, `what are your opening hours? (${i}) <@${emu.me.id}> @here`, { mentions: [emu.me] });
				expected.set(m.id, { channel: ch.id });
			}
			await sleep(10);
		}
		await restarting;
		const pushed = Date.now() - t0;
		// The bot answers at Discord's pace (under 50 requests a second)
		// while the gateway keeps misbehaving.
		await emu.waitFor(() => [...expected.keys()].every((id) => emu.repliesTo(id).length > 0), 120000 * SLOW,
			'a reply to every message').catch((e) => {
			const missing = [...expected.keys()].filter((id) => !emu.repliesTo(id).length);
			throw new Error(`${e.message}: ${missing.length} unanswered, e.g. ${missing.slice(0, 5)}\n${d.logs().slice(-4000)}`);
		});
		const allAnswered = Date.now() - t0;
		emu.setChaos(null);
		await sleep(1500); // late duplicates would show up now

		for (const [id, e] of expected) {
			const replies = emu.repliesTo(id);
			assert.equal(replies.length, 1, `message ${id} answered ${replies.length} times`);
			assert.equal(replies[0].channel_id, e.channel, `message ${id} answered in the wrong place`);
		}
		for (const id of ignored) assert.equal(emu.repliesTo(id).length, 0, `bot, webhook or system message ${id} answered`);
		assert.equal(emu.posted.length, expected.size, 'one message per customer message, nothing else');
		for (const p of emu.posted) {
			assert.ok(chars(p.message.content) <= 2000);
			assert.deepEqual(p.body.allowed_mentions, { parse: [] });
		}
		assert.equal(emu.stats.over2000, 0);
		assert.equal(emu.stats.pings, 0, 'nobody was pinged');
		// Nothing sent before a reset the client had been told about.  A wait
		// learnt in the last moments before a SIGKILL cannot have been stored:
		// only such a request may go early after the restart.
		const early = emu.stats.earlyDetails.filter((e) => !killedAt.some((k) => e.at > k && e.until - 2000 < k));
		assert.deepEqual(early, [], 'requests sent before a rate-limit reset');
		assert.equal(emu.stats.identifyOverBudget, 0);
		assert.equal(emu.stats.resumesOnGatewayUrl, 0, 'RESUME goes to resume_gateway_url');
		assert.equal(emu.stats.beatRequestsUnanswered, 0, 'a beat the server asks for is sent at once');
		assert.equal(sql(d, "SELECT count(*) FROM outbox WHERE state <> 'sent'"), '0');
		assert.ok(emu.stats.resumes >= 3, `sessions were resumed (${emu.stats.resumes})`);
		assert.ok(emu.stats.replayed > 0, 'events were replayed');
		assert.ok(emu.stats.limited > 0, 'rate limits were met');
		assert.equal(kills, 2);
		await d.stop();
		console.log(`# ${TOTAL} messages (${expected.size} from customers, ${ignored.length} from bots, webhooks or the system) ` +
			`pushed in ${pushed} ms; all answered after ${allAnswered} ms; ${emu.stats.connections} connections, ` +
			`${emu.stats.identifies} identifies, ${emu.stats.resumes} resumes (${emu.stats.resumeFailed} refused), ` +
			`${emu.stats.replayed} events replayed, ${emu.stats.duplicatesSent} duplicates, ${emu.stats.zombies} zombies, ` +
			`${emu.stats.limited} 429s (${emu.stats.limitedGlobal} global, ${emu.stats.injected429} out of the blue), ` +
			`${emu.stats.nonceRepeats} nonce repeats, ${emu.stats.backfillGets} catch-up pages, chaos ${JSON.stringify(emu.stats.chaos)}`);
	} finally {
		await finish(d, emu);
	}
});

test('a public complaint: a short pointer in the channel, the rest in a DM; unmatched questions stay public; text is inert', { skip, timeout: 60000 * SLOW }, async () => {
	const { emu, support } = await bakery();
	let d = null;
	try {
		d = await signedIn(emu);

		const zoe = emu.user('zoe', { global_name: 'Zoe' });
		const angry = emu.say(zoe, support, 'my cake was terrible and awful');
		// Taken offline by the pipeline: one short pointer where Zoe wrote,
		// quoting her message, then the reply itself in a DM with her.
		const dmZoe = () => emu.postedIn(emu.dmChannel(zoe).id);
		await emu.waitFor(() => emu.repliesTo(angry.id).length === 1 && dmZoe().length === 1, 10000 * SLOW, 'the pointer and the DM');
		const pointer = emu.repliesTo(angry.id)[0];
		assert.equal(pointer.channel_id, support.id);
		assert.match(pointer.content, /^Zoe, I've sent you a direct message/);
		assert.match(dmZoe()[0].content, /^Sorry to hear that\./);
		assert.equal(emu.stats.dmOpens, 1);

		// Zoe answers there while the ticket waits: the notice goes to the DM.
		emu.say(zoe, support, 'any news?', { type: 19, replyTo: emu.messages.get(pointer.id) });
		await emu.waitFor(() => dmZoe().length === 2, 10000 * SLOW, 'the notice in the DM');
		assert.equal(emu.postedIn(support.id).length, 1, 'one public message only');

		// An agent answers from the queue CLI: in the DM too, signed.
		const tickets = JSON.parse(execFileSync(BIN, ['queue', 'list', '--json', '-c', d.config]).toString());
		assert.equal(tickets.length, 1);
		execFileSync(BIN, ['queue', 'reply', String(tickets[0].id), '--agent', 'sam', 'So sorry Zoe, we will refund you today.', '-c', d.config]);
		await emu.waitFor(() => dmZoe().length === 3, 10000 * SLOW, 'the agent reply');
		assert.match(dmZoe()[2].content, /^So sorry Zoe, we will refund you today\.\n\u2014 Sam$/);
		assert.equal(emu.stats.dmOpens, 1, 'the DM channel is remembered');

		// An unmatched question is not a private matter: answered in public.
		const ben = emu.user('ben');
		const q = emu.say(ben, support, 'do you sell gift vouchers?');
		await emu.waitFor(() => emu.repliesTo(q.id).length === 1, 10000 * SLOW, 'the acknowledgement');
		const open = JSON.parse(execFileSync(BIN, ['queue', 'list', '--json', '-c', d.config]).toString());
		const t = open.find((x) => x.last_message.includes('gift vouchers'));
		assert.equal(t.reason, 'unmatched');
		execFileSync(BIN, ['queue', 'reply', String(t.id), '--agent', 'sam', 'Yes, from 10 pounds, at the counter.', '-c', d.config]);
		await emu.waitFor(() => emu.repliesTo(q.id).length === 2, 10000 * SLOW, 'the public agent reply');
		assert.equal(emu.repliesTo(q.id)[1].channel_id, support.id);

		// A customer who takes no DMs: the pointer goes out, the private
		// reply is refused for good (403), not retried.
		const shy = emu.user('shy', { refusesDms: true });
		const shyMsg = emu.say(shy, support, 'this is terrible');
		await emu.waitFor(() => emu.repliesTo(shyMsg.id).length === 1 && emu.stats.forbidden === 1, 10000 * SLOW, 'the refused DM');
		await sleep(1500);
		assert.equal(emu.stats.forbidden, 1, 'a 403 is final');
		assert.equal(sql(d, "SELECT count(*) FROM outbox WHERE state = 'failed'"), '1');

		// Markup and mentions a customer typed (or put in their name) are
		// inert when the bot repeats them; mentions read as names.
		const mallory = emu.user('mallory', { global_name: 'Mal @everyone [prize](https://evil.example)' });
		const sneaky = emu.say(mallory, support, `<@${emu.me.id}> when are you open? <:cake:1234567890>`, { mentions: [emu.me] });
		await emu.waitFor(() => emu.repliesTo(sneaky.id).length === 1, 10000 * SLOW, 'the reply to mallory');
		const safe = emu.repliesTo(sneaky.id)[0].content;
		assert.ok(!/@everyone/.test(safe) && safe.includes('@\u200beveryone'), safe);
		assert.ok(safe.includes('\\[prize\\](https://evil.example)'), safe);
		assert.equal(sql(d, `SELECT text FROM posts WHERE post_id = '${sneaky.id}'`),
			'@Bakery Bot when are you open? :cake:');
		assert.equal(emu.stats.pings, 0);
	} finally {
		await finish(d, emu);
	}
});

test('after a stop the session expired: a new session, and what Discord cannot replay is fetched page by page', { skip, timeout: 90000 * SLOW }, async () => {
	const { emu, g, support } = await bakery({ sessionTtlMs: 500,
		routeLimit: { limit: 30, windowMs: 1000 }, getLimit: { limit: 3, windowMs: 1000 } });
	let d = null;
	try {
		const quiet = emu.channel(g, 'quiet');
		const secret = emu.channel(g, 'staff-only', { forbidden: true });
		d = await signedIn(emu);
		const amy = emu.user('amy');
		const m0 = emu.dm(amy, 'when are you open?');
		const q0 = emu.say(amy, quiet, 'when are you open?');
		await emu.waitFor(() => emu.repliesTo(m0.id).length && emu.repliesTo(q0.id).length, 10000 * SLOW, 'the first replies');
		const ex = await d.stop();
		assert.deepEqual(ex, { code: 0, signal: null });
		assert.ok(!emu.stats.clientCloses[1000] && !emu.stats.clientCloses[1001],
			`a stop keeps the session resumable (closed with ${JSON.stringify(emu.stats.clientCloses)})`);

		// While the bot is away (longer than Discord keeps the session):
		// 230 messages in #support (three pages), a new channel and a
		// thread made meanwhile, a DM from a known customer, one from a
		// stranger, and a channel the bot may not read.
		const expected = [];
		const people = [0, 1, 2, 3, 4].map((i) => emu.user(`late${i}`));
		for (let i = 0; i < 230; i++) expected.push(emu.say(people[i % 5], support, `when are you open? (${i})`));
		const fresh = emu.channel(g, 'new-channel');
		expected.push(emu.say(people[0], fresh, 'what are your opening hours?'));
		const th = emu.thread(support, 'birthday cake');
		expected.push(emu.say(people[1], th, 'what are your opening hours?'));
		expected.push(emu.dm(amy, 'and when are you open on Sunday?'));
		const stranger = emu.user('stranger');
		const lost = emu.dm(stranger, 'when are you open?');
		emu.say(people[2], secret, 'when are you open?');
		await sleep(800);

		d = await discordDaemon(emu, { restart: d });
		await emu.waitFor(() => expected.every((m) => emu.repliesTo(m.id).length === 1), 60000 * SLOW, 'every missed message answered')
			.catch((e) => {
				const missing = expected.filter((m) => !emu.repliesTo(m.id).length).map((m) => m.id);
				throw new Error(`${e.message}: ${missing.length} missing\n${d.logs().slice(-3000)}`);
			});
		await d.waitLog('catch-up done', 10000 * SLOW);
		assert.equal(emu.stats.resumeFailed, 1, 'the stored session was tried first');
		assert.equal(emu.stats.identifies, 2);
		assert.equal(emu.repliesTo(lost.id).length, 0, 'a DM channel the bot never saw cannot be listed');
		assert.match(d.logs(), /catch-up cannot see direct messages from people the bot never talked to/);
		assert.match(d.logs(), /cannot read this channel's history .* channel=\d+ status=403/);
		const pages = emu.requests.filter((r) => r.method === 'GET' && r.path.startsWith(`/api/v10/channels/${support.id}/messages?after=`));
		assert.ok(pages.length >= 3, `#support was read page by page (${pages.length})`);
		assert.equal(emu.requests.filter((r) => r.path.startsWith(`/api/v10/channels/${quiet.id}/messages?`)).length, 0,
			'a channel with nothing new is not read');
		await sleep(1000);
		for (const m of expected) assert.equal(emu.repliesTo(m.id).length, 1, `message ${m.id} answered once`);
		assert.deepEqual(emu.stats.earlyDetails, []);
	} finally {
		await finish(d, emu);
	}
});

test('a refused token (401 at /gateway/bot, 4004 at the gateway) and a missing Message Content intent (4014): said in the log and /healthz, no reconnect loop', { skip, timeout: 60000 * SLOW }, async () => {
	const emu = await startDiscordEmulator({ token: TOKEN, heartbeatMs: 1000 });
	let d = null;
	try {
		emu.guild('Bakery');
		d = await discordDaemon(emu, { token: 'wrong-token' });
		await d.waitLog('Discord refused the bot token', 10000 * SLOW);
		let h = await discordHealth(d);
		assert.equal(h.status, 503);
		assert.equal(h.conn.health, 'down');
		assert.match(h.conn.detail, /token/);
		await sleep(2500);
		assert.equal(emu.requests.filter((r) => r.path === '/api/v10/gateway/bot').length, 1, 'no retry loop after a refused token');
		assert.equal(emu.stats.connections, 0);
		await d.stop();
		d.cleanup();

		emu.set('gatewayRefusesToken', true);
		d = await discordDaemon(emu);
		await d.waitLog(/connector needs attention.*4004/, 10000 * SLOW);
		h = await discordHealth(d);
		assert.equal(h.conn.health, 'down');
		assert.match(h.conn.detail, /4004.*token/);
		const conns = emu.stats.connections;
		await sleep(2500);
		assert.equal(emu.stats.connections, conns, 'no reconnect loop after 4004');
		await d.stop();
		d.cleanup();

		emu.set('gatewayRefusesToken', false);
		emu.set('messageContent', false);
		d = await discordDaemon(emu);
		await d.waitLog(/Message Content intent is not enabled.*code=4014/, 10000 * SLOW);
		h = await discordHealth(d);
		assert.equal(h.conn.health, 'down');
		assert.match(h.conn.detail, /Message Content intent/);
		const c2 = emu.stats.connections;
		await sleep(2500);
		assert.equal(emu.stats.connections, c2, 'no reconnect loop after 4014');
	} finally {
		await finish(d, emu);
	}
});

test('a rate-limited reply waits in the outbox with its reset, also across a SIGKILL; nothing goes before it', { skip, timeout: 60000 * SLOW }, async () => {
	const { emu, support } = await bakery();
	let d = null;
	try {
		d = await signedIn(emu);
		emu.force429(support.id, 6000);
		const amy = emu.user('amy');
		const m = emu.say(amy, support, 'when are you open?');
		await emu.waitFor(() => emu.stats.injected429 === 1, 10000 * SLOW, 'the 429');
		const t429 = Date.now();
		// The wait is stored with the row.
		await sleep(500);
		const nb = Number(sql(d, "SELECT not_before FROM outbox WHERE state = 'pending'"));
		assert.ok(nb >= t429 + 4000, `not_before ${nb - t429} ms after the 429`);
		// A second customer in the same channel waits for the same reset.
		const bob = emu.user('bob');
		const m2 = emu.say(bob, support, 'what are your opening hours?');
		await sleep(300);
		const old = d;
		await old.kill();
		d = await discordDaemon(emu, { restart: old });
		await emu.waitFor(() => emu.repliesTo(m.id).length === 1 && emu.repliesTo(m2.id).length === 1, 20000 * SLOW, 'both replies');
		const first = Math.min(...emu.posted.map((p) => p.at));
		assert.ok(first >= t429 + 6000, `a reply went ${t429 + 6000 - first} ms before the reset`);
		assert.deepEqual(emu.stats.earlyDetails, [], 'nothing was sent before the reset');
	} finally {
		await finish(d, emu);
	}
});

test('a reply whose answer was lost is not posted twice: the nonce within minutes, a look at our own messages after', { skip, timeout: 60000 * SLOW }, async () => {
	const { emu, support } = await bakery({ postDelayMs: 4000 });
	let d = null;
	try {
		d = await signedIn(emu);
		const amy = emu.user('amy');
		// 1: the message is created, the daemon dies before the answer; a
		// restart within the nonce's minutes sends the same nonce.
		const m1 = emu.say(amy, support, 'when are you open?');
		await emu.waitFor(() => emu.repliesTo(m1.id).length === 1, 10000 * SLOW, 'the first message created');
		await d.kill();
		emu.set('postDelayMs', 0);
		d = await discordDaemon(emu, { restart: d });
		await emu.waitFor(() => emu.stats.nonceRepeats === 1, 10000 * SLOW, 'the repeated nonce');
		assert.equal(emu.repliesTo(m1.id).length, 1);

		// 2: the same, but the row is ten minutes old and Discord has
		// forgotten the nonce: the bot looks at its recent messages first.
		emu.set('postDelayMs', 4000);
		const bob = emu.user('bob');
		const m2 = emu.say(bob, support, 'what are your opening hours?');
		await emu.waitFor(() => emu.repliesTo(m2.id).length === 1, 10000 * SLOW, 'the second message created').catch((e) => {
			throw new Error(`${e.message}\n${d.logs().slice(-3000)}`);
		});
		await d.kill();
		sql(d, "UPDATE outbox SET created = created - 600 WHERE state = 'pending'");
		emu.set('postDelayMs', 0);
		emu.set('nonceTtlMs', 0);
		const posts = emu.posted.length;
		d = await discordDaemon(emu, { restart: d });
		await d.waitLog('reply found already posted', 10000 * SLOW);
		await sleep(1000);
		assert.equal(emu.posted.length, posts, 'nothing posted again');
		assert.equal(emu.repliesTo(m2.id).length, 1);
		assert.equal(sql(d, "SELECT count(*) FROM outbox WHERE state <> 'sent'"), '0');

		// 3: a new message afterwards is answered as usual.
		const m3 = emu.say(bob, support, 'when are you open?');
		await emu.waitFor(() => emu.repliesTo(m3.id).length === 1, 10000 * SLOW, 'the third reply');
	} finally {
		await finish(d, emu);
	}
});

test('the gateway misbehaves one way at a time: beat requests, a zombie, op 7 before HELLO, op 9 true and false, duplicates', { skip, timeout: 90000 * SLOW }, async () => {
	const { emu, support } = await bakery({ heartbeatMs: 800 * SLOW });
	let d = null;
	try {
		const amy = emu.user('amy');
		d = await signedIn(emu);
		const answered = (m) => emu.waitFor(() => emu.repliesTo(m.id).length === 1, 15000 * SLOW, `a reply to ${m.content}`);

		// The server asks for a beat: it comes at once.
		const beats = emu.stats.heartbeats;
		emu.unpleasant('beat');
		await emu.waitFor(() => emu.stats.heartbeats > beats, 1500, 'the requested beat');

		// A flood of requests: answered while the socket's 120 frames a
		// minute leave room for the regular beats, never past them (4008
		// would cost a resume).
		const before = emu.stats.heartbeats;
		const resumesBefore = emu.stats.resumes;
		for (let i = 0; i < 150; i++) emu.unpleasant('beat');
		await sleep(2000);
		assert.equal(emu.stats.tooFast, 0, 'closed with 4008: more than 120 frames in 60 s');
		assert.equal(emu.stats.resumes, resumesBefore, 'the socket stayed up');
		assert.ok(emu.stats.heartbeats - before >= 10, `the requests were answered (${emu.stats.heartbeats - before})`);

		// A zombie: no ACK, nothing delivered.  The bot notices, closes with
		// a code that keeps the session, resumes, and gets what it missed.
		emu.unpleasant('zombie');
		const m1 = emu.say(amy, support, 'when are you open? (zombie)');
		await answered(m1);
		assert.equal(emu.stats.resumes, 1);
		assert.ok(emu.stats.clientCloses[4000] >= 1, JSON.stringify(emu.stats.clientCloses));
		assert.match(d.logs(), /no heartbeat ACK: zombie connection/);

		// op 7 before HELLO on the next connection.
		emu.set('reconnectBeforeHello', 1);
		emu.unpleasant('terminate');
		await emu.waitFor(() => emu.stats.chaos.op7BeforeHello >= 1, 10000 * SLOW, 'op 7 before HELLO');
		emu.set('reconnectBeforeHello', 0);
		const m2 = emu.say(amy, support, 'when are you open? (op 7)');
		await answered(m2);

		// op 9 d:true: resume.
		const resumes = emu.stats.resumes;
		emu.unpleasant('op9true');
		const m3 = emu.say(amy, support, 'when are you open? (op 9 true)');
		await answered(m3);
		await emu.waitFor(() => emu.stats.resumes > resumes, 10000 * SLOW, 'the resume after op 9 true');

		// The same event twice: answered once.
		emu.unpleasant('dupe');
		const m4 = emu.say(amy, support, 'when are you open? (twice)');
		emu.unpleasant('dupe');
		await answered(m4);

		// op 9 d:false: a new session, and the gap is fetched over REST.
		emu.unpleasant('op9false');
		const m5 = emu.say(amy, support, 'when are you open? (op 9 false)');
		await answered(m5);
		assert.equal(emu.stats.identifies, 2);
		assert.equal(emu.stats.identifyTooFast, 0, 'IDENTIFYs 5 s apart');
		await sleep(1000);
		for (const m of [m1, m2, m3, m4, m5]) assert.equal(emu.repliesTo(m.id).length, 1);
		assert.equal(emu.stats.beatRequestsUnanswered, 0);
		assert.equal(emu.stats.heartbeatTimeouts, 0);
		assert.equal(emu.stats.resumesOnGatewayUrl, 0);
		assert.equal((emu.stats.clientCloses[1000] || 0) + (emu.stats.clientCloses[1001] || 0), 0, 'no close ever ended the session');
		const h = await discordHealth(d);
		assert.equal(h.conn.health, 'ok');
	} finally {
		await finish(d, emu);
	}
});
