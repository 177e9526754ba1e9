// SIGHUP reads the new configuration off the event loop: while a big rule
// set loads, /healthz and the web chat keep answering, the new rules take
// over only once complete, and a second SIGHUP during a reload is not lost.
//
//   BUILD=build node --test tests/e2e/reload.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, daemonMissing, defaultConfig, httpGet, startDaemon, wsClient } from './lib/daemon.mjs';

const missing = daemonMissing();

// Enough rules that reading them takes a noticeable moment (about half a
// second to a few seconds, with the phrase automaton built for them).
function bulkRules(n) {
	const words = ['alpha', 'bravo', 'cargo', 'delta', 'echo', 'foxtrot', 'gamma', 'hotel', 'india', 'juliet'];
	let s = '';
	let seed = 7;
	const pick = () => words[(seed = (seed * 1103515245 + 12345) % 2147483648) % words.length];
	for (let i = 0; i < n; i++) {
		const phrases = [];
		for (let k = 0; k < 8; k++) phrases.push(`"${pick()} ${pick()} ${i * 8 + k}"`);
		s += `- id: bulk-${i}\n  match: { any: [${phrases.join(', ')}] }\n  escalate: { priority: low }\n`;
	}
	return s;
}

test('the daemon keeps serving while a reload reads a big rule set', { skip: missing, timeout: 180000 }, async (t) => {
	const d = await startDaemon({
		config: ({ ports }) =>
			defaultConfig({ ports }).replace(`rules: ["${REPO}/rules/*.yaml"]`, `rules: ["${REPO}/rules/*.yaml", "bulk*.yaml"]`),
		files: { 'bulk.yaml': '[]\n' },
		healthy: true,
	});
	try {
		writeFileSync(path.join(d.dir, 'bulk.yaml'), bulkRules(6000));
		const chat = await wsClient(d.wsUrl('/chat'));
		d.proc.kill('SIGHUP');
		await d.waitLog('reloading: reading the configuration');
		// A second SIGHUP while the first is being read: one more follows.
		d.proc.kill('SIGHUP');
		let during = 0;
		let chatDuring = false;
		const reloaded = () => (d.log().match(/configuration reloaded/g) || []).length;
		const poll = (async () => {
			while (reloaded() === 0) {
				const r = await httpGet(d.url('/healthz'), { timeoutMs: 30000 });
				assert.equal(r.status, 200);
				if (reloaded() === 0) during++;
			}
		})();
		chat.send(JSON.stringify({ type: 'message', text: 'thanks!', client_id: 'c1' }));
		const echo = await chat.next((f) => f.type === 'message' && f.from === 'customer', 30000);
		chatDuring = reloaded() === 0;
		assert.equal(echo.client_id, 'c1');
		await d.waitLog('configuration reloaded', 120000);
		await poll;
		t.diagnostic(`${during} /healthz answers while the reload was read (${(d.log().match(/load_ms=\d+/) || ['?'])[0]})`);
		assert.ok(during >= 3, `only ${during} /healthz answers while the reload was read:\n${d.log()}`);
		assert.ok(chatDuring, 'the chat message was answered only after the reload');
		assert.match(d.log(), /reload already in progress: another follows it/);
		await d.waitLog(/configuration reloaded[^\n]*\n[\s\S]*configuration reloaded/, 120000);
		chat.close();
	} finally {
		const r = await d.stop();
		assert.deepEqual(r, { code: 0, signal: null }, d.log());
		d.cleanup();
	}
});
