// Crash test: web chat visitors keep posting while the daemon is killed
// with SIGKILL at random moments and restarted, several times.  Visitors
// behave like the widget: they resume with their token and re-send every
// message not yet echoed, with the same client_id.  In the end every
// message is stored exactly once, every post has exactly one reply, every
// reply was delivered (visitors saw each reply id; repeats of the same id
// after a crash are allowed, new ids are not), and the file passes
// PRAGMA integrity_check.
//
//   BUILD=build node --test tests/e2e/crash.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { freePort, track } from './lib/daemon.mjs';

const BUILD = process.env.BUILD || 'build';
const BIN = path.resolve(BUILD, 'frontdesk');
const ROUNDS = Number(process.env.CRASH_ROUNDS || 6);
const VISITORS = 16;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));


async function setup() {
	const dir = mkdtempSync(path.join(tmpdir(), 'fd-crash-'));
	const port = await freePort();
	const dash = await freePort();
	writeFileSync(path.join(dir, 'rules.yaml'), `- id: opening-hours
  match: { any: ["opening hours"] }
  reply: faq.opening_hours
`);
	writeFileSync(path.join(dir, 'replies.yaml'), `faq.opening_hours: "We bake from 7:00 every day."
escalated: "A person will reply by {{due}}."
negative: "Sorry. A person will reply by {{due}}."
abusive: "Received."
human: "A person will reply by {{due}}."
waiting: "We have your message."
`);
	writeFileSync(path.join(dir, 'lexicon.yaml'), 'threshold: -0.3\nwords: { awful: -3 }\n');
	writeFileSync(path.join(dir, 'config.yaml'), `business:
  name: Crash Bakery
  timezone: UTC
  hours: { mon-sun: "00:00-24:00" }
rules: [rules.yaml]
replies: [replies.yaml]
sentiment: { lexicon: [lexicon.yaml] }
store: { path: fd.db, synchronous: full }
connectors:
  - type: webchat
    listen: "127.0.0.1:${port}"
    limits: { connections_per_address: 1000, messages_per_minute: 1000000 }
dashboard: { listen: "127.0.0.1:${dash}" }
`);
	return { dir, port, config: path.join(dir, 'config.yaml'), db: path.join(dir, 'fd.db'), log: '' };
}

function start(d) {
	d.log = '';
	d.proc = track(spawn(BIN, ['run', '-c', d.config], { cwd: d.dir, stdio: ['ignore', 'ignore', 'pipe'] }));
	d.exited = new Promise((resolve) => d.proc.on('exit', (code, signal) => resolve({ code, signal })));
	return new Promise((resolve, reject) => {
		const t = setTimeout(() => reject(new Error('daemon did not start:\n' + d.log)), 10000);
		d.proc.stderr.on('data', (b) => {
			d.log += b;
			if (d.log.includes('frontdesk running')) {
				clearTimeout(t);
				resolve();
			}
		});
	});
}

// A visitor that behaves like widget.js.
class Visitor {
	constructor(d, n) {
		this.d = d;
		this.n = n;
		this.token = null;
		this.seq = 0;
		this.unacked = new Map(); // client_id -> text
		this.acked = new Map();   // client_id -> message id
		this.replies = new Set(); // bot message ids seen
		this.repeats = 0;         // the same reply id seen again
		this.posting = true;
		this.stopped = false;
		this.connect();
	}
	connect() {
		if (this.stopped) return;
		const url = `ws://127.0.0.1:${this.d.port}/chat` + (this.token ? `?visitor=${this.token}` : '');
		const ws = (this.ws = new WebSocket(url));
		this.ready = false;
		ws.on('message', (data) => this.onFrame(JSON.parse(data.toString())));
		ws.on('error', () => {});
		ws.on('close', () => {
			this.ready = false;
			clearInterval(this.timer);
			if (!this.stopped) setTimeout(() => this.connect(), 30 + Math.random() * 70);
		});
	}
	reply(id, frame) {
		if (frame && this.replies.has(id)) this.repeats++;
		this.replies.add(id);
	}
	onFrame(f) {
		if (f.type === 'welcome') {
			// A token may only change when the crash came before its first
			// message was stored (the new visitor row was not durable yet).
			if (this.token && f.visitor !== this.token && this.acked.size > 0)
				throw new Error('visitor token lost across a restart after messages were stored');
			this.token = f.visitor;
			this.ready = true;
			for (const m of f.history) {
				if (m.from === 'customer' && m.client_id && this.unacked.has(m.client_id)) {
					this.unacked.delete(m.client_id);
					this.acked.set(m.client_id, m.id);
				}
				if (m.from === 'bot') this.reply(m.id, false);
			}
			for (const [cid, text] of this.unacked) this.ws.send(JSON.stringify({ type: 'message', text, client_id: cid }));
			this.timer = setInterval(() => this.post(), 4);
		} else if (f.type === 'message' && f.from === 'customer') {
			const first = this.acked.get(f.client_id);
			if (first !== undefined && first !== f.id) throw new Error(`client_id ${f.client_id} stored twice`);
			this.unacked.delete(f.client_id);
			this.acked.set(f.client_id, f.id);
		} else if (f.type === 'message' && f.from === 'bot') {
			this.reply(f.id, true);
		} else if (f.type === 'error' && f.client_id) {
			setTimeout(() => {
				const text = this.unacked.get(f.client_id);
				if (text && this.ready) this.ws.send(JSON.stringify({ type: 'message', text, client_id: f.client_id }));
			}, 100);
		}
	}
	post() {
		if (!this.posting || !this.ready || this.unacked.size > 20) return;
		const cid = `v${this.n}-${++this.seq}`;
		const text = `what are your opening hours? (${this.n}/${this.seq})`;
		this.unacked.set(cid, text);
		this.ws.send(JSON.stringify({ type: 'message', text, client_id: cid }));
	}
	stop() {
		this.stopped = true;
		clearInterval(this.timer);
		this.ws.terminate();
	}
}

test('SIGKILL at random moments loses nothing and answers every post exactly once', { timeout: 120000 }, async () => {
	const d = await setup();
	await start(d);
	const visitors = Array.from({ length: VISITORS }, (_, i) => new Visitor(d, i));
	let kills = 0;
	for (let r = 0; r < ROUNDS; r++) {
		await sleep(300 + Math.random() * 700);
		d.proc.kill('SIGKILL');
		const ex = await d.exited;
		assert.equal(ex.signal, 'SIGKILL');
		kills++;
		await start(d);
	}
	// Let the traffic settle: no new posts; wait for every echo and reply.
	await sleep(300);
	for (const v of visitors) v.posting = false;
	const deadline = Date.now() + 30000;
	const settled = () => visitors.every((v) => v.unacked.size === 0 && v.replies.size === v.acked.size);
	while (!settled() && Date.now() < deadline) await sleep(100);
	const sent = visitors.reduce((n, v) => n + v.acked.size, 0);
	const repeats = visitors.reduce((n, v) => n + v.repeats, 0);
	for (const v of visitors) {
		assert.equal(v.unacked.size, 0, `visitor ${v.n}: messages never confirmed`);
		assert.equal(v.replies.size, v.acked.size, `visitor ${v.n}: ${v.acked.size} messages, ${v.replies.size} replies`);
	}
	for (const v of visitors) v.stop();
	d.proc.kill('SIGTERM');
	const ex = await d.exited;
	assert.deepEqual(ex, { code: 0, signal: null }, d.log);

	const q = (s) => execFileSync('sqlite3', [d.db, s]).toString().trim();
	assert.equal(q('PRAGMA integrity_check'), 'ok');
	assert.equal(Number(q('SELECT count(*) FROM posts')), sent);
	assert.equal(Number(q("SELECT count(*) FROM messages WHERE sender = 'customer'")), sent);
	assert.equal(Number(q('SELECT count(*) FROM outbox')), sent);
	assert.equal(q("SELECT count(*) FROM outbox WHERE state <> 'sent'"), '0');
	assert.equal(q('SELECT count(*) FROM posts p WHERE (SELECT count(*) FROM outbox o WHERE o.reply_to = p.post_id) <> 1'), '0');
	assert.equal(q("SELECT count(*) FROM messages WHERE sender = 'bot' AND state <> 'sent'"), '0');
	console.log(`# ${kills} kills, ${sent} posts, each answered once; ${repeats} reply frames repeated after a crash (same id)`);
	rmSync(d.dir, { recursive: true, force: true });
});
