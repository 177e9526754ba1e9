// The bridge protocol as an adapter meets it (docs/bridge-protocol.md), with
// a raw WebSocket client in the adapter's place: the token, `stored` once
// durable and again for a post sent again (not decided again), bad frames
// answered with an error on a socket that stays open, a frame over 64 KiB
// closed with 1009, a reply not confirmed sent again with the same id on
// the next socket, a newer socket replacing an older one, `failed` with and
// without retry_after_ms, replies cut to max_length in parts, an agent's
// reply, health, and `check`.
//
//   BUILD=build node --test tests/e2e/bridge.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { daemonMissing, freePort, httpGet, sleep, wsClient, BIN } from './lib/daemon.mjs';
import { bridgeDaemon, SLOW, TOKEN } from './lib/bridge.mjs';

const skip = daemonMissing();
const sql = (d, q) => execFileSync('sqlite3', [d.db, q]).toString().trim();
const auth = { Authorization: `Bearer ${TOKEN}` };

async function withBridge(opts, body) {
	const port = await freePort();
	const d = await bridgeDaemon(port, opts);
	const url = `ws://127.0.0.1:${port}/bridge`;
	try {
		await body(d, url);
		const ex = await d.stop();
		assert.deepEqual(ex, { code: 0, signal: null }, d.log().slice(-3000));
	} finally {
		await d.kill();
		d.cleanup();
	}
}

const post = (id, thread, text, extra = {}) => ({
	type: 'post', id, thread, author: { id: 'amy', name: 'Amy' }, private: true, text, ts: new Date().toISOString(), ...extra,
});
const health = async (d) => JSON.parse((await httpGet(d.url('/healthz'))).body).connectors.find((c) => c.name === 'lines');

test('the token: no header or a wrong one is refused (401, one line in the log); health follows the adapter', { skip, timeout: 60000 * SLOW }, async () => {
	await withBridge({}, async (d, url) => {
		assert.equal((await health(d)).health, 'starting');
		await assert.rejects(wsClient(url), (e) => e.status === 401);
		for (let i = 0; i < 3; i++)
			await assert.rejects(wsClient(url, { headers: { Authorization: 'Bearer not-the-token' } }), (e) => e.status === 401);
		await assert.rejects(wsClient(url, { headers: { Authorization: TOKEN } }), (e) => e.status === 401);
		assert.equal(d.log().match(/bridge: adapter refused/g).length, 1, 'refusals are logged at most once a minute');
		assert.match(d.log(), /reason="no Authorization: Bearer header"/);
		const c = await wsClient(url, { headers: auth });
		await d.waitLog('bridge: adapter connected');
		assert.equal((await health(d)).health, 'ok');
		await c.close();
		await d.waitLog('bridge: adapter disconnected');
		const h = await health(d);
		assert.deepEqual([h.health, h.detail], ['degraded', 'no adapter connected']);
		assert.equal(JSON.parse((await httpGet(d.url('/healthz'))).body).status, 'degraded');
	});
});

test('stored once durable, and again for a post sent again (not decided again); bad frames get an error, the socket stays open; over 64 KiB: 1009', { skip, timeout: 60000 * SLOW }, async () => {
	await withBridge({}, async (d, url) => {
		const c = await wsClient(url, { headers: auth });
		c.send(post('p1', 'dm:amy', 'when are you open?'));
		await c.next((f) => f.type === 'stored' && f.id === 'p1', 10000 * SLOW);
		const r = await c.next((f) => f.type === 'reply', 10000 * SLOW);
		assert.deepEqual([r.thread, r.reply_to, r.private], ['dm:amy', 'p1', true]);
		assert.match(r.text, /Hi Amy! We bake from 7:00/);
		assert.equal(r.agent, undefined);
		c.send({ type: 'delivered', id: r.id });
		assert.match(d.log(), /msg=post connector=lines post=p1 action=answer/);

		c.send(post('p1', 'dm:amy', 'when are you open?'));
		const n = c.frames.length;
		await c.next((f) => f.type === 'stored' && f.id === 'p1', 10000 * SLOW, n);
		await sleep(1000);
		assert.equal(c.frames.filter((f) => f.type === 'reply').length, 1, 'a post sent again was answered again');
		assert.equal(sql(d, "SELECT count(*) FROM posts WHERE post_id = 'p1'"), '1');

		// Bad frames: an error each (naming the post when it can), the socket stays.
		const bad = async (frame, want, id) => {
			const from = c.frames.length;
			c.send(frame);
			const e = await c.next((f) => f.type === 'error', 5000, from);
			assert.match(e.error, want);
			assert.equal(e.id, id);
		};
		await bad('this is not JSON', /malformed/);
		await bad({ type: 'reply', id: 'x1' }, /unknown frame type/, 'x1');
		await bad({ type: 'post', id: 'p9', thread: 'dm:amy', text: 'hi' }, /post\.author/, 'p9');
		await bad({ type: 'post', id: 'p9', thread: 'dm:amy', author: { id: 'amy' }, text: 'hi', ts: 'noon' }, /post\.ts/, 'p9');
		await bad(Buffer.from([1, 2, 3]), /binary/);
		assert.equal(sql(d, "SELECT count(*) FROM posts WHERE post_id = 'p9'"), '0');
		c.send(post('p2', 'dm:amy', 'I want a refund please'));
		await c.next((f) => f.type === 'stored' && f.id === 'p2', 10000 * SLOW);

		const from = c.frames.length;
		c.send(JSON.stringify(post('p3', 'dm:amy', 'x'.repeat(70 * 1024))));
		const e = await c.next((f) => f.type === 'error', 5000, from);
		assert.match(e.error, /too large/);
		assert.equal((await c.closed).code, 1009);
		assert.equal(sql(d, "SELECT count(*) FROM posts WHERE post_id = 'p3'"), '0');
	});
});

test('a reply not confirmed goes again, same id, on the next socket; a newer socket replaces the older', { skip, timeout: 60000 * SLOW }, async () => {
	await withBridge({}, async (d, url) => {
		const c1 = await wsClient(url, { headers: auth });
		c1.send(post('p1', 'dm:amy', 'when are you open?'));
		const r1 = await c1.next((f) => f.type === 'reply', 10000 * SLOW);
		// No answer: the adapter went away (its new socket comes first).
		const c2 = await wsClient(url, { headers: auth });
		const gone = await c1.closed;
		assert.equal(gone.code, 1000);
		assert.match(gone.reason, /replaced/);
		const r2 = await c2.next((f) => f.type === 'reply', 10000 * SLOW);
		assert.deepEqual(r2, r1, 'the same frame, same id');
		c2.send({ type: 'delivered', id: r2.id });
		await sleep(1500);
		assert.equal(c2.frames.filter((f) => f.type === 'reply').length, 1);
		assert.equal(sql(d, "SELECT state FROM outbox WHERE kind = 'reply'"), 'sent');
		// An answer for nothing in flight (a second `delivered`) is harmless.
		c2.send({ type: 'delivered', id: r2.id });
		c2.send({ type: 'failed', id: 'nothing-like-it' });
		await sleep(300);
		assert.equal(c2.frames.filter((f) => f.type === 'error').length, 0);
	});
});

test('failed with retry_after_ms delays that reply only; failed without it is retried with backoff', { skip, timeout: 60000 * SLOW }, async () => {
	await withBridge({}, async (d, url) => {
		const c = await wsClient(url, { headers: auth });
		c.send(post('a1', 'dm:amy', 'when are you open?'));
		c.send(post('b1', 'dm:ben', 'when are you open?', { author: { id: 'ben', name: 'Ben' } }));
		const ra = await c.next((f) => f.type === 'reply' && f.reply_to === 'a1', 10000 * SLOW);
		const t0 = Date.now();
		c.send({ type: 'failed', id: ra.id, retry_after_ms: 2000, error: 'slow down' });
		const rb = await c.next((f) => f.type === 'reply' && f.reply_to === 'b1', 10000 * SLOW);
		c.send({ type: 'delivered', id: rb.id });
		// ben's reply did not wait; amy's comes again, not before 2 s.
		const again = await c.next((f) => f.type === 'reply' && f.id === ra.id, 15000 * SLOW, c.frames.indexOf(ra) + 1);
		assert.ok(Date.now() - t0 >= 2000, `sent again after ${Date.now() - t0} ms`);
		const k = c.frames.indexOf(again);
		c.send({ type: 'failed', id: ra.id, error: 'the platform had a hiccup' });
		await c.next((f) => f.type === 'reply' && f.id === ra.id, 15000 * SLOW, k + 1);
		c.send({ type: 'delivered', id: ra.id });
		await sleep(500);
		assert.equal(sql(d, "SELECT count(*) FROM outbox WHERE kind = 'reply' AND state = 'sent'"), '2');
		assert.match(d.log(), /could not deliver a reply" .*retry_after_ms=2000 error="slow down"/);
	});
});

test('a reply longer than max_length goes in parts, one after the other, each with an id of its own', { skip, timeout: 60000 * SLOW }, async () => {
	await withBridge({ extra: ', max_length: 120' }, async (d, url) => {
		const c = await wsClient(url, { headers: auth });
		c.send(post('m1', 'dm:amy', 'can I see your full menu?'));
		const parts = [];
		for (;;) {
			const from = c.frames.length;
			let r;
			try {
				r = await c.next((f) => f.type === 'reply', (parts.length ? 2000 : 10000) * SLOW, from);
			} catch {
				break; // no next part: the reply is complete
			}
			parts.push(r);
			await sleep(300); // the next part waits for this one's `delivered`
			assert.equal(c.frames.filter((f) => f.type === 'reply').length, parts.length);
			c.send({ type: 'delivered', id: r.id });
		}
		const all = c.frames.filter((f) => f.type === 'reply');
		assert.equal(sql(d, "SELECT state FROM outbox WHERE kind = 'reply'"), 'sent');
		assert.ok(all.length >= 3, `${all.length} parts`);
		const key = all[0].id.replace(/\/1$/, '');
		all.forEach((r, i) => {
			assert.equal(r.id, `${key}/${i + 1}`);
			assert.ok([...r.text].length <= 120, `part ${i + 1}: ${r.text.length} characters`);
			assert.equal(r.reply_to, 'm1');
		});
		assert.match(all.map((r) => r.text).join(' '), /^Loaf 0: rye, spelt and seeds\. .*Loaf 11: rye, spelt and seeds\.$/);
	});
});

test("an agent's reply carries the agent's name and is not signed; another bot's post is stored, not answered", { skip, timeout: 60000 * SLOW }, async () => {
	await withBridge({}, async (d, url) => {
		const c = await wsClient(url, { headers: auth });
		c.send(post('r1', 'dm:amy', 'I want a refund for my order'));
		const ack = await c.next((f) => f.type === 'reply', 10000 * SLOW);
		c.send({ type: 'delivered', id: ack.id });
		const q = (args) => execFileSync(BIN, ['queue', ...args, '-c', d.config]).toString();
		const [t] = JSON.parse(q(['list', '--json']));
		q(['claim', String(t.id), '--agent', 'sam']);
		q(['reply', String(t.id), '--agent', 'sam', 'Refunded today, sorry Amy.']);
		const r = await c.next((f) => f.type === 'reply' && f.id !== ack.id, 10000 * SLOW);
		assert.deepEqual([r.agent, r.text, r.thread, r.private], ['Sam', 'Refunded today, sorry Amy.', 'dm:amy', true]);
		c.send({ type: 'delivered', id: r.id });

		c.send(post('o1', 'room', 'when are you open?', { author: { id: 'otherbot', bot: true }, private: false }));
		await c.next((f) => f.type === 'stored' && f.id === 'o1', 10000 * SLOW);
		await sleep(800);
		assert.equal(c.frames.filter((f) => f.type === 'reply' && f.reply_to === 'o1').length, 0);
		assert.match(d.log(), /msg=post connector=lines post=o1 action=ignore .*ignored=bot/);
	});
});

test("check: the bridge's settings are validated with file:line", { skip, timeout: 30000 }, () => {
	const dir = mkdtempSync(path.join(tmpdir(), 'frontdesk-bridge-'));
	try {
		writeFileSync(path.join(dir, 'config.yaml'), `business: { name: B, timezone: UTC }
connectors:
  - { type: bridge, listen: "127.0.0.1:8090", max_length: 0, token_env: "not a name" }
  - { type: bridge, name: b2, listen: "127.0.0.1:8091" }
  - { type: bridge, name: b3, listen: "127.0.0.1:8092", token_env: FD_OK, colour: blue }
`);
		const r = spawnSync(BIN, ['check', '-c', path.join(dir, 'config.yaml')], { encoding: 'utf8' });
		assert.equal(r.status, 2, r.stdout + r.stderr);
		const out = r.stdout + r.stderr;
		assert.match(out, /config\.yaml:3:\d+: connectors\[0\].max_length: expected a whole number from 1 to 100000/);
		assert.match(out, /config\.yaml:3:\d+: connectors\[0\].token_env: 'not a name' does not look like an environment variable name/);
		assert.match(out, /config\.yaml:4:5: connectors\[1\]: missing token_env or token_file \(the token your adapter sends\)/);
		assert.match(out, /config\.yaml:5:\d+: unknown key 'colour' in connectors\[2\]/);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});
