// The Telegram connector against the emulator (telegram-emulator.mjs):
// private chats, groups addressed or not (privacy mode), commands, forum
// topics, edits and bots left alone; the offset confirmed only after the
// posts are stored and updates waiting at the first start answered; a
// webhook deleted and a second poller reported, not hammered; 429 held
// and stored, 403 and 400 final, 401 reported; a group become a
// supergroup; Telegram Business; replies whose answer was lost found
// rather than sent twice; a quick stop; and a soak of 1,000 messages with
// dropped connections, errors and two SIGKILLs.
//
//   BUILD=build node --test tests/e2e/telegram.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startDaemon, daemonMissing, sleep, httpGet, BUILD, AGENT_HASH, BIN } from './lib/daemon.mjs';
import { startTelegramEmulator } from './telegram-emulator.mjs';

const SLOW = BUILD.includes('san') ? 3 : 1;
const skip = daemonMissing();
const TOKEN = '123456:tg-test-token_0123456789';

const RULES = `- id: opening-hours
  match: { any: ["opening hours", "when are you open", "hours"] }
  reply: faq.opening_hours
- id: menu
  match: { any: ["menu"] }
  reply: faq.menu
- id: refund
  match: { any: [refund] }
  escalate: { priority: high }
  reply: escalated.refund
`;
const LEXICON = `threshold: -0.3
words: { terrible: -3, awful: -3, great: 2 }
`;
const REPLIES = `faq.opening_hours: "Hi{{#author}} {{author}}{{/author}}! We bake from 7:00 every day."
faq.menu: "Sourdough, rye and cinnamon buns."
escalated: "Thanks! A person will reply by {{due}}."
escalated.refund: "Sorry about that. A person will look at the refund and reply by {{due}}."
negative: "Sorry to hear that. A person will reply by {{due}}."
abusive: "We've received your message."
human: "A person will reply by {{due}}."
waiting: "We have your message; a person will reply soon."
offline: "I've sent you a private message so we can sort this out."
smalltalk.greeting: "Hello! How can we help?"
`;

function config({ ports }, emu, extra = '') {
	return `business:
  name: Test Bakery
  timezone: UTC
  hours: { mon-sun: "00:00-24:00" }
rules: [rules.yaml]
replies: [replies.yaml]
sentiment: { lexicon: [lexicon.yaml] }
store: { path: frontdesk.db, synchronous: normal }
connectors:
  - { type: webchat, listen: "127.0.0.1:${ports.webchat}" }
  - { type: telegram, instance: "${emu.url}", token_env: FD_TG_TOKEN${extra} }
dashboard:
  listen: "127.0.0.1:${ports.dashboard}"
  agents: [ { login: sam, name: Sam, password_hash: "${AGENT_HASH}" } ]
`;
}

async function daemon(emu, { restart = null, env = {}, extra = '' } = {}) {
	const opts = {
		files: { 'rules.yaml': RULES, 'replies.yaml': REPLIES, 'lexicon.yaml': LEXICON },
		env: { FD_TG_TOKEN: TOKEN, ...env },
		timeoutMs: 15000 * SLOW,
		config: (ctx) => config(ctx, emu, extra),
	};
	if (restart) Object.assign(opts, { dir: restart.dir, ports: restart.ports });
	const d = await startDaemon(opts);
	const before = restart ? restart.logs() : '';
	d.logs = () => before + d.log();
	return d;
}

// The daemon's look-ups for replies of unknown fate, for a failure message.
const lookups = (d) => d.logs().split('\n').filter((l) => /telegram: (reply of unknown|reply found|a reply may)/.test(l)).slice(-40).join('\n');
const sql = (d, q) => execFileSync('sqlite3', [d.db, q]).toString().trim();
// A forum where the bot is an admin, with two topics, and two customers.
function twoTopics(emu) {
	const g = emu.group({ forum: true, botAdmin: true });
	return { g, t1: emu.topic(g), t2: emu.topic(g), amy: emu.user({ first_name: 'Amy' }), ben: emu.user({ first_name: 'Ben' }) };
}
const polling = (d) => d.waitLog(/telegram: polling/, 15000 * SLOW);
const ours = (emu) => emu.requests.filter((r) => r.agent.startsWith('frontdesk/'));

test('private chats, groups addressed or not, commands, topics; edits and bots left alone', { skip, timeout: 90000 * SLOW }, async () => {
	const emu = await startTelegramEmulator({ token: TOKEN });
	const d = await daemon(emu);
	try {
		await polling(d);
		const amy = emu.user({ first_name: 'Amy', username: 'amyp' });
		const ben = emu.user({ first_name: 'Ben' });
		const robot = emu.user({ first_name: 'Robot', bot: true });
		// A private chat: answered there, as a reply to the question.
		const q = emu.message({ from: amy, chat: emu.privateChat(amy), text: 'When are you open?' });
		await emu.waitFor(() => emu.repliesTo(q).length === 1, 10000 * SLOW, 'the private answer');
		let r = emu.repliesTo(q)[0];
		assert.equal(r.chat.id, amy.id);
		assert.match(r.text, /We bake from 7:00/);
		// /start is a hello.
		const hello = emu.message({ from: ben, chat: emu.privateChat(ben), text: '/start' });
		await emu.waitFor(() => emu.repliesTo(hello).length === 1, 10000 * SLOW, 'the hello');

		// A group in privacy mode: a plain mention never reaches the bot;
		// a command and a reply to the bot do.
		const shy = emu.group({ title: 'Neighbours' });
		const mention = emu.message({ from: amy, chat: shy, text: '@acme_bakery_bot when are you open?' });
		const cmd = emu.message({ from: amy, chat: shy, text: '/hours@acme_bakery_bot' });
		await emu.waitFor(() => emu.repliesTo(cmd).length === 1, 10000 * SLOW, 'the command answered');
		const follow = emu.message({ from: ben, chat: shy, text: 'and the menu?', replyTo: emu.repliesTo(cmd)[0] });
		await emu.waitFor(() => emu.repliesTo(follow).length === 1, 10000 * SLOW, 'the reply to the bot answered');
		// Privacy off (the bot is an admin): it sees everything, answers only
		// what addresses it, in the right forum topic.
		const forum = emu.group({ title: 'Fans', forum: true, botAdmin: true });
		const topic = emu.topic(forum);
		const chatter = emu.message({ from: amy, chat: forum, topic, text: 'when are you open? asking for a friend' });
		const asked = emu.message({ from: ben, chat: forum, topic, text: '@acme_bakery_bot, when are you open?' });
		await emu.waitFor(() => emu.repliesTo(asked).length === 1, 10000 * SLOW, 'the topic answer');
		r = emu.repliesTo(asked)[0];
		assert.equal(r.chat.id, forum.id);
		assert.equal(r.message_thread_id, topic, 'answered in its topic');
		// Never answered: edits, bots, other bots' commands.
		const ignored = [emu.message({ from: robot, chat: forum, text: '@acme_bakery_bot when are you open?' }), emu.message({ from: amy, chat: forum, text: '/hours@otherbot' }), mention, chatter];
		emu.edit(q, 'When are you open on Sunday?');
		const last = emu.message({ from: amy, chat: emu.privateChat(amy), text: 'menu please' });
		await emu.waitFor(() => emu.repliesTo(last).length === 1, 10000 * SLOW, 'the last answer');
		await sleep(800);
		for (const m of ignored) assert.equal(emu.repliesTo(m).length, 0, `message ${m.message_id} of ${m.chat.id} answered`);
		assert.equal(emu.repliesTo(q).length, 1, 'the edit was not answered');
		// allowed_updates is sent every time, so edits never even come.
		assert.deepEqual(emu.allowed, ['message', 'business_connection', 'business_message']);
		assert.ok(emu.filtered.some((u) => u.type === 'edited_message'));
		assert.ok(ours(emu).filter((x) => x.method === 'getUpdates').every((x) => JSON.parse(x.body).allowed_updates), 'a poll without allowed_updates');
		assert.ok(emu.sent.every((s) => s.parseMode === null), 'plain text, no parse_mode');
		assert.match(d.logs(), new RegExp(`msg=post .*post=${amy.id}:${q.message_id} `));
		const h = await httpGet(d.url('/healthz'));
		assert.match(h.body, /"telegram"[^}]*"ok"/);
	} finally {
		await d.stop();
		d.cleanup();
		await emu.close();
	}
});

test('updates waiting at the first start are answered; the offset confirms only what is stored', { skip, timeout: 90000 * SLOW }, async () => {
	const emu = await startTelegramEmulator({ token: TOKEN });
	const cust = [];
	for (let i = 0; i < 6; i++) cust.push(emu.user({ first_name: `Early${i}` }));
	// Customers wrote before the bot ever ran.
	const early = cust.map((u) => emu.message({ from: u, chat: emu.privateChat(u), text: 'when are you open?' }));
	let d = await daemon(emu);
	// Every time Telegram is told "confirmed", what it confirms is stored.
	const unstored = [];
	emu.onConfirm = () => {
		for (const [id, c] of emu.confirmed) {
			if (c.checked || c.update.type !== 'message' || !c.update.body.text) continue;
			c.checked = true;
			const m = c.update.body;
			const n = sql(d, `SELECT count(*) FROM posts WHERE post_id = '${m.chat.id}:${m.message_id}'`);
			if (n !== '1') unstored.push(id);
		}
	};
	try {
		await polling(d);
		await emu.waitFor(() => early.every((m) => emu.repliesTo(m).length === 1), 15000 * SLOW, 'the early customers answered');
		// A restart: nothing is answered again.
		await d.stop();
		const more = cust.map((u) => emu.message({ from: u, chat: emu.privateChat(u), text: 'and the menu?' }));
		d = await daemon(emu, { restart: d });
		await polling(d);
		await emu.waitFor(() => more.every((m) => emu.repliesTo(m).length === 1), 15000 * SLOW, 'the later ones answered');
		await sleep(800);
		for (const m of early) assert.equal(emu.repliesTo(m).length, 1);
		assert.deepEqual(unstored, [], 'updates confirmed before their posts were stored');
		assert.ok(emu.confirmed.size >= 12);
		assert.equal(emu.dropped, 0, 'deleteWebhook dropped pending updates');
	} finally {
		emu.onConfirm = null;
		await d.stop();
		d.cleanup();
		await emu.close();
	}
});

test('409: a webhook is deleted; a second poller is reported in the log and /healthz, not hammered', { skip, timeout: 60000 * SLOW }, async () => {
	const emu = await startTelegramEmulator({ token: TOKEN });
	emu.setWebhook('https://old.example/hook');
	const amy = emu.user({ first_name: 'Amy' });
	const q = emu.message({ from: amy, chat: emu.privateChat(amy), text: 'when are you open?' });
	const d = await daemon(emu);
	try {
		await polling(d);
		await emu.waitFor(() => emu.repliesTo(q).length === 1, 10000 * SLOW, 'an answer once the webhook is gone');
		assert.equal(emu.webhook, '');
		// Another program starts polling with the same token.
		emu.startSecondPoller();
		await d.waitLog(/another program is reading this bot's updates/, 15000 * SLOW);
		const h = await httpGet(d.url('/healthz'));
		assert.match(h.body, /409 from Telegram/);
		const t0 = Date.now();
		await sleep(4000);
		const polls = ours(emu).filter((x) => x.method === 'getUpdates' && x.at > t0).length;
		assert.ok(polls <= 1, `${polls} polls in 4 s after a 409`);
	} finally {
		emu.stopSecondPoller();
		await d.stop();
		d.cleanup();
		await emu.close();
	}
});

test('429 holds every send until retry_after and is stored with the rows; 403 and 400 are final; 401 is reported', { skip, timeout: 90000 * SLOW }, async () => {
	// Requests the daemon started before the 429 came back may reach the
	// emulator a little later, much later in the sanitizer build.
	const emu = await startTelegramEmulator({ token: TOKEN, graceMs: 250 * SLOW });
	let d = await daemon(emu);
	try {
		await polling(d);
		const users = [];
		for (let i = 0; i < 6; i++) users.push(emu.user({ first_name: `Cat${i}` }));
		const warm = emu.message({ from: users[0], chat: emu.privateChat(users[0]), text: 'when are you open?' });
		await emu.waitFor(() => emu.repliesTo(warm).length === 1, 10000 * SLOW, 'the first answer');
		const reset = emu.rateLimit(3000);
		const held = users.map((u) => emu.message({ from: u, chat: emu.privateChat(u), text: 'menu?' }));
		await d.waitLog(/telegram: rate limited \(429\)/, 10000 * SLOW);
		// The wait is stored with the rows, for a restart.
		await emu.waitFor(() => Number(sql(d, "SELECT count(*) FROM outbox WHERE state = 'pending' AND not_before > 0")) >= 1, 3000 * SLOW, 'rows stored with not_before');
		await emu.waitFor(() => held.every((m) => emu.repliesTo(m).length === 1), 30000 * SLOW, 'every answer after the reset');
		assert.deepEqual(emu.violations, [], 'sends while the limit held');
		assert.ok(emu.sent.filter((s) => s.at < reset).length === 1, 'something went before the reset');

		// Final: a customer who blocked the bot, a group that removed it.
		const gone = emu.user({ first_name: 'Gone' });
		const blocked = emu.message({ from: gone, chat: emu.privateChat(gone), text: 'when are you open?' });
		gone.blocked = true;
		const group = emu.group({ botAdmin: true });
		const kicked = emu.message({ from: users[1], chat: group, text: '@acme_bakery_bot when are you open?' });
		group.member = false;
		await d.waitLog(/status=403 error="Forbidden: bot was blocked by the user"/, 10000 * SLOW);
		await d.waitLog(/status=403 error="Forbidden: bot was kicked from the group chat"/, 10000 * SLOW);
		await sleep(2500);
		const tries = (chat) => emu.requests.filter((x) => x.method === 'sendMessage' && x.status === 403 && JSON.parse(x.body).chat_id === chat).length;
		assert.equal(tries(gone.id), 1, 'a blocked customer was tried again');
		assert.equal(tries(group.id), 1, 'a group that removed the bot was tried again');
		assert.equal(sql(d, `SELECT count(*) FROM outbox WHERE state = 'failed'`), '2');
		assert.equal(emu.repliesTo(blocked).length + emu.repliesTo(kicked).length, 0);

		// A refused token: said in the log and /healthz.
		await d.stop();
		d = await daemon(emu, { restart: d, env: { FD_TG_TOKEN: '123456:revoked_0000000000' } });
		await d.waitLog(/Telegram refused the bot token \(401\)/, 10000 * SLOW);
		const h = await httpGet(d.url('/healthz'));
		assert.match(h.body, /401 from Telegram: check the token/);
		assert.doesNotMatch(d.logs(), /revoked_0000000000|tg-test-token/, 'a token in the log');
	} finally {
		await d.stop();
		d.cleanup();
		await emu.close();
	}
});

test('a group become a supergroup is answered there; a reply taken private quotes the group message', { skip, timeout: 60000 * SLOW }, async () => {
	const emu = await startTelegramEmulator({ token: TOKEN });
	const d = await daemon(emu);
	try {
		await polling(d);
		const amy = emu.user({ first_name: 'Amy' });
		const group = emu.group({ title: 'Old group', botAdmin: true });
		// The group upgrades while the answer is on its way.
		emu.rateLimit(1500);
		const q = emu.message({ from: amy, chat: group, text: '@acme_bakery_bot when are you open?' });
		await sleep(300);
		const sg = emu.migrate(group);
		await emu.waitFor(() => emu.sentTo(sg).length === 1, 15000 * SLOW, 'the answer in the supergroup');
		assert.match(d.logs(), /telegram: (a group became a supergroup|the group became a supergroup)/);
		assert.equal(emu.repliesTo(q).length, 0, 'no reply in the old group');
		// A complaint in a group: one pointer there, the answer in private,
		// quoting the message it answers.
		const c = emu.message({ from: amy, chat: sg, text: '@acme_bakery_bot I want a refund, the cake was awful' });
		await emu.waitFor(() => emu.repliesTo(c).length === 2, 15000 * SLOW, 'the pointer and the private answer');
		const [pointer, answer] = emu.repliesTo(c);
		assert.equal(pointer.chat.id, sg.id);
		assert.equal(answer.chat.id, amy.id);
		assert.match(answer.text, /refund/);
		// Someone who never opened a chat with the bot cannot be written to:
		// final, and said so.
		// (In a group of its own: the group above is one conversation, whose
		// ticket is open now.)
		const shy = emu.user({ first_name: 'Shy', started: false });
		const other = emu.group({ title: 'Another group', supergroup: true, botAdmin: true });
		const c2 = emu.message({ from: shy, chat: other, text: '@acme_bakery_bot I want a refund' });
		await emu.waitFor(() => emu.repliesTo(c2).length === 1, 15000 * SLOW, 'the pointer');
		await d.waitLog(/status=403 error="Forbidden: bot can't initiate conversation with a user"/, 10000 * SLOW);
	} finally {
		await d.stop();
		d.cleanup();
		await emu.close();
	}
});

test('Telegram Business: the owner\'s chats answered as the owner; bots for the owner ignored; a disabled connection and a quiet chat get nothing', { skip, timeout: 60000 * SLOW }, async () => {
	const emu = await startTelegramEmulator({ token: TOKEN });
	const d = await daemon(emu);
	try {
		await polling(d);
		const olga = emu.user({ first_name: 'Olga', last_name: 'Baker' });
		const conn = emu.connectBusiness(olga);
		await d.waitLog(/telegram: connected to a Telegram Business account/, 10000 * SLOW);
		const amy = emu.user({ first_name: 'Amy' });
		const q = emu.businessMessage({ conn, customer: amy, text: 'when are you open?' });
		await emu.waitFor(() => emu.repliesTo(q).length === 1, 10000 * SLOW, 'the business answer');
		const r = emu.sent.find((s) => s.replyTo && s.replyTo.message_id === q.message_id);
		assert.equal(r.conn, conn.id, 'sent with business_connection_id');
		assert.equal(r.message.chat.id, amy.id);
		// Another bot writing for the owner is not a customer.
		const other = emu.user({ first_name: 'Helper', bot: true });
		const via = emu.businessMessage({ conn, customer: amy, from: olga, text: 'when are you open? (auto)', viaBot: other });
		// A chat quiet for over 24 hours: Telegram takes no reply there.
		const ben = emu.user({ first_name: 'Ben' });
		emu.clockSkewMs = -25 * 3600 * 1000;
		// (The clock goes back only once the update is taken: an update
		// itself older than 24 hours is gone from Telegram.)
		const old = emu.businessMessage({ conn, customer: ben, text: 'when are you open?' });
		await d.waitLog(new RegExp(`post=b/${conn.id}/${ben.id}:${old.message_id} `), 10000 * SLOW);
		emu.clockSkewMs = 0;
		await d.waitLog(/24 hours/, 10000 * SLOW);
		// Switched off: nothing more.
		emu.setBusiness(conn, { enabled: false });
		await d.waitLog(/switched the bot off/, 10000 * SLOW);
		const after = emu.businessMessage({ conn, customer: amy, text: 'menu?' });
		await d.waitLog(new RegExp(`post=b/${conn.id}/${amy.id}:${after.message_id} `), 10000 * SLOW);
		await sleep(1000);
		assert.equal(emu.repliesTo(via).length, 0);
		assert.equal(emu.repliesTo(old).length, 0);
		assert.equal(emu.repliesTo(after).length, 0);
	} finally {
		await d.stop();
		d.cleanup();
		await emu.close();
	}
});

test('a reply whose answer was lost is found, not sent again; one that never went is sent; a stop is quick', { skip, timeout: 60000 * SLOW }, async () => {
	const emu = await startTelegramEmulator({ token: TOKEN });
	const d = await daemon(emu);
	try {
		await polling(d);
		const users = [];
		for (let i = 0; i < 4; i++) users.push(emu.user({ first_name: `Dan${i}` }));
		const modes = ['drop-after', '502-after', 'drop-before', '502'];
		const qs = [];
		for (let i = 0; i < 4; i++) {
			emu.fail(1, modes[i]);
			qs.push(emu.message({ from: users[i], chat: emu.privateChat(users[i]), text: 'when are you open?' }));
			await emu.waitFor(() => emu.sent.length === i + 1, 15000 * SLOW, `the reply (${modes[i]})`);
		}
		await sleep(2500);
		for (const [i, q] of qs.entries()) assert.equal(emu.repliesTo(q).length, 1, `${modes[i]}: ${emu.repliesTo(q).length} replies`);
		assert.match(d.logs(), /reply found already sent: not sent again/);
		assert.match(d.logs(), /reply of unknown fate not found: sending it/);
		// SIGTERM while a long poll waits: no waiting for it.
		const t0 = Date.now();
		const ex = await d.stop();
		assert.deepEqual(ex, { code: 0, signal: null });
		assert.ok(Date.now() - t0 < 10000 * SLOW, `stop took ${Date.now() - t0} ms`);
	} finally {
		await d.kill();
		d.cleanup();
		await emu.close();
	}
});

// libcurl sends a request again on a fresh connection when the kept-alive
// one it reused dies before any byte of the answer: for sendMessage, which
// Telegram may have carried out by then, that was a second message nobody
// asked for (the soak's two duplicates).  The daemon must instead treat it
// as a reply of unknown fate and look for it.
test('a send whose kept-alive connection dies before the answer is not sent again behind the connector\'s back', { skip, timeout: 60000 * SLOW }, async () => {
	const emu = await startTelegramEmulator({ token: TOKEN });
	const d = await daemon(emu);
	try {
		await polling(d);
		const sends = () => emu.requests.filter((r) => r.method === 'sendMessage').length;
		for (let round = 0; round < 3; round++) {
			// A reply goes out and leaves its connection open for the next...
			const a = emu.user({ first_name: `Ann${round}` });
			const qa = emu.message({ from: a, chat: emu.privateChat(a), text: 'when are you open?' });
			await emu.waitFor(() => emu.repliesTo(qa).length === 1, 15000 * SLOW, 'the first reply');
			// ...which Telegram carries out and then loses, unanswered.
			const before = sends();
			emu.fail(1, 'drop-after');
			const b = emu.user({ first_name: `Bob${round}` });
			const qb = emu.message({ from: b, chat: emu.privateChat(b), text: 'when are you open?' });
			await emu.waitFor(() => emu.repliesTo(qb).length >= 1, 15000 * SLOW, 'the second reply');
			await sleep(2500);
			assert.equal(emu.repliesTo(qb).length, 1, `round ${round}: ${emu.repliesTo(qb).length} replies`);
			assert.equal(emu.repliesTo(qa).length, 1);
			assert.equal(sends(), before, 'no further sendMessage was answered: the lost one was found, not sent again');
		}
		assert.match(d.logs(), /reply found already sent: not sent again/);
	} finally {
		await d.stop();
		d.cleanup();
		await emu.close();
	}
});

// In a supergroup the bot's replies and the customers' messages share one
// numbering.  A reply of unknown fate is looked for from the mark's floor
// up, and the first message of the bot's own found counts as it: after a
// restart the floor must not be below the replies the previous run sent
// there, or one of those is taken for the lost reply and the customer is
// never answered.
test('after a restart, a reply of unknown fate is not mistaken for an earlier reply in the same group', { skip, timeout: 90000 * SLOW }, async () => {
	const emu = await startTelegramEmulator({ token: TOKEN });
	let d = await daemon(emu);
	try {
		await polling(d);
		const { g, t1, t2, amy, ben } = twoTopics(emu);
		const m1 = emu.message({ from: amy, chat: g, topic: t1, text: '@acme_bakery_bot when are you open?' });
		const m2 = emu.message({ from: ben, chat: g, topic: t2, text: '@acme_bakery_bot menu please' });
		await emu.waitFor(() => emu.repliesTo(m1).length === 1, 15000 * SLOW, 'the first reply');
		// Its outcome is stored; the group's pace (a second) holds the next.
		await sleep(300);
		assert.equal(emu.repliesTo(m2).length, 0, 'the second reply waits for the group pace');
		const prev = d;
		await prev.kill();
		// The next send is lost on its way (a proxy's error page): its
		// fate is unknown, so the restarted daemon looks for it.
		emu.fail(1, '502');
		d = await daemon(emu, { restart: prev });
		await emu.waitFor(() => emu.repliesTo(m2).length >= 1, 20000 * SLOW, 'the second reply').catch((e) => {
			throw new Error(`${e.message}\n${d.logs().split('\n').filter((l) => /telegram: (reply|a reply)/.test(l)).join('\n')}`);
		});
		await sleep(1500);
		assert.equal(emu.repliesTo(m2).length, 1);
		assert.equal(emu.repliesTo(m1).length, 1);
		assert.match(d.logs(), /reply of unknown fate not found: sending it/);
	} finally {
		await d.stop();
		d.cleanup();
		await emu.close();
	}
});

// The look-up asks about every id after the mark it cannot rule out: in a
// private chat those are the bot's whole numbering, which a busy basic
// group under privacy mode fills with messages the bot never sees.  400
// such ids between the mark and the lost reply must not make it give up
// and send the reply again.
test('a lost reply is found past hundreds of message ids the bot never saw', { skip, timeout: 90000 * SLOW }, async () => {
	const emu = await startTelegramEmulator({ token: TOKEN });
	const d = await daemon(emu);
	try {
		await polling(d);
		const amy = emu.user({ first_name: 'Amy' });
		emu.fail(1, 'gap-drop-after');
		const m = emu.message({ from: amy, chat: emu.privateChat(amy), text: 'when are you open?' });
		await d.waitLog(/reply found already sent: not sent again|reply of unknown fate not found/, 60000 * SLOW);
		await emu.waitFor(() => emu.gapAfter && emu.repliesTo(emu.gapAfter).length >= 1, 15000 * SLOW, 'the reply to the next customer');
		await sleep(1500);
		assert.equal(emu.repliesTo(m).length, 1, `${emu.repliesTo(m).length} replies`);
		assert.equal(emu.repliesTo(emu.gapAfter).length, 1);
		assert.match(d.logs(), /reply found already sent: not sent again/);
	} finally {
		await d.stop();
		d.cleanup();
		await emu.close();
	}
});

// Two replies in one group (two forum topics), both of unknown fate: the
// first never went, the second did.  Looked for, the second's message is
// the first of the bot's own after the first's mark, so the first would
// take it for its own and its customer would never be answered: nothing
// else is sent in a chat while a reply there waits to be looked for.
test('while a reply of unknown fate waits to be looked for, nothing else is sent in its chat', { skip, timeout: 90000 * SLOW }, async () => {
	const emu = await startTelegramEmulator({ token: TOKEN });
	const d = await daemon(emu);
	try {
		await polling(d);
		const { g, t1, t2, amy, ben } = twoTopics(emu);
		emu.fail(1, 'drop-before'); // the first send: not carried out
		emu.fail(1, 'drop-after'); // the next: carried out, answer lost
		const cutUntil = (emu.editsCutUntil = Date.now() + 3000); // and no look-up succeeds for a while
		const m1 = emu.message({ from: amy, chat: g, topic: t1, text: '@acme_bakery_bot when are you open?' });
		const m2 = emu.message({ from: ben, chat: g, topic: t2, text: '@acme_bakery_bot menu please' });
		const both = () => emu.repliesTo(m1).length >= 1 && emu.repliesTo(m2).length >= 1;
		await emu.waitFor(both, 40000 * SLOW, 'both replies').catch((e) => {
			throw new Error(`${e.message}: ${emu.repliesTo(m1).length} and ${emu.repliesTo(m2).length}\n${lookups(d)}`);
		});
		await sleep(2000);
		assert.equal(emu.repliesTo(m1).length, 1);
		assert.equal(emu.repliesTo(m2).length, 1);
		// After the first (lost) send, the group got nothing before the
		// look-ups could run again.
		const later = emu.sendAttempts.filter((a) => a.chat === g.id).slice(1);
		assert.ok(later.length >= 2);
		for (const a of later) assert.ok(a.at >= cutUntil, `a send ${cutUntil - a.at} ms before the lost one was looked for`);
	} finally {
		await d.stop();
		d.cleanup();
		await emu.close();
	}
});

test('check: telegram settings are validated with file:line', { skip }, async () => {
	const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
	const { tmpdir } = await import('node:os');
	const path = await import('node:path');
	const { REPO } = await import('./lib/daemon.mjs');
	const dir = mkdtempSync(path.join(tmpdir(), 'fd-tg-check-'));
	try {
		const cfg = path.join(dir, 'c.yaml');
		writeFileSync(cfg, `business: { name: X, timezone: UTC, hours: { mon-sun: closed } }
rules: ["${REPO}/rules/*.yaml"]
replies: ["${REPO}/replies/*.yaml"]
connectors:
  - { type: telegram, instance: "http://api.example.com", token_env: TG }
  - { type: telegram, name: second }
  - { type: telegram, name: third, token_env: TG, messages_per_second: 5000 }
`);
		let out = '';
		try {
			execFileSync(BIN, ['check', '-c', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
		} catch (e) {
			out = e.stdout.toString() + e.stderr.toString();
			assert.equal(e.status, 2);
		}
		assert.match(out, /c\.yaml:5:\d+: .*instance.*http:\/\/ only on loopback/);
		assert.match(out, /c\.yaml:6:\d+: .*token_env or token_file/);
		assert.match(out, /c\.yaml:7:\d+: .*messages_per_second/);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});

// 1,000 messages: private chats, forum topics and Business chats, from many
// people, with some bots and unaddressed group talk; connections dropped,
// answers lost on the way, a rate limit, and the daemon killed twice.
// Every expected message answered exactly once: neither a reply libcurl
// sent again on its own after a kept-alive connection died, nor a lost
// reply taken for found because a look-up after a restart met an earlier
// reply of the bot's in the same group.  About 20 s here.
test('soak: 1,000 messages, dropped connections, lost answers and two SIGKILLs: every one answered once in its place', { skip, timeout: 180000 * SLOW }, async () => {
	const emu = await startTelegramEmulator({ token: TOKEN, globalPerSec: 100, graceMs: 500 * SLOW });
	let d = await daemon(emu, { extra: ', messages_per_second: 80' });
	const keyOf = (m) => (!m.chat ? '' : m.business_connection_id ? `b/${m.business_connection_id}/${m.chat.id}:${m.message_id}` : `${m.chat.id}:${m.message_id}`);
	const expectKeys = new Set();
	const unstored = [];
	// Whenever Telegram is told an update is confirmed (and after each
	// SIGKILL), the customer's message in it must already be stored.
	const checkConfirmed = () => {
		const fresh = [];
		for (const [id, c] of emu.confirmed) {
			if (c.checked) continue;
			c.checked = true;
			if (c.update.body && expectKeys.has(keyOf(c.update.body))) fresh.push([id, keyOf(c.update.body)]);
		}
		if (!fresh.length) return;
		const stored = new Set(sql(d, `SELECT post_id FROM posts WHERE post_id IN (${fresh.map(([, k]) => `'${k}'`).join(',')})`).split('\n'));
		for (const [id, k] of fresh) if (!stored.has(k)) unstored.push(id);
	};
	emu.onConfirm = checkConfirmed;
	try {
		await polling(d);
		const people = [];
		for (let i = 0; i < 160; i++) people.push(emu.user({ first_name: `P${i}` }));
		const bots = [emu.user({ first_name: 'Bot1', bot: true }), emu.user({ first_name: 'Bot2', bot: true })];
		const forums = [];
		for (let i = 0; i < 30; i++) forums.push({ g: emu.group({ forum: true, botAdmin: true }), topics: [] });
		const owners = [emu.user({ first_name: 'Owner1' }), emu.user({ first_name: 'Owner2' })];
		const conns = owners.map((o) => emu.connectBusiness(o));
		const expect = [];
		const silent = [];
		const TOTAL = 1000;
		let killed = null;
		// Connections cut at random: every 2.5 s, each open one with even odds.
		const dropper = setInterval(() => emu.dropAll(0.5), 2500);
		for (let i = 0; i < TOTAL; i++) {
			if (i === 330 || i === 660) {
				const prev = d;
				killed = (killed || Promise.resolve()).then(async () => {
					await prev.kill();
					checkConfirmed();
					d = await daemon(emu, { restart: prev, extra: ', messages_per_second: 80' });
				});
			}
			if (i % 97 === 13) emu.fail(1, ['drop-after', 'drop-before', '502', '502-after'][i % 4]);
			const p = people[i % people.length];
			const k = i % 10;
			let m;
			if (k < 5) {
				m = emu.message({ from: p, chat: emu.privateChat(p), text: `when are you open? (${i})` });
				expect.push(m);
			} else if (k < 8) {
				// Spread over the groups: Telegram lets a bot send 20 a
				// minute to one group.
				const f = forums[Math.floor(i / 10) % forums.length];
				if (f.topics.length < 4 && (i % 3 === 0 || !f.topics.length)) f.topics.push(emu.topic(f.g));
				const topic = f.topics[i % f.topics.length];
				if (k === 7 && i % 20 === 7) {
					silent.push(emu.message({ from: p, chat: f.g, topic, text: `when are you open? we should go (${i})` }));
					continue;
				}
				m = emu.message({ from: p, chat: f.g, topic, text: `@acme_bakery_bot when are you open? (${i})` });
				expect.push(m);
			} else if (k === 8) {
				m = emu.businessMessage({ conn: conns[Math.floor(i / 10) % 2], customer: p, text: `menu please (${i})` });
				expect.push(m);
			} else if (i % 20 === 9) {
				silent.push(emu.message({ from: bots[i % 2], chat: forums[i % forums.length].g, text: '@acme_bakery_bot when are you open?' }));
				continue;
			} else {
				m = emu.message({ from: p, chat: emu.privateChat(p), text: `menu? (${i})` });
				expect.push(m);
			}
			expectKeys.add(keyOf(m));
			if (i % 3 === 2) await sleep(10);
		}
		await killed;
		const answered = () => expect.filter((m) => emu.repliesTo(m).length >= 1).length;
		await emu.waitFor(() => answered() === expect.length, 120000 * SLOW, `every answer (${answered()} of ${expect.length})`).catch((e) => {
			const missing = expect.filter((m) => emu.repliesTo(m).length === 0).map(keyOf);
			throw new Error(`${e.message}: ${answered()} of ${expect.length}; unanswered: ${missing.join(' ')}\n${lookups(d)}\n${d.logs().slice(-3000)}`);
		});
		clearInterval(dropper);
		await sleep(1500);
		checkConfirmed();
		const twice = [];
		for (const m of expect) {
			const r = emu.repliesTo(m);
			if (r.length !== 1) twice.push(keyOf(m));
			else assert.equal(r[0].chat.id, m.chat.id, 'answered in another chat');
			if (m.message_thread_id) assert.equal(r[0].message_thread_id, m.message_thread_id, 'answered in another topic');
		}
		assert.deepEqual(twice, [], `${twice.length} messages answered more than once\n${lookups(d)}`);
		for (const m of silent) assert.equal(emu.repliesTo(m).length, 0, 'a bot or unaddressed talk answered');
		assert.equal(emu.sent.length, expect.length, 'nothing sent besides the answers');
		assert.deepEqual(emu.violations, [], 'sends while a rate limit held');
		assert.deepEqual(unstored, [], 'updates confirmed before their posts were stored');
		assert.equal(sql(d, "SELECT count(*) FROM outbox WHERE state <> 'sent' AND kind = 'reply'"), '0');
		console.log(`# telegram soak: ${expect.length} messages answered once, ${silent.length} left alone, ` +
			`${emu.limited} 429s, ${emu.confirmed.size} updates confirmed, 2 SIGKILLs`);
	} finally {
		emu.onConfirm = null;
		await d.stop();
		d.cleanup();
		await emu.close();
	}
});
