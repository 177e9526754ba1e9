// Learning from the team: a question the bot could not answer is taught
// as an example of a rule (`frontdesk queue teach`), kept in the store,
// learned at the next reload and at the next start, and answered by the
// bot from then on; `taught` lists it, `untaught` forgets it; `frontdesk
// report` counts what happened.
//
//   BUILD=build node --test tests/e2e/teach.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { BIN, daemonMissing, startDaemon, waitUntil, wsClient } from './lib/daemon.mjs';

const missing = daemonMissing();

// A question none of the default rules answers (no phrase, and too unlike
// every rule's examples), though it asks what `payment` answers.
export const QUESTION = 'can i settle up with one of those phone wallets at the till';

function queue(d, ...args) {
	const r = spawnSync(BIN, ['-c', d.config, 'queue', ...args], { cwd: d.dir, encoding: 'utf8' });
	return { code: r.status, out: r.stdout, err: r.stderr };
}

// Ask in a new web chat conversation; resolves the bot's first reply frame.
export async function ask(d, text, id) {
	const c = await wsClient(d.wsUrl('/chat'));
	try {
		c.send({ type: 'message', text, client_id: id });
		return await c.next((f) => f.type === 'message' && f.from === 'bot', 15000);
	} finally {
		c.close();
	}
}

test('a taught question is answered after a reload and after a restart', { skip: missing, timeout: 120000 }, async (t) => {
	let d = await startDaemon({ healthy: true });
	t.after(() => d.cleanup());
	try {
		const first = await ask(d, QUESTION, 'q1');
		const tickets = JSON.parse(queue(d, 'list', '--json').out);
		assert.equal(tickets.length, 1, 'the unanswered question opened a ticket');
		assert.equal(tickets[0].reason, 'unmatched');
		const id = String(tickets[0].id);
		assert.doesNotMatch(first.text, /card|cash|pay/i);

		// Usage errors are refused before anything is written.
		assert.equal(queue(d, 'teach', id, 'no-such-rule').code, 2);
		assert.equal(queue(d, 'teach', id).code, 2);
		assert.equal(queue(d, 'teach', '99999', 'payment').code, 1);
		assert.match(queue(d, 'taught').out, /Nothing taught yet/);

		const taught = queue(d, 'teach', id, 'payment', '--agent', 'sam');
		assert.equal(taught.code, 0, taught.err);
		assert.match(taught.out, /now an example of rule payment/);
		// Teaching it again changes nothing.
		assert.match(queue(d, 'teach', id, 'payment').out, /already taught/);
		const list = JSON.parse(queue(d, 'taught', '--json').out);
		assert.equal(list.length, 1);
		assert.equal(list[0].rule, 'payment');
		assert.equal(list[0].text, QUESTION);
		assert.equal(list[0].by, 'sam');
		assert.equal(list[0].ticket, Number(id));

		// `check` learns it too.
		const check = spawnSync(BIN, ['-c', d.config, 'check', '--json'], { cwd: d.dir, encoding: 'utf8' });
		assert.equal(check.status, 0, check.stderr);

		d.proc.kill('SIGHUP');
		await d.waitLog(/configuration reloaded.*taught=1/, 60000);
		const after = await ask(d, QUESTION, 'q2');
		assert.match(after.text, /pay|card|cash/i, `answered with the payment FAQ: ${after.text}`);

		// Kept across a restart: learned at start.
		await d.stop();
		d = await startDaemon({ dir: d.dir, ports: d.ports, healthy: true });
		await d.waitLog(/taught examples learned.*taught=1/);
		const restarted = await ask(d, QUESTION, 'q3');
		assert.match(restarted.text, /pay|card|cash/i);

		// `frontdesk report`: the week's figures, from the same store.
		const rep = spawnSync(BIN, ['-c', d.config, 'report', '--json', '--since', '1d'], { cwd: d.dir, encoding: 'utf8' });
		assert.equal(rep.status, 0, rep.stderr);
		const r = JSON.parse(rep.stdout);
		assert.equal(r.period, 'day');
		assert.equal(r.total.posts, 3, rep.stdout);
		assert.equal(r.total.answered, 2);
		assert.equal(r.total.tickets, 1);
		assert.equal(r.total.escalations.unmatched, 1);
		assert.ok(r.periods.at(-1).channels.webchat, rep.stdout);
		const table = spawnSync(BIN, ['-c', d.config, 'report'], { cwd: d.dir, encoding: 'utf8' });
		assert.equal(table.status, 0);
		assert.match(table.stdout, /^total\s+all\s+3\b/m);
		assert.equal(spawnSync(BIN, ['-c', d.config, 'report', '--by', 'month'], { cwd: d.dir }).status, 2);

		// Forgotten: unanswered again after the next reload.
		assert.equal(queue(d, 'untaught', String(list[0].id)).code, 0);
		assert.equal(queue(d, 'untaught', String(list[0].id)).code, 1);
		d.proc.kill('SIGHUP');
		await waitUntil(() => /configuration reloaded.*taught=0/.test(d.log()), 60000, 'reload without it');
		const forgotten = await ask(d, QUESTION, 'q4');
		assert.doesNotMatch(forgotten.text, /card|cash/i);
	} finally {
		await d.stop();
	}
});
