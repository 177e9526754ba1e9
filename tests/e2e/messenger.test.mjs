// The Messenger and Instagram connectors against the Meta emulator
// (meta-emulator.mjs), beyond the contract suite: echoes (ours confirm a
// reply, a person's in the Page inbox or the Instagram app takes the
// conversation over), standby and the handover protocol, receipts,
// reactions and postbacks, the 24-hour window for the bot and the 7-day
// HUMAN_AGENT window for people, Instagram's 1,000 bytes, `check`'s
// file:line errors, and a soak of 1,000 messages with two SIGKILLs.
//
//   BUILD=build node --test tests/e2e/messenger.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { daemonMissing, freePort, sleep, waitUntil, BIN, BUILD, REPO } from './lib/daemon.mjs';
import { startMetaEmulator, INBOX_APP_ID } from './meta-emulator.mjs';
import { startMetaDaemon, dashLogin, sql } from './lib/meta.mjs';

const SLOW = BUILD.includes('san') ? 3 : 1;
const skip = daemonMissing();
const HOUR = 3600 * 1000;
const TYPES = ['messenger', 'instagram'];

const start = (emu, ports, extra = {}) => startMetaDaemon(emu, ports, TYPES, extra);

test('messenger and instagram: echoes, a person taking over, standby and handover, HUMAN_AGENT, windows and byte limits', { skip, timeout: 240000 * SLOW }, async () => {
	const emu = await startMetaEmulator({ dupRate: 0.2 });
	const ports = { messenger: await freePort(), instagram: await freePort() };
	const d = await start(emu, ports);
	try {
		const until = (pred, what, ms = 15000) => waitUntil(pred, ms * SLOW, what, 50).catch((e) => {
			throw new Error(`${e.message}\n${d.log().slice(-3000)}`);
		});
		const stored = (ref) => sql(d, `SELECT count(*) FROM posts WHERE post_id = '${ref.id}'`) === '1';
		const q = (args) => execFileSync(BIN, ['queue', ...args, '-c', d.config]).toString();
		const tickets = () => JSON.parse(q(['list', '--json', '--status', 'all']));
		const ticketOf = (ref) => {
			const tid = sql(d, `SELECT t.id FROM tickets t JOIN posts p ON p.thread_id = t.thread_id WHERE p.post_id = '${ref.id}' ORDER BY t.id DESC LIMIT 1`);
			return tid ? tickets().find((x) => String(x.id) === tid) : undefined;
		};
		const settled = () => until(() => emu.pending() === 0, 'the emulator to have delivered everything');

		// Forged: refused, never stored (each product's own webhook).
		for (const p of TYPES) {
			const f = await emu.forge(p);
			assert.equal(f.status, 401);
			assert.equal(sql(d, `SELECT count(*) FROM posts WHERE post_id = '${f.id}'`), '0');
		}

		// A customer is answered once (RESPONSE, quoting the message, our
		// marker); the echo of our reply, and the delivery and read
		// receipts after it, are no questions and no posts.  Meta's body
		// has the non-ASCII escaped (\u00fc), signed as sent.
		const amy = '2500000000001';
		const m1 = emu.messenger.message({ from: amy, text: 'Hallo, when are you open? Grüße' });
		await until(() => emu.repliesTo(m1).length === 1, 'the answer');
		const r1 = emu.repliesTo(m1)[0];
		assert.equal(r1.to, amy);
		assert.equal(r1.messagingType, 'RESPONSE');
		assert.equal(r1.tag, undefined);
		assert.match(r1.marker, /^frontdesk:/);
		await settled();
		await until(() => /msg=post .*connector=messenger/.test(d.log()) || stored(m1), 'the post');
		await sleep(800);
		assert.equal(emu.repliesTo(m1).length, 1);
		assert.equal(sql(d, "SELECT count(*) FROM posts WHERE platform = 'messenger'"), '1', 'echoes or receipts stored as posts');
		assert.equal(sql(d, `SELECT text FROM posts WHERE post_id = '${m1.id}'`), 'Hallo, when are you open? Grüße');
		assert.equal(ticketOf(m1), undefined, 'our own echo was taken for a person');

		// An echo from our own app without our marker (app_id configured):
		// ours, not a person taking the conversation.
		const own = emu.messenger.inboxReply({ to: amy, text: 'Sent by this app another way.', appId: emu.opts.appId });
		await settled();
		await sleep(300);
		assert.equal(sql(d, `SELECT count(*) FROM posts WHERE post_id = '${own.id}'`), '0');
		assert.equal(ticketOf(m1), undefined);

		// A tapped button is what the customer said (its title); a
		// reaction is no question.
		const pb = emu.messenger.postback({ from: '2500000000009', title: 'Opening hours' });
		await until(() => emu.inThread(pb).length === 1, 'the answer to the button');
		assert.equal(sql(d, `SELECT text FROM posts WHERE post_id = '${pb.id}'`), 'Opening hours');
		emu.messenger.react({ from: amy, mid: r1.id });
		// A photo without text: a placeholder a person can recognise.
		const photo = emu.instagram.message({ from: '3500000000009', attachments: [{ type: 'image', payload: { url: 'https://x.example/p.jpg' } }] });
		await until(() => stored(photo), 'the photo stored');
		assert.equal(sql(d, `SELECT text FROM posts WHERE post_id = '${photo.id}'`), '(a photo)');

		// Standby (another app has the conversation): never stored, never
		// answered.  The handover protocol: another app takes the
		// conversation (a notice; the customer's messages come under
		// standby); given back, the bot answers again.
		const sb = emu.messenger.standby({ from: '2500000000002', text: 'when are you open? (standby)' });
		const hugo = '2500000000006';
		emu.messenger.takeThread(hugo, '777000111');
		const mh1 = emu.messenger.message({ from: hugo, text: 'when are you open? (hugo, other app)' });
		assert.ok(mh1.standby);
		await settled();
		await until(() => /conversation control changed.*event=take_thread_control/.test(d.log()), 'the handover notice logged');
		await sleep(1000);
		for (const ref of [sb, mh1]) {
			assert.equal(emu.repliesTo(ref).length, 0, 'answered in a conversation another app controls');
			assert.equal(sql(d, `SELECT count(*) FROM posts WHERE post_id = '${ref.id}'`), '0');
		}
		emu.messenger.passThreadBack(hugo);
		await settled();
		const mh2 = emu.messenger.message({ from: hugo, text: 'when are you open? (hugo, back with the bot)' });
		await until(() => emu.repliesTo(mh2).length === 1, "hugo's answer once the conversation is back");

		// A person answers in the Page inbox: the conversation is theirs,
		// the bot goes quiet in it.
		const ben = '2500000000003';
		const mb = emu.messenger.message({ from: ben, text: 'when are you open? (ben)' });
		await until(() => emu.repliesTo(mb).length === 1, "ben's answer");
		const inbox = emu.messenger.inboxReply({ to: ben, text: 'Hi Ben, Sam here from the shop.' });
		await until(() => stored(inbox), 'the inbox reply stored');
		assert.equal(sql(d, `SELECT action FROM posts WHERE post_id = '${inbox.id}'`), 'ignore');
		const tb = ticketOf(mb);
		assert.ok(tb, JSON.stringify(tickets()));
		assert.equal(tb.status, 'claimed');
		const mb2 = emu.messenger.message({ from: ben, text: 'when are you open? (ben again)' });
		await until(() => stored(mb2), "ben's follow-up stored");
		await sleep(1500);
		assert.equal(emu.repliesTo(mb2).length, 0, 'the bot answered in a conversation a person took over');
		assert.match(q(['show', String(tb.id)]), /Sam here from the shop/);

		// The same on Instagram (an echo without app_id: the Instagram app).
		const cat = '3500000000001';
		const mc = emu.instagram.message({ from: cat, text: 'when are you open? (cat)' });
		await until(() => emu.repliesTo(mc).length === 1, "cat's answer");
		const ig = emu.instagram.inboxReply({ to: cat, text: 'Hello Cat, Sam here.', appId: null });
		await until(() => stored(ig), 'the Instagram app reply stored');
		const mc2 = emu.instagram.message({ from: cat, text: 'when are you open? (cat again)' });
		await until(() => stored(mc2), "cat's follow-up stored");
		await sleep(1500);
		assert.equal(emu.repliesTo(mc2).length, 0);

		// A message that reaches the bot two days late: the bot's answer is
		// not sent (24 hours), a person's goes with the HUMAN_AGENT tag;
		// opening the conversation shows the customer it was seen.
		const s = await dashLogin(d);
		const api = (method, p, body) => fetch(d.url(p, 'dashboard'), {
			method, headers: { Cookie: s.cookie, 'X-CSRF-Token': s.csrf, 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) });
		const dan = '2500000000004';
		const md = emu.messenger.message({ from: dan, text: 'I want a refund', at: Date.now() - 48 * HOUR });
		await until(() => stored(md), "dan's message stored");
		await until(() => /reply not sent: outside the platform's reply window/.test(d.log()), 'the refusal in the log');
		assert.equal(emu.inThread(md).length, 0, 'a bot reply past 24 hours was sent');
		const td = ticketOf(md);
		assert.ok(td, JSON.stringify(tickets()));
		let r = await api('GET', `/api/tickets/${td.id}`);
		const view = await r.json();
		assert.ok(!view.reply_closed, JSON.stringify(view));
		assert.ok(Date.parse(view.reply_until) > Date.now() + 4 * 24 * HOUR, view.reply_until);
		await until(() => emu.reads.some((x) => x.to === dan && x.action === 'mark_seen'), 'marked seen');
		r = await api('POST', `/api/tickets/${td.id}/reply`, { text: 'Refunded, sorry for the wait.' });
		assert.equal(r.status, 200);
		await until(() => emu.inThread(md).length === 1, "the person's reply");
		const tagged = emu.inThread(md)[0];
		assert.equal(tagged.messagingType, 'MESSAGE_TAG');
		assert.equal(tagged.tag, 'HUMAN_AGENT');
		assert.equal(tagged.context, md.id);

		// After 7 days nobody can answer: the CLI and the dashboard say why.
		const eve = '2500000000005';
		const me = emu.messenger.message({ from: eve, text: 'I want a refund (eve)', at: Date.now() - 8 * 24 * HOUR });
		await until(() => stored(me), "eve's message stored");
		const te = ticketOf(me);
		assert.ok(te, JSON.stringify(tickets()));
		const cli = spawnSync(BIN, ['queue', 'reply', String(te.id), '--agent', 'sam', 'Refunded.', '-c', d.config]);
		assert.equal(cli.status, 1);
		assert.match(cli.stderr.toString(), /Messenger takes a person's reply only within 7 days of the customer's last message/);
		r = await api('POST', `/api/tickets/${te.id}/reply`, { text: 'Refunded.' });
		assert.equal(r.status, 409);
		assert.match((await r.json()).error, /within 7 days/);
		assert.equal(emu.inThread(me).length, 0);

		// Instagram counts bytes: a person's long reply in two-byte letters
		// goes as several messages of at most 1,000 bytes, none refused,
		// nothing lost.
		const fay = '3500000000002';
		const mf = emu.instagram.message({ from: fay, text: 'I want a refund (fay)' });
		await until(() => emu.repliesTo(mf).length === 1, "fay's acknowledgement");
		const tf = ticketOf(mf);
		assert.ok(tf, JSON.stringify(tickets()));
		const long = Array.from({ length: 160 }, (_, i) => `Schöne Grüße ${i}.`).join(' ');
		assert.ok([...long].length <= 3000 && Buffer.byteLength(long) > 2000);
		q(['reply', String(tf.id), '--agent', 'sam', long]);
		await until(() => emu.inThread(mf).length >= 4, "the person's reply in parts");
		await settled();
		await sleep(800);
		const parts = emu.inThread(mf).slice(1);
		for (const p of parts) assert.ok(Buffer.byteLength(p.text) <= 1000, `${Buffer.byteLength(p.text)} bytes`);
		assert.equal(emu.refused.filter((x) => x.product === 'instagram').length, 0, JSON.stringify(emu.refused));
		const joined = parts.map((p) => p.text).join(' ').replace(/\s+/g, ' ');
		assert.ok(joined.includes(long.replace(/\s+/g, ' ')), `the parts do not hold the whole reply: ${joined.slice(0, 200)}…`);

		// 190: the Page token was revoked.  /healthz says so.
		emu.expireToken('messenger');
		const mt = emu.messenger.message({ from: '2500000000007', text: 'when are you open? (token)' });
		await until(async () => {
			const h = await fetch(d.url('/healthz'));
			return h.status === 503 && /190 from Meta/.test(await h.text());
		}, '/healthz to report the token');
		assert.equal(emu.repliesTo(mt).length, 0);

		// Nothing was ever sent to the Page or the account itself, or to
		// the forger.
		assert.equal(emu.sent.filter((x) => x.to === emu.opts.pageId || x.to === emu.opts.igId || x.to === 'forged-user').length, 0);
	} finally {
		await d.kill();
		d.cleanup();
		await emu.close();
	}
});

// A reply that went out just before the process died (its answer never
// read): after a restart it waits for Meta's echo, counted from the
// restart, however long the daemon was down, and is not sent twice.
test('messenger: a reply whose outcome a SIGKILL left unknown waits for its echo after the restart', { skip, timeout: 120000 * SLOW }, async () => {
	const emu = await startMetaEmulator({ answerDelayMs: 2000 * SLOW });
	const ports = { messenger: await freePort(), instagram: await freePort() };
	let d = await start(emu, ports);
	try {
		const m = emu.messenger.message({ from: '2500000000042', text: 'when are you open? (unknown outcome)' });
		await waitUntil(() => emu.repliesTo(m).length === 1, 15000 * SLOW, 'the reply taken by Meta', 20);
		// Killed while Meta's answer is on its way; down for longer than
		// unconfirmed_wait (3 s), while Meta retries the echo.
		await d.kill();
		await sleep(4500 * SLOW);
		emu.opts.answerDelayMs = 0;
		d = await start(emu, ports, { dir: d.dir, ports: d.ports });
		await waitUntil(() => /reply (attempted before with no answer|already with Meta)|no confirmation of an earlier attempt/.test(d.log()), 15000 * SLOW, 'the earlier attempt found', 50);
		await waitUntil(() => emu.pending() === 0, 15000 * SLOW, 'the echo delivered', 50);
		await sleep(4000 * SLOW); // past unconfirmed_wait: a second send would show up now
		assert.equal(emu.repliesTo(m).length, 1, `sent twice:\n${d.log().slice(-2500)}`);
		assert.ok(!/no confirmation of an earlier attempt/.test(d.log()), 'sent again without waiting for the echo');
	} finally {
		await d.kill();
		d.cleanup();
		await emu.close();
	}
});

test('check: messenger and instagram settings are validated with file:line', { skip }, async () => {
	const dir = mkdtempSync(path.join(tmpdir(), 'fd-msgr-check-'));
	try {
		const cfg = path.join(dir, 'c.yaml');
		writeFileSync(cfg, `business: { name: X, timezone: UTC, hours: { mon-sun: closed } }
rules: ["${REPO}/rules/*.yaml"]
replies: ["${REPO}/replies/*.yaml"]
connectors:
  - { type: messenger, token_env: T, app_secret_env: S, verify_token_env: V, listen: "127.0.0.1:9" }
  - { type: messenger, name: m2, page_id: "12 34", token_env: T, app_secret_env: S, verify_token_env: V, listen: "127.0.0.1:9", human_agent: maybe }
  - { type: instagram, account_id: "1784", app_id: "x y", token_env: T, app_secret_env: S, verify_token_env: V, listen: "127.0.0.1:9", instance: "http://graph.example.com" }
  - { type: instagram, name: ig2, account_id: "1784", app_secret_env: S, verify_token_env: V }
`);
		let out = '';
		try {
			execFileSync(BIN, ['check', '-c', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
		} catch (e) {
			out = e.stdout.toString() + e.stderr.toString();
			assert.equal(e.status, 2);
		}
		assert.match(out, /c\.yaml:5:\d+: .*'page_id' is required/);
		assert.match(out, /c\.yaml:6:\d+: .*page_id.*not an id/);
		assert.match(out, /c\.yaml:6:\d+: .*human_agent.*true or false/);
		assert.match(out, /c\.yaml:7:\d+: .*app_id/);
		assert.match(out, /c\.yaml:7:\d+: .*instance.*http:\/\/ only on loopback/);
		assert.match(out, /c\.yaml:8:\d+: .*token_env or token_file/);
		assert.match(out, /c\.yaml:8:\d+: .*'listen' is required/);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});

// 1,000 messages, Messenger and Instagram half and half, from many
// customers: texts with non-ASCII, tapped buttons, photos, customers whose
// conversation another app controls (standby: never answered) and
// conversations a person took over in the Page inbox (the bot quiet),
// while Meta duplicates and reorders deliveries, retries what fails,
// sends receipts and echoes, a rate-limit storm (613), forged deliveries,
// and two SIGKILLs with restarts: every expected message answered exactly
// once in its own conversation, nothing accepted during the storm, every
// delivery answered 200 stored, nothing forged stored or answered, no
// Instagram message over 1,000 bytes.
test('messenger soak: 1,000 messages, duplicates, reordering, standby, take-overs, a storm, forgeries and two SIGKILLs', { skip, timeout: 300000 * SLOW }, async () => {
	const N = 1000;
	const emu = await startMetaEmulator({ dupRate: 0.15, batchMax: 25, concurrency: 6 });
	const ports = { messenger: await freePort(), instagram: await freePort() };
	// How long a reply whose outcome a SIGKILL left unknown waits for its
	// echo before it is sent again: the echo comes behind the backlog of
	// deliveries, which a sanitizer build works through three times slower.
	const soakOpts = { unconfirmedWait: `${10 * SLOW}s` };
	let d = await start(emu, ports, soakOpts);
	const acked = [];
	let earlier = ''; // the logs of the killed processes
	emu.onAck((product, ids) => acked.push(...ids));
	try {
		const until = (pred, what, ms) => waitUntil(pred, ms * SLOW, what, 100).catch((e) => {
			throw new Error(`${e.message}\n${d.log().slice(-3000)}`);
		});
		const expect = []; // answered exactly once
		const quiet = []; // never answered (standby, a person's conversation)
		const forged = [];
		const storms = {};
		let photos = 0;
		const t0 = Date.now();
		// Conversations a person took over in the inbox before the
		// customer writes again (each product: 5).
		const staff = { messenger: [], instagram: [] };
		for (const t of TYPES) {
			for (let k = 0; k < 5; k++) {
				const who = `${t === 'messenger' ? 27 : 37}0000000${k}`;
				staff[t].push({ who, echo: emu[t].inboxReply({ to: who, text: `Hello, this is Sam (${k}).` }) });
			}
		}
		for (let i = 0; i < N; i++) {
			const t = TYPES[i % 2];
			const who = `${t === 'messenger' ? 25 : 35}${String(i % 173).padStart(8, '0')}`;
			if (i % 41 === 7) {
				quiet.push(emu[t].standby({ from: `${t === 'messenger' ? 26 : 36}${String(i).padStart(8, '0')}`, text: `when are you open? (${i}, standby)` }));
			} else if (i % 50 === 20 && i >= 100) {
				// The person's echo is stored by now (asserted below).
				const s = staff[t][(i / 50) % 5 | 0];
				quiet.push({ ...emu[t].message({ from: s.who, text: `when are you open? (${i}, for Sam)` }), staff: s });
			} else if (i % 29 === 3) {
				expect.push(emu[t].postback({ from: who, title: 'Opening hours', payload: `H${i}` }));
			} else if (i % 31 === 5) {
				// A photo is no FAQ: a ticket and one acknowledgement (its
				// own customer, whose next messages would join the ticket).
				photos++;
				const from = `${t === 'messenger' ? 28 : 38}${String(i).padStart(8, '0')}`;
				expect.push(emu[t].message({ from, attachments: [{ type: 'image', payload: { url: `https://x.example/${i}.jpg` } }] }));
			} else {
				expect.push(emu[t].message({ from: who, text: `when are you open? (${i}) Grüße 🍰` }));
			}
			if (i === 90) {
				// The take-overs are stored before their customers write.
				await until(() => Object.values(staff).flat().every((s) => sql(d, `SELECT count(*) FROM posts WHERE post_id = '${s.echo.id}'`) === '1'), 'the take-overs stored', 30000);
			}
			if (i % 97 === 50) for (const p of TYPES) forged.push(emu.forge(p));
			if (i === 300 || i === 650) {
				const ex = await d.kill();
				earlier += d.log();
				assert.equal(ex.signal, 'SIGKILL');
				d = await start(emu, ports, { ...soakOpts, dir: d.dir, ports: d.ports });
			}
			// Sends before the storm are counted by position, not by clock: one
			// accepted in the very millisecond the storm begins is before it.
			if (i === 500) for (const p of TYPES) storms[p] = { first: emu.sent.length, until: emu.storm(p, 1500) };
			if (i % 10 === 9) await sleep(8);
		}
		const forgedDone = await Promise.all(forged);
		await until(() => expect.every((m) => emu.repliesTo(m).length >= 1), 'an answer to every message', 120000).catch((e) => {
			const missing = expect.filter((m) => !emu.repliesTo(m).length);
			const codes = {};
			for (const r of emu.refused) codes[r.code] = (codes[r.code] || 0) + 1;
			throw new Error(`${missing.length} unanswered (e.g. ${missing.slice(0, 3).map((m) => m.id)}); emulator queue ${emu.pending()}; ` +
				`refused ${JSON.stringify(codes)}; store: ${sql(d, 'SELECT count(*) FROM posts')} posts, outbox ` +
				`${sql(d, "SELECT group_concat(state || '=' || n) FROM (SELECT state, count(*) n FROM outbox GROUP BY state)")}\n${e.message}`);
		});
		await until(() => emu.pending() === 0, 'the emulator to have delivered everything', 60000);
		await sleep(1500); // a second answer would show up now
		const twice = expect.filter((m) => emu.repliesTo(m).length !== 1);
		assert.equal(twice.length, 0, `${twice.length} answered more than once: ` +
			JSON.stringify(twice.slice(0, 3).map((m) => emu.repliesTo(m).map((r) => ({ at: r.at, marker: r.marker })))));
		for (const m of expect) assert.equal(emu.repliesTo(m)[0].thread, m.thread, `${m.id} answered in another conversation`);
		const spoke = quiet.filter((m) => emu.repliesTo(m).length || (m.standby && emu.inThread(m).length));
		assert.equal(spoke.length, 0, `${spoke.length} answered in standby or in a person's conversation: ${spoke.slice(0, 3).map((m) => m.id)}`);
		for (const t of TYPES) {
			const during = emu.sent.slice(storms[t].first).filter((s) => s.product === t && s.at < storms[t].until);
			assert.equal(during.length, 0, `${t}: ${during.length} accepted during the storm`);
		}
		assert.ok(emu.refused.some((r) => r.code === 613), 'the storm was met');
		// Nor hammered: what was on its way when the storm began (at most 16
		// requests a connector), and a try or two after each growing wait.
		for (const t of TYPES) {
			const tries = emu.refused.filter((r) => r.product === t && r.code === 613).length;
			assert.ok(tries <= 4 * 16, `${t}: ${tries} sends refused during a 1.5 s storm`);
		}
		const over = emu.sent.filter((s) => (s.product === 'instagram' ? Buffer.byteLength(s.text) > 1000 : [...s.text].length > 2000));
		assert.equal(over.length, 0, 'a message over the limit');
		// Our own replies came back as echoes: none was taken for a person
		// answering on the platform (the only tickets are the take-overs'
		// and the photos').
		assert.equal(sql(d, "SELECT count(*) FROM tickets WHERE status = 'claimed'"), '10', 'take-overs');
		assert.equal(Number(sql(d, 'SELECT count(*) FROM tickets')), 10 + photos, `tickets: ${sql(d, 'SELECT group_concat(status) FROM tickets')}`);
		// Every delivery answered 200 was stored (standby messages are not
		// ours to store), before the 200.
		const stored = new Set(execFileSync('sqlite3', [d.db, 'SELECT post_id FROM posts']).toString().split('\n'));
		const standbyIds = new Set(quiet.filter((m) => m.standby).map((m) => m.id));
		const lost = acked.filter((id) => !standbyIds.has(id) && !stored.has(id));
		assert.equal(lost.length, 0, `answered 200 but not stored: ${lost.slice(0, 5)}`);
		for (const id of standbyIds) assert.ok(!stored.has(id), `standby ${id} stored`);
		for (const f of forgedDone) {
			assert.ok(f.status === 401 || f.status === 0, `a forged delivery answered ${f.status}`);
			assert.ok(!stored.has(f.id), `forged ${f.id} stored`);
		}
		// Some reach a running daemon and are refused by their signature (in
		// the slower sanitizer build more of them fall on a restart).
		assert.ok(forgedDone.some((f) => f.status === 401), 'no forged delivery met a running daemon');
		assert.equal(emu.sent.filter((s) => s.to === 'forged-user').length, 0, 'a forged message answered');
		assert.equal(sql(d, "SELECT count(*) FROM outbox WHERE state <> 'sent' AND kind = 'reply'"), '0');
		const all = earlier + d.log();
		const dups = emu.deliveries.filter((x) => x.dup).length;
		const retried = emu.deliveries.filter((x) => x.status !== 200 && !x.forged).length;
		console.log(`# messenger soak: ${expect.length} answered + ${quiet.length} left alone (standby, a person's), ` +
			`${emu.deliveries.length} deliveries (${dups} duplicated, ${retried} not answered 200 and retried), ` +
			`${forged.length} forged, 2 SIGKILLs, ${((Date.now() - t0) / 1000).toFixed(1)} s; replies found already sent after a restart: ` +
			`${(all.match(/reply already with Meta: not sent again/g) || []).length}, sent again unconfirmed: ` +
			`${(all.match(/no confirmation of an earlier attempt/g) || []).length}`);
		const ex = await d.stop();
		assert.deepEqual(ex, { code: 0, signal: null }, d.log().slice(-2000));
	} finally {
		await d.kill();
		d.cleanup();
		await emu.close();
	}
});
