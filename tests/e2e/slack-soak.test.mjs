// The Slack soak: 1,000 customer messages from many people in channels,
// private channels, threads and DMs, mixed with other bots, the bot's own
// messages and edits, while the emulator drops sockets at random, asks for
// socket refreshes, answers 429 for a while, and the daemon is killed with
// SIGKILL and started again twice.  Every customer message must be answered
// exactly once, in its place (the thread under a channel message, the DM
// inline; a public complaint with one pointer in the thread and its answer
// in the author's DM), nothing to bots or to the bot itself, no message
// over 4,000 characters, nothing sent before a rate-limit reset.
//
//   BUILD=build node --test tests/e2e/slack-soak.test.mjs
//   SOAK_SEED=1234 ... to replay one mix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startSlackEmulator } from './slack-emulator.mjs';
import { daemonMissing, sleep, waitUntil, seededRandom } from './lib/daemon.mjs';
import { slackDaemon, SLOW } from './lib/slack.mjs';

const TOTAL = 1000;


test('soak: 1,000 messages, random socket drops, refreshes, a 429 storm and two SIGKILLs: each answered once, in place', { skip: daemonMissing(), timeout: 240000 * SLOW }, async () => {
	const seed = Number(process.env.SOAK_SEED || Date.now() % 100000);
	const rand = seededRandom(seed);
	const pick = (a) => a[Math.floor(rand() * a.length)];
	const t0 = Date.now();
	const emu = await startSlackEmulator({
		drop: [5000 * SLOW, 11000 * SLOW],
		lifetimeMs: 8000 * SLOW, // like &debug_reconnects=true, shorter still
		warnMs: 2000 * SLOW,
		graceMs: 1500 * SLOW,
		retryDelaysMs: [0, 1000, 3000], // Slack's schedule, compressed
		openLimit: { burst: 10, perMinute: 60 },
		// Each SIGKILL cuts a few replies short, and each is looked for in
		// the conversation before it is sent again: here at the Tier 3 pace
		// of a Marketplace app (slack.test.mjs keeps the once-a-minute limit
		// of other apps).
		historyLimit: { burst: 10, perMinute: 50 },
	});
	let d = null;
	const start = (prev) => slackDaemon(emu, prev);
	let logs = '';
	const log = () => logs + (d ? d.log() : '');
	try {
		d = await start(null);
		await waitUntil(() => /msg="slack: connected"/.test(d.log()), 15000 * SLOW, 'connected');

		const customers = Array.from({ length: 120 }, (_, i) => emu.user({ name: `cust${i}`, display: i % 7 ? `Customer ${i}` : `<!here> C${i} & co` }));
		const bots = Array.from({ length: 3 }, (_, i) => emu.user({ name: `bot${i}`, bot: true }));
		const chans = [
			...Array.from({ length: 64 }, (_, i) => emu.channel({ name: `shop${i}` })),
			...Array.from({ length: 8 }, (_, i) => emu.channel({ name: `private${i}`, type: 'group' })),
		];
		const expect = []; // { ref, kind: 'public' | 'dm' | 'complaint', user }
		const ignored = [];
		const roots = []; // top-level customer questions a thread can follow
		let restarting = null;
		const kills = [Math.floor(TOTAL * 0.33), Math.floor(TOTAL * 0.66)];
		const stormAt = Math.floor(TOTAL * 0.5);
		let stormUntil = 0;
		for (let i = 0; i < TOTAL; i++) {
			if (kills.includes(i)) {
				// SIGKILL mid-stream; messages keep coming while a new process starts.
				await restarting;
				restarting = (async () => {
					logs += d.log();
					const ex = await d.kill();
					assert.equal(ex.signal, 'SIGKILL');
					d = await start(d);
				})();
			}
			if (i === stormAt) stormUntil = emu.storm(2000);
			// Now and then someone who is not a customer.
			if (rand() < 0.06) {
				const r = rand();
				if (r < 0.4) ignored.push(emu.say({ from: pick(bots), channel: pick(chans), text: 'when are you open? (a bot)' }));
				else if (r < 0.7) ignored.push(emu.say({ from: emu.me, channel: pick(chans), text: 'when are you open? (ours)' }));
				else ignored.push(emu.say({ from: pick(customers), channel: pick(chans), text: 'when are you open (edited)', subtype: 'message_changed' }));
			}
			const who = pick(customers);
			const r = rand();
			const n = `(${i})`;
			if (r < 0.35) {
				const ref = emu.say({ from: who, channel: emu.im(who), text: `when are you open? ${n}` });
				expect.push({ ref, kind: 'dm', user: who });
			} else if (r < 0.55 && roots.length) {
				const root = pick(roots);
				const ref = emu.say({ from: root.user, channel: root.ref.channel, thread_ts: root.ref.ts, text: `and when are you open tomorrow? ${n}` });
				expect.push({ ref, kind: 'public', user: root.user });
			} else if (r < 0.60) {
				const ref = emu.say({ from: who, channel: pick(chans), text: `I want a refund for my order ${n}`, mention: rand() < 0.5 });
				expect.push({ ref, kind: 'complaint', user: who });
			} else {
				const ref = emu.say({ from: who, channel: pick(chans), text: `when are you open? ${n}`, mention: rand() < 0.4 });
				expect.push({ ref, kind: 'public', user: who });
				roots.push({ ref, user: who });
			}
			if (i % 10 === 9) await sleep(150);
		}
		await restarting;
		const sentAt = Date.now();
		const want = (e) => (e.kind === 'complaint' ? 2 : 1);
		const missing = () => expect.filter((e) => emu.repliesTo(e.ref).length < want(e));
		await waitUntil(() => missing().length === 0, 90000 * SLOW, 'every answer', 100).catch((e) => {
			const m = missing();
			throw new Error(`${e.message}: ${m.length} unanswered, e.g. ${JSON.stringify(m.slice(0, 3).map((x) => x.ref))}; ` +
				`emulator: ${JSON.stringify(emu.stats)}\n${log().slice(-4000)}`);
		});
		await sleep(2000); // a second answer would show up now

		const posts = (e) => emu.repliesTo(e.ref);
		for (const e of expect) {
			const r = posts(e);
			assert.equal(r.length, want(e), `${e.kind} ${e.ref.id} answered ${r.length} times`);
			const dmOf = emu.im(e.user).id;
			if (e.kind === 'dm') {
				assert.equal(r[0].channel, e.ref.channel);
				assert.equal(r[0].thread_ts, null);
			} else if (e.kind === 'public') {
				assert.equal(r[0].channel, e.ref.channel, `${e.ref.id}: answered in another channel`);
				assert.equal(r[0].thread_ts, e.ref.root, `${e.ref.id}: answered outside its thread`);
			} else {
				assert.equal(r[0].channel, e.ref.channel, `${e.ref.id}: the pointer is not where the post was`);
				assert.equal(r[0].thread_ts, e.ref.root);
				assert.equal(r[1].channel, dmOf, `${e.ref.id}: the answer is not in the author's DM`);
				assert.ok(r[0].at <= r[1].at, 'the pointer goes first');
			}
		}
		for (const ref of ignored) assert.equal(emu.repliesTo(ref).length, 0, `${ref.id} (a bot, ourselves or an edit) answered`);
		const wanted = expect.reduce((n, e) => n + want(e), 0);
		assert.equal(emu.posted.length, wanted, 'messages sent besides the answers');
		const botChannels = new Set(bots.map((b) => b.id));
		for (const p of emu.posted) assert.ok(!botChannels.has(emu.channels.get(p.channel).user), 'a DM to a bot');
		assert.deepEqual(emu.violations, [], 'over 4,000 characters, unescaped, or before a rate-limit reset');
		assert.ok(emu.posted.every((p) => p.at < stormUntil - 2000 || p.at >= stormUntil), 'sent during the 429 storm');
		const db = d.db;
		assert.equal(execFileSync('sqlite3', [db, "SELECT count(*) FROM outbox WHERE state <> 'sent' AND kind = 'reply'"]).toString().trim(), '0');
		const s = emu.stats;
		console.log(`# slack soak (seed ${seed}): ${expect.length} customer messages, ${ignored.length} from bots, ourselves or edits; ` +
			`${s.drops} socket drops, ${s.refreshes} refreshes, ${s.redeliveries} redeliveries, ${s.postsLimited} 429s, 2 SIGKILLs, ` +
			`${s.histories} history reads; ` +
			`sent in ${((sentAt - t0) / 1000).toFixed(1)} s, all answered after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
		const ex = await d.stop();
		assert.deepEqual(ex, { code: 0, signal: null }, log().slice(-3000));
	} finally {
		if (d) {
			await d.kill();
			d.cleanup();
		}
		await emu.close();
	}
});
