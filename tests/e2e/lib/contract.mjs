// The connector contract: the same checks against every platform's emulator
// (DESIGN.md, "Platform connectors"; docs/connectors.md).  A connector's test
// file supplies an adapter that speaks its emulator and calls
//
//   import { contract } from './lib/contract.mjs';
//   contract(adapter);
//
// which registers one node:test test per check:
//
//   answered     every customer message answered exactly once, in its place
//                (same conversation, the right privacy: a DM in private, a
//                public question in public, a public complaint taken private
//                with one public pointer), none to bots or to the bot itself,
//                while the platform drops the socket and the daemon is
//                killed with SIGKILL and restarted;
//   redelivered  a message the platform delivers again is answered once;
//   catch-up     messages sent while the socket is down, and while the daemon
//                is down, are answered once after reconnect / restart;
//   rate-limit   a rate-limited platform gets nothing before the reset, and
//                nothing is lost;
//   length       no message over the platform's length limit (a long answer
//                is split);
//   silent       in a conversation a person has claimed, the bot says nothing.
//
// The adapter (every member required unless marked optional):
//
//   name                 the connector type ("mastodon")
//   async start()        start the emulator; returns `emu`, passed back below
//   async stop(emu)
//   connector(emu)       { yaml, env }: the connector's entry for config.yaml
//                        (a YAML mapping on one line, e.g. "{ type: x, ... }")
//                        and the environment it needs (tokens)
//   async ready(d, emu)  resolves once the connector may be sent messages
//                        (signed in, connected, cursor set)
//   customer(emu, i)     a customer (opaque to the suite); bot(emu) another
//                        bot's account; self(emu) the bot's own account
//                        (bot and self are optional where the platform has
//                        no such senders: a webhook of one-to-one chats)
//   privateOnly          optional: true where every conversation is one to
//                        one (WhatsApp, Messenger, Instagram): every post is
//                        private and none is taken private
//   post(emu, { from, text, private, replyTo })
//                        a message from `from`: in public (a channel, a public
//                        mention) or private (a DM), optionally inside the
//                        conversation of an earlier ref.  Returns a ref
//                        { id, ... } whose id is the post id the daemon
//                        stores (posts.post_id).
//   redeliver(emu, ref)  the platform delivers that message again
//   drop(emu)            drop every WebSocket connection now (a webhook
//                        platform: its deliveries fail for a moment and are
//                        retried)
//   setDown(emu, down)   optional: while true the socket cannot reconnect
//                        (messages sent meanwhile must come by catch-up)
//   replies(emu, ref)    the bot's messages answering ref, oldest first:
//                        [{ text, private, at (epoch ms) }]
//   sent(emu)            every message the bot sent: [{ text, private, at }]
//   rateLimit(emu, ms)   the platform answers 429 to sends for ms; returns
//                        the reset time (epoch ms)
//   maxLength            the platform's message limit (characters), and
//   length(text)         how the platform counts a message
//   setMaxLength(emu, n) optional: lower the limit on the emulator (for
//                        platforms whose limit is larger than a reply can be)
//                        Where the limit is fixed and larger than any reply
//                        text (4,096 bytes), the split is tested with a
//                        person's long reply through `frontdesk queue reply`.
//
// Timing: waits are generous (SLOW x 3 under the sanitizers); nothing asserts
// how fast something happened, only what happened and in which order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startDaemon, daemonMissing, sleep, waitUntil, BIN, BUILD, AGENT_HASH } from './daemon.mjs';

const SLOW = BUILD.includes('san') ? 3 : 1;

// The suite's rules and word list, for a connector's own tests too.
export const RULES = `- id: opening-hours
  match: { any: ["opening hours", "when are you open"] }
  reply: faq.opening_hours
- id: menu
  match: { any: ["full menu"] }
  reply: faq.menu
- id: refund
  match: { any: [refund] }
  escalate: { priority: high }
  reply: escalated.refund
`;
export const LEXICON = `threshold: -0.3
words: { terrible: -3, awful: -3, great: 2 }
`;

// The replies besides the FAQ answers, for a connector's own tests too.
export const REPLY_TEXTS = `escalated: "Thanks! A person will reply by {{due}}."
escalated.refund: "Sorry about that. A person will look at the refund and reply by {{due}}."
negative: "Sorry to hear that. Please reply here with the details; a person will reply by {{due}}."
abusive: "We've received your message."
human: "A person will reply by {{due}}."
waiting: "We have your message; a person will reply soon."
offline: "I've sent you a direct message so we can sort this out."
`;

// Reply texts; the menu is long enough to need several messages on any
// platform whose limit the suite sets to `limit`.
function replies(limit) {
	const sentence = 'Sourdough, seeded rye, cinnamon buns, almond croissants and lemon tarts are baked here each morning. ';
	let menu = '';
	const want = Math.min(3900, Math.max(2 * limit + 50, 300));
	while (menu.length + sentence.length < want) menu += sentence;
	return `faq.opening_hours: "Hi{{#author}} {{author}}{{/author}}! We bake from 7:00 every day."
faq.menu: "${menu.trim()}"
${REPLY_TEXTS}`;
}

// The configuration every connector test runs with: a business open around
// the clock, the suite's files, a web chat, the connector's one-line YAML
// entry, and the dashboard with the agent sam.  For startDaemon's `config`.
export function connectorConfig(business, yaml) {
	return ({ ports }) => `business:
  name: ${business}
  timezone: UTC
  hours: { mon-sun: "00:00-24:00" }
rules: [rules.yaml]
replies: [replies.yaml]
sentiment: { lexicon: [lexicon.yaml] }
store: { path: frontdesk.db, synchronous: normal }
connectors:
  - { type: webchat, listen: "127.0.0.1:${ports.webchat}" }
  - ${yaml}
dashboard:
  listen: "127.0.0.1:${ports.dashboard}"
  agents: [ { login: sam, name: Sam, password_hash: "${AGENT_HASH}" } ]
`;
}

const sql = (d, q) => execFileSync('sqlite3', [d.db, q]).toString().trim();

async function daemon(adapter, emu, restart = null) {
	const { yaml, env } = adapter.connector(emu);
	const opts = {
		files: { 'rules.yaml': RULES, 'replies.yaml': replies(adapter.limit || adapter.maxLength), 'lexicon.yaml': LEXICON },
		env,
		timeoutMs: 15000 * SLOW,
		config: connectorConfig('Contract Bakery', yaml),
	};
	if (restart) Object.assign(opts, { dir: restart.dir, ports: restart.ports });
	const d = await startDaemon(opts);
	const before = restart ? restart.logs() : '';
	d.logs = () => before + d.log();
	try {
		await adapter.ready(d, emu);
	} catch (e) {
		await d.kill(); // never leave a process behind (it would keep the test runner alive)
		d.cleanup();
		throw e;
	}
	return d;
}

// Wait until pred() holds; on a timeout say what was still missing.
async function until(pred, ms, what, d, missing = () => '') {
	await waitUntil(pred, ms * SLOW, what, 50).catch((e) => {
		throw new Error(`${e.message}${missing() ? `: ${missing()}` : ''}\n--- daemon log (end) ---\n${d ? d.logs().slice(-3000) : ''}`);
	});
}

// Run body with a started emulator and daemon; always clean up.
async function withDaemon(adapter, body) {
	const emu = await adapter.start();
	let d = null;
	const box = {
		get d() {
			return d;
		},
		// SIGKILL: the process dies mid-whatever.
		async kill() {
			const ex = await d.kill();
			assert.equal(ex.signal, 'SIGKILL');
		},
		// SIGTERM: a clean stop (exit 0).
		async stop() {
			const ex = await d.stop();
			assert.deepEqual(ex, { code: 0, signal: null }, d.logs().slice(-3000));
		},
		// A new process on the same directory, ports and store.
		async start() {
			d = await daemon(adapter, emu, d);
			return d;
		},
	};
	try {
		d = await daemon(adapter, emu);
		await body(emu, box);
		const ex = await d.stop();
		assert.deepEqual(ex, { code: 0, signal: null }, d.logs().slice(-3000));
	} finally {
		if (d) {
			await d.kill();
			d.cleanup();
		}
		await adapter.stop(emu);
	}
}

function checkWithinLimit(adapter, emu) {
	for (const m of adapter.sent(emu))
		assert.ok(adapter.length(m.text) <= adapter.maxLength,
			`a message of ${adapter.length(m.text)} characters, over the limit of ${adapter.maxLength}: ${m.text.slice(0, 80)}…`);
}

export function contract(adapter) {
	const skip = daemonMissing();
	const name = (s) => `${adapter.name} contract: ${s}`;

	test(name('every message answered exactly once, in its place; none to bots or self; socket drops and a SIGKILL'), { skip, timeout: 120000 * SLOW }, async () => {
		await withDaemon(adapter, async (emu, box) => {
			const customers = [];
			for (let i = 0; i < 12; i++) customers.push(adapter.customer(emu, i));
			const robot = adapter.bot ? adapter.bot(emu) : null;
			const self = adapter.self ? adapter.self(emu) : null;
			const expect = []; // { ref, private, complaint }
			const ignored = [];
			const TOTAL = 60;
			let restarted = null;
			for (let i = 0; i < TOTAL; i++) {
				if (i === 20) adapter.drop(emu);
				// SIGKILL mid-stream; messages keep coming while a new process starts.
				if (i === 40) restarted = box.kill().then(() => box.start());
				const from = customers[i % customers.length];
				if (i % 13 === 3 && robot) {
					ignored.push(adapter.post(emu, { from: robot, text: 'what are your opening hours?', private: false }));
					continue;
				}
				if (i % 17 === 5 && self) {
					ignored.push(adapter.post(emu, { from: self, text: 'reminder: our opening hours changed', private: false }));
					continue;
				}
				const priv = adapter.privateOnly || i % 3 === 0;
				const complaint = i % 11 === 7 && !priv;
				const text = complaint ? `my order was terrible and awful (${i})` : `when are you open? (${i})`;
				expect.push({ ref: adapter.post(emu, { from, text, private: priv }), private: priv, complaint });
				await sleep(15);
			}
			await restarted;
			const answeredAll = () => expect.every((e) => adapter.replies(emu, e.ref).length >= (e.complaint ? 2 : 1));
			await until(answeredAll, 45000, 'a reply to every customer message', box.d,
				() => `${expect.filter((e) => adapter.replies(emu, e.ref).length < (e.complaint ? 2 : 1)).length} unanswered`);
			await sleep(1000); // a second answer would show up now
			for (const e of expect) {
				const r = adapter.replies(emu, e.ref);
				if (e.complaint) {
					// Taken private: one public pointer where it was posted, then the answer in private.
					assert.equal(r.length, 2, `complaint ${e.ref.id}: ${r.length} replies`);
					assert.equal(r[0].private, false, `complaint ${e.ref.id}: the pointer is public`);
					assert.equal(r[1].private, true, `complaint ${e.ref.id}: the answer is private`);
					assert.ok(r[0].at <= r[1].at, 'the pointer goes first');
				} else {
					assert.equal(r.length, 1, `message ${e.ref.id} answered ${r.length} times`);
					assert.equal(r[0].private, e.private, `message ${e.ref.id}: answered ${r[0].private ? 'in private' : 'in public'}`);
				}
			}
			for (const ref of ignored) assert.equal(adapter.replies(emu, ref).length, 0, `bot or self message ${ref.id} answered`);
			const want = expect.reduce((n, e) => n + (e.complaint ? 2 : 1), 0);
			assert.equal(adapter.sent(emu).length, want, 'nothing sent besides the answers');
			checkWithinLimit(adapter, emu);
			assert.equal(sql(box.d, "SELECT count(*) FROM outbox WHERE state <> 'sent' AND kind = 'reply'"), '0');
			console.log(`# ${adapter.name}: ${expect.length} customer messages and ${ignored.length} from bots or self, ` +
				'a socket drop and a SIGKILL: each answered once');
		});
	});

	test(name('a message delivered again is answered once'), { skip, timeout: 60000 * SLOW }, async () => {
		await withDaemon(adapter, async (emu, box) => {
			const amy = adapter.customer(emu, 1);
			const refs = [];
			for (let i = 0; i < 5; i++) refs.push(adapter.post(emu, { from: amy, text: `when are you open? (${i})`, private: adapter.privateOnly || i % 2 === 0 }));
			await until(() => refs.every((r) => adapter.replies(emu, r).length === 1), 15000, 'the first answers', box.d);
			for (const r of refs) adapter.redeliver(emu, r);
			adapter.drop(emu); // and the catch-up after the reconnect brings them once more
			await sleep(2500 * SLOW);
			for (const r of refs) assert.equal(adapter.replies(emu, r).length, 1, `message ${r.id} answered again`);
			assert.equal(adapter.sent(emu).length, refs.length);
		});
	});

	test(name('catch-up: messages sent while the socket or the daemon was down are answered once'), { skip, timeout: 90000 * SLOW }, async () => {
		await withDaemon(adapter, async (emu, box) => {
			const ben = adapter.customer(emu, 2);
			const first = adapter.post(emu, { from: ben, text: 'when are you open? (first)', private: true });
			await until(() => adapter.replies(emu, first).length === 1, 15000, 'the first answer', box.d);
			// The socket goes away and cannot come back for a while.
			if (adapter.setDown) adapter.setDown(emu, true);
			adapter.drop(emu);
			const whileDropped = [];
			for (let i = 0; i < 6; i++) whileDropped.push(adapter.post(emu, { from: ben, text: `when are you open? (dropped ${i})`, private: adapter.privateOnly || i % 2 === 1 }));
			if (adapter.setDown) {
				await sleep(500);
				adapter.setDown(emu, false);
			}
			await until(() => whileDropped.every((r) => adapter.replies(emu, r).length >= 1), 30000, 'answers after the reconnect', box.d);
			// The daemon is stopped; messages keep coming; it starts again.
			await box.stop();
			const whileDown = [];
			for (let i = 0; i < 6; i++) whileDown.push(adapter.post(emu, { from: ben, text: `when are you open? (down ${i})`, private: adapter.privateOnly || i % 2 === 0 }));
			await box.start();
			await until(() => whileDown.every((r) => adapter.replies(emu, r).length >= 1), 30000, 'answers after the restart', box.d);
			await sleep(1000);
			for (const r of [first, ...whileDropped, ...whileDown]) assert.equal(adapter.replies(emu, r).length, 1, `message ${r.id}`);
		});
	});

	test(name('a rate-limited platform gets nothing before the reset, and nothing is lost'), { skip, timeout: 60000 * SLOW }, async () => {
		await withDaemon(adapter, async (emu, box) => {
			const cat = adapter.customer(emu, 3);
			const warm = adapter.post(emu, { from: cat, text: 'when are you open? (warm)', private: !!adapter.privateOnly });
			await until(() => adapter.replies(emu, warm).length === 1, 15000, 'the first answer', box.d);
			const sentBefore = adapter.sent(emu).length;
			const reset = adapter.rateLimit(emu, 2500);
			const refs = [];
			for (let i = 0; i < 8; i++) refs.push(adapter.post(emu, { from: cat, text: `when are you open? (limited ${i})`, private: adapter.privateOnly || i % 2 === 0 }));
			await until(() => refs.every((r) => adapter.replies(emu, r).length === 1), 40000, 'every answer after the reset', box.d);
			const during = adapter.sent(emu).slice(sentBefore).filter((m) => m.at < reset);
			assert.equal(during.length, 0, `${during.length} messages delivered before the reset`);
			await sleep(500);
			for (const r of refs) assert.equal(adapter.replies(emu, r).length, 1);
		});
	});

	// A reply text is at most 4,096 bytes (replies.c): a platform whose limit
	// is above what the suite's menu can reach shows its split in its own
	// tests (Slack's 4,000 characters are reached through escaping there).
	const unreachable = adapter.maxLength >= 3900 && !adapter.setMaxLength &&
		`${adapter.name}'s limit (${adapter.maxLength}) is beyond any reply text: its own tests show the split`;
	test(name('no message over the length limit: a long answer is split'), { skip: skip || unreachable, timeout: 60000 * SLOW }, async () => {
		await withDaemon(adapter, async (emu, box) => {
			const dan = adapter.customer(emu, 4);
			const limit = adapter.limit || adapter.maxLength;
			if (limit > 3900) {
				// No reply text can be that long: a person's long answer.
				const r = adapter.post(emu, { from: dan, text: 'I want a refund for my order', private: true });
				await until(() => adapter.replies(emu, r).length === 1, 15000, 'the acknowledgement', box.d);
				const q = (args) => execFileSync(BIN, ['queue', ...args, '-c', box.d.config]).toString();
				const tickets = JSON.parse(q(['list', '--json']));
				let long = '';
				for (let i = 0; long.length < 2 * limit + 50; i++) long += `Line ${i} of the refund details for you. `;
				const before = adapter.sent(emu).length;
				q(['reply', String(tickets[0].id), '--agent', 'sam', long.trim()]);
				await until(() => adapter.sent(emu).length >= before + 2, 15000, "the person's split answer", box.d);
			} else {
				const r = adapter.post(emu, { from: dan, text: 'can I see your full menu?', private: !!adapter.privateOnly });
				await until(() => adapter.sent(emu).length >= 2, 15000, 'a split answer', box.d);
				assert.ok(adapter.replies(emu, r).length >= 1);
			}
			await sleep(1000);
			checkWithinLimit(adapter, emu);
			assert.ok(adapter.sent(emu).length >= 2, 'the answer needed more than one message');
		});
	});

	test(name('silent in a conversation a person has claimed'), { skip, timeout: 60000 * SLOW }, async () => {
		await withDaemon(adapter, async (emu, box) => {
			const eve = adapter.customer(emu, 5);
			const first = adapter.post(emu, { from: eve, text: 'I want a refund for my order', private: true });
			await until(() => adapter.replies(emu, first).length === 1, 15000, 'the acknowledgement', box.d);
			const q = (args) => execFileSync(BIN, ['queue', ...args, '-c', box.d.config]).toString();
			const tickets = JSON.parse(q(['list', '--json']));
			assert.equal(tickets.length, 1);
			q(['claim', String(tickets[0].id), '--agent', 'sam']);
			const sent = adapter.sent(emu).length;
			const again = adapter.post(emu, { from: eve, text: 'hello? any news on my refund?', private: true, replyTo: first });
			await until(() => sql(box.d, `SELECT count(*) FROM posts WHERE post_id = '${again.id}'`) === '1', 15000, 'the follow-up stored', box.d);
			await sleep(1500);
			assert.equal(adapter.replies(emu, again).length, 0, 'the bot answered in a claimed conversation');
			assert.equal(adapter.sent(emu).length, sent);
			// The person answers; the customer gets it.
			q(['reply', String(tickets[0].id), '--agent', 'sam', 'Refunded today, sorry Eve.']);
			await until(() => adapter.sent(emu).length === sent + 1, 15000, "the person's reply", box.d);
			const last = adapter.sent(emu)[sent];
			assert.ok(last.text.includes('Refunded today'), last.text);
			assert.equal(last.private, true);
		});
	});
}
