#!/usr/bin/env node
// bridge-adapter.mjs - the reference adapter for frontdesk's bridge protocol
// (docs/bridge-protocol.md): it bridges a line-based chat on standard input
// and output to frontdesk.  Start from it to connect a platform frontdesk
// does not speak: replace readLines() and show() with the platform's own
// receiving and sending, keep the rest.
//
//   FRONTDESK_BRIDGE_TOKEN=… node tools/bridge-adapter.mjs [options]
//
//   --url URL        ws://127.0.0.1:8090/bridge (or FRONTDESK_BRIDGE_URL)
//   --state FILE     keep the posts not stored yet and the ids of delivered
//                    replies in FILE, so a restart of the adapter loses and
//                    repeats nothing
//   --linger SECS    after the input ends, exit once every post is stored
//                    and no reply came for SECS seconds (default 3; 0: stay)
//
// Input, one message a line:        Output, one line a reply line:
//   amy: when are you open?           @amy: Hi amy! We bake from 7:00 …
//   #shop ben: any vegan cakes?       #shop @ben: …
// "name: text" is a one-to-one conversation with name; "#room name: text"
// is name writing in a room, each person's messages there one thread.  A
// reply in private to someone in a room goes to them directly (@name).  An
// agent's reply shows the agent's name: "@amy: [Sam] Refunded today".
// Status goes to standard error.
//
// It needs the `ws` package (npm install ws; the repository's tests/e2e has it).
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const WebSocket = require(require.resolve('ws', { paths: [process.cwd(), path.join(here, '../tests/e2e')] }));

const args = process.argv.slice(2);
const opt = (name, dflt) => {
	const i = args.indexOf(name);
	return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const url = opt('--url', process.env.FRONTDESK_BRIDGE_URL || 'ws://127.0.0.1:8090/bridge');
const stateFile = opt('--state', null);
const linger = Number(opt('--linger', '3'));
const token = process.env.FRONTDESK_BRIDGE_TOKEN;
if (!token) {
	console.error('bridge-adapter: set FRONTDESK_BRIDGE_TOKEN to the token of the bridge connector');
	process.exit(2);
}
const say = (s) => process.stderr.write(`bridge-adapter: ${s}\n`);

// What must survive a restart: posts frontdesk has not stored yet (sent
// again after every reconnect, in order), and the ids of the replies
// already shown (a reply sent again is confirmed, not shown twice).
const pending = new Map(); // post id -> post frame
let delivered = new Set();
const KEEP = 10000; // delivered ids remembered
if (stateFile) {
	try {
		const s = JSON.parse(readFileSync(stateFile, 'utf8'));
		for (const p of s.pending || []) pending.set(p.id, p);
		delivered = new Set(s.delivered || []);
	} catch (e) {
		if (e.code !== 'ENOENT') say(`cannot read ${stateFile}: ${e.message}`);
	}
}
function save() {
	if (!stateFile) return;
	const ids = [...delivered].slice(-KEEP);
	writeFileSync(`${stateFile}.tmp`, JSON.stringify({ pending: [...pending.values()], delivered: ids }));
	renameSync(`${stateFile}.tmp`, stateFile);
}

let ws = null;
let open = false;
let backoff = 500;
let inputDone = false;
let lastActivity = Date.now();
let seq = 0;
const send = (o) => open && ws.send(JSON.stringify(o));

function connect() {
	ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` } });
	ws.on('open', () => {
		open = true;
		backoff = 500;
		say(`connected to ${url}`);
		for (const p of pending.values()) send(p);
	});
	ws.on('message', (data) => onFrame(data.toString('utf8')));
	ws.on('unexpected-response', (req, res) => {
		say(`frontdesk refused the connection: HTTP ${res.statusCode}${res.statusCode === 401 ? ' (check the token)' : ''}`);
		res.resume();
	});
	ws.on('error', () => {}); // the close that follows says it
	ws.on('close', (code) => {
		if (open) say(`disconnected (${code}); reconnecting`);
		open = false;
		const wait = backoff * (0.5 + Math.random());
		backoff = Math.min(backoff * 2, 30000);
		setTimeout(connect, wait);
	});
}

// The platform's side: show a reply (here: print it).  Returns when it is
// shown; a platform that refuses would throw, with retryAfterMs when it
// asks to wait.
function show(r) {
	const who = r.thread.startsWith('@') ? r.thread.slice(1) : r.thread.slice(r.thread.indexOf('/') + 1);
	const room = r.thread.startsWith('#') ? r.thread.slice(0, r.thread.indexOf('/')) : null;
	const to = room && !r.private ? `${room} @${who}` : `@${who}`;
	const sign = r.agent ? `[${r.agent}] ` : '';
	for (const line of r.text.split('\n')) process.stdout.write(`${to}: ${sign}${line}\n`);
}

function onFrame(text) {
	let f;
	try {
		f = JSON.parse(text);
	} catch {
		return say('a frame that is not JSON');
	}
	lastActivity = Date.now();
	if (f.type === 'stored') {
		pending.delete(f.id);
		save();
	} else if (f.type === 'reply') {
		if (!delivered.has(f.id)) {
			try {
				show(f);
			} catch (e) {
				const o = { type: 'failed', id: f.id, error: String(e.message || e) };
				if (e.retryAfterMs >= 0) o.retry_after_ms = e.retryAfterMs;
				return send(o);
			}
			delivered.add(f.id);
			if (delivered.size > KEEP) delivered.delete(delivered.values().next().value);
			save();
		}
		send({ type: 'delivered', id: f.id });
	} else if (f.type === 'error') {
		say(`frontdesk: ${f.error}${f.id ? ` (${f.id})` : ''}`);
	}
}

// The platform's side: messages coming in (here: lines on standard input).
function readLines() {
	const rl = createInterface({ input: process.stdin });
	rl.on('line', (line) => {
		const m = /^(?:(#\S+)\s+)?([^\s:]+):\s*(.*)$/.exec(line.trim());
		if (!m || !m[3]) {
			if (line.trim()) say(`not "name: text" or "#room name: text": ${line}`);
			return;
		}
		const [, room, name, body] = m;
		const p = {
			type: 'post',
			id: `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}-${++seq}`,
			thread: room ? `${room}/${name}` : `@${name}`,
			author: { id: name, name, bot: false },
			private: !room,
			text: body,
			ts: new Date().toISOString(),
		};
		pending.set(p.id, p);
		save();
		send(p);
		lastActivity = Date.now();
	});
	rl.on('close', () => (inputDone = true));
}

function quit() {
	save();
	process.exit(0);
}
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
if (linger > 0)
	setInterval(() => {
		if (inputDone && pending.size === 0 && Date.now() - lastActivity > linger * 1000) quit();
	}, 200);

readLines();
connect();
