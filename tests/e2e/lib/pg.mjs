// The throw-away PostgreSQL cluster `make test` starts (tests/pgcluster.sh
// sets FRONTDESK_TEST_PG): whether a test can use it, psql on it, and a
// database of its own for each test.
//
//   import { pgSkip, freshDatabase, psql } from './lib/pg.mjs';
//   test('...', { skip: daemonMissing() || pgSkip() }, async (t) => {
//           const url = freshDatabase(t);   // dropped after the test
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export const PG = process.env.FRONTDESK_TEST_PG || '';

// Why the PostgreSQL tests cannot run here, or false.  Where make test
// started a cluster (FRONTDESK_TEST_PG_REQUIRED) they never skip.
export function pgSkip() {
	return !PG && !process.env.FRONTDESK_TEST_PG_REQUIRED && 'FRONTDESK_TEST_PG is not set (make test starts a cluster and sets it)';
}

// psql on url: the output of one statement, trimmed.
export function psql(url, sql) {
	return execFileSync('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql], {
		encoding: 'utf8',
	}).trim();
}

// A fresh database on the test cluster, dropped after test t; its URL.
export function freshDatabase(t) {
	assert.ok(PG, 'FRONTDESK_TEST_PG is required here');
	const name = `fd_e2e_${randomBytes(6).toString('hex')}`;
	psql(PG, `CREATE DATABASE ${name}`);
	const u = new URL(PG);
	u.pathname = `/${name}`;
	t.after(() => {
		try {
			psql(PG, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
		} catch {
			/* the cluster goes at the end anyway */
		}
	});
	return u.toString();
}
