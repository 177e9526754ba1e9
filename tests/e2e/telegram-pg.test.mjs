// Telegram on two machines sharing one PostgreSQL store (the throw-away
// cluster `make test` starts; skipped with the reason where there is none):
// Telegram gives a bot's updates to one getUpdates reader and ends the
// other's poll with 409, so only the daemon that leads the connector polls
// (CONNECTOR_ONE_CONSUMER); the other waits in standby, healthy.  Both
// daemons reach the one emulator through ways in of their own, so every
// getUpdates is known by the daemon that asked.  Then the leader is killed
// with SIGKILL under a stream of messages: the other takes polling over
// from the offset in the store, and every message is answered exactly once.
//
//   FRONTDESK_TEST_PG=postgresql://... BUILD=build node --test tests/e2e/telegram-pg.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonMissing, defaultConfig, startDaemon, sleep, BUILD } from './lib/daemon.mjs';
import { pgSkip, psql, freshDatabase } from './lib/pg.mjs';
import { startTelegramEmulator } from './telegram-emulator.mjs';

const SLOW = BUILD.includes('san') ? 3 : 1;
const skip = daemonMissing() || pgSkip();
const TOKEN = '123456:tg-failover-token_0123456789';

function config(url, node, instance) {
	return (ctx) =>
		defaultConfig({
			ports: ctx.ports,
			webchatExtra: `  - { type: telegram, instance: "${instance}", token_env: FD_TG_TOKEN, messages_per_second: 200 }\n`,
		}).replace('store: { path: frontdesk.db }', `store: { url: "${url}", node: ${node}, lease: 5s }`);
}

async function telegramHealth(d) {
	const r = await fetch(d.url('/healthz'));
	const body = await r.json();
	return { status: r.status, conn: body.connectors.find((c) => c.type === 'telegram') };
}

test('two daemons on one database poll one bot: one at a time, and the other takes over after a SIGKILL; every message answered once', { skip, timeout: 120000 * SLOW }, async (t) => {
	const url = freshDatabase(t);
	const emu = await startTelegramEmulator({ token: TOKEN, globalPerSec: 1000 });
	const urlB = await emu.entrance();
	const portA = emu.port;
	const portB = Number(new URL(urlB).port);
	const start = (node, instance) => startDaemon({ config: config(url, node, instance), env: { FD_TG_TOKEN: TOKEN }, healthy: true, timeoutMs: 30000 * SLOW });
	const A = await start('node-a', emu.url);
	let B = null;
	t.after(async () => {
		for (const d of [A, B]) {
			if (!d) continue;
			await d.stop({ signal: 'SIGKILL' });
			d.cleanup();
		}
		await emu.close();
	});
	const logs = () => `--- node-a ---\n${A.log()}\n--- node-b ---\n${B ? B.log() : ''}`;
	const polls = (port, since = 0) => emu.requests.filter((r) => r.method === 'getUpdates' && r.port === port && r.at >= since).length;

	// A starts alone and polls; B, started next, waits in standby, healthy.
	await A.waitLog(/telegram: polling/, 20000 * SLOW);
	B = await start('node-b', urlB);
	await B.waitLog(/connector health.*connector=telegram health=standby/, 20000 * SLOW);
	const hb = await telegramHealth(B);
	assert.equal(hb.status, 200, 'standby is healthy');
	assert.equal(hb.conn.health, 'standby', JSON.stringify(hb));
	assert.equal((await telegramHealth(A)).conn.health, 'ok');

	// Steady state: customers write, A alone polls, each is answered once.
	const customers = [];
	const ask = (i) => {
		const u = emu.user({ first_name: `Cust${i}` });
		const m = emu.message({ from: u, chat: emu.privateChat(u), text: `when are you open? (${i})` });
		customers.push(m);
		return m;
	};
	const steadyFrom = Date.now();
	for (let i = 0; i < 40; i++) ask(i);
	await emu.waitFor(() => customers.every((m) => emu.repliesTo(m).length >= 1), 30000 * SLOW, 'the first 40 answered').catch((e) => {
		throw new Error(`${e.message}\n${logs()}`);
	});
	await sleep(1500); // a moment for any second reader to show up
	assert.equal(emu.conflicts, 0, `409s while both ran:\n${logs()}`);
	assert.ok(polls(portA, steadyFrom) > 0, 'A polls');
	assert.equal(polls(portB), 0, 'B never polled while A led');
	assert.doesNotMatch(B.log(), /telegram: (signed in|polling)/, 'B signed in although A leads');

	// A stream of messages; A is killed in the middle of it.
	const N = 160;
	let killedAt = 0;
	for (let i = 40; i < 40 + N; i++) {
		ask(i);
		if (i === 40 + N / 4) {
			await A.kill();
			killedAt = Date.now();
		}
		await sleep(25);
	}
	await B.waitLog(/telegram: polling/, 30000 * SLOW);
	const firstB = emu.requests.find((r) => r.method === 'getUpdates' && r.port === portB);
	assert.ok(firstB, 'B polls');
	const takeover = firstB.at - killedAt;
	// The lock is the database session's: it is free once the server sees
	// A's connection gone, and B asks for it every second.
	assert.ok(takeover < 20000 * SLOW, `B took over after ${takeover} ms`);
	assert.match(B.log(), /connector runs here now.*connector=telegram/);

	// Every message answered exactly once, none lost; replies A had leased
	// but not sent go out from B after the lease (5 s).
	await emu.waitFor(() => customers.every((m) => emu.repliesTo(m).length >= 1), 60000 * SLOW, 'every message answered').catch((e) => {
		const missing = customers.filter((m) => emu.repliesTo(m).length === 0).map((m) => m.text);
		throw new Error(`${e.message}: ${missing.length} unanswered (${missing.slice(0, 5).join(', ')})\n--- outbox ---\n${psql(url, 'SELECT id, state, lease_owner, attempts FROM outbox ORDER BY id')}\n${logs()}`);
	});
	await sleep(1500 * SLOW); // anything sent twice would show now
	const twice = customers.filter((m) => emu.repliesTo(m).length !== 1);
	assert.equal(twice.length, 0, `answered more than once: ${twice.map((m) => `${m.text} x${emu.repliesTo(m).length}`).join(', ')}`);
	assert.equal(psql(url, `SELECT count(*) FROM posts WHERE platform = 'telegram'`), String(customers.length));
	assert.equal(emu.conflicts, 0, `409s after the take-over:\n${logs()}`);
	assert.equal(polls(portA, killedAt + 1000), 0, 'a killed node polled');
	const again = [...emu.delivered.values()].filter((n) => n > 1).length;
	console.log(`# telegram on two nodes: ${customers.length} messages answered once, take-over ${takeover} ms after the SIGKILL, ${again} updates fetched again, 0 conflicts`);
	assert.equal((await B.stop()).code, 0);
});
