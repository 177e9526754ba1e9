// End-to-end tests of the built-in web chat against the real daemon on
// loopback (docs/webchat-protocol.md): acknowledgement and
// FAQ answer, after-hours notice naming the next opening, duplicate
// client_id, malformed / binary / oversized frames, resume with history
// (including an agent's reply written from the queue CLI while the
// customer was away), Origin and rate limits, 500 concurrent chats, and a
// clean exit 0 on SIGTERM.
//
//   BUILD=build node --test tests/e2e/webchat.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { freePort, track } from './lib/daemon.mjs';

const BUILD = process.env.BUILD || 'build';
const BIN = path.resolve(BUILD, 'frontdesk');
const HASH = '$y$j9T$F2nKyQ2TZT4UzMbTJN6Va.$RMyDCRGkYXqbKiyH48zJY4u7/N9qyIhcPr1u/3DfILD';

const RULES = `- id: opening-hours
  match: { any: ["opening hours", "when are you open"] }
  reply: faq.opening_hours
- id: greeting
  match: { any: [hello, hi] }
  acknowledge: smalltalk.greeting
`;
const REPLIES = `faq.opening_hours: "We bake from 7:00 every day."
smalltalk.greeting: "Hello! How can I help?"
escalated: "Thanks! A person will reply by {{due}}."
escalated.after_hours: "Thanks! We're closed now and back {{opens_at}}. A person will reply by {{due}}."
negative: "Sorry to hear that. A person will reply by {{due}}."
abusive: "We've received your message."
human: "A person will reply by {{due}}."
waiting: "We have your message; {{#agent}}{{agent}}{{/agent}}{{^agent}}a person{{/agent}} will reply soon."
`;
const LEXICON = `threshold: -0.3
words: { terrible: -3, awful: -3, great: 2 }
abusive: ["idiot*"]
`;


// A daemon in its own directory with its own config; resolves once the
// web chat listens.
async function startDaemon({ hours = '"00:00-24:00"', limits = '', origins = '' } = {}) {
	const dir = mkdtempSync(path.join(tmpdir(), 'fd-webchat-'));
	const port = await freePort();
	const dash = await freePort();
	writeFileSync(path.join(dir, 'rules.yaml'), RULES);
	writeFileSync(path.join(dir, 'replies.yaml'), REPLIES);
	writeFileSync(path.join(dir, 'lexicon.yaml'), LEXICON);
	writeFileSync(path.join(dir, 'config.yaml'), `business:
  name: Test Bakery
  timezone: UTC
  hours: { mon-sun: ${hours} }
rules: [rules.yaml]
replies: [replies.yaml]
sentiment: { lexicon: [lexicon.yaml] }
store: { path: fd.db }
bot: { cooldown: 10m }
connectors:
  - type: webchat
    listen: "127.0.0.1:${port}"
${limits ? `    limits: ${limits}\n` : ''}${origins ? `    allowed_origins: ${origins}\n` : ''}dashboard:
  listen: "127.0.0.1:${dash}"
  agents: [ { login: sam, name: Sam, password_hash: "${HASH}" } ]
`);
	const d = { dir, port, config: path.join(dir, 'config.yaml'), db: path.join(dir, 'fd.db'), log: '' };
	d.proc = track(spawn(BIN, ['run', '-c', d.config], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }));
	d.proc.stdout.on('data', (b) => (d.log += b));
	d.exited = new Promise((resolve) => d.proc.on('exit', (code, signal) => resolve({ code, signal })));
	await new Promise((resolve, reject) => {
		const t = setTimeout(() => reject(new Error('daemon did not start:\n' + d.log)), 10000);
		d.proc.stderr.on('data', (b) => {
			d.log += b;
			if (d.log.includes('frontdesk running')) {
				clearTimeout(t);
				resolve();
			}
		});
		d.proc.on('exit', () => reject(new Error('daemon exited:\n' + d.log)));
	});
	return d;
}

async function waitLog(d, text, ms = 5000) {
	const t0 = Date.now();
	while (!d.log.includes(text)) {
		if (Date.now() - t0 > ms) throw new Error(`no "${text}" in the log:\n${d.log}`);
		await sleep(20);
	}
}

async function stopDaemon(d) {
	d.proc.kill('SIGTERM');
	const r = await d.exited;
	return r;
}

// One chat connection: collects frames; next(pred) waits for a matching one.
function chat(d, { visitor, origin } = {}) {
	const url = `ws://127.0.0.1:${d.port}/chat` + (visitor ? `?visitor=${encodeURIComponent(visitor)}` : '');
	const ws = new WebSocket(url, origin ? { origin } : {});
	const c = { ws, frames: [], waiters: [], closed: null };
	ws.on('message', (data, isBinary) => {
		const f = JSON.parse(data.toString());
		c.frames.push(f);
		for (const w of [...c.waiters]) {
			if (w.pred(f)) {
				c.waiters.splice(c.waiters.indexOf(w), 1);
				clearTimeout(w.t);
				w.resolve(f);
			}
		}
	});
	c.closedP = new Promise((resolve) => ws.on('close', (code, reason) => resolve((c.closed = { code, reason: reason.toString() }))));
	c.opened = new Promise((resolve, reject) => {
		ws.on('open', resolve);
		ws.on('unexpected-response', (req, res) => reject(Object.assign(new Error('refused'), { status: res.statusCode })));
		ws.on('error', reject);
	});
	c.next = (pred, ms = 5000) =>
		new Promise((resolve, reject) => {
			const seen = c.frames.find(pred);
			if (seen) {
				c.frames.splice(c.frames.indexOf(seen), 1);
				return resolve(seen);
			}
			const w = { pred, resolve };
			w.t = setTimeout(() => {
				c.waiters.splice(c.waiters.indexOf(w), 1);
				reject(new Error('timeout waiting; frames so far: ' + JSON.stringify(c.frames)));
			}, ms);
			c.waiters.push(w);
		}).then((f) => {
			const i = c.frames.indexOf(f);
			if (i >= 0) c.frames.splice(i, 1);
			return f;
		});
	c.send = (o) => ws.send(typeof o === 'string' ? o : JSON.stringify(o));
	c.welcome = (ms) => c.next((f) => f.type === 'welcome', ms);
	c.close = () => {
		ws.close();
		return c.closedP;
	};
	return c;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sql = (d, q) => execFileSync('sqlite3', [d.db, q]).toString().trim();

let A; // open all day, default limits and origins

before(async () => {
	A = await startDaemon({ limits: '{ connections_per_address: 600, messages_per_minute: 100000 }' });
});

after(async () => {
	if (A) {
		const r = await stopDaemon(A);
		assert.deepEqual(r, { code: 0, signal: null }, A.log);
		rmSync(A.dir, { recursive: true, force: true });
	}
});

test('acknowledgement and FAQ answer arrive after the durable echo', async () => {
	const c = chat(A);
	const w = await c.welcome();
	assert.match(w.visitor, /^[A-Za-z0-9_-]{16,}$/);
	assert.equal(w.open, true);
	assert.deepEqual(w.history, []);

	c.send({ type: 'message', text: 'Hello there', client_id: 'g1' });
	const echo = await c.next((f) => f.type === 'message' && f.from === 'customer');
	assert.equal(echo.client_id, 'g1');
	assert.equal(echo.text, 'Hello there');
	assert.match(echo.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
	const ack = await c.next((f) => f.type === 'message' && f.from === 'bot');
	assert.equal(ack.text, 'Hello! How can I help?');
	assert.ok(Number(ack.id) > Number(echo.id));

	c.send({ type: 'message', text: 'What are your opening hours?', client_id: 'q1' });
	await c.next((f) => f.from === 'customer' && f.client_id === 'q1');
	const answer = await c.next((f) => f.from === 'bot');
	assert.equal(answer.text, 'We bake from 7:00 every day.');
	// The echo was stored before it was sent.
	assert.equal(sql(A, `SELECT count(*) FROM messages WHERE client_id = 'q1'`), '1');

	// Text comes back exactly: quotes, backslashes, line breaks, tabs, emoji, </script>.
	const odd = 'He said "hi" \\ then\nleft\t😀 </script> é\u0001';
	c.send({ type: 'message', text: odd, client_id: 'odd' });
	const back = await c.next((f) => f.from === 'customer' && f.client_id === 'odd');
	assert.equal(back.text, odd);
	await c.close();
});

test('a re-sent client_id is echoed with its first id and not answered again', async () => {
	const c = chat(A);
	const w = await c.welcome();
	c.send({ type: 'message', text: 'when are you open', client_id: 'dup-1' });
	c.send({ type: 'message', text: 'when are you open', client_id: 'dup-1' });
	const e1 = await c.next((f) => f.from === 'customer');
	const e2 = await c.next((f) => f.from === 'customer');
	assert.equal(e1.id, e2.id);
	await c.next((f) => f.from === 'bot');
	await sleep(600);
	assert.equal(c.frames.filter((f) => f.from === 'bot').length, 0, JSON.stringify(c.frames));
	await c.close();

	// Again after a reconnect, as the widget does with unconfirmed messages.
	const c2 = chat(A, { visitor: w.visitor });
	const w2 = await c2.welcome();
	assert.equal(w2.visitor, w.visitor);
	c2.send({ type: 'message', text: 'when are you open', client_id: 'dup-1' });
	const e3 = await c2.next((f) => f.from === 'customer');
	assert.equal(e3.id, e1.id);
	await sleep(600);
	assert.equal(c2.frames.filter((f) => f.type === 'message').length, 0, JSON.stringify(c2.frames));
	assert.equal(sql(A, `SELECT count(*) FROM posts WHERE post_id LIKE '%/dup-1'`), '1');
	assert.equal(sql(A, `SELECT count(*) FROM outbox o JOIN posts p ON o.reply_to = p.post_id WHERE p.post_id LIKE '%/dup-1'`), '1');
	await c2.close();
});

test('bad frames get an error and the socket stays open; oversized closes with 1009', async () => {
	const c = chat(A);
	await c.welcome();
	c.send('this is not json');
	assert.match((await c.next((f) => f.type === 'error')).error, /malformed/);
	c.send('[1,2,3]');
	assert.match((await c.next((f) => f.type === 'error')).error, /malformed/);
	c.send({ type: 'dance' });
	assert.match((await c.next((f) => f.type === 'error')).error, /unknown/);
	c.send({ type: 'message' });
	assert.match((await c.next((f) => f.type === 'error')).error, /text/);
	c.send({ type: 'message', text: '   ' });
	assert.match((await c.next((f) => f.type === 'error')).error, /empty/);
	c.send({ type: 'message', text: 'x'.repeat(2001) });
	assert.match((await c.next((f) => f.type === 'error')).error, /too long/);
	c.ws.send(Buffer.from([0, 1, 2, 3]), { binary: true });
	assert.match((await c.next((f) => f.type === 'error')).error, /binary/);
	// Still open and working.
	c.send({ type: 'message', text: 'hello', client_id: 'after-errors' });
	await c.next((f) => f.from === 'customer' && f.client_id === 'after-errors');

	c.send(JSON.stringify({ type: 'message', text: 'y'.repeat(9000) }));
	assert.match((await c.next((f) => f.type === 'error')).error, /too large/);
	const closed = await c.closedP;
	assert.equal(closed.code, 1009);

	// The daemon lives on.
	const res = await fetch(`http://127.0.0.1:${A.port}/healthz`);
	assert.equal(res.status, 200);
	const c2 = chat(A);
	await c2.welcome();
	await c2.close();
});

test('resume replays the history in order, with replies written while away', async () => {
	const c = chat(A);
	const w = await c.welcome();
	c.send({ type: 'message', text: 'hi', client_id: 'r1' });
	const e1 = await c.next((f) => f.from === 'customer');
	const b1 = await c.next((f) => f.from === 'bot');
	c.send({ type: 'message', text: 'my parcel is somewhere odd', client_id: 'r2' });
	const e2 = await c.next((f) => f.from === 'customer');
	const b2 = await c.next((f) => f.from === 'bot'); // escalated: a person will reply
	assert.match(b2.text, /A person will reply by/);
	await c.close();

	// While the customer is away, an agent answers from the command line.
	const ticket = sql(A, `SELECT t.id FROM tickets t JOIN threads h ON h.id = t.thread_id JOIN messages m ON m.thread_id = h.id WHERE m.client_id = 'r2'`);
	assert.match(ticket, /^\d+$/);
	execFileSync(BIN, ['queue', 'reply', ticket, '--agent', 'sam', 'Found it, it is on its way.', '-c', A.config]);
	await sleep(1500); // the daemon notices within a second and delivers

	const c2 = chat(A, { visitor: w.visitor });
	const w2 = await c2.welcome();
	const ids = w2.history.map((m) => m.id);
	assert.deepEqual(ids.slice(0, 4), [e1.id, b1.id, e2.id, b2.id]);
	assert.deepEqual(w2.history.map((m) => m.from), ['customer', 'bot', 'customer', 'bot', 'agent']);
	const agent = w2.history[4];
	assert.equal(agent.agent, 'Sam');
	assert.match(agent.text, /^Found it, it is on its way\./);
	assert.equal(w2.history[0].client_id, 'r1');
	// Nothing of it is sent again as separate frames.
	await sleep(500);
	assert.equal(c2.frames.length, 0, JSON.stringify(c2.frames));
	assert.equal(sql(A, `SELECT state FROM outbox WHERE sender = 'agent'`), 'sent');
	await c2.close();

	// An unknown token starts a new conversation.
	const c3 = chat(A, { visitor: 'NoSuchTokenAtAllNoSuchToken' });
	const w3 = await c3.welcome();
	assert.notEqual(w3.visitor, 'NoSuchTokenAtAllNoSuchToken');
	assert.deepEqual(w3.history, []);
	await c3.close();
});

test('visitor churn: connections that say nothing leave no rows; the first message stores the visitor', async (t) => {
	const before = Number(sql(A, 'SELECT count(*) FROM visitors'));
	const t0 = Date.now();
	const N = 2000;
	// Twenty at a time, each one welcomed and closed without a word.
	for (let i = 0; i < N; i += 20) {
		await Promise.all(
			Array.from({ length: 20 }, async () => {
				const c = chat(A);
				await c.welcome();
				await c.close();
			}),
		);
	}
	const churnMs = Date.now() - t0;
	assert.equal(Number(sql(A, 'SELECT count(*) FROM visitors')), before, `${N} silent connections stored visitors`);

	// The first message stores the visitor, once, and the token resumes.
	const c = chat(A);
	const w = await c.welcome();
	c.send({ type: 'message', text: 'hello', client_id: 'churn1' });
	await c.next((f) => f.from === 'customer' && f.client_id === 'churn1');
	c.send({ type: 'message', text: 'hello again', client_id: 'churn2' });
	await c.next((f) => f.from === 'customer' && f.client_id === 'churn2');
	await c.close();
	assert.equal(Number(sql(A, 'SELECT count(*) FROM visitors')), before + 1);
	assert.equal(sql(A, `SELECT count(*) FROM visitors WHERE token = '${w.visitor}'`), '1');
	// Coming back again and again adds nothing either.
	for (let i = 0; i < 50; i++) {
		const r = chat(A, { visitor: w.visitor });
		const again = await r.welcome();
		assert.equal(again.visitor, w.visitor);
		await r.close();
	}
	assert.equal(Number(sql(A, 'SELECT count(*) FROM visitors')), before + 1);
	t.diagnostic(`visitor churn: ${N} connect/close cycles in ${churnMs} ms, 0 rows`);
});

test('history is paged: the welcome holds the latest 50 and "more"; history requests read the rest', async () => {
	const c = chat(A);
	const w = await c.welcome();
	for (let i = 0; i < 60; i++) {
		c.send({ type: 'message', text: 'What are your opening hours?', client_id: `page${i}` });
		await c.next((f) => f.from === 'customer' && f.client_id === `page${i}`);
		await c.next((f) => f.from === 'bot');
	}
	await c.close();

	const r = chat(A, { visitor: w.visitor });
	const w2 = await r.welcome();
	assert.equal(w2.history.length, 50);
	assert.equal(w2.more, true);
	let all = w2.history;
	let pages = 0;
	for (;;) {
		r.send({ type: 'history', before: all[0].id });
		const h = await r.next((f) => f.type === 'history');
		assert.equal(h.before, all[0].id);
		assert.ok(h.messages.length <= 50);
		assert.ok(h.messages.every((m) => Number(m.id) < Number(all[0].id)));
		all = [...h.messages, ...all];
		pages++;
		if (!h.more) break;
	}
	assert.equal(pages, 2);
	assert.equal(all.length, 120);
	for (let i = 1; i < all.length; i++) assert.ok(Number(all[i].id) > Number(all[i - 1].id), 'in order, each once');
	assert.equal(all[0].client_id, 'page0');
	assert.equal(all[0].from, 'customer');
	const stored = sql(A, `SELECT count(*) FROM messages WHERE state = 'sent' AND thread_id = (SELECT thread_id FROM messages WHERE client_id = 'page0')`);
	assert.equal(String(all.length), stored);

	// Nothing before the first message; a bad request gets an error.
	r.send({ type: 'history', before: all[0].id });
	const none = await r.next((f) => f.type === 'history');
	assert.deepEqual(none.messages, []);
	assert.equal(none.more, false);
	r.send({ type: 'history', before: 'yesterday' });
	assert.match((await r.next((f) => f.type === 'error')).error, /before/);
	await r.close();
});

test('the same visitor in two tabs gets replies in both', async () => {
	const c = chat(A);
	const w = await c.welcome();
	const t2 = chat(A, { visitor: w.visitor });
	await t2.welcome();
	c.send({ type: 'message', text: 'opening hours?', client_id: 'tab' });
	await c.next((f) => f.from === 'bot');
	const other = await t2.next((f) => f.from === 'bot');
	assert.equal(other.text, 'We bake from 7:00 every day.');
	await c.close();
	await t2.close();
});

test('origin check: the bot page and non-browser clients pass, other sites do not', async () => {
	for (const origin of [`http://127.0.0.1:${A.port}`, `http://localhost:${A.port}`]) {
		const c = chat(A, { origin });
		await c.welcome();
		await c.close();
	}
	const bad = chat(A, { origin: 'https://evil.example' });
	await assert.rejects(bad.opened, (e) => e.status === 403);
	// The log says what to change to let a site in.
	await waitLog(A, 'evil.example');
	assert.match(A.log, /msg="web chat origin refused: .*allowed_origins".* origin="?https:\/\/evil\.example/);
	const wrongPort = chat(A, { origin: `http://127.0.0.1:${A.port + 1}` });
	await assert.rejects(wrongPort.opened, (e) => e.status === 403);
});

test('500 concurrent chats each get their answer', async () => {
	const N = 500;
	const t0 = Date.now();
	const conns = Array.from({ length: N }, () => chat(A));
	await Promise.all(conns.map((c) => c.welcome(15000)));
	conns.forEach((c, i) => c.send({ type: 'message', text: `what are your opening hours (${i})`, client_id: `m${i}` }));
	const answers = await Promise.all(conns.map((c) => c.next((f) => f.from === 'bot', 20000)));
	assert.equal(answers.length, N);
	assert.ok(answers.every((a) => a.text === 'We bake from 7:00 every day.'));
	const ms = Date.now() - t0;
	await Promise.all(conns.map((c) => c.close()));
	console.log(`# 500 chats: connected, asked and answered in ${ms} ms`);
	const res = await fetch(`http://127.0.0.1:${A.port}/healthz`);
	assert.equal(res.status, 200);
});

test('a visitor who stops reading gets every frame whole and in order once it reads again', async () => {
	// 1,000 long messages (about 2 MB of echoes) while the socket is not
	// read: the server writes several frames per writable callback into
	// buffers that fill, and nothing may be lost, cut or reordered.  (On
	// loopback the kernel's socket buffers take most of it, so this does
	// not prove that lws ever kept part of a frame back.)
	const N = 1000;
	const c = chat(A);
	await c.welcome(10000);
	c.ws._socket.pause();
	const long = 'what are your opening hours? ' + 'x'.repeat(1850);
	for (let i = 0; i < N; i++) c.send({ type: 'message', text: `${long} ${i}`, client_id: `slow${i}` });
	const t0 = Date.now();
	while (Number(sql(A, `SELECT count(*) FROM posts WHERE text LIKE '%opening hours? xxx%'`)) < N) {
		assert.ok(Date.now() - t0 < 60000, 'the daemon did not take every message');
		await sleep(100);
	}
	await sleep(500);
	c.ws._socket.resume();
	const echoes = [];
	const answers = [];
	while (answers.length < N) {
		const f = await c.next((x) => x.type === 'message', 30000);
		if (f.from === 'customer') echoes.push(f.client_id);
		else if (f.from === 'bot') answers.push(f.text);
	}
	while (echoes.length < N) echoes.push((await c.next((x) => x.from === 'customer', 30000)).client_id);
	assert.deepEqual(echoes, Array.from({ length: N }, (_, i) => `slow${i}`));
	assert.ok(answers.every((a) => a === 'We bake from 7:00 every day.'));
	assert.equal(c.closed, null);
	await c.close();
});

test('SIGHUP reloads replies; a broken config is refused and the old one keeps answering', async () => {
	const c = chat(A);
	await c.welcome();
	writeFileSync(path.join(A.dir, 'replies.yaml'), REPLIES.replace('We bake from 7:00 every day.', 'Now from 6:30.'));
	A.proc.kill('SIGHUP');
	await waitLog(A, 'configuration reloaded');
	c.send({ type: 'message', text: 'opening hours?', client_id: 'hup1' });
	assert.equal((await c.next((f) => f.from === 'bot')).text, 'Now from 6:30.');

	writeFileSync(path.join(A.dir, 'replies.yaml'), 'faq.opening_hours: [unclosed\n');
	A.proc.kill('SIGHUP');
	const before = A.log.length;
	await waitLog(A, 'reload refused: the previous configuration keeps running');
	const logged = A.log.slice(before);
	assert.match(logged, /msg="configuration error" error=.*replies\.yaml/);
	// Each error once, and "reload refused" once: not one line per error.
	assert.equal(logged.match(/reload refused/g).length, 1, logged);
	c.send({ type: 'message', text: 'opening hours?', client_id: 'hup2' });
	assert.equal((await c.next((f) => f.from === 'bot')).text, 'Now from 6:30.');
	await c.close();
});

test('the demo page shows the hours of the running configuration, also after a reload', async () => {
	const D = await startDaemon();
	try {
		const page = async () => (await fetch(`http://127.0.0.1:${D.port}/`)).text();
		assert.match(await page(), /Opening hours: around the clock</);
		writeFileSync(D.config, readFileSync(D.config, 'utf8').replace('"00:00-24:00"', '"08:00-20:00"'));
		D.proc.kill('SIGHUP');
		await waitLog(D, 'configuration reloaded', 15000);
		assert.match(await page(), /Opening hours: every day 8:00–20:00</);
	} finally {
		await stopDaemon(D);
		rmSync(D.dir, { recursive: true, force: true });
	}
});

test('after hours: the notice names the next opening; e-mail can be left; limits hold', async () => {
	// Open for one hour starting two hours from now (UTC), so now is closed.
	const now = new Date();
	const h = (now.getUTCHours() + 2) % 24;
	const pad = (n) => String(n).padStart(2, '0');
	const B = await startDaemon({
		hours: `"${pad(h)}:00-${pad(h + 1 > 24 ? 24 : h + 1)}:00"`,
		limits: '{ connections_per_address: 3, messages_per_minute: 4 }',
		origins: '["https://shop.example"]',
	});
	try {
		const c = chat(B, { origin: 'https://shop.example' });
		const w = await c.welcome();
		assert.equal(w.open, false);
		c.send({ type: 'message', text: 'can you make a cake for saturday?', client_id: 'ah1' });
		const r = await c.next((f) => f.from === 'bot');
		assert.match(r.text, /We're closed now and back/);
		assert.ok(r.text.includes(`at ${h}:00`), r.text);

		c.send({ type: 'email', email: 'kim@example.org' });
		const ok = await c.next((f) => f.type === 'email');
		assert.equal(ok.email, 'kim@example.org');
		assert.equal(sql(B, `SELECT email FROM visitors WHERE token = '${w.visitor}'`), 'kim@example.org');
		c.send({ type: 'email', email: 'not an address' });
		assert.match((await c.next((f) => f.type === 'error')).error, /e-mail/);

		// messages_per_minute: 4 (a burst of 4, then one every 15 s).
		for (let i = 2; i <= 6; i++) c.send({ type: 'message', text: `more ${i}`, client_id: `ah${i}` });
		const e5 = await c.next((f) => f.type === 'error' && f.client_id === 'ah5');
		assert.match(e5.error, /too many/);
		await c.next((f) => f.type === 'error' && f.client_id === 'ah6');
		await c.next((f) => f.from === 'customer' && f.client_id === 'ah4');

		// allowed_origins replaces the default; the own page still works.
		await assert.rejects(chat(B, { origin: 'https://evil.example' }).opened, (e) => e.status === 403);
		const own = chat(B, { origin: `http://127.0.0.1:${B.port}` });
		await own.welcome();

		// connections_per_address: 3.
		const third = chat(B);
		await third.welcome();
		await assert.rejects(chat(B).opened, (e) => e.status === 429);
		await third.close();
		await own.close();
		await c.close();
	} finally {
		const r = await stopDaemon(B);
		assert.deepEqual(r, { code: 0, signal: null }, B.log);
		rmSync(B.dir, { recursive: true, force: true });
	}
});
