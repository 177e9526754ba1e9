// End to end with the reference adapter (tools/bridge-adapter.mjs): a
// line-based chat on standard input and output, bridged to a real daemon.
// Private and room messages, a refund taken out of the room with a short
// public reply, a person's answer shown with their name, the daemon killed
// with SIGKILL while a customer writes (the adapter keeps the line and
// sends it after the restart), the adapter itself stopped and started again
// on its state file: every line answered once.
//
//   BUILD=build node --test tests/e2e/bridge-adapter.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { daemonMissing, freePort, waitUntil, sleep, BIN, REPO } from './lib/daemon.mjs';
import { bridgeDaemon, SLOW, TOKEN } from './lib/bridge.mjs';

const ADAPTER = path.join(REPO, 'tools/bridge-adapter.mjs');

function adapter(port, state) {
	const p = spawn(process.execPath, [ADAPTER, '--url', `ws://127.0.0.1:${port}/bridge`, '--state', state, '--linger', '0'], {
		env: { ...process.env, FRONTDESK_BRIDGE_TOKEN: TOKEN },
		stdio: ['pipe', 'pipe', 'pipe'],
	});
	const a = { p, out: '', err: '' };
	p.stdout.on('data', (b) => (a.out += b));
	p.stderr.on('data', (b) => (a.err += b));
	a.exited = new Promise((r) => p.on('exit', (code, signal) => r({ code, signal })));
	a.say = (line) => p.stdin.write(`${line}\n`);
	a.lines = () => a.out.split('\n').filter(Boolean);
	return a;
}

test('the reference adapter: a line chat answered through the bridge, once per line, across a SIGKILL and its own restart', { skip: daemonMissing(), timeout: 120000 * SLOW }, async () => {
	const port = await freePort();
	let d = await bridgeDaemon(port);
	const state = path.join(d.dir, 'adapter-state.json');
	let a = adapter(port, state);
	const wait = (pred, what) => waitUntil(pred, 20000 * SLOW, what).catch((e) => {
		throw new Error(`${e.message}\n--- adapter out ---\n${a.out}\n--- adapter err ---\n${a.err}\n--- daemon ---\n${d.log().slice(-2000)}`);
	});
	try {
		await wait(() => a.err.includes('connected to'), 'the adapter connected');
		a.say('amy: when are you open?');
		a.say('#shop ben: when are you open?');
		a.say('#shop cat: I want a refund for my order');
		a.say('this line is not a message');
		await wait(() => a.lines().length >= 4, 'four reply lines');
		await sleep(500);
		assert.deepEqual(a.lines().sort(), [
			'#shop @ben: Hi ben! We bake from 7:00 every day.',
			"#shop @cat: I've sent you a direct message so we can sort this out.",
			'@amy: Hi amy! We bake from 7:00 every day.',
			'@cat: Sorry about that. A person will look at the refund and reply by ' + a.lines().find((l) => l.startsWith('@cat:')).split('reply by ')[1],
		].sort());
		assert.match(a.err, /not "name: text"/);

		// A person answers the refund; the adapter shows who.
		const q = (args) => execFileSync(BIN, ['queue', ...args, '-c', d.config]).toString();
		const [t] = JSON.parse(q(['list', '--json']));
		q(['reply', String(t.id), '--agent', 'sam', 'Refunded today, sorry.']);
		await wait(() => a.out.includes('@cat: [Sam] Refunded today, sorry.'), "the person's reply");

		// The daemon dies; a customer writes meanwhile; it comes back.
		await d.kill();
		a.say('dan: when are you open?');
		await sleep(500);
		d = await bridgeDaemon(port, { restart: d });
		await wait(() => a.out.includes('@dan: Hi dan!'), 'the line written while the daemon was down');

		// The adapter stops and starts again on its state file.
		a.p.kill('SIGTERM');
		await a.exited;
		const before = a.out;
		a = adapter(port, state);
		await wait(() => a.err.includes('connected to'), 'the adapter connected again');
		a.say('#shop eve: when are you open?');
		await wait(() => a.out.includes('#shop @eve: Hi eve!'), 'a line after the restart');
		await sleep(1000);
		const all = (before + a.out).split('\n').filter(Boolean);
		assert.equal(all.length, 7, all.join('\n'));
		assert.equal(new Set(all).size, 7, 'a line shown twice');
		assert.equal(execFileSync('sqlite3', [d.db, "SELECT count(*) FROM outbox WHERE kind = 'reply' AND state <> 'sent'"]).toString().trim(), '0');
	} finally {
		a.p.kill('SIGKILL');
		await d.kill();
		d.cleanup();
	}
});
