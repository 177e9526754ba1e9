// The daemon on PostgreSQL (store.url), against the throw-away cluster
// `make test` starts (tests/pgcluster.sh sets FRONTDESK_TEST_PG): a web
// chat conversation answered, handed over, and replied to from the queue
// command line; and `frontdesk migrate` moving a SQLite store over, after
// which the same visitor resumes the same conversation on PostgreSQL.
// Each test gets a database of its own.
//
//   FRONTDESK_TEST_PG=postgresql://... BUILD=build node --test tests/e2e/postgres.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { daemonMissing, defaultConfig, startDaemon, wsClient, BIN, AGENT_PASSWORD } from './lib/daemon.mjs';
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

test('two daemons on one database, one killed with SIGKILL: every message answered exactly once, the survivor shows every ticket', { skip, timeout: 180000 * SLOW }, async (t) => {
	const url = freshDatabase(t);
	const conf = (node) => (ctx) =>
		defaultConfig({ ports: ctx.ports, webchatExtra: '    limits: { messages_per_minute: 100000, connections_per_address: 100 }\n' }).replace(
			'store: { path: frontdesk.db }',
			`store: { url: "${url}", node: ${node}, lease: 5s }`,
		);
	const A = await startDaemon({ config: conf('node-a'), healthy: true, timeoutMs: 30000 * SLOW });
	const B = await startDaemon({ config: conf('node-b'), healthy: true, timeoutMs: 30000 * SLOW });
	t.after(async () => {
		for (const d of [A, B]) {
			await d.stop({ signal: 'SIGKILL' });
			d.cleanup();
		}
	});
	const VISITORS = 60;
	const TEXTS = ['when are you open?', 'do you deliver?', 'I want to speak to a person'];
	let aDead = false;

	// One visitor: three messages to its daemon; when that daemon dies under
	// it, it goes on at the other with its token and sends again what was
	// not acknowledged (same client_id).
	async function visitor(i) {
		let d = i % 2 ? B : A;
		let c = null;
		let token = null;
		for (let m = 0; m < TEXTS.length; ) {
			try {
				if (!c) {
					if (d === A && aDead) d = B;
					c = await wsClient(d.wsUrl(token ? `/chat?visitor=${encodeURIComponent(token)}` : '/chat'));
					token = (await c.next((f) => f.type === 'welcome', 10000 * SLOW)).visitor;
				}
				const cid = `v${i}-m${m}`;
				const from = c.frames.length;
				c.send({ type: 'message', text: TEXTS[m], client_id: cid });
				await c.next((f) => f.type === 'message' && f.client_id === cid, 10000 * SLOW, from);
				m++;
			} catch (e) {
				if (d !== A || !aDead) throw e;
				c = null; // A died under us: the same conversation, on B
			}
		}
		c.close();
		return token;
	}

	const tokens = [];
	let next = 0;
	const worker = async () => {
		while (next < VISITORS) {
			const i = next++;
			if (i === VISITORS / 2 && !aDead) {
				aDead = true;
				await A.kill();
			}
			tokens[i] = await visitor(i);
		}
	};
	await Promise.all(Array.from({ length: 8 }, worker));

	// Every customer message stored once, answered once; every reply sent
	// (A's unsent ones by B once their lease ran out).
	const total = VISITORS * TEXTS.length;
	assert.equal(psql(url, `SELECT count(*) FROM messages WHERE sender = 'customer'`), String(total));
	assert.equal(psql(url, `SELECT count(*) FROM posts`), String(total));
	const t0 = Date.now();
	while (psql(url, `SELECT count(*) FROM outbox WHERE state <> 'sent'`) !== '0') {
		assert.ok(Date.now() - t0 < 30000 * SLOW, psql(url, `SELECT id, state, lease_owner, attempts, last_error FROM outbox WHERE state <> 'sent'`));
		await new Promise((r) => setTimeout(r, 250));
	}
	assert.equal(psql(url, `SELECT count(*) FROM messages WHERE sender = 'bot'`), String(total));
	assert.equal(psql(url, `SELECT count(*) FROM outbox`), String(total));
	// Each customer message is followed by exactly one bot message.
	assert.equal(
		psql(url, `SELECT count(*) FROM messages c WHERE c.sender = 'customer' AND (SELECT count(*) FROM messages b
		  WHERE b.thread_id = c.thread_id AND b.sender = 'bot' AND b.id > c.id AND b.id < COALESCE((SELECT min(n.id)
		  FROM messages n WHERE n.thread_id = c.thread_id AND n.sender = 'customer' AND n.id > c.id), 9e18)) <> 1`),
		'0',
	);
	// The survivor's dashboard shows every ticket.
	const r = await fetch(B.url('/api/login', 'dashboard'), {
		method: 'POST',
		headers: { 'Content-Type': 'application/json' },
		body: JSON.stringify({ login: 'sam', password: AGENT_PASSWORD }),
	});
	assert.equal(r.status, 200);
	const cookie = r.headers.get('set-cookie').split(';')[0];
	const list = await (await fetch(B.url('/api/tickets', 'dashboard'), { headers: { cookie } })).json();
	assert.equal(list.tickets.length, VISITORS);
	// And a visitor whose daemon died finds the whole conversation on B.
	const c = await wsClient(B.wsUrl(`/chat?visitor=${encodeURIComponent(tokens[0])}`));
	const w = await c.next((f) => f.type === 'welcome');
	assert.deepEqual(w.history.map((m) => m.from), ['customer', 'bot', 'customer', 'bot', 'customer', 'bot']);
	c.close();
	assert.equal((await B.stop()).code, 0);
});
