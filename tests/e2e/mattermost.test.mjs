// The Mattermost connector against the emulator (mattermost-emulator.mjs):
// channels, threads and DMs, self/bot/system posts, resume within the
// server's buffer, a lost session refilled over REST, an answer lost on
// the way, 429 with a plain-text body, a refused token, and a soak of
// 1,000 posts with dropped sockets and two SIGKILLs.
//
//   BUILD=build node --test tests/e2e/mattermost.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startDaemon, daemonMissing, sleep, waitUntil, httpGet, BUILD, AGENT_HASH } from './lib/daemon.mjs';
import { startMattermostEmulator, postLength } from './mattermost-emulator.mjs';

const SLOW = BUILD.includes('san') ? 3 : 1;
const skip = daemonMissing();
const TOKEN = 'mm-test-token-0123456789';

const RULES = `- id: opening-hours
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
const LEXICON = `threshold: -0.3
words: { terrible: -3, awful: -3, great: 2 }
`;
const SENTENCE = 'Sourdough, seeded rye, cinnamon buns, almond croissants and lemon tarts are baked here each morning. ';
const REPLIES = `faq.opening_hours: "Hi{{#author}} {{author}}{{/author}}! We bake from 7:00 every day."
faq.menu: "${SENTENCE.repeat(8).trim()}"
escalated: "Thanks! A person will reply by {{due}}."
escalated.refund: "Sorry about that. A person will look at the refund and reply by {{due}}."
negative: "Sorry to hear that. A person will reply by {{due}}."
abusive: "We've received your message."
human: "A person will reply by {{due}}."
waiting: "We have your message; a person will reply soon."
offline: "I've sent you a direct message so we can sort this out."
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
  - { type: mattermost, instance: "${emu.url}", token_env: FD_MM_TOKEN${extra} }
dashboard:
  listen: "127.0.0.1:${ports.dashboard}"
  agents: [ { login: sam, name: Sam, password_hash: "${AGENT_HASH}" } ]
`;
}

async function daemon(emu, { restart = null, env = {} } = {}) {
	const opts = {
		files: { 'rules.yaml': RULES, 'replies.yaml': REPLIES, 'lexicon.yaml': LEXICON },
		env: { FD_MM_TOKEN: TOKEN, ...env },
		timeoutMs: 15000 * SLOW,
		config: (ctx) => config(ctx, emu),
	};
	if (restart) Object.assign(opts, { dir: restart.dir, ports: restart.ports });
	const d = await startDaemon(opts);
	const before = restart ? restart.logs() : '';
	d.logs = () => before + d.log();
	return d;
}

const sql = (d, q) => execFileSync('sqlite3', [d.db, q]).toString().trim();

async function ready(d) {
	await d.waitLog(/mattermost: connected/, 15000 * SLOW);
}

test('channel posts, threads and DMs answered once in place; self, bots, webhooks and system posts not', { skip, timeout: 60000 * SLOW }, async () => {
	const emu = await startMattermostEmulator({ token: TOKEN, maxPostSize: 300, chatter: true });
	const d = await daemon(emu);
	try {
		await ready(d);
		const amy = emu.user({ username: 'amy' });
		const ben = emu.user({ username: 'ben' });
		const robot = emu.user({ username: 'robot', bot: true });
		const town = emu.channel({ name: 'town-square', members: [amy, ben, robot] });
		const top = emu.post({ from: amy, channel: town, text: 'Hi! **When are you open** on Sunday?' });
		await emu.waitFor(() => emu.repliesTo(top.id).length === 1, 10000 * SLOW, 'the channel reply');
		let r = emu.repliesTo(top.id)[0];
		assert.equal(r.channel_id, town.id);
		assert.equal(r.root_id, top.id, 'a top-level post is answered in its thread');
		assert.match(r.message, /We bake from 7:00/);
		// A reply inside the thread: root_id is the thread's root, never the reply.
		const inThread = emu.post({ from: ben, replyTo: top, text: 'and [when are you open](https://evil.example) on Monday?' });
		await emu.waitFor(() => emu.repliesTo(inThread.id).length === 1, 10000 * SLOW, 'the thread reply');
		r = emu.repliesTo(inThread.id)[0];
		assert.equal(r.root_id, top.id);
		// A DM: answered in the DM, top level.
		const dm = emu.dm(ben);
		const q = emu.post({ from: ben, channel: dm, text: 'when are you open?' });
		await emu.waitFor(() => emu.repliesTo(q.id).length === 1, 10000 * SLOW, 'the DM reply');
		r = emu.repliesTo(q.id)[0];
		assert.equal(r.channel_id, dm.id);
		assert.equal(r.root_id, '');
		// A long answer is split, every part within MaxPostSize.
		const menu = emu.post({ from: amy, channel: town, text: 'can I see your full menu?' });
		await emu.waitFor(() => emu.repliesTo(menu.id).length >= 2, 10000 * SLOW, 'the split answer');
		for (const p of emu.sent()) assert.ok(postLength(p.message) <= 300, `${postLength(p.message)} characters`);
		// Not answered: a bot, a webhook, a system post, the bot itself.
		const ignored = [
			emu.post({ from: robot, channel: town, text: 'when are you open?' }),
			emu.post({ from: amy, channel: town, text: 'when are you open? (webhook)', webhook: true }),
			emu.post({ from: amy, channel: town, text: 'amy joined the channel.', type: 'system_join_channel' }),
			emu.post({ from: emu.me, channel: town, text: 'when are you open? (self)' }),
		];
		// A redelivered post is answered once.
		emu.redeliver(q);
		const last = emu.post({ from: amy, channel: town, text: 'when are you open? (last)' });
		await emu.waitFor(() => emu.repliesTo(last.id).length === 1, 10000 * SLOW, 'the last reply');
		await sleep(800);
		for (const p of ignored) assert.equal(emu.repliesTo(p.id).length, 0, `${p.id} answered`);
		assert.equal(emu.repliesTo(q.id).length, 1);
		assert.equal(sql(d, `SELECT count(*) FROM posts WHERE post_id = '${ignored[2].id}'`), '0', 'a system post is not stored');
		assert.match(d.logs(), new RegExp(`msg=post .*post=${top.id}`));
		const h = await httpGet(d.url('/healthz'));
		assert.match(h.body, /"mattermost"[^}]*"ok"/);
	} finally {
		await d.stop();
		d.cleanup();
		await emu.close();
	}
});

const postsRequests = (emu) => emu.requests.filter((r) => /\/api\/v4\/channels\/[a-z0-9]+\/posts\?since=/.test(r.path));

test('a dropped socket resumes within the buffer (no new hello); a lost session is refilled over REST, a restart too', { skip, timeout: 90000 * SLOW }, async () => {
	const emu = await startMattermostEmulator({ token: TOKEN, chatter: true });
	let d = await daemon(emu);
	try {
		await ready(d);
		const amy = emu.user({ username: 'amy' });
		const town = emu.channel({ name: 'town-square', members: [amy] });
		const first = emu.post({ from: amy, channel: town, text: 'when are you open? (first)' });
		await emu.waitFor(() => emu.repliesTo(first.id).length === 1, 10000 * SLOW, 'the first reply');

		// 1. Dropped without a close frame: the posts meanwhile are replayed.
		emu.dropAll();
		const whileDropped = [1, 2, 3].map((i) => emu.post({ from: amy, channel: town, text: `when are you open? (dropped ${i})` }));
		await emu.waitFor(() => whileDropped.every((p) => emu.repliesTo(p.id).length === 1), 20000 * SLOW, 'replies after the resume');
		assert.equal(emu.hellos, 1, 'resumed without a new hello');
		assert.ok(emu.resumes >= 1);
		assert.equal(postsRequests(emu).length, 0, 'no refill was needed');

		// 2. The server forgot the session: a new hello, and the posts of the
		// gap come over REST, a DM from someone the bot never met included.
		emu.forgetSessions();
		const zoe = emu.user({ username: 'zoe' });
		const lost = [emu.post({ from: amy, channel: town, text: 'when are you open? (lost 1)' }), emu.post({ from: zoe, channel: emu.dm(zoe), text: 'when are you open? (lost DM)' })];
		await emu.waitFor(() => lost.every((p) => emu.repliesTo(p.id).length === 1), 20000 * SLOW, 'replies after the refill');
		assert.equal(emu.hellos, 2);
		assert.ok(postsRequests(emu).length >= 2, 'both channels refilled');
		await d.waitLog(/mattermost: refill done/, 5000 * SLOW);

		// 3. A restart resumes the stored session: what came meanwhile is replayed.
		assert.deepEqual(await d.stop(), { code: 0, signal: null });
		const whileDown = emu.post({ from: amy, channel: town, text: 'when are you open? (while down)' });
		const refills = postsRequests(emu).length;
		d = await daemon(emu, { restart: d });
		await emu.waitFor(() => emu.repliesTo(whileDown.id).length === 1, 20000 * SLOW, 'the reply after the restart');
		assert.equal(emu.hellos, 2, 'the restart resumed the stored session');
		assert.equal(postsRequests(emu).length, refills);

		// 4. Down long enough for the session to go: refilled after the restart.
		await d.kill();
		emu.forgetSessions();
		const gone = emu.post({ from: amy, replyTo: first, text: 'when are you open? (session gone)' });
		d = await daemon(emu, { restart: d });
		await emu.waitFor(() => emu.repliesTo(gone.id).length === 1, 20000 * SLOW, 'the refilled reply after a restart');
		assert.equal(emu.repliesTo(gone.id)[0].root_id, first.id);
		await sleep(800);
		for (const p of [first, ...whileDropped, ...lost, whileDown, gone]) assert.equal(emu.repliesTo(p.id).length, 1, `${p.id} answered once`);
	} finally {
		await d.stop();
		d.cleanup();
		await emu.close();
	}
});

test('an answer lost on the way is not posted twice: same pending_post_id within 30 s, the bot\'s own post looked for after', { skip, timeout: 90000 * SLOW }, async () => {
	const emu = await startMattermostEmulator({ token: TOKEN });
	let d = await daemon(emu);
	try {
		await ready(d);
		const amy = emu.user({ username: 'amy' });
		const town = emu.channel({ name: 'town-square', members: [amy] });
		// A 502 after the post was created: the retry gets the same post.
		emu.loseAnswers = 1;
		const a = emu.post({ from: amy, channel: town, text: 'when are you open? (502)' });
		await waitUntil(() => sql(d, "SELECT count(*) FROM outbox WHERE state = 'sent'") === '1', 15000 * SLOW, 'the row sent', 50);
		// Cut while saving: the retry meets 500 "pending", then gets the post.
		emu.setSaveDelayMs(2500);
		emu.cutWhileSaving = 1;
		const b = emu.post({ from: amy, channel: town, text: 'when are you open? (cut)' });
		await waitUntil(() => sql(d, "SELECT count(*) FROM outbox WHERE state = 'sent'") === '2', 20000 * SLOW, 'the second row sent', 50);
		assert.ok(emu.requests.some((r) => r.path === '/api/v4/posts' && r.status === 500), 'the pending answer was met');
		emu.setSaveDelayMs(0);
		// The process dies waiting for the answer; by the time it is back
		// the server has forgotten the pending_post_id.
		emu.holdAnswers = 1;
		const c = emu.post({ from: amy, channel: town, text: 'when are you open? (held)' });
		await emu.waitFor(() => emu.repliesTo(c.id).length === 1, 10000 * SLOW, 'the held post created');
		await d.kill();
		emu.setDedupeMs(0);
		sql(d, "UPDATE outbox SET created = created - 120 WHERE state = 'pending'");
		d = await daemon(emu, { restart: d });
		await waitUntil(() => sql(d, "SELECT count(*) FROM outbox WHERE state = 'sent'") === '3', 20000 * SLOW, 'the held row settled', 50);
		await d.waitLog(/reply found already posted: not sent again/, 5000 * SLOW);
		for (const p of [a, b, c]) assert.equal(emu.repliesTo(p.id).length, 1, `${p.text}: ${emu.repliesTo(p.id).length} posts`);
		assert.equal(emu.sent().length, 3);
	} finally {
		await d.stop();
		d.cleanup();
		await emu.close();
	}
});

test('429 with a plain-text body: nothing goes before the reset and nothing is lost; remaining 0 waits too', { skip, timeout: 60000 * SLOW }, async () => {
	const emu = await startMattermostEmulator({ token: TOKEN });
	const d = await daemon(emu);
	try {
		await ready(d);
		const amy = emu.user({ username: 'amy' });
		const town = emu.channel({ name: 'town-square', members: [amy] });
		const reset = emu.storm(2500);
		const refs = [];
		for (let i = 0; i < 6; i++) refs.push(emu.post({ from: amy, channel: town, text: `when are you open? (${i})` }));
		await emu.waitFor(() => refs.every((p) => emu.repliesTo(p.id).length === 1), 30000 * SLOW, 'every reply after the reset');
		for (const p of emu.sent()) assert.ok(p.at >= reset, 'a post went out before the reset');
		const limited = emu.requests.filter((r) => r.path === '/api/v4/posts' && r.status === 429).length;
		assert.ok(limited >= 1 && limited <= 8, `${limited} posts answered 429: the bot must wait, not hammer`);
		assert.match(d.logs(), /rate limited \(429\): replies wait for the reset/);
		assert.equal(sql(d, "SELECT count(*) FROM outbox WHERE state = 'failed'"), '0');
	} finally {
		await d.stop();
		d.cleanup();
		await emu.close();
	}
});

test('a refused token: an error line, down in /healthz, no tight reconnect loop', { skip, timeout: 60000 * SLOW }, async () => {
	const emu = await startMattermostEmulator({ token: TOKEN });
	const d = await daemon(emu, { env: { FD_MM_TOKEN: 'wrong-token' } });
	try {
		await d.waitLog(/refused the access token \(401\)/, 10000 * SLOW);
		const h = await httpGet(d.url('/healthz'));
		assert.match(h.body, /401 from server: check the token/);
		const before = emu.requests.length + emu.upgrades;
		await sleep(3000);
		assert.ok(emu.requests.length + emu.upgrades - before <= 1, 'retried at once after a 401');
	} finally {
		await d.stop();
		d.cleanup();
		await emu.close();
	}
});

test('check: mattermost settings are validated with file:line', { skip }, async () => {
	const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
	const { tmpdir } = await import('node:os');
	const path = await import('node:path');
	const { BIN, REPO } = await import('./lib/daemon.mjs');
	const dir = mkdtempSync(path.join(tmpdir(), 'fd-mm-check-'));
	try {
		const cfg = path.join(dir, 'c.yaml');
		writeFileSync(cfg, `business: { name: X, timezone: UTC, hours: { mon-sun: closed } }
rules: ["${REPO}/rules/*.yaml"]
replies: ["${REPO}/replies/*.yaml"]
connectors:
  - { type: mattermost, instance: "http://chat.example.com", token_env: MM }
  - { type: mattermost, name: second, instance: "https://chat.example.com" }
`);
		let out = '';
		try {
			execFileSync(BIN, ['check', '-c', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
		} catch (e) {
			out = e.stdout.toString() + e.stderr.toString();
			assert.equal(e.status, 2);
		}
		assert.match(out, /c\.yaml:5:\d+: .*instance/);
		assert.match(out, /c\.yaml:6:\d+: .*token/);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});

test('soak: 1,000 posts in channels, threads and DMs, sockets dropped at random, two SIGKILLs: each answered once, in place', { skip, timeout: 180000 * SLOW }, async () => {
	const LIMIT = 300;
	const emu = await startMattermostEmulator({ token: TOKEN, maxPostSize: LIMIT, chatter: true, rateLimit: { perSecond: 400, burst: 200 } });
	let d = await daemon(emu);
	const t0 = Date.now();
	try {
		await ready(d);
		const people = Array.from({ length: 40 }, (_, i) => emu.user({ username: `cust${i}` }));
		const robots = [emu.user({ username: 'robot', bot: true })];
		const channels = [
			emu.channel({ name: 'support', members: [...people, ...robots] }),
			emu.channel({ name: 'orders', type: 'P', members: [...people, ...robots] }),
			emu.channel({ name: 'group', type: 'G', members: people.slice(0, 10) }),
		];
		const expect = []; // { post, kind: 'public' | 'dm' | 'complaint', author }
		const ignored = [];
		const roots = []; // top-level FAQ posts that threads may continue
		const storms = [];
		let restarting = null;
		const N = 1000;
		for (let i = 0; i < N; i++) {
			if (i === 100) emu.setDrop([600, 2000]);
			// A post let through in the very millisecond a storm begins is
			// before it: counted by the order of admission, not by the clock.
			if (i === 250 || i === 750) storms.push({ from: Date.now(), first: emu.admissions, until: emu.storm(1200) });
			if (i === 330 || i === 660) {
				const forget = i === 660;
				await restarting;
				restarting = (async () => {
					await d.kill();
					if (forget) emu.forgetSessions(); // the session is gone too: refill over REST
					await sleep(300);
					d = await daemon(emu, { restart: d });
				})();
			}
			const who = people[i % people.length];
			const r = i % 20;
			let text = `when are you open? (#${i})`;
			if (r === 7) text = `can I see your full menu? (#${i})`;
			if (i % 31 === 5) {
				ignored.push(emu.post({ from: robots[0], channel: channels[0], text: `when are you open? (bot #${i})` }));
				continue;
			}
			if (i % 37 === 9) {
				ignored.push(emu.post({ from: emu.me, channel: channels[1], text: `when are you open? (self #${i})` }));
				continue;
			}
			if (r < 7) {
				expect.push({ post: emu.post({ from: who, channel: emu.dm(who), text }), kind: 'dm', author: who });
			} else if (r < 12 && roots.length) {
				const root = roots[(i * 7) % roots.length];
				expect.push({ post: emu.post({ from: who, replyTo: root, text }), kind: 'public', author: who });
			} else if (r === 13) {
				const ch = channels[i % 2];
				expect.push({ post: emu.post({ from: who, channel: ch, text: `I want a refund for order ${i}` }), kind: 'complaint', author: who });
			} else {
				const ch = channels[i % channels.length];
				const who2 = ch.type === 'G' ? people[i % 10] : who;
				const p = emu.post({ from: who2, channel: ch, text });
				expect.push({ post: p, kind: 'public', author: who2 });
				if (r !== 7) roots.push(p);
			}
			await sleep(4);
		}
		await restarting;
		emu.setDrop(null);
		const done = (e) => {
			const rs = emu.repliesTo(e.post.id);
			return e.kind === 'complaint' ? rs.length >= 2 : rs.length >= 1;
		};
		await waitUntil(() => expect.every(done), 90000 * SLOW, 'every post answered', 100).catch((err) => {
			const missing = expect.filter((e) => !done(e));
			throw new Error(`${err.message}: ${missing.length} unanswered, e.g. ${JSON.stringify(missing.slice(0, 3).map((e) => [e.kind, e.post.message]))}\n${d.logs().slice(-4000)}`);
		});
		await sleep(1500); // a second answer would show up now
		let total = 0;
		for (const e of expect) {
			const rs = emu.repliesTo(e.post.id);
			total += rs.length;
			const keys = new Set(rs.map((r) => r.props.frontdesk_key));
			assert.equal(keys.size, rs.length, `${e.post.message}: a part posted twice`);
			const dm = emu.dm(e.author).id;
			const root = e.post.root_id || e.post.id;
			for (const r of rs) {
				const priv = r.channel_id === dm;
				if (!priv) {
					assert.equal(r.channel_id, e.post.channel_id, `${e.post.message}: answered in another channel`);
					assert.equal(r.root_id, root, `${e.post.message}: answered outside its thread`);
				} else {
					assert.equal(r.root_id, '', 'a DM answer is top level');
				}
				if (e.kind === 'dm') assert.ok(priv, `${e.post.message}: a DM answered in public`);
				if (e.kind === 'public') assert.ok(!priv, `${e.post.message}: a public question answered in private`);
			}
			if (e.kind === 'complaint') {
				assert.ok(rs.some((r) => r.channel_id !== emu.dm(e.author).id), 'the public pointer');
				assert.ok(rs.some((r) => r.channel_id === emu.dm(e.author).id), 'the answer in private');
			}
		}
		for (const p of ignored) assert.equal(emu.repliesTo(p.id).length, 0, `bot or self post answered: ${p.message}`);
		assert.equal(emu.sent().length, total, 'nothing sent besides the answers');
		for (const p of emu.sent()) assert.ok(postLength(p.message) <= LIMIT, `a post of ${postLength(p.message)} characters`);
		for (const s of storms) {
			const during = emu.sent().filter((p) => p.seq >= s.first && p.at < s.until);
			assert.equal(during.length, 0, 'a post created during a rate-limit storm');
			const hammered = emu.requests.filter((r) => r.path === '/api/v4/posts' && r.status === 429 && r.at >= s.from && r.at < s.until).length;
			assert.ok(hammered <= 12, `${hammered} posts tried during one storm`);
		}
		assert.equal(sql(d, "SELECT count(*) FROM outbox WHERE kind = 'reply' AND state <> 'sent'"), '0');
		console.log(`# mattermost soak: ${expect.length} customer posts (${total} answers), ${ignored.length} bot/self posts, ` +
			`${emu.drops || 0} socket drops, 2 SIGKILLs, ${emu.hellos} hellos, ${emu.resumes} resumes, ${postsRequests(emu).length} refill requests, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
	} finally {
		await d.stop();
		d.cleanup();
		await emu.close();
	}
});
