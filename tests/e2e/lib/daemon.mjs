// Shared helpers for the end-to-end tests: run the real build/frontdesk in
// a temporary directory with a generated configuration on free loopback
// ports, wait until it answers /healthz, talk to it over HTTP and
// WebSocket, and stop it.  Node's built-ins plus the `ws` package only.
//
//   import { startDaemon, wsClient, httpGet } from './lib/daemon.mjs';
//   const d = await startDaemon();                 // web chat + dashboard
//   const c = await wsClient(d.wsUrl('/chat'));
//   c.send({ type: 'message', text: 'hello' });
//   const reply = await c.next((f) => f.type === 'message' && f.from === 'bot');
//   const { code } = await d.stop();               // SIGTERM, exit code
//
// The binary is $BUILD/frontdesk (BUILD defaults to "build"), resolved from
// the repository root, so tests run from any directory.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BUILD = path.resolve(REPO, process.env.BUILD || 'build');
export const BIN = path.join(BUILD, 'frontdesk');

// Password "correct horse" for the agent "sam" (yescrypt).
export const AGENT_PASSWORD = 'correct horse';
export const AGENT_HASH = '$y$j9T$F2nKyQ2TZT4UzMbTJN6Va.$RMyDCRGkYXqbKiyH48zJY4u7/N9qyIhcPr1u/3DfILD';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Why the daemon cannot be tested here, or false: a test file calls
// test(..., { skip: daemonMissing() }, ...).  (false, not null: node:test
// skips on { skip: null }.)
export function daemonMissing() {
	if (!existsSync(BIN)) return `${BIN} is not built (make)`;
	try {
		const help = execFileSync(BIN, ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
		if (!/^\s*run\b/m.test(help)) return `${BIN} has no "run" command yet`;
	} catch (e) {
		return `${BIN} --help failed: ${e.message}`;
	}
	return false;
}

// A small seeded generator (numbers in [0, 1)), so that a failing random
// mix (a soak's) can be run again with the same seed.
export function seededRandom(seed) {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

// A TCP port nobody listens on right now (loopback).
// Ports handed out by this process: the kernel may give a port that was
// just free again, and two of one daemon's listeners on one port make it
// refuse its configuration.
const handedOut = new Set();

export async function freePort() {
	for (;;) {
		const port = await new Promise((resolve, reject) => {
			const s = net.createServer();
			s.unref();
			s.on('error', reject);
			s.listen(0, '127.0.0.1', () => {
				const { port: p } = s.address();
				s.close(() => resolve(p));
			});
		});
		if (!handedOut.has(port)) {
			handedOut.add(port);
			return port;
		}
	}
}

// Poll fn until it returns a truthy value (returned) or ms pass (throws).
export async function waitUntil(fn, ms = 5000, what = 'condition', every = 20) {
	const t0 = Date.now();
	for (;;) {
		const v = await fn();
		if (v) return v;
		if (Date.now() - t0 > ms) throw new Error(`timeout after ${ms} ms waiting for ${what}`);
		await sleep(every);
	}
}

// One HTTP request; resolves { status, headers, body, json } (json null when
// the body is not JSON).  Never rejects on an HTTP status, only on a
// network error or the timeout.
export function httpRequest(url, { method = 'GET', headers = {}, body = null, timeoutMs = 5000 } = {}) {
	return new Promise((resolve, reject) => {
		const data = body === null ? null : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
		const h = { ...headers };
		if (data !== null && !Object.keys(h).some((k) => k.toLowerCase() === 'content-type') && typeof body === 'object' && !Buffer.isBuffer(body))
			h['content-type'] = 'application/json';
		if (data !== null) h['content-length'] = Buffer.byteLength(data);
		const req = http.request(url, { method, headers: h, agent: false }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => {
				const text = Buffer.concat(chunks).toString('utf8');
				let json = null;
				try {
					json = JSON.parse(text);
				} catch {
					json = null;
				}
				resolve({ status: res.statusCode, headers: res.headers, body: text, json });
			});
		});
		req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout: ${method} ${url}`)));
		req.on('error', reject);
		if (data !== null) req.write(data);
		req.end();
	});
}

export const httpGet = (url, opts = {}) => httpRequest(url, { ...opts, method: 'GET' });

// The configuration used when a test gives none: the repository's own
// rules, replies and lexicon (absolute globs), open around the clock, one
// web chat and the dashboard with agent "sam".
export function defaultConfig({ ports, name = 'Test Bakery', hours = '"00:00-24:00"', webchatExtra = '', extra = '' }) {
	return `business:
  name: ${name}
  timezone: UTC
  hours: { mon-sun: ${hours} }
  contact: { phone: "+44 20 7946 0000", email: hello@test.example }
rules: ["${REPO}/rules/*.yaml"]
replies: ["${REPO}/replies/*.yaml"]
sentiment: { lexicon: ["${REPO}/rules/lexicon/*.yaml"] }
store: { path: frontdesk.db }
connectors:
  - type: webchat
    listen: "127.0.0.1:${ports.webchat}"
${webchatExtra}dashboard:
  listen: "127.0.0.1:${ports.dashboard}"
  agents: [ { login: sam, name: Sam, password_hash: "${AGENT_HASH}" } ]
${extra}`;
}

/*
 * Start a daemon.  Options (all optional):
 *   config(ctx)    returns the YAML text; ctx = { dir, ports, REPO }; default defaultConfig(ctx)
 *   configOptions  passed to defaultConfig (hours, webchatExtra, extra, name)
 *   files          { "name": "content" } written into the directory first
 *   env            extra environment variables
 *   dir            reuse a directory (a restart keeping the database); ports then come from `ports`
 *   ports          { webchat, dashboard } to reuse
 *   healthy        true: wait for /healthz 200 (default: any answer)
 *   timeoutMs      start-up limit (default 15000)
 * Resolves to a handle:
 *   dir, config, db, ports, pid, proc, url(path, listener='webchat'),
 *   wsUrl(path, listener='webchat'), log() (stderr+stdout so far),
 *   waitLog(text|RegExp, ms), exited (Promise<{code, signal}>),
 *   stop({ signal='SIGTERM', timeoutMs=10000 }) -> {code, signal},
 *   kill() (SIGKILL), peakRssKb(), cleanup() (removes the directory).
 */
// Daemons still running when the test process exits (a test that timed out
// never reached its `finally`) are killed, so none outlives its test file.
const live = new Set();
process.on('exit', () => {
	for (const p of live) {
		try {
			p.kill('SIGKILL');
		} catch {
			/* already gone */
		}
	}
});

export function track(proc) {
	live.add(proc);
	proc.on('exit', () => live.delete(proc));
	return proc;
}

export async function startDaemon(opts = {}) {
	const dir = opts.dir || mkdtempSync(path.join(tmpdir(), 'frontdesk-e2e-'));
	const ports = opts.ports || { webchat: await freePort(), dashboard: await freePort() };
	for (const [name, content] of Object.entries(opts.files || {})) writeFileSync(path.join(dir, name), content);
	const ctx = { dir, ports, REPO };
	const configText = opts.config ? opts.config(ctx) : defaultConfig({ ...(opts.configOptions || {}), ports });
	const config = path.join(dir, 'config.yaml');
	writeFileSync(config, configText);

	let log = '';
	const proc = spawn(BIN, ['run', '-c', config], {
		cwd: dir,
		env: { ...process.env, ...(opts.env || {}) },
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	track(proc);
	proc.stdout.on('data', (b) => (log += b));
	proc.stderr.on('data', (b) => (log += b));
	const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
	let gone = null;
	exited.then((r) => (gone = r));

	const base = (listener) => `127.0.0.1:${ports[listener]}`;
	const d = {
		dir,
		config,
		db: path.join(dir, 'frontdesk.db'),
		ports,
		proc,
		pid: proc.pid,
		exited,
		log: () => log,
		url: (p = '/', listener = 'webchat') => `http://${base(listener)}${p}`,
		wsUrl: (p = '/chat', listener = 'webchat') => `ws://${base(listener)}${p}`,
		async waitLog(text, ms = 5000) {
			const hit = () => (text instanceof RegExp ? text.test(log) : log.includes(text));
			await waitUntil(hit, ms, `log line ${text}`).catch((e) => {
				throw new Error(`${e.message}\n--- daemon log ---\n${log}`);
			});
		},
		async stop({ signal = 'SIGTERM', timeoutMs = 10000 } = {}) {
			if (gone) return gone;
			proc.kill(signal);
			const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
			const r = await exited;
			clearTimeout(t);
			return r;
		},
		kill() {
			if (!gone) proc.kill('SIGKILL');
			return exited;
		},
		peakRssKb: () => peakRssKb(proc.pid),
		cleanup() {
			rmSync(dir, { recursive: true, force: true });
		},
	};

	const limit = opts.timeoutMs || 15000;
	const t0 = Date.now();
	for (;;) {
		if (gone) throw new Error(`daemon exited during start-up (${JSON.stringify(gone)}):\n${log}`);
		if (Date.now() - t0 > limit) {
			proc.kill('SIGKILL');
			throw new Error(`daemon did not answer /healthz within ${limit} ms:\n${log}`);
		}
		try {
			const r = await httpGet(d.url('/healthz'), { timeoutMs: 1000 });
			if (!opts.healthy || r.status === 200) return d;
		} catch {
			/* not listening yet */
		}
		await sleep(25);
	}
}

// Peak resident set of a process in KiB (VmHWM), 0 when unknown.
export function peakRssKb(pid) {
	try {
		const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
		return m ? Number(m[1]) : 0;
	} catch {
		return 0;
	}
}

/*
 * A WebSocket client that keeps every frame: JSON frames parsed (text that
 * is not JSON is kept as { raw }).  Resolves once open; rejects with the
 * HTTP status when the upgrade is refused (err.status).
 *   c.frames, c.send(objOrString), c.next(pred, ms) (first unseen matching
 *   frame), c.close(code), c.closed (Promise<{code, reason}>), c.ws
 */
export function wsClient(url, { origin, headers, timeoutMs = 5000 } = {}) {
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(url, { origin, headers, handshakeTimeout: timeoutMs });
		const c = { ws, frames: [], consumed: 0, waiters: [] };
		let closedResolve;
		c.closed = new Promise((r) => (closedResolve = r));
		const wake = () => {
			for (const w of [...c.waiters]) {
				const i = c.frames.findIndex((f, k) => k >= w.from && w.pred(f));
				if (i >= 0) {
					c.waiters.splice(c.waiters.indexOf(w), 1);
					clearTimeout(w.timer);
					w.resolve(c.frames[i]);
				}
			}
		};
		ws.on('message', (data, isBinary) => {
			const text = data.toString('utf8');
			let f;
			try {
				f = JSON.parse(text);
			} catch {
				f = { raw: text };
			}
			if (isBinary) f = { binary: data };
			c.frames.push(f);
			wake();
		});
		ws.on('close', (code, reason) => {
			closedResolve({ code, reason: reason.toString() });
			for (const w of c.waiters) {
				clearTimeout(w.timer);
				w.reject(new Error(`socket closed (${code}) while waiting; frames: ${JSON.stringify(c.frames)}`));
			}
			c.waiters = [];
		});
		ws.on('unexpected-response', (req, res) => {
			const e = new Error(`upgrade refused: HTTP ${res.statusCode}`);
			e.status = res.statusCode;
			res.resume();
			reject(e);
		});
		ws.on('error', reject);
		ws.on('open', () => {
			ws.removeListener('error', reject);
			ws.on('error', () => {});
			resolve(c);
		});
		c.send = (m) => ws.send(typeof m === 'string' || Buffer.isBuffer(m) ? m : JSON.stringify(m));
		// The first frame from index `from` on (default: everything) matching pred.
		c.next = (pred = () => true, ms = 5000, from = 0) =>
			new Promise((res, rej) => {
				const i = c.frames.findIndex((f, k) => k >= from && pred(f));
				if (i >= 0) return res(c.frames[i]);
				const w = { pred, from, resolve: res, reject: rej };
				w.timer = setTimeout(() => {
					c.waiters.splice(c.waiters.indexOf(w), 1);
					rej(new Error(`no matching frame within ${ms} ms; frames: ${JSON.stringify(c.frames)}`));
				}, ms);
				c.waiters.push(w);
			});
		c.close = (code = 1000) => {
			ws.close(code);
			return c.closed;
		};
	});
}
