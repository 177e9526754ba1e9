// The Slack connector against the Slack emulator (slack-emulator.mjs, which
// follows PLATFORMS.md): channels, threads and DMs; mentions that arrive
// twice; envelopes acknowledged once stored and redeliveries answered once;
// socket refreshes without a gap; link_disabled and too_many_websockets
// reported without a reconnect loop; Tier-1 and chat.postMessage 429s
// honoured (also across a restart); ok:false errors; a reply whose outcome
// was unknown looked for before it is sent again.
//
//   BUILD=build node --test tests/e2e/slack.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startSlackEmulator, slackLength, slackUnescape } from './slack-emulator.mjs';
import { daemonMissing, sleep, waitUntil, httpGet, BIN } from './lib/daemon.mjs';
import { slackDaemon, MENU, SLOW } from './lib/slack.mjs';

const skip = daemonMissing();
const sql = (d, q) => execFileSync('sqlite3', [d.db, q]).toString().trim();
const daemon = slackDaemon;

async function connected(d, n = 1) {
	await waitUntil(() => (d.log().match(/msg="slack: connected"/g) || []).length >= n, 15000 * SLOW, 'slack: connected').catch((e) => {
		throw new Error(`${e.message}\n${d.log().slice(-3000)}`);
	});
}

async function until(pred, ms, what, d) {
	await waitUntil(pred, ms * SLOW, what, 25).catch((e) => {
		throw new Error(`${e.message}\n--- daemon log (end) ---\n${d ? d.log().slice(-4000) : ''}`);
	});
}

async function health(d) {
	const r = await httpGet(d.url('/healthz'));
	return r.json.connectors.find((c) => c.type === 'slack');
}

// Run body with an emulator and a daemon; always clean up.
async function withSlack(emuOpts, body) {
	const emu = await startSlackEmulator(emuOpts);
	const box = { d: null };
	try {
		box.d = await daemon(emu);
		await connected(box.d);
		await body(emu, box);
		const ex = await box.d.stop();
		assert.deepEqual(ex, { code: 0, signal: null }, box.d.log().slice(-3000));
	} finally {
		if (box.d) {
			await box.d.kill();
			box.d.cleanup();
		}
		await emu.close();
	}
}

const customerEvents = (emu) => [...emu.events.values()].filter((e) => !e.event.bot_id && !e.event.subtype);

test('answers in channels, threads and DMs, once each; skips bots, itself, edits and joins; text made inert', { skip, timeout: 60000 * SLOW }, async () => {
	await withSlack({}, async (emu, { d }) => {
		const amy = emu.user({ name: 'amy', display: '<!channel> Amy & co' });
		const general = emu.channel({ name: 'general' });
		const robot = emu.user({ name: 'otherbot', bot: true });

		// A mention in a channel comes twice (message + app_mention).
		const top = emu.say({ from: amy, channel: general, text: 'when are you open?', mention: true });
		assert.equal(top.events.length, 2);
		await until(() => emu.repliesTo(top).length === 1, 10000, 'the channel answer', d);
		const r1 = emu.repliesTo(top)[0];
		assert.equal(r1.channel, general.id);
		assert.equal(r1.thread_ts, top.ts, 'answered in a thread under the message');
		assert.equal(r1.unfurl, false);

		// The customer follows up in that thread: the answer stays there.
		const inThread = emu.say({ from: amy, channel: general, text: 'and when are you open on monday?', thread_ts: top.ts });
		// A DM is answered inline in the DM.
		const dm = emu.say({ from: amy, channel: emu.im(amy), text: 'when are you open tomorrow?' });
		// Never answered: another bot, the bot itself, an edit, a join.
		const ignored = [
			emu.say({ from: robot, channel: general, text: 'when are you open?' }),
			emu.say({ from: emu.me, channel: general, text: 'when are you open? (ours)' }),
			emu.say({ from: amy, channel: general, text: 'when are you open (edited)', subtype: 'message_changed' }),
			emu.say({ from: amy, channel: general, text: '<@U1> has joined the channel', subtype: 'channel_join' }),
		];
		await until(() => emu.repliesTo(inThread).length === 1 && emu.repliesTo(dm).length === 1, 10000, 'thread and DM answers', d);
		assert.equal(emu.repliesTo(inThread)[0].thread_ts, top.ts);
		assert.equal(emu.repliesTo(inThread)[0].channel, general.id);
		assert.equal(emu.repliesTo(dm)[0].channel, emu.im(amy).id);
		assert.equal(emu.repliesTo(dm)[0].thread_ts, null, 'a DM is answered inline');
		assert.equal(emu.repliesTo(dm)[0].private, true);
		// The author's name (from the message's user_profile) is shown, made
		// inert: no <!channel>, '&' escaped.
		const named = emu.repliesTo(dm)[0].text;
		assert.ok(!named.includes('<!channel>') && !named.includes('<'), named);
		assert.ok(named.includes('Amy &amp; co'), named);
		assert.ok(named.includes('@\u200bchannel'), named);

		await sleep(1500);
		for (const r of [top, inThread, dm]) assert.equal(emu.repliesTo(r).length, 1, `${r.id} answered once`);
		for (const r of ignored) assert.equal(emu.repliesTo(r).length, 0, `${r.id} answered`);
		assert.equal(emu.posted.length, 3, 'nothing else sent');
		// Every envelope acknowledged, in time (no redelivery needed).
		assert.equal(emu.unacked().length, 0, JSON.stringify(emu.unacked().map((e) => e.event)));
		assert.equal(emu.stats.redeliveries, 0);
		assert.ok(emu.stats.echoes >= 3, 'our own replies came back as events and were skipped');
		assert.deepEqual(emu.violations, []);
		// The log names the post as Slack does.
		assert.match(d.log(), new RegExp(`msg=post connector=slack post=${top.id.replace('.', '\\.')} `));
		assert.equal(sql(d, `SELECT count(*) FROM posts WHERE post_id = '${top.id}'`), '1');
	});
});

test('a public complaint: one pointer in the thread, the answer and the team in a DM', { skip, timeout: 60000 * SLOW }, async () => {
	await withSlack({}, async (emu, { d }) => {
		const ben = emu.user({ name: 'ben' });
		const support = emu.channel({ name: 'support' });
		const ref = emu.say({ from: ben, channel: support, text: 'I want a refund, the cake was terrible' });
		await until(() => emu.repliesTo(ref).length === 2, 10000, 'pointer and private answer', d);
		const [pointer, answer] = emu.repliesTo(ref);
		assert.equal(pointer.channel, support.id);
		assert.equal(pointer.thread_ts, ref.ts);
		assert.match(pointer.text, /direct message/);
		assert.equal(answer.channel, emu.im(ben).id, 'the answer goes to the DM with the author');
		assert.equal(answer.private, true);
		assert.ok(pointer.at <= answer.at);
		assert.ok(emu.stats.dmOpens >= 1);
		// A person answers from the queue: in the DM, signed (Slack shows the bot).
		const q = (args) => execFileSync(BIN, ['queue', ...args, '-c', d.config]).toString();
		const t = JSON.parse(q(['list', '--json']));
		assert.equal(t.length, 1);
		q(['reply', String(t[0].id), '--agent', 'sam', 'Refunded today & sorry <3']);
		await until(() => emu.posted.length === 3, 10000, "the person's reply", d);
		const last = emu.posted[2];
		assert.equal(last.channel, emu.im(ben).id);
		assert.ok(last.text.includes('Refunded today &amp; sorry &lt;3'), last.text);
		assert.match(last.text, /Sam/);
		// The DM channel was opened once and remembered.
		assert.equal(emu.stats.dmOpens, 1);
	});
});

test('a long answer: messages of at most 4,000 characters, in order, in the thread', { skip, timeout: 60000 * SLOW }, async () => {
	await withSlack({ channelLimit: { burst: 2, perSecond: 1 } }, async (emu, { d }) => {
		const cat = emu.user({ name: 'cat' });
		const general = emu.channel({ name: 'general' });
		const ref = emu.say({ from: cat, channel: general, text: 'can I see your full menu?' });
		await until(() => emu.repliesTo(ref).length >= 2 && sql(d, "SELECT count(*) FROM outbox WHERE state = 'pending'") === '0', 20000, 'the whole menu', d);
		const parts = emu.repliesTo(ref);
		for (const p of parts) {
			assert.ok(slackLength(p.text) <= 4000, `a message of ${slackLength(p.text)} characters`);
			assert.equal(p.thread_ts, ref.ts);
		}
		assert.ok(parts.length >= 2);
		const words = (s) => s.split(/\s+/).filter(Boolean);
		assert.deepEqual(words(parts.map((p) => slackUnescape(p.text)).join(' ')), words(MENU));
		assert.deepEqual(emu.violations, [], 'no message over the limit or before a reset');
	});
});

test('envelopes acknowledged once stored; a redelivery on any socket is answered once', { skip, timeout: 60000 * SLOW }, async () => {
	await withSlack({}, async (emu, { d }) => {
		const dan = emu.user({ name: 'dan' });
		const general = emu.channel({ name: 'general' });
		const refs = [];
		for (let i = 0; i < 4; i++) refs.push(emu.say({ from: dan, channel: i % 2 ? emu.im(dan) : general, text: `when are you open? (${i})`, mention: i % 2 === 0 }));
		await until(() => refs.every((r) => emu.repliesTo(r).length === 1), 10000, 'the first answers', d);
		// Slack sends them again (both events of a mention), and once more
		// after a dropped socket, on whichever socket is there.
		for (const r of refs) for (let k = 0; k < r.events.length; k++) emu.redeliver(r, k);
		emu.dropAll();
		await connected(d, 2);
		for (const r of refs) emu.redeliver(r, 0);
		await until(() => emu.unacked().length === 0, 10000, 'every envelope acknowledged', d);
		await sleep(1000);
		for (const r of refs) assert.equal(emu.repliesTo(r).length, 1, `${r.id} answered again`);
		assert.equal(emu.posted.length, refs.length);
		assert.match(d.log(), /slack: event delivered again/);
	});
});

test('refresh: the next socket opens before the old one closes; nothing lost, no gap', { skip, timeout: 90000 * SLOW }, async () => {
	await withSlack({ lifetimeMs: 3000 * SLOW, warnMs: 1000 * SLOW, graceMs: 1500 * SLOW, openLimit: { burst: 20, perMinute: 60 } }, async (emu, { d }) => {
		const eve = emu.user({ name: 'eve' });
		const chans = [emu.channel({ name: 'a' }), emu.channel({ name: 'b' }), emu.im(eve)];
		const refs = [];
		for (let i = 0; i < 30; i++) {
			refs.push(emu.say({ from: eve, channel: chans[i % 3], text: `when are you open? (${i})` }));
			await sleep(300 * SLOW);
		}
		await until(() => refs.every((r) => emu.repliesTo(r).length >= 1), 20000, 'every answer', d);
		await sleep(500);
		for (const r of refs) assert.equal(emu.repliesTo(r).length, 1, `${r.id}`);
		assert.ok(emu.stats.refreshes >= 2, `refreshes: ${emu.stats.refreshes}`);
		assert.equal(emu.stats.gaps, 0, 'a socket was closed before its successor was up');
		assert.match(d.log(), /slack: socket refreshed/);
		// One apps.connections.open per socket: no loop.
		assert.ok(emu.stats.opens <= emu.stats.connections + 1, `opens ${emu.stats.opens}, connections ${emu.stats.connections}`);
		assert.equal(emu.stats.dropped, 0);
	});
});

test('link_disabled: reported in the log and /healthz, no reconnect loop', { skip, timeout: 60000 * SLOW }, async () => {
	await withSlack({}, async (emu, { d }) => {
		emu.disableLink();
		await d.waitLog('Socket Mode is turned off', 10000 * SLOW);
		const h = await health(d);
		assert.equal(h.health, 'down');
		assert.match(h.detail, /Socket Mode.*link_disabled/);
		const opens = emu.stats.opens;
		await sleep(4000);
		assert.equal(emu.stats.opens, opens, 'apps.connections.open called again within seconds');
		assert.match(d.log(), /level=error msg="connector needs attention" connector=slack/);
	});
});

test('too_many_websockets: logged and backed off, never a tight loop', { skip, timeout: 60000 * SLOW }, async () => {
	const emu = await startSlackEmulator({ maxSockets: 0, openLimit: { burst: 100, perMinute: 1000 } });
	const d = await daemon(emu);
	try {
		await d.waitLog('too many Socket Mode connections', 10000 * SLOW);
		const t0 = Date.now();
		const o0 = emu.stats.opens;
		await sleep(6000);
		const calls = emu.stats.opens - o0;
		// Backoff with jitter (1-2 s, 1-3 s, 1-5 s, ...) and our own pace.
		assert.ok(calls <= 5, `${calls} calls to apps.connections.open in ${Date.now() - t0} ms`);
		const h = await health(d);
		assert.equal(h.health, 'degraded');
		assert.match(h.detail, /too many Socket Mode connections/);
	} finally {
		await d.stop();
		d.cleanup();
		await emu.close();
	}
});

test('apps.connections.open is Tier 1: its 429 is waited out, never looped on', { skip, timeout: 60000 * SLOW }, async () => {
	await withSlack({ openLimit: { burst: 1, perMinute: 20 } }, async (emu, { d }) => {
		const fay = emu.user({ name: 'fay' });
		for (let i = 0; i < 2; i++) {
			emu.dropAll();
			await sleep(200);
		}
		await connected(d, 2);
		const ref = emu.say({ from: fay, channel: emu.im(fay), text: 'when are you open?' });
		await until(() => emu.repliesTo(ref).length === 1, 20000, 'an answer after the reconnect', d);
		assert.ok(emu.stats.opensLimited >= 1, 'the emulator limited apps.connections.open');
		assert.deepEqual(emu.violations.filter((v) => v.scope === 'open'), [], 'called again before Retry-After');
		assert.ok(emu.stats.opens <= 6, `opens: ${emu.stats.opens}`);
	});
});

test('chat.postMessage 429: nothing before the reset, nothing lost, and the wait survives a SIGKILL', { skip, timeout: 90000 * SLOW }, async () => {
	await withSlack({}, async (emu, box) => {
		const gus = emu.user({ name: 'gus' });
		const general = emu.channel({ name: 'general' });
		emu.storm(2500);
		const refs = [];
		for (let i = 0; i < 5; i++) refs.push(emu.say({ from: gus, channel: i % 2 ? general : emu.im(gus), text: `when are you open? (${i})` }));
		await until(() => refs.every((r) => emu.repliesTo(r).length === 1), 20000, 'answers after the reset', box.d);
		assert.ok(emu.stats.postsLimited >= 1);
		assert.deepEqual(emu.violations, []);
		// A 429 with a long wait, then SIGKILL: the next process knows the wait.
		const limitedBefore = emu.stats.postsLimited;
		const reset = emu.storm(6000 * SLOW);
		const late = emu.say({ from: gus, channel: general, text: 'when are you open? (late)' });
		await until(() => emu.stats.postsLimited > limitedBefore, 10000, 'the 429', box.d);
		await sleep(300); // the wait is committed with the row
		await box.d.kill();
		const posts = emu.stats.posts;
		box.d = await daemon(emu, box.d);
		await until(() => emu.repliesTo(late).length === 1, 30000, 'the answer after the reset', box.d);
		assert.ok(emu.repliesTo(late)[0].at >= reset, 'sent before the reset');
		assert.equal(emu.stats.posts - posts, 1, 'the restarted process spent requests learning the wait again');
		assert.deepEqual(emu.violations, []);
	});
});

test('ok:false: a final error fails the row, Slack trouble is retried, internal_error is looked up first', { skip, timeout: 90000 * SLOW }, async () => {
	await withSlack({}, async (emu, { d }) => {
		const hal = emu.user({ name: 'hal' });
		const general = emu.channel({ name: 'general' });
		// Final: not sent again.
		emu.failNext('not_in_channel');
		const a = emu.say({ from: hal, channel: general, text: 'when are you open? (a)' });
		await d.waitLog('Slack refused the reply', 10000 * SLOW);
		await until(() => sql(d, "SELECT count(*) FROM outbox WHERE state = 'failed'") === '1', 10000, 'the row failed', d);
		// Slack's trouble: retried, answered once.
		emu.failNext('service_unavailable');
		const b = emu.say({ from: hal, channel: emu.im(hal), text: 'when are you open? (b)' });
		await until(() => emu.repliesTo(b).length === 1, 15000, 'the retried answer', d);
		// internal_error after the message was created: the connector looks
		// for it (history) and does not post it again.
		emu.failNext('internal_error', { posted: true });
		const c = emu.say({ from: hal, channel: general, text: 'when are you open? (c)' });
		await until(() => emu.repliesTo(c).length === 1, 10000, 'the message created', d);
		await until(() => sql(d, "SELECT count(*) FROM outbox WHERE state = 'pending'") === '0', 20000, 'the row settled', d);
		await sleep(1000);
		assert.equal(emu.repliesTo(a).length, 0);
		assert.equal(emu.repliesTo(b).length, 1);
		assert.equal(emu.repliesTo(c).length, 1, 'sent twice after internal_error');
		assert.ok(emu.stats.histories >= 1, 'no lookup before sending again');
		assert.match(d.log(), /was found: not sent again/);
	});
});

test('SIGKILL while a reply is on its way: it is looked for, never sent twice', { skip, timeout: 90000 * SLOW }, async () => {
	await withSlack({}, async (emu, box) => {
		const ivy = emu.user({ name: 'ivy' });
		const general = emu.channel({ name: 'general' });
		const first = emu.say({ from: ivy, channel: general, text: 'when are you open? (warm-up)' });
		await until(() => emu.repliesTo(first).length === 1, 10000, 'the first answer', box.d);
		// Slack creates the message but answers late; the process dies first.
		emu.setPostDelay(5000);
		const ref = emu.say({ from: ivy, channel: general, text: 'when are you open? (in flight)' });
		await until(() => emu.repliesTo(ref).length === 1, 10000, 'the message created', box.d);
		await box.d.kill();
		emu.setPostDelay(0);
		box.d = await daemon(emu, box.d);
		await until(() => sql(box.d, "SELECT count(*) FROM outbox WHERE state = 'pending'") === '0', 30000, 'the row settled', box.d);
		await sleep(1000);
		assert.equal(emu.repliesTo(ref).length, 1, 'answered twice');
		assert.ok(emu.stats.histories + 0 >= 1, 'not looked for');
		// And a row that never left is sent without a lookup.
		const h = emu.stats.histories;
		const next = emu.say({ from: ivy, channel: general, text: 'when are you open? (after)' });
		await until(() => emu.repliesTo(next).length === 1, 10000, 'a normal answer', box.d);
		assert.equal(emu.stats.histories, h);
		// The acknowledgement travels on the socket, the reply over HTTP:
		// either may reach Slack first.
		await until(() => emu.unacked().length === 0, 10000, 'every envelope acknowledged', box.d);
	});
});
