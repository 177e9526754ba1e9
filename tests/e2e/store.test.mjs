// Storage faults against the real daemon on loopback:
//   - a store the daemon cannot write (a read-only mount as root, a
//     read-only file otherwise) is refused at start: exit 1 with the
//     reason, before anything listens;
//   - a Mastodon mention streamed while the store is below min_free is
//     turned away, not lost: it is answered once space is back, and a
//     mention answered meanwhile does not move the cursor past it;
//   - a full disk (a 2 MiB tmpfs this test mounts, filled to the last
//     byte) turns new messages away with an error frame and makes /healthz
//     answer 503 with "store"; /metrics counts what was refused; freeing
//     room for a few posts past store.min_free is enough for the daemon to
//     recover by itself (healthz 200), and the message sent again is stored once.
// Mounting needs root; without it the disk test is skipped with a message.
//
//   BUILD=build node --test tests/e2e/store.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, chmodSync, openSync, writeSync, closeSync, ftruncateSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { daemonMissing, defaultConfig, startDaemon, wsClient, httpGet, waitUntil, BIN, freePort, track } from './lib/daemon.mjs';
import { startMastodonEmulator } from './mastodon-emulator.mjs';

const missing = daemonMissing();
const PAGE = 4096;
const MIN_FREE = 64 * 1024;

// Mount a tmpfs of `size` at dir: true, or false when this machine will
// not let us (not root, no mount permission in a container).
function mountTmpfs(dir, size) {
	if (process.getuid && process.getuid() !== 0) return false;
	try {
		execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
		return true;
	} catch {
		return false;
	}
}

function umount(dir) {
	try {
		execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
	} catch {
		/* not mounted */
	}
}

function configWithStore(ports, storePath, storeExtra = '') {
	return defaultConfig({ ports }).replace(
		'store: { path: frontdesk.db }',
		`store: { path: "${storePath}"${storeExtra} }`,
	);
}

// Run the daemon to the end (it should not get far): { code, log }.
function runToExit(config, cwd, ms = 15000) {
	return new Promise((resolve, reject) => {
		let log = '';
		const p = track(spawn(BIN, ['run', '-c', config], { cwd, stdio: ['ignore', 'pipe', 'pipe'] }));
		p.stdout.on('data', (b) => (log += b));
		p.stderr.on('data', (b) => (log += b));
		const t = setTimeout(() => {
			p.kill('SIGKILL');
			reject(new Error(`the daemon kept running on a store it cannot write:\n${log}`));
		}, ms);
		p.on('exit', (code, signal) => {
			clearTimeout(t);
			resolve({ code, signal, log });
		});
	});
}

test('a store the daemon cannot write is refused at start with the reason', { skip: missing }, async () => {
	const dir = mkdtempSync(path.join(tmpdir(), 'fd-store-ro-'));
	const storeDir = path.join(dir, 'data');
	mkdirSync(storeDir);
	const mounted = mountTmpfs(storeDir, '4m');
	const ports = { webchat: await freePort(), dashboard: await freePort() };
	try {
		// A first run creates the store.
		const d = await startDaemon({ dir, ports, config: () => configWithStore(ports, path.join(storeDir, 'fd.db')) });
		assert.equal((await d.stop()).code, 0);
		if (mounted) {
			execFileSync('mount', ['-o', 'remount,ro', storeDir]);
		} else {
			chmodSync(path.join(storeDir, 'fd.db'), 0o444);
			chmodSync(storeDir, 0o555);
		}
		const r = await runToExit(path.join(dir, 'config.yaml'), dir);
		assert.equal(r.code, 1, `exit code ${r.code} (signal ${r.signal}):\n${r.log}`);
		assert.match(r.log, /cannot open the store/);
		assert.match(r.log, /read-only/);
		assert.doesNotMatch(r.log, /frontdesk running/);
	} finally {
		if (mounted) umount(storeDir);
		else chmodSync(storeDir, 0o755);
		rmSync(dir, { recursive: true, force: true });
	}
});

// Write zeros into `file` until the file system has no byte left; returns
// the file's size.
function fillUp(file) {
	const fd = openSync(file, 'a');
	try {
		for (const chunk of [256 * 1024, PAGE, 512, 1]) {
			const buf = Buffer.alloc(chunk);
			for (;;) {
				try {
					writeSync(fd, buf);
				} catch (e) {
					if (e.code === 'ENOSPC') break;
					throw e;
				}
			}
		}
	} finally {
		closeSync(fd);
	}
	return statSync(file).size;
}

const health = async (d) => {
	const r = await httpGet(d.url('/healthz'));
	return { status: r.status, json: r.json };
};

test('a full disk answers 503 and turns messages away; freeing space past min_free recovers', { skip: missing }, async (t) => {
	const dir = mkdtempSync(path.join(tmpdir(), 'fd-store-full-'));
	const storeDir = path.join(dir, 'data');
	mkdirSync(storeDir);
	if (!mountTmpfs(storeDir, '2m')) {
		rmSync(dir, { recursive: true, force: true });
		t.skip('cannot mount a tmpfs here (needs root): the full-disk test did not run');
		return;
	}
	let d = null;
	try {
		const ports = { webchat: await freePort(), dashboard: await freePort() };
		const db = path.join(storeDir, 'fd.db');
		d = await startDaemon({ dir, ports, config: () => configWithStore(ports, db, `, min_free: ${MIN_FREE / 1024}KB`) });
		const c = await wsClient(d.wsUrl('/chat'));
		await c.next((f) => f.type === 'welcome');
		c.send({ type: 'message', text: 'hello', client_id: 'before-full' });
		await c.next((f) => f.type === 'message' && f.client_id === 'before-full');
		let h = await health(d);
		assert.equal(h.status, 200, JSON.stringify(h.json));
		assert.equal(h.json.store, 'ok');

		// Something else takes every byte of the file system.
		const filler = path.join(storeDir, 'filler');
		assert.ok(fillUp(filler) > 0);
		// The WAL file's own space may still take a message or two; the
		// first one that finds no room is turned away.
		let refused = null;
		for (let i = 0; i < 100 && !refused; i++) {
			const cid = `during-full-${i}`;
			const seen = c.frames.length;
			c.send({ type: 'message', text: 'are you open on sunday?', client_id: cid });
			const f = await c.next((x) => x.client_id === cid && (x.type === 'error' || x.from === 'customer'), 5000, seen);
			if (f.type === 'error') refused = f;
		}
		assert.ok(refused, 'a message was turned away');
		assert.match(refused.error, /again/);
		// A full store hands its WAL's space back to the file system (a
		// TRUNCATE checkpoint); the filler, like a runaway log, takes that
		// too, until the daemon sees the disk full for good.
		h = await waitUntil(async () => {
			fillUp(filler);
			const x = await health(d);
			return x.status === 503 ? x : null;
		}, 10000, '/healthz 503').catch((err) => {
			throw new Error(`${err.message}\n--- daemon log ---\n${d.log()}`);
		});
		assert.ok(['low_space', 'full'].includes(h.json.store), JSON.stringify(h.json));
		assert.ok(h.json.store_detail, 'the reason is given');
		// It stays so while the disk stays full.  The daemon looks at the
		// free space once a second and may hand a WAL's space back again in
		// between (a checkpoint), which the filler then takes: a moment of
		// "ok" in that window is the truth, so wait for 503 again rather
		// than catch the one-second sample at the wrong instant.
		await new Promise((r) => setTimeout(r, 1500));
		h = await waitUntil(async () => {
			fillUp(filler);
			const x = await health(d);
			return x.status === 503 ? x : null;
		}, 10000, 'no space came back: still 503').catch((err) => {
			throw new Error(`${err.message}\n--- daemon log ---\n${d.log()}`);
		});
		const m = (await httpGet(d.url('/metrics', 'dashboard'))).body;
		assert.match(m, /^frontdesk_store_ok 0$/m);
		// Turned away before it was written (below min_free) or lost with its
		// group (the write failed): either way counted.
		assert.ok(
			/^frontdesk_posts_refused_total\{state="(low_space|full)"\} [1-9]/m.test(m) ||
				/^frontdesk_store_errors_total [1-9]/m.test(m),
			m,
		);

		// Free room for a few posts past the margin: the daemon recovers by
		// itself.  (One post's commit writes a WAL frame for every page it
		// touches, tables, indexes and the search index: tens of pages.)
		const size = fillUp(filler);
		const fd = openSync(filler, 'r+');
		ftruncateSync(fd, size - MIN_FREE - 64 * PAGE);
		closeSync(fd);
		h = await waitUntil(async () => {
			const x = await health(d);
			return x.status === 200 ? x : null;
		}, 10000, '/healthz 200 after freeing space').catch((err) => {
			throw new Error(`${err.message}\n--- daemon log ---\n${d.log()}`);
		});
		assert.equal(h.json.store, 'ok');
		const again = c.frames.length;
		c.send({ type: 'message', text: 'are you open on sunday?', client_id: refused.client_id });
		const echo = await c.next((f) => f.type === 'message' && f.client_id === refused.client_id, 5000, again);
		assert.equal(echo.from, 'customer');
		c.close();
		assert.equal((await d.stop()).code, 0);
		d = null;
		rmSync(filler);
		const q = (sql) => execFileSync('sqlite3', [db, sql], { encoding: 'utf8' }).trim();
		assert.equal(q('PRAGMA integrity_check'), 'ok');
		assert.equal(q(`SELECT count(*) FROM messages WHERE client_id = '${refused.client_id}'`), '1');
		assert.equal(q("SELECT count(*) FROM messages WHERE client_id = 'before-full'"), '1');
	} finally {
		if (d) await d.stop({ signal: 'SIGKILL' });
		umount(storeDir);
		rmSync(dir, { recursive: true, force: true });
	}
});

test('store.retention: a finished conversation past its period is pruned by the running daemon', { skip: missing }, async () => {
	const ports = { webchat: await freePort(), dashboard: await freePort() };
	let d = await startDaemon({ ports });
	const dir = d.dir;
	try {
		const talk = async (text, cid) => {
			const c = await wsClient(d.wsUrl('/chat'));
			const w = await c.next((f) => f.type === 'welcome');
			c.send({ type: 'message', text, client_id: cid });
			await c.next((f) => f.type === 'message' && f.client_id === cid);
			await c.next((f) => f.type === 'message' && f.from === 'bot');
			c.close();
			return w.visitor;
		};
		const old = await talk('I want to speak to a person', 'old-1');
		const fresh = await talk('when are you open?', 'fresh-1');
		const q = (sql) => execFileSync('sqlite3', [d.db, sql], { encoding: 'utf8' }).trim();
		const ticket = q(`SELECT k.id FROM tickets k JOIN messages m ON m.thread_id = k.thread_id WHERE m.client_id = 'old-1'`);
		assert.match(ticket, /^\d+$/);
		execFileSync(BIN, ['queue', 'resolve', ticket, '-c', d.config]);
		assert.equal((await d.stop()).code, 0);

		// A year and more goes by for the first conversation.
		const thread = `(SELECT thread_id FROM messages WHERE client_id = 'old-1')`;
		const ago = `strftime('%s','now') - 400 * 86400`;
		q(`UPDATE messages SET ts = ${ago} WHERE thread_id = ${thread};` +
			`UPDATE outbox SET created = ${ago} WHERE thread_id = ${thread};` +
			`UPDATE threads SET updated = ${ago} WHERE id = ${thread};`);
		assert.equal(q(`SELECT count(*) FROM visitors WHERE token = '${old}'`), '1');

		d = await startDaemon({
			dir,
			ports,
			config: () =>
				defaultConfig({ ports }).replace(
					'store: { path: frontdesk.db }',
					'store: { path: frontdesk.db, retention: { conversations: 30d, outbox: 30d, visitors: 1d } }',
				),
		});
		await d.waitLog(/msg="retention: pruned" conversations=1 /, 20000);
		assert.equal(q(`SELECT count(*) FROM messages WHERE client_id = 'old-1'`), '0');
		assert.equal(q(`SELECT count(*) FROM tickets WHERE id = ${ticket}`), '0');
		assert.equal(q(`SELECT count(*) FROM ticket_events WHERE ticket_id = ${ticket}`), '0');
		assert.equal(q(`SELECT count(*) FROM visitors WHERE token = '${old}'`), '0');
		assert.equal(q(`SELECT count(*) FROM visitors WHERE token = '${fresh}'`), '1');
		assert.equal(q(`SELECT count(*) FROM messages WHERE client_id = 'fresh-1'`), '1');
		const m = (await httpGet(d.url('/metrics', 'dashboard'))).body;
		assert.match(m, /^frontdesk_store_pruned_total\{kind="conversations"\} 1$/m);
		// The old token starts a new conversation; the fresh one resumes.
		const c = await wsClient(d.wsUrl(`/chat?visitor=${old}`));
		assert.notEqual((await c.next((f) => f.type === 'welcome')).visitor, old);
		c.close();
		assert.equal((await d.stop()).code, 0);
		assert.equal(q('PRAGMA foreign_key_check'), '');
		assert.equal(q('PRAGMA integrity_check'), 'ok');
	} finally {
		await d.stop({ signal: 'SIGKILL' });
		d.cleanup();
	}
});

test('a Mastodon mention streamed while the store is short of space is answered once space is back', { skip: missing, timeout: 90000 }, async (t) => {
	const dir = mkdtempSync(path.join(tmpdir(), 'fd-store-masto-'));
	const storeDir = path.join(dir, 'data');
	mkdirSync(storeDir);
	if (!mountTmpfs(storeDir, '4m')) {
		rmSync(dir, { recursive: true, force: true });
		t.skip('cannot mount a tmpfs here (needs root): the Mastodon low-space test did not run');
		return;
	}
	const emu = await startMastodonEmulator({ token: 'good-token-0123456789', pingMs: 1000 });
	let d = null;
	try {
		const ports = { webchat: await freePort(), dashboard: await freePort() };
		const db = path.join(storeDir, 'fd.db');
		d = await startDaemon({
			dir,
			ports,
			env: { FD_TEST_MASTODON_TOKEN: 'good-token-0123456789' },
			config: () =>
				configWithStore(ports, db, ', min_free: 1MB').replace(
					'dashboard:',
					`  - { type: mastodon, instance: "${emu.url}", token_env: FD_TEST_MASTODON_TOKEN }\ndashboard:`,
				),
		});
		await d.waitLog('mastodon: stream connected', 15000);
		const amy = emu.account({ username: 'amy', display_name: 'Amy' });
		const { status: warm } = emu.mention({ from: amy, text: 'when are you open?' });
		await emu.waitFor(() => emu.repliesTo(warm.id).length === 1, 15000, 'the first answer');

		// Something else leaves less than min_free.
		const free = () => Number(statfsSync(storeDir).bavail) * Number(statfsSync(storeDir).bsize);
		const filler = path.join(storeDir, 'filler');
		writeFileSync(filler, Buffer.alloc(Math.max(0, free() - 512 * 1024)));
		await waitUntil(async () => (await health(d)).json.store === 'low_space', 5000, 'low_space');
		const { status: early } = emu.mention({ from: amy, text: 'are you open on sunday?' });
		await new Promise((r) => setTimeout(r, 2000));
		assert.equal(emu.repliesTo(early.id).length, 0, 'not answered while the store takes no new work');

		// Space comes back; a later mention is answered, and so is the early one.
		rmSync(filler);
		await waitUntil(async () => (await health(d)).status === 200, 10000, '/healthz 200');
		const { status: later } = emu.mention({ from: amy, text: 'when are you open?' });
		await emu.waitFor(() => emu.repliesTo(later.id).length === 1, 15000, 'the later answer');
		await emu.waitFor(() => emu.repliesTo(early.id).length === 1, 30000, 'the early mention answered');
		await new Promise((r) => setTimeout(r, 1000));
		assert.equal(emu.repliesTo(early.id).length, 1);
		assert.equal(emu.repliesTo(later.id).length, 1);
		assert.equal((await d.stop()).code, 0);
		d = null;
	} finally {
		if (d) await d.stop({ signal: 'SIGKILL' });
		await emu.close();
		umount(storeDir);
		rmSync(dir, { recursive: true, force: true });
	}
});
