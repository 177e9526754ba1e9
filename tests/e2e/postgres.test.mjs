// The daemon on PostgreSQL (store.url), against the throw-away cluster
// `make test` starts (tests/pgcluster.sh sets FRONTDESK_TEST_PG): a web
// chat conversation answered, handed over, and replied to from the queue
// command line; `frontdesk migrate` moving a SQLite store over, after
// which the same visitor resumes the same conversation on PostgreSQL; and
// two daemons on one database while 1,000 messages flow, one of them
// killed with SIGKILL.  Each test gets a database of its own.
//
//   FRONTDESK_TEST_PG=postgresql://... BUILD=build node --test tests/e2e/postgres.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { daemonMissing, defaultConfig, startDaemon, wsClient, sleep, waitUntil, BIN, AGENT_PASSWORD } from './lib/daemon.mjs';
import { pgSkip, psql, freshDatabase } from './lib/pg.mjs';

const skip = daemonMissing() || pgSkip();
const SLOW = (process.env.BUILD || '').includes('san') ? 3 : 1;

const onPg = (url) => (ctx) => defaultConfig({ ports: ctx.ports }).replace('store: { path: frontdesk.db }', `store: { url: "${url}", node: test-node }`);

// One visitor's exchange: send text, wait for the echo and the bot's answer.
async function say(c, text, cid) {
	const from = c.frames.length;
	c.send({ type: 'message', text, client_id: cid });
	const echo = await c.next((f) => f.type === 'message' && f.client_id === cid, 10000 * SLOW, from);
	const bot = await c.next((f) => f.type === 'message' && f.from === 'bot', 10000 * SLOW, from);
	return { echo, bot };
}

test('on PostgreSQL: a web chat message answered, handed over, and replied to from the command line', { skip, timeout: 90000 * SLOW }, async (t) => {
	const url = freshDatabase(t);
	const d = await startDaemon({ config: onPg(url), healthy: true, timeoutMs: 30000 * SLOW });
	t.after(async () => {
		await d.stop({ signal: 'SIGKILL' });
		d.cleanup();
	});
	assert.match(d.log(), /postgresql/i);
	const health = JSON.parse((await (await fetch(d.url('/healthz'))).text()));
	assert.equal(health.store, 'ok');

	const c = await wsClient(d.wsUrl('/chat'));
	const w = await c.next((f) => f.type === 'welcome');
	const faq = await say(c, 'when are you open?', 'pg-1');
	assert.match(faq.bot.text, /\S/);
	const hand = await say(c, 'I want to speak to a person', 'pg-2');
	assert.match(hand.bot.text, /\S/);

	// The rows are in PostgreSQL, not in a file.
	assert.equal(psql(url, `SELECT count(*) FROM messages WHERE client_id IN ('pg-1', 'pg-2')`), '2');
	const tickets = JSON.parse(execFileSync(BIN, ['queue', 'list', '--json', '-c', d.config], { encoding: 'utf8' }));
	assert.equal(tickets.length, 1, JSON.stringify(tickets));
	assert.equal(tickets[0].status, 'waiting');

	// An agent answers from the command line; the daemon hears of it (NOTIFY)
	// and the visitor's open chat gets it.
	const from = c.frames.length;
	execFileSync(BIN, ['queue', 'reply', String(tickets[0].id), '--agent', 'sam', 'Hello, Sam here: how can I help?', '-c', d.config]);
	const agent = await c.next((f) => f.type === 'message' && f.from === 'agent', 15000 * SLOW, from).catch((e) => {
		throw new Error(`${e.message}\n--- daemon log ---\n${d.log()}\n--- outbox ---\n${psql(url, 'SELECT id, kind, sender, state, lease_owner, lease_until, not_before FROM outbox')}`);
	});
	assert.equal(agent.agent, 'Sam');
	assert.match(agent.text, /^Hello, Sam here/);
	assert.equal(psql(url, `SELECT state FROM outbox WHERE sender = 'agent'`), 'sent');
	const after = JSON.parse(execFileSync(BIN, ['queue', 'show', String(tickets[0].id), '--json', '-c', d.config], { encoding: 'utf8' }));
	assert.equal(after.status, 'claimed');
	c.close();

	// The same visitor comes back after a restart: the conversation is there.
	assert.equal((await d.stop()).code, 0);
	const d2 = await startDaemon({ config: onPg(url), dir: d.dir, ports: d.ports, healthy: true, timeoutMs: 30000 * SLOW });
	t.after(() => d2.stop({ signal: 'SIGKILL' }));
	const c2 = await wsClient(d2.wsUrl(`/chat?visitor=${encodeURIComponent(w.visitor)}`));
	const w2 = await c2.next((f) => f.type === 'welcome');
	assert.equal(w2.visitor, w.visitor);
	assert.deepEqual(w2.history.map((m) => m.from), ['customer', 'bot', 'customer', 'bot', 'agent']);
	c2.close();
	assert.equal((await d2.stop()).code, 0);
});

test('frontdesk migrate moves a SQLite store to PostgreSQL, and the conversation goes on there', { skip, timeout: 120000 * SLOW }, async (t) => {
	const url = freshDatabase(t);
	const d = await startDaemon({ healthy: true });
	t.after(async () => {
		await d.stop({ signal: 'SIGKILL' });
		d.cleanup();
	});
	const c = await wsClient(d.wsUrl('/chat'));
	const w = await c.next((f) => f.type === 'welcome');
	await say(c, 'when are you open?', 'm-1');
	await say(c, 'I want to speak to a person', 'm-2');
	await say(c, 'it is about a birthday cake\nwith\ttabs and a back\\slash', 'm-3');
	c.close();
	assert.equal((await d.stop()).code, 0);

	const sq = (sql) => execFileSync('sqlite3', [d.db, sql], { encoding: 'utf8' }).trim();
	// What the team's side keeps, so that every table has rows to move.
	sq(`INSERT INTO ratings SELECT id, 4, 'quick', created FROM tickets LIMIT 1;
	    INSERT INTO ticket_labels SELECT id, 'cakes' FROM tickets LIMIT 1;
	    INSERT INTO ticket_seen SELECT id, 'Sam', 1 FROM tickets LIMIT 1;
	    INSERT INTO team VALUES ('label', 'cakes', '{}', 1);
	    INSERT INTO taught (rule, text, negative, by_login, created) VALUES ('opening-hours', 'open today?', 0, 'sam', 1);`);
	// Every table of the store (the search indexes are SQLite's own).
	const tables = sq(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' AND name NOT LIKE '%fts%'`).split('\n');
	for (const n of ['ratings', 'taught', 'contacts', 'contact_keys', 'ticket_labels', 'ticket_seen', 'team']) assert.ok(tables.includes(n), n);
	const before = Object.fromEntries(tables.map((n) => [n, sq(`SELECT count(*) FROM ${n}`)]));
	assert.ok(Number(before.messages) >= 6, JSON.stringify(before));
	for (const n of tables.filter((n) => n !== 'cursors' && n !== 'connector_state')) assert.ok(Number(before[n]) > 0, n);

	// Usage errors are told as such.
	let r = spawnSync(BIN, ['migrate', '--to', url], { encoding: 'utf8' });
	assert.equal(r.status, 2, r.stderr);
	assert.match(r.stderr, /--from/);

	r = spawnSync(BIN, ['migrate', '--from', `sqlite:${d.db}`, '--to', url], { encoding: 'utf8' });
	assert.equal(r.status, 0, r.stderr);
	assert.match(r.stdout, /messages\s+\d+ rows/);
	for (const n of tables) assert.equal(psql(url, `SELECT count(*) FROM ${n}`), before[n], n);
	// Texts arrive as written (COPY escapes).
	assert.equal(psql(url, `SELECT text FROM messages WHERE client_id = 'm-3'`), 'it is about a birthday cake\nwith\ttabs and a back\\slash');
	assert.equal(psql(url, `SELECT max(id) FROM messages`), sq('SELECT max(id) FROM messages'));
	assert.equal(psql(url, `SELECT last_in FROM threads`), sq('SELECT last_in FROM threads'));

	// A second run finds data there and leaves it alone.
	r = spawnSync(BIN, ['migrate', '--from', `sqlite:${d.db}`, '--to', url], { encoding: 'utf8' });
	assert.equal(r.status, 1);
	assert.match(r.stderr, /already holds data/);
	assert.equal(psql(url, `SELECT count(*) FROM messages`), before.messages);

	// The daemon on PostgreSQL: the visitor resumes, the ticket is there,
	// new rows take new ids.
	const d2 = await startDaemon({ config: onPg(url), dir: d.dir, ports: d.ports, healthy: true, timeoutMs: 30000 * SLOW });
	t.after(() => d2.stop({ signal: 'SIGKILL' }));
	const tickets = JSON.parse(execFileSync(BIN, ['queue', 'list', '--json', '-c', d2.config], { encoding: 'utf8' }));
	assert.equal(tickets.length, 1, JSON.stringify(tickets));
	const c2 = await wsClient(d2.wsUrl(`/chat?visitor=${encodeURIComponent(w.visitor)}`));
	const w2 = await c2.next((f) => f.type === 'welcome');
	assert.equal(w2.visitor, w.visitor);
	assert.equal(w2.history.filter((m) => m.from === 'customer').length, 3);
	const from = c2.frames.length;
	c2.send({ type: 'message', text: 'are you still there?', client_id: 'm-4' });
	const echo = await c2.next((f) => f.type === 'message' && f.client_id === 'm-4', 10000 * SLOW, from);
	assert.ok(Number(echo.id) > Number(before.messages), `new id ${echo.id} after ${before.messages} copied rows`);
	assert.equal(psql(url, `SELECT count(*) FROM messages WHERE client_id = 'm-4'`), '1');
	c2.close();
	assert.equal((await d2.stop()).code, 0);
});

// Two daemons on one database while 1,000 web chat messages flow, one of
// them killed with SIGKILL in the middle of the flow (messages sent to it
// and not yet echoed, replies not yet sent).  Every visitor keeps its chat
// open, as the widget does, and half of them have it open on both daemons
// (a second tab behind a load balancer), so that a reply sent by both
// reaches them twice; a visitor whose only connection was to the killed
// daemon reconnects to the survivor with its token, and every visitor
// sends again, there, what was not echoed.  Checked from the receiving
// side: each visitor, over all its connections, got exactly one answer per
// message (a bot message id between that message's id and the next one's),
// live or, when it was sent while the visitor was away, in a welcome's
// history (not a second send); a reply that arrives live twice fails,
// unless the killed daemon sent it just before it died and the survivor
// again once that daemon's lease ran out (a send whose "sent" mark died
// with the process: the outbox's at-least-once, with the same message id,
// which the widget drops).  And from the database: every message stored,
// decided and answered once, every outbox row sent; the survivor's
// dashboard lists every hand-over.
test('two daemons on one database, 1,000 web chat messages, one killed with SIGKILL mid-flow: each answered exactly once, the survivor shows every ticket', { skip, timeout: 240000 * SLOW }, async (t) => {
	const url = freshDatabase(t);
	const LEASE_S = 5; // the shortest store.lease
	const conf = (node) => (ctx) =>
		defaultConfig({ ports: ctx.ports, webchatExtra: '    limits: { messages_per_minute: 100000, connections_per_address: 1000 }\n' }).replace(
			'store: { path: frontdesk.db }',
			`store: { url: "${url}", node: ${node}, lease: ${LEASE_S}s }`,
		);
	const A = await startDaemon({ config: conf('node-a'), healthy: true, timeoutMs: 30000 * SLOW });
	const B = await startDaemon({ config: conf('node-b'), healthy: true, timeoutMs: 30000 * SLOW });
	t.after(async () => {
		for (const d of [A, B]) {
			await d.stop({ signal: 'SIGKILL' });
			d.cleanup();
		}
	});
	const t0 = Date.now();

	// Four messages a visitor: FAQ answers, and in two scripts of three a
	// hand-over last (a ticket; later messages would get no answer of their own).
	const SCRIPTS = [
		['when are you open?', 'do you deliver?', 'where are you located?', 'I want to speak to a person'],
		['can I pay by card?', 'do you have vegan options?', 'what is on the menu?', 'can someone call me?'],
		['what is your phone number?', 'do you have gluten free cakes?', 'are you open on sunday?', 'do you deliver?'],
	];
	const handsOver = (i) => i % SCRIPTS.length !== 2;
	const VISITORS = 250;
	const PER = 4;
	const PARALLEL = 24;
	const KILL_AT = 400; // echoes before A is killed
	const visitors = [];
	let echoed = 0;
	let aDead = false;
	let killedAt = 0;
	const onItsWay = new Set(); // visitors with a message sent to A, not echoed yet
	let writingAtKill = [];

	// A connection of visitor v to d, once welcomed: { c, d, times } (times[k]:
	// when frame k arrived).  A visitor has at most one connection to each
	// daemon (toB makes the one to B), so that one send reaches it once.
	// When A is killed, a visitor with no connection to B makes one, as the
	// widget reconnects by itself.
	async function connect(v, d) {
		const c = await wsClient(d.wsUrl(v.token ? `/chat?visitor=${encodeURIComponent(v.token)}` : '/chat'), { timeoutMs: 10000 * SLOW });
		const conn = { c, d, times: [] };
		v.conns.push(conn);
		c.ws.on('message', () => (conn.times[c.frames.length - 1] = Date.now()));
		const w = await c.next((f) => f.type === 'welcome', 10000 * SLOW);
		v.token = w.visitor;
		if (d === A)
			c.closed.then(() => {
				if (!aDead) v.problems.push('its connection to A closed before A was killed');
				toB(v).catch((e) => v.problems.push(`no connection to B: ${e.message}`));
			});
		return conn;
	}
	const toB = (v) => (v.toB ??= connect(v, B));

	// One visitor: its four messages, each sent until echoed (again, with
	// the same client_id, on B when A died under it).  Visitor i writes to
	// A when i % 4 is 0 or 2, else to B; when i % 4 is 2 or 3 it has the
	// conversation open on the other daemon too, from its first message on
	// (a second tab behind a load balancer): a reply sent by both daemons
	// reaches it twice.
	async function visitor(i) {
		const v = { i, token: null, conns: [], problems: [], toB: null, cids: [], toA: [] };
		visitors[i] = v;
		const script = SCRIPTS[i % SCRIPTS.length];
		const onBoth = i % 4 >= 2;
		const first = !aDead && i % 2 === 0 ? A : B;
		let conn = await (first === A ? connect(v, A) : toB(v)).catch((e) => {
			if (first !== A || !aDead) throw e;
			return toB(v);
		});
		for (let m = 0; m < PER; ) {
			if (conn.c.ws.readyState !== 1) {
				if (conn.d !== A || !aDead) throw new Error(`visitor ${i}: its connection closed`);
				conn = await toB(v);
			}
			const cid = `v${i}-m${m}`;
			const from = conn.c.frames.length;
			const onA = conn.d === A;
			if (onA) {
				onItsWay.add(v);
				v.toA[m] = true;
			}
			try {
				conn.c.send({ type: 'message', text: script[m], client_id: cid });
				await conn.c.next((f) => f.type === 'message' && f.client_id === cid, 15000 * SLOW, from);
				v.cids[m++] = cid;
				if (++echoed === KILL_AT) {
					aDead = true;
					killedAt = Date.now();
					onItsWay.delete(v);
					writingAtKill = [...onItsWay];
					A.kill();
				}
			} catch (e) {
				if (!onA || !aDead) throw e;
				conn = await toB(v);
			} finally {
				onItsWay.delete(v);
			}
			if (m === 1 && onBoth) {
				if (conn.d === A) await toB(v);
				else if (!aDead) await connect(v, A).catch((e) => {
					if (!aDead) throw e;
				});
			}
		}
	}

	let next = 0;
	const worker = async () => {
		while (next < VISITORS) await visitor(next++);
	};
	await Promise.all(Array.from({ length: PARALLEL }, worker));
	const sentAll = Date.now();
	assert.ok(aDead, 'A was killed');
	assert.ok(writingAtKill.length > 0, 'messages were on their way to A when it was killed');
	await A.exited;

	// Every outbox row sent (A's unsent ones by B once their lease ran out).
	const total = VISITORS * PER;
	await waitUntil(() => psql(url, `SELECT count(*) FROM outbox WHERE state <> 'sent'`) === '0', 30000 * SLOW, 'every outbox row sent', 250).catch((e) => {
		throw new Error(`${e.message}: ${psql(url, `SELECT id, state, lease_owner, lease_until, attempts, last_error FROM outbox WHERE state <> 'sent'`)}`);
	});

	// What each visitor received, over both its connections: per message,
	// the answers (bot message ids after its id and before the next one's),
	// live or in a welcome's history.
	function received(v) {
		const echo = new Map(); // client_id -> message id
		const live = new Map(); // bot message id -> [{ conn, d, at }]
		const history = new Set();
		const problems = [...v.problems];
		v.conns.forEach((conn, n) =>
			conn.c.frames.forEach((f, k) => {
				if (f.type === 'welcome') {
					for (const h of f.history) if (h.from === 'bot') history.add(Number(h.id));
				} else if (f.type === 'message' && f.from === 'customer' && f.client_id) {
					if (echo.has(f.client_id) && echo.get(f.client_id) !== Number(f.id)) problems.push(`${f.client_id} echoed as ${echo.get(f.client_id)} and ${f.id}`);
					echo.set(f.client_id, Number(f.id));
				} else if (f.type === 'message' && f.from === 'bot') {
					const id = Number(f.id);
					if (!live.has(id)) live.set(id, []);
					live.get(id).push({ conn: n, d: conn.d, at: conn.times[k] });
				} else if (f.type === 'message' || f.type === 'error') {
					problems.push(`unexpected frame ${JSON.stringify(f)}`);
				}
			}),
		);
		const ids = v.cids.map((cid) => echo.get(cid));
		const answers = ids.map((id, m) =>
			[...new Set([...live.keys(), ...history])].filter((b) => b > id && (m + 1 === ids.length || b < ids[m + 1])),
		);
		const stray = [...live.keys(), ...history].filter((b) => !(b > ids[0]));
		if (stray.length) problems.push(`bot messages before the first message: ${stray}`);
		return { ids, answers, live, history, problems };
	}
	const unanswered = () => visitors.filter((v) => received(v).answers.some((a) => a.length === 0));
	await waitUntil(() => unanswered().length === 0, 15000 * SLOW, 'an answer to every message at its visitor', 100).catch((e) => {
		const v = unanswered()[0];
		throw new Error(`${e.message}: visitor ${v.i} ${JSON.stringify(received(v).answers)} frames ${JSON.stringify(v.conns.map((c) => c.c.frames))}`);
	});
	await sleep(300); // a late second copy would be here by now

	let resentAfterLease = 0;
	let takenOver = 0; // A's replies B sent once A's lease ran out
	let fromHistory = 0;
	let both = 0; // visitors with connections to both daemons
	for (const v of visitors) {
		const r = received(v);
		const where = () => `visitor ${v.i}: ${JSON.stringify(v.conns.map((c) => ({ node: c.d === A ? 'A' : 'B', frames: c.c.frames })))}`;
		assert.deepEqual(r.problems, [], where());
		for (let m = 0; m < PER; m++) {
			assert.ok(Number.isInteger(r.ids[m]) && (m === 0 || r.ids[m] > r.ids[m - 1]), where());
			assert.equal(r.answers[m].length, 1, `message ${m} answered ${r.answers[m].length} times: ${where()}`);
			const copies = r.live.get(r.answers[m][0]) || [];
			if (!copies.length) fromHistory++;
			if (v.toA[m] && copies.some((k) => k.d === B && k.at - killedAt >= (LEASE_S - 1) * 1000)) takenOver++;
			if (copies.length > 1) {
				// Only the survivor re-sending what the killed daemon sent
				// but did not mark, after that daemon's lease ran out.
				assert.equal(copies.length, 2, where());
				assert.ok(copies[0].d === A && copies[1].d === B, `one reply sent twice by one daemon: ${where()}`);
				assert.ok(copies[1].at - copies[0].at >= (LEASE_S - 2) * 1000, `B sent a reply A held a lease on: ${where()}`);
				assert.ok(killedAt - copies[0].at <= 2000 * SLOW, `A's "sent" mark of a reply it sent ${killedAt - copies[0].at} ms before it died was lost: ${where()}`);
				resentAfterLease++;
			}
		}
		if (new Set(v.conns.map((c) => c.d)).size === 2) both++;
	}

	// The database: every customer message stored once and answered once.
	assert.equal(psql(url, `SELECT count(*) FROM messages WHERE sender = 'customer'`), String(total));
	assert.equal(psql(url, `SELECT count(*) FROM posts`), String(total));
	assert.equal(psql(url, `SELECT count(*) FROM messages WHERE sender = 'bot'`), String(total));
	assert.equal(psql(url, `SELECT count(*) FROM outbox`), String(total));
	assert.equal(
		psql(url, `SELECT count(*) FROM messages c WHERE c.sender = 'customer' AND (SELECT count(*) FROM messages b
		  WHERE b.thread_id = c.thread_id AND b.sender = 'bot' AND b.id > c.id AND b.id < COALESCE((SELECT min(n.id)
		  FROM messages n WHERE n.thread_id = c.thread_id AND n.sender = 'customer' AND n.id > c.id), 9e18)) <> 1`),
		'0',
	);

	// The survivor's dashboard lists every hand-over: one waiting ticket per
	// visitor who asked for a person, opened by that message.
	const r = await fetch(B.url('/api/login', 'dashboard'), {
		method: 'POST',
		headers: { 'Content-Type': 'application/json' },
		body: JSON.stringify({ login: 'sam', password: AGENT_PASSWORD }),
	});
	assert.equal(r.status, 200);
	const cookie = r.headers.get('set-cookie').split(';')[0];
	const list = await (await fetch(B.url('/api/tickets', 'dashboard'), { headers: { cookie } })).json();
	const expected = visitors.filter((v) => handsOver(v.i)).map((v) => received(v).ids[PER - 1]);
	assert.deepEqual(
		list.tickets.map((k) => k.latest_id).sort((a, b) => a - b),
		expected.sort((a, b) => a - b),
	);
	for (const k of list.tickets) assert.equal(k.status, 'waiting', JSON.stringify(k));

	// The visitors who were writing to A when it died find their whole
	// conversation on B.
	for (const v of writingAtKill) {
		const c = await wsClient(B.wsUrl(`/chat?visitor=${encodeURIComponent(v.token)}`));
		const w = await c.next((f) => f.type === 'welcome', 10000 * SLOW);
		assert.deepEqual(w.history.map((m) => m.from), Array(PER).fill(['customer', 'bot']).flat(), `visitor ${v.i}`);
		c.close();
	}

	for (const v of visitors) for (const conn of v.conns) if (conn.d === B) conn.c.close();
	assert.equal((await B.stop()).code, 0);
	t.diagnostic(
		`${total} messages from ${VISITORS} visitors (${PARALLEL} at a time) in ${((sentAll - t0) / 1000).toFixed(1)} s; A killed at echo ${KILL_AT} ` +
			`(${((killedAt - t0) / 1000).toFixed(1)} s) with messages of ${writingAtKill.length} visitors on their way to it; ${both} visitors with connections to both; ` +
			`${takenOver} replies A owed sent by B after A's lease, ${resentAfterLease} of them A had sent just before it died; ` +
			`${fromHistory} answers seen in a history only; ${list.tickets.length} tickets; ` +
			`all done in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
	);
});
