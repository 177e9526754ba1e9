// The bridge soak: 1,000 customer messages from 120 people, in one-to-one
// conversations, in new room threads and as follow-ups in them, some asking
// for the menu (a reply in parts at max_length), some complaining in a room
// (taken private with one public reply), mixed with other bots' and the
// bot's own messages, while the adapter (tests/e2e/bridge-peer.mjs) cuts its
// socket at random, sometimes fails a reply or dies between posting one and
// confirming it, answers `failed` with retry_after_ms for 2 s, and the
// daemon is killed with SIGKILL and started again twice.  Every customer
// message must be answered exactly once, in its thread and with the right
// privacy (a reply in parts counts once: one key, parts 1..n each once),
// nothing to bots, no part over max_length, no reply sent again before the
// retry time the adapter gave it, every post stored in the end.
//
//   BUILD=build node --test tests/e2e/bridge-soak.test.mjs
//   SOAK_SEED=1234 ... to replay one mix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { daemonMissing, freePort, sleep, waitUntil, seededRandom } from './lib/daemon.mjs';
import { bridgeDaemon, SLOW, TOKEN } from './lib/bridge.mjs';
import { startBridgePeer } from './bridge-peer.mjs';

const TOTAL = 1000;
const LIMIT = 160;


test('soak: 1,000 messages, sockets cut at random, replies failed or left unconfirmed, a 2 s rate limit and two SIGKILLs: each answered once, in place', { skip: daemonMissing(), timeout: 180000 * SLOW }, async () => {
	const seed = Number(process.env.SOAK_SEED || Date.now() % 100000);
	const rand = seededRandom(seed);
	const pick = (a) => a[Math.floor(rand() * a.length)];
	const t0 = Date.now();
	const port = await freePort();
	const emu = startBridgePeer({ port, token: TOKEN, chaos: 0.02, rand });
	let d = null;
	let logs = '';
	const sql = (q) => execFileSync('sqlite3', [d.db, q]).toString().trim();
	const start = (prev) => bridgeDaemon(port, { restart: prev, extra: `, max_length: ${LIMIT}` });
	try {
		d = await start(null);
		await waitUntil(() => emu.connects > 0, 15000 * SLOW, 'the adapter connected');

		const people = Array.from({ length: 120 }, (_, i) => ({ id: `u${i}`, name: `Customer ${i}`, bot: false }));
		const bots = [{ id: 'b1', name: 'Other bot', bot: true }, { id: 'frontdesk', name: 'Bridge Bakery', bot: true }];
		const expect = []; // { p, kind: dm | room | complaint | menu }
		const ignored = [];
		const roomThreads = []; // threads of room questions (follow-ups go there)
		let killed = 0;
		let restarting = null;
		let storm = 0;
		let nextDrop = Date.now() + 1500 + rand() * 2500;
		for (let i = 0; i < TOTAL; ) {
			if (Date.now() > nextDrop) {
				emu.drop();
				nextDrop = Date.now() + 1500 + rand() * 2500;
			}
			if (killed < 2 && i >= (killed + 1) * 330 && !restarting) {
				killed++;
				logs += d.log();
				restarting = d.kill().then(async () => {
					await sleep(300 + rand() * 500);
					d = await start(d);
					restarting = null;
				});
			}
			if (!storm && i >= 500) storm = emu.rateLimit(2000);
			if (rand() < 0.05) {
				const b = pick(bots);
				ignored.push(emu.post({ author: b, thread: `#room/${b.id}`, text: 'when are you open?', private: false }));
				continue;
			}
			const who = pick(people);
			const r = rand();
			const id = emu.nextId();
			let e;
			if (r < 0.4) e = { kind: 'dm', p: emu.post({ id, author: who, thread: `dm:${who.id}`, text: `when are you open? (${i})`, private: true }) };
			else if (r < 0.65 || !roomThreads.length) {
				e = { kind: 'room', p: emu.post({ id, author: who, thread: `#room/${id}`, text: `when are you open? (${i})` }) };
				roomThreads.push(e.p.thread);
			} else if (r < 0.85) e = { kind: 'room', p: emu.post({ id, author: who, thread: pick(roomThreads), text: `and when are you open on sunday? (${i})` }) };
			else if (r < 0.93) e = { kind: 'complaint', p: emu.post({ id, author: who, thread: `#room/${id}`, text: `my order was terrible and awful (${i})` }) };
			else e = { kind: 'menu', p: emu.post({ id, author: who, thread: `dm:${who.id}`, text: `can I see your full menu? (${i})`, private: true }) };
			expect.push(e);
			i++;
			if (i % 8 === 0) await sleep(90);
		}
		const sentAt = (Date.now() - t0) / 1000;
		await restarting;

		const answered = (e) => emu.repliesTo(e.p.id).length >= (e.kind === 'complaint' ? 2 : 1);
		const settled = () => sql("SELECT count(*) FROM outbox WHERE kind = 'reply' AND state <> 'sent'") === '0';
		await waitUntil(() => expect.every(answered) && emu.unstored().length === 0 && settled(), 90000 * SLOW, 'every message answered').catch((err) => {
			const missing = expect.filter((e) => !answered(e));
			throw new Error(`${err.message}: ${missing.length} unanswered (${missing.slice(0, 5).map((e) => `${e.kind} ${e.p.id}`).join(', ')}), ` +
				`${emu.unstored().length} unstored\n${(logs + d.log()).slice(-3000)}`);
		});
		await sleep(1500); // a second answer would show up now

		let total = 0;
		for (const e of expect) {
			const rs = emu.repliesTo(e.p.id);
			for (const r of rs) assert.equal(r.thread, e.p.thread, `${e.p.id}: answered in another thread`);
			if (e.kind === 'complaint') {
				assert.equal(rs.length, 2, `complaint ${e.p.id}: ${rs.length} replies`);
				assert.deepEqual(rs.map((r) => r.private), [false, true], `complaint ${e.p.id}: a public pointer, then in private`);
			} else if (e.kind === 'menu') {
				const key = rs[0].id.replace(/\/\d+$/, '');
				assert.ok(rs.length >= 2, `menu ${e.p.id}: ${rs.length} parts`);
				assert.deepEqual(rs.map((r) => r.id), rs.map((_, k) => `${key}/${k + 1}`), `menu ${e.p.id}: parts in order, each once`);
				assert.ok(rs.every((r) => r.private), `menu ${e.p.id}: in private`);
			} else {
				assert.equal(rs.length, 1, `${e.kind} ${e.p.id} answered ${rs.length} times`);
				assert.equal(rs[0].private, e.kind === 'dm', `${e.p.id}: privacy`);
			}
			total += rs.length;
		}
		for (const p of ignored) assert.equal(emu.repliesTo(p.id).length, 0, `bot post ${p.id} answered`);
		assert.equal(emu.sent.length, total, 'nothing sent besides the answers');
		for (const r of emu.sent) assert.ok([...r.text].length <= LIMIT, `a reply of ${r.text.length} characters`);
		assert.deepEqual(emu.early, [], 'a reply sent again before its retry time');
		assert.deepEqual(emu.bad, [], 'frames that break the protocol');
		assert.deepEqual(emu.sameSocket, [], 'a reply sent again on the socket that had confirmed it');
		assert.equal(sql("SELECT count(*) FROM outbox WHERE kind = 'reply' AND state <> 'sent'"), '0');
		assert.equal(Number(sql('SELECT count(*) FROM posts')), expect.length + ignored.length, 'every post stored once');
		console.log(`# bridge soak (seed ${seed}): ${expect.length} customer messages, ${ignored.length} from bots; ` +
			`${emu.connects} connections (${emu.cuts} cut between posting and confirming), ${emu.failedSent} replies failed, ` +
			`${emu.redelivered} replies sent again and not shown twice, 2 SIGKILLs; sent in ${sentAt.toFixed(1)} s, ` +
			`all answered after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
	} finally {
		if (d) {
			await d.kill();
			d.cleanup();
		}
		await emu.close();
	}
});
