#!/usr/bin/env node
// WebSocket load generator for the built-in web chat
// (docs/webchat-protocol.md).  Every post is an FAQ question, which always gets an
// answer, and the latency measured is post sent -> bot reply received (the
// customer echo in between is counted, not timed).
//
// Phases:
//   1. connect N sockets (each waits for its welcome);
//   2. fixed rate: R posts/s in total for D seconds, spread over the
//      sockets, open loop (a slow daemon builds a backlog, which shows);
//   3. saturation: every socket keeps W posts in flight for S seconds;
//      the reply rate over that window is the highest sustained rate.
// Then the daemon's peak RSS (VmHWM) is read and one result line printed.
// Before the fixed phase the disk under the daemon's store is probed: for
// --fsync-probe seconds, 4 KiB appended and fdatasync'ed in a loop (what a
// WAL commit costs the disk), and that distribution is printed too, since
// with synchronous full the reply latency can be no better than the disk's.
//
// --store postgres runs the same phases against a daemon on PostgreSQL
// (store.url): a throw-away cluster (tests/pgcluster.sh, in a temporary
// directory, stopped and removed at the end, on failure and on Ctrl-C too)
// with PostgreSQL's own durability settings, which are checked (fsync and
// synchronous_commit on: every reply waits for the WAL's flush, as with
// SQLite's synchronous full) and printed in the result line; the disk probe
// runs beside the cluster's files.  Where no cluster can start here it says
// "skipped" and exits 0.
//
//   node tests/bench/ws-load.mjs                      start build/frontdesk itself
//   node tests/bench/ws-load.mjs --store postgres     the same on a throw-away PostgreSQL
//   node tests/bench/ws-load.mjs --url ws://127.0.0.1:8080/chat --pid 1234
//   options: --conns 100 --rate 1000 --duration 10 --window 8 --saturate 5
//            --threads N (client threads, default: CPUs - 1) --json --strict
//            --store sqlite|postgres (the started daemon's store; default sqlite)
//            --synchronous full|normal (store.synchronous of the started daemon, SQLite)
//            --fsync-probe 3 (seconds; 0 = none) --probe-dir DIR (default: the daemon's)
//
// Targets reported against: p99 at 1,000 posts/s <= 1 ms with synchronous
// normal, <= the disk's fdatasync p99 + 1 ms with full; >= 20,000 posts/s
// sustained; peak RSS <= 16 MB.  --strict exits 1 when one is missed.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { createRequire } from 'node:module';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const E2E = path.resolve(HERE, '../e2e');
// `ws` lives in tests/e2e/node_modules (one package.json for all node code).
const require = createRequire(path.join(E2E, 'package.json'));
const WebSocket = require('ws');

const QUESTION = 'what are your opening hours?';
const WELCOME = Buffer.from('"type":"welcome"');
const FROM_BOT = Buffer.from('"from":"bot"');
const FROM_CUSTOMER = Buffer.from('"from":"customer"');
const ERROR = Buffer.from('"type":"error"');

if (isMainThread) await main();
else await worker(workerData);

// ---- client thread ---------------------------------------------------------------

async function worker({ url, conns, id }) {
	const socks = [];
	let phase = 'idle';
	let rate = 0; // posts/s for this thread
	let window = 1;
	let lat = []; // ms
	let sent = 0,
		replies = 0,
		echoes = 0,
		errors = 0,
		measuring = false;
	let seq = 0;

	const open = (i) =>
		new Promise((resolve, reject) => {
			const ws = new WebSocket(url, { perMessageDeflate: false });
			const s = { ws, pending: [], i };
			// Frames are searched as bytes: no string or JSON per frame, so
			// the client's own garbage collection stays out of the numbers.
			ws.on('message', (data) => {
				const t = performance.now();
				if (!s.ready) {
					if (data.includes(WELCOME)) {
						s.ready = true;
						resolve(s);
					}
					return;
				}
				if (data.includes(FROM_BOT)) {
					const t0 = s.pending.shift();
					replies++;
					if (t0 !== undefined && measuring) lat.push(t - t0);
					if (phase === 'saturate') post(s);
				} else if (data.includes(FROM_CUSTOMER)) {
					echoes++;
				} else if (data.includes(ERROR)) {
					errors++;
				}
			});
			ws.on('error', (e) => (s.ready ? errors++ : reject(e)));
			ws.on('close', () => {
				if (phase !== 'closing') errors++;
			});
		});

	function post(s) {
		s.pending.push(performance.now());
		s.ws.send(`{"type":"message","text":"${QUESTION}","client_id":"${id}-${s.i}-${seq++}"}`);
		sent++;
	}

	parentPort.on('message', async (m) => {
		if (m.cmd === 'connect') {
			try {
				for (let i = 0; i < conns; i++) socks.push(await open(i));
				parentPort.postMessage({ ev: 'connected' });
			} catch (e) {
				parentPort.postMessage({ ev: 'error', error: String(e) });
			}
		} else if (m.cmd === 'fixed') {
			phase = 'fixed';
			rate = m.rate;
			lat = [];
			sent = replies = errors = 0;
			measuring = true;
			const t0 = performance.now();
			let k = 0;
			// A 1 ms timer, not a busy loop: the client must not eat the CPU
			// the daemon needs (on a 2-vCPU machine they share it).
			const tick = () => {
				const el = performance.now() - t0;
				if (el >= m.ms) return;
				const due = Math.floor((rate * el) / 1000);
				while (sent < due) post(socks[k++ % socks.length]);
				setTimeout(tick, 1);
			};
			tick();
			setTimeout(async () => {
				// Let the last replies arrive (bounded).
				const t1 = performance.now();
				while (replies < sent && performance.now() - t1 < 3000) await new Promise((r) => setTimeout(r, 5));
				measuring = false;
				parentPort.postMessage({ ev: 'fixed', sent, replies, errors, lat: Float64Array.from(lat) });
			}, m.ms);
		} else if (m.cmd === 'saturate') {
			phase = 'saturate';
			window = m.window;
			lat = [];
			sent = replies = errors = 0;
			measuring = false;
			for (const s of socks) for (let j = 0; j < window; j++) post(s);
			setTimeout(() => {
				measuring = true;
				const r0 = replies;
				const t0 = performance.now();
				setTimeout(() => {
					const n = replies - r0;
					const secs = (performance.now() - t0) / 1000;
					measuring = false;
					phase = 'drain';
					parentPort.postMessage({ ev: 'saturate', replies: n, secs, errors, lat: Float64Array.from(lat) });
				}, m.ms);
			}, m.warmupMs);
		} else if (m.cmd === 'close') {
			phase = 'closing';
			for (const s of socks) s.ws.close(1000);
			parentPort.postMessage({ ev: 'closed' });
		}
	});
}

// ---- coordinator ---------------------------------------------------------------------

function args() {
	const a = {
		url: null,
		pid: 0,
		conns: 100,
		rate: 1000,
		duration: 10,
		window: 8,
		saturate: 5,
		threads: Math.max(1, os.cpus().length - 1),
		store: 'sqlite',
		synchronous: '',
		'fsync-probe': 3,
		'probe-dir': '',
		json: false,
		strict: false,
	};
	const v = process.argv.slice(2);
	for (let i = 0; i < v.length; i++) {
		const k = v[i].replace(/^--/, '');
		if (k === 'json' || k === 'strict') a[k] = true;
		else if (k in a) a[k] = ['url', 'store', 'synchronous', 'probe-dir'].includes(k) ? v[++i] : Number(v[++i]);
		else {
			console.error(`ws-load: unknown option ${v[i]}`);
			process.exit(2);
		}
	}
	if (a.store === 'postgresql') a.store = 'postgres';
	const usage = (why) => {
		console.error(`ws-load: ${why}`);
		process.exit(2);
	};
	if (a.store !== 'sqlite' && a.store !== 'postgres') usage(`--store is sqlite or postgres, not ${a.store}`);
	if (a.store === 'postgres' && a.synchronous)
		usage('--synchronous is SQLite\'s; PostgreSQL runs with its own synchronous_commit (on)');
	if (a.store === 'postgres' && a.url) usage('--store postgres starts its own daemon and cluster: no --url');
	return a;
}

// A throw-away PostgreSQL cluster (tests/pgcluster.sh) with the server's
// own durability settings, stopped and removed when this process exits
// (normally, on an error, on Ctrl-C or SIGTERM).  Resolves to { url, dir,
// settings } (settings: what the result line shows), or { skip: why }
// where no cluster can start here; throws when the cluster does not run
// with fsync and synchronous_commit on (the numbers would mean nothing).
function startCluster() {
	const script = path.resolve(HERE, '../pgcluster.sh');
	const dir = mkdtempSync(path.join(os.tmpdir(), 'fd-pgbench-'));
	const stop = () => spawnSync('sh', [script, 'stop', dir], { stdio: 'ignore' });
	process.on('exit', stop);
	for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(128 + os.constants.signals[sig]));
	const r = spawnSync('sh', [script, 'start', dir, 'durable'], { encoding: 'utf8' });
	if (r.status !== 0) {
		stop();
		return { skip: `no PostgreSQL cluster can start here: ${(r.stderr || '').trim() || `pgcluster.sh exited ${r.status}`}` };
	}
	const env = Object.fromEntries(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
	const url = env.FRONTDESK_TEST_PG;
	const psql = env.FRONTDESK_TEST_PG_BIN && existsSync(path.join(env.FRONTDESK_TEST_PG_BIN, 'psql')) ? path.join(env.FRONTDESK_TEST_PG_BIN, 'psql') : 'psql';
	const rows = execFileSync(
		psql,
		['-X', '-q', '-A', '-t', '-F', '=', '-d', url, '-c',
			"SELECT name, setting FROM pg_settings WHERE name IN ('server_version', 'fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes') ORDER BY name"],
		{ encoding: 'utf8' },
	);
	const set = Object.fromEntries(rows.trim().split('\n').map((l) => l.split('=')));
	if (set.fsync !== 'on' || set.synchronous_commit !== 'on')
		throw new Error(`the cluster runs with fsync=${set.fsync} synchronous_commit=${set.synchronous_commit}, not PostgreSQL's defaults (on)`);
	return {
		url,
		dir,
		settings: `postgresql ${set.server_version} fsync=${set.fsync} synchronous_commit=${set.synchronous_commit} wal_sync_method=${set.wal_sync_method} full_page_writes=${set.full_page_writes}`,
	};
}

function pct(sorted, p) {
	if (!sorted.length) return NaN;
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function merge(parts) {
	let n = 0;
	for (const p of parts) n += p.length;
	const all = new Float64Array(n);
	let o = 0;
	for (const p of parts) {
		all.set(p, o);
		o += p.length;
	}
	return all.sort();
}

// The disk's own fdatasync latency (ms), as a WAL append sees it: 4 KiB
// written at the end of a file, then fdatasync, for `secs` seconds.
async function fsyncProbe(dir, secs) {
	const fs = await import('node:fs');
	const file = path.join(dir, 'fsync-probe.tmp');
	const fd = fs.openSync(file, 'w');
	const page = Buffer.alloc(4096, 7);
	const lat = [];
	const end = performance.now() + secs * 1000;
	let off = 0;
	try {
		while (performance.now() < end) {
			fs.writeSync(fd, page, 0, page.length, off);
			off = (off + page.length) % (4 << 20); // a WAL-sized file, reused
			const t0 = performance.now();
			fs.fdatasyncSync(fd);
			lat.push(performance.now() - t0);
		}
	} finally {
		fs.closeSync(fd);
		fs.rmSync(file, { force: true });
	}
	const v = Float64Array.from(lat).sort();
	return { n: v.length, p50_ms: pct(v, 50), p99_ms: pct(v, 99), max_ms: v.length ? v[v.length - 1] : NaN };
}

function ask(workers, msg, ev) {
	return Promise.all(
		workers.map(
			(w) =>
				new Promise((resolve, reject) => {
					const on = (m) => {
						if (m.ev === ev) {
							w.off('message', on);
							resolve(m);
						} else if (m.ev === 'error') {
							w.off('message', on);
							reject(new Error(m.error));
						}
					};
					w.on('message', on);
					w.postMessage(msg);
				}),
		),
	);
}

async function main() {
	const a = args();
	let d = null;
	let url = a.url;
	let pid = a.pid;
	let pg = null;
	let store = url ? 'given daemon' : `sqlite synchronous=${a.synchronous || 'full'}`;
	if (!url) {
		const lib = await import(path.join(E2E, 'lib/daemon.mjs'));
		const why = lib.daemonMissing();
		if (why) {
			console.log(`ws-load: skipped: ${why}`);
			return;
		}
		if (a.store === 'postgres') {
			pg = startCluster();
			if (pg.skip) {
				console.log(`ws-load (postgresql): skipped: ${pg.skip}`);
				return;
			}
			store = pg.settings;
		}
		const limits = `    limits: { connections: 1000000, connections_per_address: 1000000, messages_per_minute: 1000000 }\n`;
		d = await lib.startDaemon({
			config: ({ ports }) => {
				let y = lib.defaultConfig({ ports, webchatExtra: limits });
				if (pg) y = y.replace('store: { path: frontdesk.db }', `store: { url: "${pg.url}", node: bench }`);
				else if (a.synchronous)
					y = y.replace('store: { path: frontdesk.db }', `store: { path: frontdesk.db, synchronous: ${a.synchronous} }`);
				return y;
			},
			healthy: true,
			timeoutMs: 30000,
		});
		url = d.wsUrl('/chat');
		pid = d.pid;
	}
	const readRss = async () => {
		if (!pid) return 0;
		const { readFileSync } = await import('node:fs');
		try {
			const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
			return m ? Number(m[1]) : 0;
		} catch {
			return 0;
		}
	};

	const threads = Math.max(1, Math.min(a.threads, a.conns));
	const workers = [];
	for (let t = 0; t < threads; t++) {
		const conns = Math.floor(a.conns / threads) + (t < a.conns % threads ? 1 : 0);
		workers.push(
			new Worker(fileURLToPath(import.meta.url), {
				workerData: { url, conns, id: t },
				// A large young generation: fewer scavenges inside the timed window.
				resourceLimits: { maxYoungGenerationSizeMb: 64 },
			}),
		);
	}
	let failed = null;
	const res = { store, conns: a.conns, threads };
	try {
		await ask(workers, { cmd: 'connect' }, 'connected');
		const probeDir = a['probe-dir'] || (pg ? pg.dir : d ? d.dir : '');
		if (a['fsync-probe'] > 0 && probeDir) res.fsync = await fsyncProbe(probeDir, a['fsync-probe']);

		const fixed = await ask(
			workers,
			{ cmd: 'fixed', rate: a.rate / threads, ms: a.duration * 1000 },
			'fixed',
		);
		const fl = merge(fixed.map((m) => m.lat));
		const sent = fixed.reduce((s, m) => s + m.sent, 0);
		const got = fixed.reduce((s, m) => s + m.replies, 0);
		res.fixed = {
			rate: a.rate,
			seconds: a.duration,
			sent,
			replies: got,
			errors: fixed.reduce((s, m) => s + m.errors, 0),
			p50_ms: pct(fl, 50),
			p99_ms: pct(fl, 99),
			max_ms: fl.length ? fl[fl.length - 1] : NaN,
		};

		const sat = await ask(
			workers,
			{ cmd: 'saturate', window: a.window, ms: a.saturate * 1000, warmupMs: 1000 },
			'saturate',
		);
		const sl = merge(sat.map((m) => m.lat));
		const secs = Math.max(...sat.map((m) => m.secs));
		res.saturation = {
			window: a.window,
			seconds: secs,
			replies: sat.reduce((s, m) => s + m.replies, 0),
			posts_per_s: sat.reduce((s, m) => s + m.replies, 0) / secs,
			errors: sat.reduce((s, m) => s + m.errors, 0),
			p50_ms: pct(sl, 50),
			p99_ms: pct(sl, 99),
		};
		res.peak_rss_kb = await readRss();
		await ask(workers, { cmd: 'close' }, 'closed');
	} catch (e) {
		failed = e;
	}
	for (const w of workers) await w.terminate();
	if (d) {
		const stopped = await d.stop();
		res.daemon_exit = stopped.code;
		if (failed || stopped.code !== 0) console.error(d.log().split('\n').slice(-30).join('\n'));
		d.cleanup();
	}
	if (failed) {
		console.error(`ws-load: failed: ${failed.message}`);
		process.exit(1);
	}

	const f = res.fixed,
		s = res.saturation;
	// With synchronous full (the default) the reply waits for the disk: the
	// target is the disk's own fdatasync p99 + 1 ms.  So it does on
	// PostgreSQL with synchronous_commit on.
	const full = pg || a.synchronous !== 'normal';
	const p99Target = full && res.fsync ? res.fsync.p99_ms + 1 : 1;
	const targets = {
		p99_at_1000: a.rate === 1000 ? f.p99_ms <= p99Target : null,
		sustained_20000: s.posts_per_s >= 20000,
		rss_16mb: res.peak_rss_kb ? res.peak_rss_kb <= 16 * 1024 : null,
	};
	res.targets = targets;
	const ok = (v) => (v === null ? 'n/a' : v ? 'met' : 'MISSED');
	const ms = (v) => (Number.isFinite(v) ? v.toFixed(3) : '-');
	if (a.json) console.log(JSON.stringify(res));
	console.log(
		`ws-load: store=${store} | conns=${res.conns} threads=${threads}` +
			` | fixed ${f.rate}/s x ${f.seconds}s: sent=${f.sent} replies=${f.replies} errors=${f.errors}` +
			` p50=${ms(f.p50_ms)}ms p99=${ms(f.p99_ms)}ms max=${ms(f.max_ms)}ms` +
			` | sustained: ${Math.round(s.posts_per_s)} posts/s (window ${s.window}, p50=${ms(s.p50_ms)}ms p99=${ms(s.p99_ms)}ms, errors=${s.errors})` +
			` | peak_rss=${(res.peak_rss_kb / 1024).toFixed(1)}MB` +
			(res.fsync
				? ` | disk fdatasync (4 KiB, n=${res.fsync.n}): p50=${ms(res.fsync.p50_ms)}ms p99=${ms(res.fsync.p99_ms)}ms max=${ms(res.fsync.max_ms)}ms`
				: '') +
			` | targets: p99<=${ms(p99Target)}ms@1000/s ${ok(targets.p99_at_1000)}, >=20000/s ${ok(targets.sustained_20000)}, rss<=16MB ${ok(targets.rss_16mb)}`,
	);
	const lost = f.sent - f.replies;
	if (lost > 0) {
		console.error(`ws-load: ${lost} posts got no reply`);
		process.exit(1);
	}
	if (a.strict && Object.values(targets).some((v) => v === false)) process.exit(1);
}
