// The running daemon's plumbing, end to end: /healthz on every listener,
// /metrics on the dashboard listener only, the security headers, SIGHUP
// reload, and a graceful SIGTERM that exits 0 with open sockets.
//
//   BUILD=build node --test tests/e2e/daemon.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync } from 'node:fs';
import { startDaemon, daemonMissing, httpGet, httpRequest, wsClient, sleep } from './lib/daemon.mjs';

const missing = daemonMissing();
let d;

before(async () => {
	if (!missing) d = await startDaemon({ healthy: true });
});

after(async () => {
	if (d) {
		await d.kill();
		d.cleanup();
	}
});

test('/healthz answers on every listener with each connector', { skip: missing }, async () => {
	for (const listener of ['webchat', 'dashboard']) {
		const r = await httpGet(d.url('/healthz', listener));
		assert.equal(r.status, 200, r.body);
		assert.match(r.headers['content-type'], /^application\/json/);
		assert.equal(r.headers['x-content-type-options'], 'nosniff');
		assert.equal(r.headers['cache-control'], 'no-store');
		assert.ok(r.json, `not JSON: ${r.body}`);
		assert.ok(JSON.stringify(r.json).includes('webchat'), r.body);
	}
	const head = await httpRequest(d.url('/healthz'), { method: 'HEAD' });
	assert.equal(head.status, 200);
	assert.equal(head.body, '');
	assert.ok(Number(head.headers['content-length']) > 2);
});

test('/metrics is Prometheus text on the dashboard listener only', { skip: missing }, async () => {
	// Something to count first: one chat message.
	const c = await wsClient(d.wsUrl('/chat'));
	await c.next((f) => f.type === 'welcome');
	c.send({ type: 'message', text: 'what are your opening hours?', client_id: 'm1' });
	await c.next((f) => f.type === 'message' && f.from === 'bot', 5000);
	await c.close();

	const r = await httpGet(d.url('/metrics', 'dashboard'));
	assert.equal(r.status, 200, r.body);
	assert.match(r.headers['content-type'], /^text\/plain/);
	const lines = r.body.split('\n').filter((l) => l && !l.startsWith('#'));
	assert.ok(lines.length > 5, r.body);
	for (const l of lines) assert.match(l, /^frontdesk_[a-z0-9_]+(\{[^}]*\})? \S+$/, `bad sample line: ${l}`);
	assert.match(r.body, /^# TYPE frontdesk_resident_memory_bytes gauge$/m);
	assert.match(r.body, /^frontdesk_http_server_requests_total\{listener="[^"]+",code="200"\} \d+$/m);
	assert.match(r.body, /^# TYPE frontdesk_ws_connections gauge$/m);
	// The list: posts, decisions by action and rule, replies
	// delivered, delivery latency, outbox depth, retries, open tickets.
	assert.match(r.body, /^frontdesk_posts_total\{connector="webchat"\} [1-9]\d*$/m);
	assert.match(r.body, /^frontdesk_decisions_total\{action="answer",reason="",rule="[a-z0-9._-]+"\} [1-9]\d*$/m);
	assert.match(r.body, /^frontdesk_outbox_sent_total [1-9]\d*$/m);
	assert.match(r.body, /^frontdesk_delivery_seconds_count [1-9]\d*$/m);
	assert.match(r.body, /^frontdesk_outbox_pending \d+$/m);
	assert.match(r.body, /^frontdesk_outbox_retries_total \d+$/m);
	assert.match(r.body, /^frontdesk_tickets_open \d+$/m);

	const other = await httpGet(d.url('/metrics', 'webchat'));
	assert.equal(other.status, 404);
});

test('HTML carries a strict CSP; unknown paths are 404 JSON', { skip: missing }, async () => {
	const page = await httpGet(d.url('/'));
	assert.equal(page.status, 200);
	assert.match(page.headers['content-type'], /^text\/html/);
	const csp = page.headers['content-security-policy'];
	assert.ok(csp && /default-src 'none'/.test(csp) && /frame-ancestors 'none'/.test(csp), csp);
	assert.ok(!/unsafe-inline|unsafe-eval/.test(csp), csp);
	assert.equal(page.headers['x-frame-options'], 'DENY');
	assert.equal(page.headers['x-content-type-options'], 'nosniff');

	const nope = await httpGet(d.url('/no/such/page'));
	assert.equal(nope.status, 404);
	assert.deepEqual(nope.json, { error: 'not found' });

	const post = await httpGet(d.url('/chat'));
	assert.equal(post.status, 426);
});

test('SIGHUP reloads and the daemon keeps serving', { skip: missing }, async () => {
	const before = d.log().length;
	// An invalid configuration is refused and the old one keeps running.
	const good = readFileSync(d.config, 'utf8');
	writeFileSync(d.config, good + '\nnot_a_key: 1\n');
	d.proc.kill('SIGHUP');
	await d.waitLog(/not_a_key/);
	writeFileSync(d.config, good);
	assert.ok(d.log().length > before);
	const r = await httpGet(d.url('/healthz'));
	assert.equal(r.status, 200);
});

test('SIGTERM with open chats exits 0 within the drain limit', { skip: missing }, async () => {
	const socks = [];
	for (let i = 0; i < 20; i++) socks.push(await wsClient(d.wsUrl('/chat')));
	await Promise.all(socks.map((c) => c.next((f) => f.type === 'welcome')));
	const t0 = Date.now();
	const { code, signal } = await d.stop();
	const took = Date.now() - t0;
	assert.equal(signal, null);
	assert.equal(code, 0, d.log());
	assert.ok(took < 6000, `stop took ${took} ms`);
	const closed = await Promise.all(socks.map((c) => Promise.race([c.closed, sleep(2000).then(() => null)])));
	assert.ok(closed.every((x) => x !== null), 'every chat socket was closed by the daemon');
	assert.match(d.log(), /msg=stopped/);
});
