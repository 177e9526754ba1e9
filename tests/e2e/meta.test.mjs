// The Meta connectors against the Meta emulator (meta-emulator.mjs), beyond
// the contract suite: the webhook's subscription check, signatures and
// size limit, statuses, echoes and the error codes of PLATFORMS.md, the
// 24-hour windows in the outbox, the dashboard and the queue command line,
// and marking a conversation read when a person opens it.
//
//   BUILD=build node --test tests/e2e/meta.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import http from 'node:http';
import { daemonMissing, freePort, sleep, waitUntil, BIN, BUILD } from './lib/daemon.mjs';
import { startMetaEmulator, sign } from './meta-emulator.mjs';
import { startMetaDaemon, dashLogin, sql } from './lib/meta.mjs';

const SLOW = BUILD.includes('san') ? 3 : 1;
const skip = daemonMissing();
const HOUR = 3600 * 1000;

const start = (emu, ports, types = ['whatsapp'], extra = {}) => startMetaDaemon(emu, ports, types, extra);

// A POST of body; with `head` only its first head bytes are sent (the
// server must answer from the headers alone: an over-long body is refused
// before it is read, and the refusal would race a body still being written).
function rawPost(port, body, headers, head = null) {
	return new Promise((resolve) => {
		const req = http.request({ host: '127.0.0.1', port, path: '/webhook', method: 'POST', agent: false,
			headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
			if (head !== null) {
				resolve(res.statusCode);
				req.destroy();
				return;
			}
			res.resume();
			res.on('end', () => resolve(res.statusCode));
		});
		req.on('error', () => resolve(0));
		if (head === null) req.end(body);
		else req.write(body.slice(0, head));
	});
}


test('whatsapp: subscription check, signatures, size limit, statuses and error codes', { skip, timeout: 180000 * SLOW }, async () => {
	const emu = await startMetaEmulator({ dupRate: 0.2 });
	const ports = { whatsapp: await freePort() };
	let d = await start(emu, ports);
	try {
		const until = (pred, what, ms = 15000) => waitUntil(pred, ms * SLOW, what, 50).catch((e) => {
			throw new Error(`${e.message}\n${d.log().slice(-3000)}`);
		});

		// The subscription check: the bare challenge, only with our token.
		const bad = await emu.subscribe('whatsapp', `http://127.0.0.1:${ports.whatsapp}/webhook`, 'not-the-token');
		assert.equal(bad.status, 403);
		await d.waitLog('subscription check refused', 5000 * SLOW);

		// Forged deliveries: refused (401), logged, never stored or answered.
		const forged = [];
		for (let i = 0; i < 6; i++) forged.push(await emu.forge('whatsapp', 'when are you open?'));
		for (const f of forged) assert.equal(f.status, 401);
		await d.waitLog('webhook signature does not match: delivery refused, nothing stored', 5000 * SLOW);
		// Over the size limit (3 MB), correctly signed: 413, not stored.
		const huge = JSON.stringify({ object: 'whatsapp_business_account', entry: [], pad: 'x'.repeat(3 * 1024 * 1024) });
		assert.equal(await rawPost(ports.whatsapp, huge, { 'x-hub-signature-256': sign(emu.opts.appSecret, huge) }, 1024), 413);

		// A customer is answered; statuses come back and are not posts.
		const amy = '4915112345678';
		const m1 = emu.whatsapp.message({ from: amy, name: 'Amy', text: 'when are you open?' });
		await until(() => emu.repliesTo(m1).length === 1, 'the answer');
		await until(() => emu.deliveries.filter((x) => x.status === 200 && x.ids.some((i) => i.endsWith('/read'))).length >= 1, 'statuses delivered');
		const r1 = emu.repliesTo(m1)[0];
		assert.equal(r1.to, amy);
		assert.equal(r1.pnid, emu.opts.phoneNumberIds[0]);
		assert.match(r1.marker, /^frontdesk:/);
		assert.equal(sql(d, "SELECT count(*) FROM posts WHERE platform = 'whatsapp'"), '1');
		assert.equal(sql(d, "SELECT author_name FROM posts WHERE platform = 'whatsapp'"), 'Amy');
		for (const f of forged) assert.equal(sql(d, `SELECT count(*) FROM posts WHERE post_id = '${f.id}'`), '0');

		// 131056: one customer's replies wait 4^n s; another's do not.
		const ben = '4915100000001', cat = '4915100000002';
		emu.pairStorm(ben, 1);
		const mb = emu.whatsapp.message({ from: ben, text: 'when are you open? (ben)' });
		await until(() => emu.refused.some((x) => x.to === ben && x.code === 131056), 'the pair limit');
		const mc = emu.whatsapp.message({ from: cat, text: 'when are you open? (cat)' });
		await until(() => emu.repliesTo(mc).length === 1, "cat's answer");
		await until(() => emu.repliesTo(mb).length === 1, "ben's answer after the wait", 30000);
		const hit = emu.refused.find((x) => x.to === ben && x.code === 131056).at;
		assert.ok(emu.repliesTo(mb)[0].at - hit >= 3900, `ben's reply came ${emu.repliesTo(mb)[0].at - hit} ms after the pair limit`);
		assert.ok(emu.repliesTo(mc)[0].at < emu.repliesTo(mb)[0].at, "cat's answer did not wait for ben's");

		// 131047 from Meta (its window closed, whatever the bot thought):
		// the reply fails with the reason; nothing is retried.
		const dan = '4915100000003';
		const md = emu.whatsapp.message({ from: dan, text: 'hello' });
		await until(() => sql(d, `SELECT count(*) FROM posts WHERE post_id = '${md.id}'`) === '1', 'dan stored');
		const m2 = emu.whatsapp.message({ from: dan, text: 'when are you open? (dan)' });
		await until(() => sql(d, `SELECT count(*) FROM posts WHERE post_id = '${m2.id}'`) === '1', "dan's question stored");
		emu.customers.get(`whatsapp:${dan}`).lastAt = Date.now() - 25 * HOUR;
		await until(() => emu.refused.some((x) => x.to === dan && x.code === 131047) || emu.repliesTo(m2).length, 'the send');
		if (!emu.repliesTo(m2).length) {
			await until(() => sql(d, "SELECT count(*) FROM outbox WHERE state = 'failed' AND last_error LIKE '%24 hours%'") === '1', 'the failed reply');
			assert.equal(emu.refused.filter((x) => x.to === dan && x.code === 131047).length, 1, 'a closed window is not retried');
		}

		// A message that reaches the bot a day late: its answer is not sent
		// at all (the bot knows the window closed), and a person cannot
		// answer either: the queue command line and the dashboard say why.
		const eve = '4915100000004';
		const late = emu.whatsapp.message({ from: eve, text: 'I want a refund', at: Date.now() - 25 * HOUR });
		await until(() => /reply not sent: outside the platform's reply window/.test(d.log()), 'the refusal in the log');
		assert.equal(emu.repliesTo(late).length, 0);
		assert.equal(emu.refused.filter((x) => x.to === eve).length, 0, 'nothing was even tried');
		const tickets = JSON.parse(execFileSync(BIN, ['queue', 'list', '--json', '-c', d.config]).toString());
		const t = tickets.find((x) => x.platform === 'whatsapp');
		assert.ok(t, JSON.stringify(tickets));
		const cli = spawnSync(BIN, ['queue', 'reply', String(t.id), '--agent', 'sam', 'Refunded.', '-c', d.config]);
		assert.equal(cli.status, 1);
		assert.match(cli.stderr.toString(), /WhatsApp takes a person's reply only within 24 hours of the customer's last message/);
		const show = execFileSync(BIN, ['queue', 'show', String(t.id), '-c', d.config]).toString();
		assert.match(show, /replies: +not possible: WhatsApp takes/);
		const s = await dashLogin(d);
		const api = (method, path, body) => fetch(d.url(path, 'dashboard'), {
			method, headers: { Cookie: s.cookie, 'X-CSRF-Token': s.csrf, 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) });
		let r = await api('POST', `/api/tickets/${t.id}/reply`, { text: 'Refunded.' });
		assert.equal(r.status, 409);
		assert.match((await r.json()).error, /within 24 hours/);
		r = await api('GET', `/api/tickets/${t.id}`);
		const view = await r.json();
		assert.match(view.reply_closed, /within 24 hours/);
		assert.equal(sql(d, `SELECT count(*) FROM outbox WHERE sender = 'agent'`), '0');

		// Opening a live conversation marks the customer's messages read.
		const fay = '4915100000005';
		const mf = emu.whatsapp.message({ from: fay, text: 'I want a refund please' });
		await until(() => emu.repliesTo(mf).length === 1, "fay's acknowledgement");
		const ft = JSON.parse(execFileSync(BIN, ['queue', 'list', '--json', '-c', d.config]).toString()).find((x) => x.author === `+${fay}`);
		r = await api('GET', `/api/tickets/${ft.id}`);
		assert.equal(r.status, 200);
		assert.match((await r.json()).reply_until, /^\d{4}-/);
		await until(() => emu.reads.some((x) => x.message_id === mf.id), 'the read mark');
		// Meta delivers the same message again (it does, at will): taken in,
		// it must not make the next look mark it again.
		const acksOf = () => emu.acks.filter((a) => a.ids.includes(mf.id)).length;
		const before = acksOf();
		emu.redeliver(mf.id);
		await until(() => acksOf() > before, 'the repeated delivery taken in');
		// The daemon records the mark when Meta has answered it; the emulator
		// counts it on arrival.  A look in between (seen in the slow
		// sanitizer build) may send a second, harmless mark, so the next look
		// waits for the answer to have been taken in.
		await sleep(1000 * SLOW);
		r = await api('GET', `/api/tickets/${ft.id}`);
		await sleep(300);
		assert.equal(emu.reads.filter((x) => x.message_id === mf.id).length, 1, 'marked once, not at every look');
		// And the person's reply goes out, quoting the customer's message.
		r = await api('POST', `/api/tickets/${ft.id}/reply`, { text: 'Refunded, sorry!' });
		assert.equal(r.status, 200);
		await until(() => emu.sent.some((x) => x.to === fay && /Refunded, sorry!/.test(x.text)), "the person's reply");
		assert.equal(emu.sent.find((x) => x.to === fay && /Refunded/.test(x.text)).context, mf.id);

		// A reply Meta reports failed later (a status with errors): logged.
		const gus = '4915100000006';
		emu.failLater(gus);
		const mg = emu.whatsapp.message({ from: gus, text: 'when are you open? (gus)' });
		await until(() => emu.repliesTo(mg).length === 1, "gus's answer");
		await until(() => /Meta reports a reply as not delivered/.test(d.log()), 'the failed status in the log');

		// 190: the token expired.  /healthz says so; the reply waits and is
		// not lost: after a restart with a working token it goes out.
		emu.expireToken('whatsapp');
		const mh = emu.whatsapp.message({ from: '4915100000007', text: 'when are you open? (hal)' });
		await until(async () => {
			const h = await fetch(d.url('/healthz'));
			return h.status === 503 && /190 from Meta/.test(await h.text());
		}, '/healthz to report the token');
		assert.equal(emu.repliesTo(mh).length, 0);
		const ex = await d.stop();
		assert.deepEqual(ex, { code: 0, signal: null }, d.log().slice(-2000));
		// Held for the token, the reply was not charged attempts at the stop
		// (each one pushed its backoff further past the next start).
		const held = sql(d, "SELECT attempts || ' ' || ((not_before / 1000) - strftime('%s','now')) FROM outbox WHERE kind = 'reply' AND state = 'pending'").split(' ').map(Number);
		assert.ok(held[0] <= 1 && held[1] <= 10, `the held reply: ${held[0]} attempts, due in ${held[1]} s`);
		emu.expireToken('whatsapp', false);
		d = await start(emu, ports, ['whatsapp'], { dir: d.dir, ports: d.ports });
		await until(() => emu.repliesTo(mh).length === 1, 'the held reply after the restart');

		// Everything asked once was answered once.
		for (const m of [m1, mb, mc, mg, mh]) assert.equal(emu.repliesTo(m).length, 1, m.id);
		assert.equal(emu.repliesTo(mf).length, 2, "fay: the acknowledgement and the person's reply");
	} finally {
		await d.kill();
		d.cleanup();
		await emu.close();
	}
});

// 1,000 messages a platform from many customers while Meta duplicates and
// reorders deliveries and retries what fails, a throughput storm, forged
// deliveries, and two SIGKILLs with restarts: every message answered once,
// in its own conversation; nothing accepted before the storm's end; every
// delivery answered 200 was stored; nothing forged stored or answered.
test('meta soak: 1,000 messages per platform, duplicates, reordering, a storm, forgeries and two SIGKILLs', { skip, timeout: 300000 * SLOW }, async () => {
	const TYPES = ['whatsapp'];
	const PER = 1000;
	// Long enough that the slower sanitizer build is still sending then.
	const STORM_MS = 1500 * SLOW;
	// Meta batches up to 1,000 updates a POST; 25 keeps a test machine's
	// backlog of statuses short.
	const emu = await startMetaEmulator({ dupRate: 0.15, batchMax: 25, concurrency: 6 });
	const ports = {};
	for (const t of TYPES) ports[t] = await freePort();
	const soakOpts = { unconfirmedWait: '10s' };
	let d = await start(emu, ports, TYPES, soakOpts);
	const acked = [];
	let earlier = ''; // the logs of the killed processes
	emu.onAck((product, ids) => acked.push(...ids));
	// Where the soak is, so that a stall names its step and shows the log
	// instead of ending in the runner's bare timeout.
	let phase = 'start';
	let phaseAt = Date.now();
	const watchdog = setInterval(() => {
		if (Date.now() - phaseAt > 150000 * SLOW) {
			console.log(`# meta soak: no progress for 150 s in "${phase}"; emulator queue ${emu.pending()}; daemon log:\n${d.log().slice(-4000)}`);
			phaseAt = Date.now();
		}
	}, 5000);
	const step = (name) => {
		phase = name;
		phaseAt = Date.now();
	};
	try {
		const until = (pred, what, ms) => waitUntil(pred, ms * SLOW, what, 100).catch((e) => {
			throw new Error(`${e.message}\n${d.log().slice(-3000)}`);
		});
		const expect = [];
		const forged = [];
		let storm = null;
		const t0 = Date.now();
		let killed = null;
		for (let i = 0; i < PER; i++) {
			for (const t of TYPES) {
				const who = `49152${String(i % 211).padStart(6, '0')}`;
				if (t === 'whatsapp') expect.push(emu.whatsapp.message({ from: who, name: `Customer ${i % 211}`, text: `when are you open? (${i})` }));
			}
			if (i % 97 === 50) for (const t of TYPES) forged.push(emu.forge(t));
			if (i === 300 || i === 650) {
				step(`SIGKILL and restart at message ${i}`);
				const dd = d;
				killed = (async () => {
					const ex = await dd.kill();
					earlier += dd.log();
					assert.equal(ex.signal, 'SIGKILL');
					d = await start(emu, ports, TYPES, { ...soakOpts, dir: dd.dir, ports: dd.ports });
				})();
				await killed;
				step('sending');
			}
			// Sends before the storm are counted by position, not by clock: one
			// accepted in the very millisecond the storm begins is before it.
			if (i === 500) storm = { first: emu.sent.length, until: emu.storm('whatsapp', STORM_MS) };
			if (i % 10 === 9) await sleep(8);
		}
		step('the forged deliveries');
		await killed;
		const forgedDone = await Promise.all(forged);
		step('an answer to every message');
		await until(() => expect.every((m) => emu.repliesTo(m).length >= 1), 'an answer to every message', 120000).catch((e) => {
			const missing = expect.filter((m) => !emu.repliesTo(m).length);
			const codes = {};
			for (const r of emu.refused) codes[r.code] = (codes[r.code] || 0) + 1;
			throw new Error(`${missing.length} unanswered (e.g. ${missing.slice(0, 3).map((m) => m.id)}); emulator queue ${emu.pending()}; ` +
				`refused ${JSON.stringify(codes)}; store: ${sql(d, "SELECT count(*) FROM posts")} posts, outbox ` +
				`${sql(d, "SELECT group_concat(state || '=' || n) FROM (SELECT state, count(*) n FROM outbox GROUP BY state)")}\n${e.message}`);
		});
		step('checks');
		await sleep(1500); // a second answer would show up now
		const twice = expect.filter((m) => emu.repliesTo(m).length !== 1);
		assert.equal(twice.length, 0, `${twice.length} answered more than once: ` +
			JSON.stringify(twice.slice(0, 3).map((m) => emu.repliesTo(m).map((r) => ({ at: r.at, marker: r.marker })))));
		for (const m of expect) assert.equal(emu.repliesTo(m)[0].thread, m.thread, `${m.id} answered in another conversation`);
		const during = emu.sent.slice(storm.first).filter((s) => s.product === 'whatsapp' && s.at < storm.until);
		assert.equal(during.length, 0, `${during.length} accepted during the storm`);
		assert.ok(emu.refused.some((r) => r.code === 130429), 'the storm was met');
		// The daemon waits out a 130429 (two seconds) instead of trying the
		// same reply again and again.
		const tries = {};
		for (const r of emu.refused) if (r.code === 130429) tries[r.marker || r.to] = (tries[r.marker || r.to] || 0) + 1;
		const most = Math.max(...Object.values(tries));
		assert.ok(most <= Math.ceil(STORM_MS / 2000) + 1, `one reply was tried ${most} times during a ${STORM_MS} ms storm`);
		// Every delivery answered 200 was stored, before the 200.
		const stored = new Set(execFileSync('sqlite3', [d.db, "SELECT post_id FROM posts"]).toString().split('\n'));
		const lost = acked.filter((id) => !stored.has(id));
		assert.equal(lost.length, 0, `answered 200 but not stored: ${lost.slice(0, 5)}`);
		// Refused (401), or not even received while the daemon was down.
		for (const f of forgedDone) {
			assert.ok(f.status === 401 || f.status === 0, f.status === -1 ? 'a forged delivery got no answer' : `a forged delivery answered ${f.status}`);
			assert.ok(!stored.has(f.id), `forged ${f.id} stored`);
		}
		// Some reach a running daemon and are refused by their signature (in
		// the slower sanitizer build more of them fall on a restart).
		assert.ok(forgedDone.some((f) => f.status === 401), 'no forged delivery met a running daemon');
		assert.equal(emu.sent.filter((s) => s.to === '4900000000000').length, 0, 'a forged message answered');
		assert.equal(sql(d, "SELECT count(*) FROM outbox WHERE state <> 'sent' AND kind = 'reply'"), '0');
		const all = earlier + d.log();
		const dups = emu.deliveries.filter((x) => x.dup).length;
		const retried = emu.deliveries.filter((x) => x.status !== 200 && !x.forged).length;
		console.log(`# meta soak: ${expect.length} messages (${TYPES.join(', ')}), ${emu.deliveries.length} deliveries ` +
			`(${dups} duplicated, ${retried} not answered 200 and retried), ${forged.length} forged, ` +
			`2 SIGKILLs, ${((Date.now() - t0) / 1000).toFixed(1)} s; replies found already sent after a restart: ` +
			`${(all.match(/reply already with Meta: not sent again/g) || []).length}, sent again unconfirmed: ` +
			`${(all.match(/no confirmation of an earlier attempt/g) || []).length}`);
		step('the clean stop');
		const ex = await d.stop();
		assert.deepEqual(ex, { code: 0, signal: null }, d.log().slice(-2000));
	} finally {
		clearInterval(watchdog);
		await d.kill();
		d.cleanup();
		await emu.close();
	}
});
