// A webhook receiver on loopback for the notification tests: records every
// POST (path, headers, raw body, parsed JSON) and answers 200, or a chosen
// status for the first N requests of a path (a failing target that
// recovers).  No outside dependency: node's http module only.
//
//   const r = await startWebhookReceiver();
//   r.failFirst('/flaky', 2, 500);          // two 500s, then 200
//   const url = r.url('/flaky');
//   await r.waitFor((q) => q.path === '/flaky' && q.status === 200, 5000);
//   await r.close();
import http from 'node:http';

export async function startWebhookReceiver() {
	const requests = []; // { path, method, headers, body, json, status, at }
	const failures = new Map(); // path -> { left, status }
	const waiters = [];

	const server = http.createServer((req, res) => {
		const chunks = [];
		let size = 0;
		req.on('data', (c) => {
			size += c.length;
			if (size <= 1 << 20) chunks.push(c);
		});
		req.on('end', () => {
			const body = Buffer.concat(chunks).toString('utf8');
			let json = null;
			try {
				json = JSON.parse(body);
			} catch {
				json = null;
			}
			const f = failures.get(req.url);
			let status = 200;
			if (f && f.left > 0) {
				f.left--;
				status = f.status;
			}
			const q = { path: req.url, method: req.method, headers: req.headers, body, json, status, at: Date.now() };
			requests.push(q);
			res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' });
			res.end(status === 200 ? 'ok' : 'try again later');
			for (const w of [...waiters]) {
				if (w.pred(q)) {
					waiters.splice(waiters.indexOf(w), 1);
					clearTimeout(w.timer);
					w.resolve(q);
				}
			}
		});
	});
	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, '127.0.0.1', resolve);
	});
	const { port } = server.address();

	return {
		port,
		requests,
		url: (p) => `http://127.0.0.1:${port}${p}`,
		failFirst(path, n, status = 500) {
			failures.set(path, { left: n, status });
		},
		// The first recorded request matching pred (already seen or future).
		waitFor(pred, ms = 5000) {
			const seen = requests.find(pred);
			if (seen) return Promise.resolve(seen);
			return new Promise((resolve, reject) => {
				const w = { pred, resolve };
				w.timer = setTimeout(() => {
					waiters.splice(waiters.indexOf(w), 1);
					reject(new Error('webhook receiver: timeout; got ' +
						JSON.stringify(requests.map((q) => [q.path, q.status, q.body.slice(0, 120)]))));
				}, ms);
				waiters.push(w);
			});
		},
		// Wait until count(pred) >= n.
		async waitCount(pred, n, ms = 5000) {
			const end = Date.now() + ms;
			while (requests.filter(pred).length < n) {
				if (Date.now() > end)
					throw new Error(`webhook receiver: wanted ${n}, got ` +
						JSON.stringify(requests.filter(pred).map((q) => [q.path, q.status, q.body.slice(0, 120)])));
				await new Promise((r) => setTimeout(r, 25));
			}
			return requests.filter(pred);
		},
		close: () => new Promise((resolve) => server.close(resolve)),
	};
}
