// A new owner's first hour, end to end, as the README tells it:
//
//   `make install DESTDIR=…` puts the program, its defaults, the manual
//   pages and the unit in place; `man -l` shows both pages (and `man` finds
//   them); a configuration written the way the documentation shows it, in
//   a folder of its own with absolute rule and reply patterns and no
//   `sentiment` key, passes `check` (which says the word lists came from
//   the installed share directory) and runs; so does the README's
//   "copy the example to /etc/frontdesk" recipe.  In the running bot (real
//   Chromium for the widget and the dashboard): a question about a closed
//   day gets no cheerful yes; the dashboard's canned replies are exactly the
//   installed canned.* texts, written for a person; the customer sees the
//   agent's name once; the customer leaves an e-mail address in the widget,
//   the ticket shows it, and a reply written after they left arrives at an
//   SMTP sink addressed to them, with a link back to the chat.  Common YAML mistakes get `check` messages that say
//   what to fix, at the line where the mistake starts.  `make uninstall`
//   removes it all again.
//
//   BUILD=build node --test tests/e2e/newuser.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AGENT_HASH, BUILD, REPO, freePort, waitUntil, track } from './lib/daemon.mjs';
import { startSmtpSink } from './lib/smtp.mjs';
import { dashboardLogin } from './lib/browser.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PREFIX = '/usr/local';

let chromium = null;
let skip = false;
try {
	({ chromium } = await import('playwright-core'));
} catch (e) {
	skip = 'playwright-core is not installed (npm install in tests/e2e)';
}
if (!skip && !existsSync(CHROMIUM)) skip = `no browser at ${CHROMIUM} (apt-get install chromium)`;

const T = mkdtempSync(path.join(tmpdir(), 'fd-newuser-'));
const DEST = path.join(T, 'root');
const ROOT = path.join(DEST, PREFIX);
const BIN = path.join(ROOT, 'bin/frontdesk');
const SHARE = path.join(ROOT, 'share/frontdesk');
const MAN = path.join(ROOT, 'share/man');

// `make` on the repository with this build (plain or sanitizer); -o keeps it
// from rebuilding a binary that is already there.
function make(...args) {
	const san = path.basename(BUILD) === 'build-san' ? ['SAN=1'] : [];
	const r = spawnSync('make', ['-s', '-C', REPO, '-o', path.join(path.basename(BUILD), 'frontdesk'), ...san, ...args],
		{ encoding: 'utf8' });
	assert.equal(r.status, 0, r.stdout + r.stderr);
	return r.stdout;
}

function run(bin, args, env = {}) {
	return spawnSync(bin, args, { encoding: 'utf8', env: { ...process.env, ...env } });
}

let installed = false;
before(() => {
	make('install', `DESTDIR=${DEST}`, `PREFIX=${PREFIX}`);
	installed = true;
});

// `make uninstall` takes away everything `make install` put there.
after(() => {
	if (installed) {
		make('uninstall', `DESTDIR=${DEST}`, `PREFIX=${PREFIX}`);
		const left = spawnSync('find', [DEST, '-type', 'f'], { encoding: 'utf8' }).stdout.trim();
		assert.equal(left, '', 'files left after make uninstall');
	}
	rmSync(T, { recursive: true, force: true });
});

test('make install puts the program, its defaults, docs, manual pages and the unit in place', () => {
	for (const f of ['bin/frontdesk', 'share/frontdesk/config.yaml.example', 'share/frontdesk/replies/en.yaml',
		'share/frontdesk/rules/faq.yaml', 'share/doc/frontdesk/README.md', 'share/doc/frontdesk/docs/webchat-protocol.md',
		'share/man/man1/frontdesk.1', 'share/man/man5/frontdesk.yaml.5', 'lib/systemd/system/frontdesk.service'])
		assert.ok(existsSync(path.join(ROOT, f)), f);
	assert.deepEqual(readdirSync(path.join(SHARE, 'rules/lexicon')).sort(), readdirSync(path.join(REPO, 'rules/lexicon')).sort());
	const unit = readFileSync(path.join(ROOT, 'lib/systemd/system/frontdesk.service'), 'utf8');
	assert.match(unit, /^Documentation=man:frontdesk\(1\) man:frontdesk\.yaml\(5\)$/m);
	assert.match(unit, new RegExp(`^ExecStart=${PREFIX}/bin/frontdesk run `, 'm'));
	assert.doesNotMatch(unit, /@[A-Z]+@/);
});

test('the manual pages render with man -l, and man finds them', () => {
	const env = { MANWIDTH: '80', LC_ALL: 'C.UTF-8', MANPAGER: 'cat', PAGER: 'cat' };
	const one = run('man', ['--nh', '--nj', '-l', path.join(MAN, 'man1/frontdesk.1')], env);
	assert.equal(one.status, 0, one.stderr);
	for (const w of ['NAME', 'frontdesk - answer', 'check', 'queue reply', 'SIGHUP', 'EXIT STATUS', `${PREFIX}/share/frontdesk/`])
		assert.ok(one.stdout.includes(w), w);
	const five = run('man', ['--nh', '--nj', '-l', path.join(MAN, 'man5/frontdesk.yaml.5')], env);
	assert.equal(five.status, 0, five.stderr);
	for (const w of ['response_targets', 'allowed_origins', 'canned.*', 'password_hash', 'RULE FILES', 'REPLY FILES'])
		assert.ok(five.stdout.includes(w), w);
	assert.doesNotMatch(one.stdout + five.stdout, /@[A-Z]+@/);
	// `man frontdesk.yaml` with the installed tree on the manual path.
	const found = run('man', ['-w', 'frontdesk.yaml'], { ...env, MANPATH: MAN });
	assert.equal(found.stdout.trim(), path.join(MAN, 'man5/frontdesk.yaml.5'));
});

// A configuration as the documentation shows it, in a folder of its own
// (with an e-mail entry under notify when `smtp` names a port).
async function writeConfig(dir, { chat, dash, smtp }) {
	mkdirSync(dir, { recursive: true });
	const file = path.join(dir, 'config.yaml');
	writeFileSync(file, `business:
  name: Acme Bakery
  timezone: Europe/London
  hours: { mon-fri: "09:00-17:30", sat: "10:00-14:00", sun: closed }
  holidays: ["2026-12-25", "2026-12-26", "2027-12-25", "2027-12-26", "2028-12-25"]
  contact: { phone: "+44 20 7946 0000", email: hello@acme.example }
  response_targets: { urgent: 30m, high: 1h, normal: 4h, low: 1d }
rules: [${SHARE}/rules/*.yaml]
replies: [${SHARE}/replies/en.yaml]
store: { path: frontdesk.db }
connectors:
  - { type: webchat, listen: "127.0.0.1:${chat}" }
dashboard:
  listen: "127.0.0.1:${dash}"
  agents: [ { login: sam, name: Sam, password_hash: "${AGENT_HASH}" } ]
${smtp ? `notify:
  - { type: email, smtp: "smtp://127.0.0.1:${smtp}", from: bot@acme.example, to: [owner@acme.example] }
` : ''}`);
	return file;
}

test('a configuration in the documented shape passes check, which says where the word lists came from', async () => {
	const file = await writeConfig(path.join(T, 'check'), { chat: await freePort(), dash: await freePort() });
	const r = run(BIN, ['check', '-c', file]);
	assert.equal(r.status, 0, r.stdout + r.stderr);
	assert.match(r.stdout, /\nconfiguration OK\n$/);
	assert.ok(r.stdout.includes(`from ${SHARE}/rules/lexicon/ (the installed default)`), r.stdout);
});

test("the README's recipe: copy the example and the defaults to the configuration folder", () => {
	const etc = path.join(T, 'etc-frontdesk');
	mkdirSync(etc, { recursive: true });
	cpSync(path.join(SHARE, 'config.yaml.example'), path.join(etc, 'config.yaml'));
	cpSync(path.join(SHARE, 'rules'), path.join(etc, 'rules'), { recursive: true });
	cpSync(path.join(SHARE, 'replies'), path.join(etc, 'replies'), { recursive: true });
	const r = run(BIN, ['check', '-c', path.join(etc, 'config.yaml')]);
	assert.equal(r.status, 0, r.stdout + r.stderr);
	assert.match(r.stdout, /configuration OK/);
});

test('common YAML mistakes: check says what to fix, where the mistake starts', () => {
	const cases = path.join(REPO, 'tests/data/yaml-mistakes');
	const dir = path.join(T, 'mistakes');
	mkdirSync(dir, { recursive: true });
	let n = 0;
	for (const name of readdirSync(cases).filter((f) => f.endsWith('.yaml'))) {
		const text = readFileSync(path.join(cases, name), 'utf8');
		const [, pos, words] = text.match(/^# expect (\d+:\d+): (.*)$/m);
		const file = path.join(dir, 'config.yaml');
		writeFileSync(file, text);
		const r = run(BIN, ['check', '-c', file]);
		assert.equal(r.status, 2, name);
		const first = r.stderr.split('\n')[0];
		assert.ok(first.startsWith(`${file}:${pos}: `) && first.includes(words), `${name}: ${first}`);
		assert.doesNotMatch(r.stderr, /while parsing|while scanning|did not find expected/, name);
		n++;
	}
	assert.ok(n >= 15);
});

test('the installed bot runs: a closed day gets no cheerful yes, canned replies are for people, the name shows once',
	{ skip, timeout: 180000 }, async () => {
		const chat = await freePort(), dash = await freePort();
		const sink = await startSmtpSink();
		const dir = path.join(T, 'run');
		const file = await writeConfig(dir, { chat, dash, smtp: sink.port });
		let log = '';
		const proc = track(spawn(BIN, ['run', '-c', file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }));
		const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
		let browser;
		try {
			await new Promise((resolve, reject) => {
				const t = setTimeout(() => reject(new Error('the bot did not start:\n' + log)), 20000);
				const onData = (b) => {
					log += b;
					if (log.includes('frontdesk running')) { clearTimeout(t); resolve(); }
				};
				proc.stdout.on('data', onData);
				proc.stderr.on('data', onData);
				proc.on('exit', () => reject(new Error('the bot exited:\n' + log)));
			});
			browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
				args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });

			// A customer asks about Christmas Day, a configured holiday.
			const cust = await (await browser.newContext()).newPage();
			const errors = [];
			cust.on('pageerror', (e) => errors.push(String(e)));
			await cust.goto(`http://127.0.0.1:${chat}/`);
			assert.match(await cust.textContent('footer'), /Opening hours: Mon–Fri 9:00–17:30/);
			await cust.click('.fd-launch');
			const bots = cust.locator('.fd-msg.fd-bot .fd-text');
			const before = await bots.count();
			await cust.fill('.fd-form textarea', 'Can you deliver on christmas day?');
			await cust.press('.fd-form textarea', 'Enter');
			await cust.waitForFunction((n) => document.querySelectorAll('.fd-msg.fd-bot').length > n, before,
				{ timeout: 15000 });
			const said = await bots.last().textContent();
			assert.match(said, /we're closed (today|tomorrow|on \w+ 25 December)/, said);
			assert.doesNotMatch(said, /^Yes/);

			// The agent opens it in the dashboard: the canned replies are the
			// installed canned.* texts, titled after their keys, and nothing else.
			const expected = [...readFileSync(path.join(SHARE, 'replies/en.yaml'), 'utf8').matchAll(/^canned\.([a-z0-9_]+):/gm)]
				.map((m) => m[1].replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase()));
			assert.ok(expected.includes('Custom order'), expected.join(', '));
			const agent = await (await browser.newContext()).newPage();
			agent.on('pageerror', (e) => errors.push(String(e)));
			await dashboardLogin(agent, `http://127.0.0.1:${dash}/`);
			const item = agent.locator('.qi').first();
			await item.waitFor({ timeout: 10000 });
			await item.locator('a').click();
			await agent.waitForSelector('#thread .msg-customer');
			const options = await agent.$$eval('#canned option', (os) => os.map((o) => o.textContent));
			assert.deepEqual(options, ['Canned replies…', ...expected]);
			await agent.selectOption('#canned', { label: 'Custom order' });
			const text = await agent.inputValue('#reply-text');
			// Written for a person: no pseudonym, no promise of "a person will reply".
			assert.doesNotMatch(text, /web visitor|a person will|passed (it|your message) to the team|\{\{/);
			await agent.click('#reply-submit');

			// The customer sees it from Sam, with the name once (no signature).
			const reply = cust.locator('.fd-msg.fd-agent');
			await reply.waitFor({ timeout: 15000 });
			assert.match(await reply.locator('.fd-who').textContent(), /^Sam/);
			assert.equal(await reply.locator('.fd-text').textContent(), text.trim());
			assert.doesNotMatch(await reply.textContent(), /— Sam/);

			// A person has the conversation: the customer leaves an address,
			// the ticket shows it; they leave, and the next reply goes by e-mail.
			await cust.waitForSelector('.fd-mail:not([hidden])', { timeout: 10000 });
			await cust.fill('.fd-mail input', 'kim@example.org');
			await cust.click('.fd-mail button');
			await cust.waitForFunction(() => /kim@example\.org/.test(document.querySelector('.fd-status').textContent),
				null, { timeout: 10000 });
			await agent.reload();
			await agent.waitForSelector('.chip-email', { timeout: 10000 });
			assert.match(await agent.textContent('.chip-email'), /kim@example\.org/);
			await cust.context().close();
			await waitUntil(async () => /^frontdesk_webchat_connections 0$/m.test(
				await (await fetch(`http://127.0.0.1:${dash}/metrics`)).text()), 10000, 'the customer gone');
			await agent.fill('#reply-text', 'It is on its way.');
			await agent.click('#reply-submit');
			const mail = await waitUntil(() => sink.mails.find((m) => m.rcpt_tos.includes('kim@example.org')), 15000,
				'the reply by e-mail');
			assert.ok(mail.body.includes('It is on its way.'), mail.body);
			assert.match(mail.body, new RegExp(`http://127\\.0\\.0\\.1:${chat}/#frontdesk=[A-Za-z0-9_-]+`));
			assert.equal(mail.subject, 'Re: your message to Acme Bakery');
			assert.deepEqual(errors, []);
		} finally {
			sink.stop();
			if (browser) await browser.close();
			proc.kill('SIGTERM');
			const r = await exited;
			assert.deepEqual(r, { code: 0, signal: null }, log);
		}
	});
