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
