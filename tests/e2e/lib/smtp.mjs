// An SMTP sink on loopback for the end-to-end tests (tests/e2e/smtp_sink.py,
// Debian's python3-aiosmtpd): resolves once it listens, with
//   sink.port, sink.mails (one parsed message each, as they arrive: see
//   smtp_sink.py for the fields), sink.err, sink.proc, sink.stop().
// With { user, password }, AUTH with them is required before MAIL.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SINK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../smtp_sink.py');

export function startSmtpSink({ user, password } = {}) {
	const args = [SINK];
	if (user) args.push('--user', user, '--password-env', 'SINK_PW');
	const p = spawn('/usr/bin/python3', args, {
		env: { ...process.env, SINK_PW: password || '' },
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	const sink = { proc: p, mails: [], err: '', stop: () => p.kill('SIGTERM') };
	p.stderr.on('data', (b) => (sink.err += b));
	return new Promise((resolve, reject) => {
		const t = setTimeout(() => reject(new Error('smtp sink did not start: ' + sink.err)), 10000);
		createInterface({ input: p.stdout }).on('line', (line) => {
			const o = JSON.parse(line);
			if (o.port) {
				sink.port = o.port;
				clearTimeout(t);
				resolve(sink);
			} else {
				sink.mails.push(o);
			}
		});
		p.on('exit', () => reject(new Error('smtp sink exited: ' + sink.err)));
	});
}
