// A Mastodon server for tests: the client API and the streaming API that
// the frontdesk connector uses, following /work/shared/PLATFORMS.md
// ("Mastodon") point by point, including the unpleasant parts:
//
//   - ids are strings and exceed 2^53 (notification ids also change length
//     from 16 to 17 digits after the first ~1,000 notifications);
//   - streaming frames carry the notification as a JSON *string* in
//     `payload`; `delete` carries a bare status id; subscribing to both
//     `user` and `user:notification` delivers a notification twice;
//   - the server pings every `pingMs` and drops a client that has not
//     ponged since the previous ping; a binary frame from the client is
//     closed with 1003; a bad token gets HTTP 401 on the upgrade;
//   - the socket can be dropped at random (`drop: [minMs, maxMs]`);
//   - catch-up: GET /api/v1/notifications pages with min_id (the oldest page
//     above it, newest first), max_id and since_id (the newest page above
//     it), with a Link header (next/prev); no stream replay;
//   - rate limits: X-RateLimit-Limit/Remaining/Reset (ISO-8601) on every
//     response, 429 *without* Retry-After when a bucket is empty, a separate
//     status-creation bucket, a "storm" mode (every POST answered 429 until
//     a reset), and `noRateHeaders` (a server on 127.0.0.1 may send none);
//   - POST /api/v1/statuses (JSON or form) with Idempotency-Key (same key
//     within an hour: the same status, not a new one; `postDelayMs` answers
//     late, so a client can die between creation and answer), 422 over the
//     character limit (a URL counts as 23, a remote mention as its local
//     part), 404 when in_reply_to_id does not exist;
//   - since Mastodon 4.3, direct mentions from accounts the bot does not
//     follow are filtered (neither streamed nor listed) until
//     PATCH /api/v2/notifications/policy sets for_private_mentions=accept
//     (`policyEndpoint: false` emulates an older server: 404).
//
// Use from a test:
//   const emu = await startMastodonEmulator({ token: 't', pingMs: 1000 });
//   const amy = emu.account({ username: 'amy', display_name: 'Amy' });
//   const { status } = emu.mention({ from: amy, text: 'when are you open?' });
//   await emu.waitFor(() => emu.repliesTo(status.id).length === 1, 5000);
//   await emu.close();
//
// Alone, for trying the daemon by hand:
//   node tests/e2e/mastodon-emulator.mjs [port]
//   curl -d '{"from":"amy","text":"when are you open?"}' http://127.0.0.1:PORT/_emulator/mention
import http from 'node:http';
import { URL } from 'node:url';
import { WebSocketServer } from 'ws';

const HOUR = 3600 * 1000;

function escapeHtml(s) {
	return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

// Mastodon's mention syntax (app/models/account.rb MENTION_RE, simplified
// to ASCII): not after a word character, '/' or '='.
const MENTION_RE = /(?<![\p{L}\p{N}_\/=])@([a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)(?:@([\p{L}\p{N}_.-]+[\p{L}\p{N}_]+))?/giu;
const URL_RE = /(?<![\p{L}\p{N}_])https?:\/\/[^\s]+/giu;

// What a status's text counts toward max_characters.
export function statusLength(text) {
	let t = text.replace(URL_RE, 'x'.repeat(23));
	t = t.replace(MENTION_RE, (m, user) => '@' + user);
	const seg = new Intl.Segmenter('en', { granularity: 'grapheme' });
	let n = 0;
	for (const _ of seg.segment(t)) n++;
	return n;
}

export function mentionsIn(text) {
	const out = [];
	for (const m of text.matchAll(MENTION_RE)) out.push(m[2] ? `${m[1]}@${m[2]}` : m[1]);
	return out;
}

// Text to the HTML Mastodon renders: paragraphs, <br>, links with
// invisible/ellipsis spans, mention links.
function renderHtml(text, domain, mentioned) {
	const paras = text.split(/\n{2,}/);
	return paras
		.map((p) => {
			let html = '';
			let last = 0;
			const re = /https?:\/\/[^\s]+|@([a-z0-9_]+)(?:@([a-z0-9.-]+))?/gi;
			for (const m of p.matchAll(re)) {
				html += escapeHtml(p.slice(last, m.index));
				const tok = m[0];
				if (tok.startsWith('http')) {
					const bare = tok.replace(/^https?:\/\//, '');
					const scheme = tok.slice(0, tok.length - bare.length);
					const vis = bare.slice(0, 30);
					const rest = bare.slice(30);
					html += `<a href="${escapeHtml(tok)}" target="_blank" rel="nofollow noopener noreferrer">` +
						`<span class="invisible">${escapeHtml(scheme)}</span>` +
						`<span class="${rest ? 'ellipsis' : ''}">${escapeHtml(vis)}</span>` +
						`<span class="invisible">${escapeHtml(rest)}</span></a>`;
				} else {
					const acct = m[2] ? `${m[1]}@${m[2]}` : m[1];
					const host = m[2] || domain;
					if (mentioned.has(acct.toLowerCase()))
						html += `<span class="h-card" translate="no"><a href="https://${host}/@${m[1]}" class="u-url mention">@<span>${escapeHtml(m[1])}</span></a></span>`;
					else html += escapeHtml(tok);
				}
				last = m.index + tok.length;
			}
			html += escapeHtml(p.slice(last));
			return `<p>${html.replace(/\n/g, '<br />')}</p>`;
		})
		.join('');
}

export async function startMastodonEmulator(opts = {}) {
	const o = {
		token: 'test-token',
		port: 0,
		domain: 'bakery.example',
		maxChars: 500,
		pingMs: 30000,
		drop: null, // [minMs, maxMs]: drop every stream socket at random intervals
		policyEndpoint: true,
		apiV2Instance: true,
		noRateHeaders: false,
		rateLimit: { limit: 300, windowMs: 5 * 60 * 1000 }, // per token, every request
		statusLimit: { limit: 300, windowMs: 3 * HOUR }, // status creation per account
		streamingUrl: null, // configuration.urls.streaming (default: this server, ws://)
		postDelayMs: 0, // answer POST /api/v1/statuses this late (the status is created at once)
		...opts,
	};
	let statusSeq = 0n;
	let notifSeq = 9999999999999000n; // 16 digits, becomes 17 after 1,000
	const nextStatusId = () => String((BigInt(Date.now()) << 16n) + (statusSeq++ % 65536n));
	const nextNotifId = () => String(notifSeq++);

	const accounts = new Map(); // id -> account
	const byAcct = new Map(); // acct (lower) -> account
	const statuses = new Map(); // id -> status
	const notifications = []; // visible to the bot, in creation order
	const filtered = []; // hidden by the notification policy
	const follows = new Set(); // account ids the bot follows
	const idem = new Map(); // key -> { id, at }
	const clients = new Set();
	const requests = []; // { method, path, status, at, key? }
	const posted = []; // every status the bot created: { status, key, at }
	const posts = []; // every POST /api/v1/statuses: { at, status, key, storm }
	const stats = { connections: 0, drops: 0, pongDrops: 0, binaryCloses: 0, unauthorizedUpgrades: 0, limited: 0,
		policyPatches: 0, idemRepeats: 0, upgradesRefused: 0 };
	const waiters = new Set();
	let policy = 'filter';
	let streamRefuse = 0; // HTTP status to refuse upgrades with (0 = accept)
	let stormUntil = 0;
	const buckets = new Map(); // name -> { used, resetAt }

	function notify() {
		for (const w of [...waiters]) {
			if (w.pred()) {
				waiters.delete(w);
				clearTimeout(w.timer);
				w.resolve();
			}
		}
	}

	function account({ username, domain = null, display_name = null, bot = false, id = null }) {
		const acct = domain ? `${username}@${domain}` : username;
		const a = {
			id: id || String(109000000000000000n + BigInt(accounts.size + 2)),
			username,
			acct,
			display_name: display_name ?? username,
			bot,
			url: `https://${domain || o.domain}/@${username}`,
			created_at: '2024-01-01T00:00:00.000Z',
			note: '',
			avatar: '',
			followers_count: 0,
			following_count: 0,
			statuses_count: 0,
		};
		accounts.set(a.id, a);
		byAcct.set(acct.toLowerCase(), a);
		return a;
	}
	const me = account({ username: 'frontdesk', display_name: 'Bakery Bot', bot: true, id: '109000000000000001' });

	function makeStatus(from, text, { visibility = 'public', in_reply_to_id = null, spoiler_text = '' } = {}) {
		const mentioned = new Map();
		for (const acct of mentionsIn(text)) {
			const a = byAcct.get(acct.toLowerCase());
			if (a) mentioned.set(acct.toLowerCase(), a);
		}
		const parent = in_reply_to_id ? statuses.get(in_reply_to_id) : null;
		const s = {
			id: nextStatusId(),
			created_at: new Date().toISOString(),
			in_reply_to_id,
			in_reply_to_account_id: parent ? parent.account.id : null,
			sensitive: !!spoiler_text,
			spoiler_text,
			visibility,
			language: 'en',
			uri: '',
			url: '',
			content: renderHtml(text, o.domain, new Set(mentioned.keys())),
			account: from,
			mentions: [...mentioned.values()].map((a) => ({ id: a.id, username: a.username, acct: a.acct, url: a.url })),
			text,
		};
		s.uri = s.url = `https://${o.domain}/@${from.username}/${s.id}`;
		statuses.set(s.id, s);
		return s;
	}

	function frame(stream, event, payload) {
		return JSON.stringify({ stream, event, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) });
	}

	function broadcastNotification(n) {
		const payload = JSON.stringify(n);
		for (const c of clients) {
			if (c.ws.readyState !== 1) continue;
			// Both subscriptions: the notification arrives twice.
			if (c.streams.has('user:notification')) c.ws.send(frame(['user:notification'], 'notification', payload));
			if (c.streams.has('user')) c.ws.send(frame(['user'], 'notification', payload));
		}
	}

	function addNotification(type, from, status) {
		const n = { id: nextNotifId(), type, created_at: new Date().toISOString(), account: from, status: status || null };
		const hidden = type === 'mention' && status && status.visibility === 'direct' && !follows.has(from.id) &&
			policy !== 'accept';
		if (hidden) {
			filtered.push(n);
			return n;
		}
		notifications.push(n);
		broadcastNotification(n);
		return n;
	}

	// A customer mentions the bot.  `inReplyTo` is a status id.
	function mention({ from, text, visibility = 'public', inReplyTo = null, spoiler = '' }) {
		if (typeof from === 'string') from = byAcct.get(from.toLowerCase()) || account({ username: from });
		const body = text.includes('@frontdesk') ? text : `@frontdesk ${text}`;
		const status = makeStatus(from, body, { visibility, in_reply_to_id: inReplyTo, spoiler_text: spoiler });
		const notification = addNotification('mention', from, status);
		notify();
		return { status, notification };
	}

	function favourite(from, status) {
		return addNotification('favourite', from, status);
	}

	// The stream delivers a notification again (what a reconnecting
	// subscription or a server retry does): the bot must not answer twice.
	function redeliver(notificationId) {
		const n = notifications.find((x) => x.id === notificationId);
		if (n) broadcastNotification(n);
		return !!n;
	}

	function deleteEvent(id) {
		for (const c of clients) if (c.ws.readyState === 1 && c.streams.has('user')) c.ws.send(frame(['user'], 'delete', id));
	}

	// --- rate limits -------------------------------------------------------
	function bucket(name, spec, now) {
		let b = buckets.get(name);
		if (!b || now >= b.resetAt) {
			b = { used: 0, resetAt: now + spec.windowMs };
			buckets.set(name, b);
		}
		return b;
	}

	function rateHeaders(spec, b) {
		if (o.noRateHeaders) return {};
		return {
			'X-RateLimit-Limit': String(spec.limit),
			'X-RateLimit-Remaining': String(Math.max(0, spec.limit - b.used)),
			'X-RateLimit-Reset': new Date(b.resetAt).toISOString(),
		};
	}

	// --- HTTP --------------------------------------------------------------
	function send(res, req, status, body, headers = {}) {
		const text = body === undefined ? '' : JSON.stringify(body);
		res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
		res.end(text);
		requests.push({ method: req.method, path: req.url, status, at: Date.now() });
		notify();
	}

	function bearer(req, url) {
		const h = req.headers.authorization || '';
		const m = /^Bearer\s+(.+)$/i.exec(h);
		if (m) return m[1].trim();
		return url.searchParams.get('access_token');
	}

	function parseBody(req, raw) {
		const ct = (req.headers['content-type'] || '').split(';')[0].trim();
		if (ct === 'application/json') return JSON.parse(raw || '{}');
		if (ct === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(raw));
		return {};
	}

	function listNotifications(url) {
		const q = url.searchParams;
		const types = [...q.getAll('types[]'), ...q.getAll('types')];
		const exclude = q.getAll('exclude_types[]');
		const limit = Math.min(80, Math.max(1, Number(q.get('limit') || 40)));
		const cmp = (a, b) => (a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0);
		let items = notifications.filter((n) => (!types.length || types.includes(n.type)) && !exclude.includes(n.type));
		const maxId = q.get('max_id'), minId = q.get('min_id'), sinceId = q.get('since_id');
		if (maxId) items = items.filter((n) => cmp(n.id, maxId) < 0);
		let page;
		if (minId) {
			// The oldest page above min_id, returned newest first.
			items = items.filter((n) => cmp(n.id, minId) > 0).sort((a, b) => cmp(a.id, b.id));
			page = items.slice(0, limit).reverse();
		} else {
			if (sinceId) items = items.filter((n) => cmp(n.id, sinceId) > 0);
			items.sort((a, b) => cmp(b.id, a.id));
			page = items.slice(0, limit);
		}
		const headers = {};
		if (page.length) {
			const base = `http://127.0.0.1:${port}/api/v1/notifications`;
			const t = types.map((x) => `&types%5B%5D=${x}`).join('');
			headers.Link = `<${base}?max_id=${page[page.length - 1].id}${t}>; rel="next", <${base}?min_id=${page[0].id}${t}>; rel="prev"`;
		}
		return { page, headers };
	}

	function createStatus(req, res, url, body) {
		const key = req.headers['idempotency-key'];
		const now = Date.now();
		const storm = now < stormUntil;
		posts.push({ at: now, key, storm, body });
		if (storm) {
			stats.limited++;
			return send(res, req, 429, { error: 'Too many requests' }, o.noRateHeaders ? {} : {
				'X-RateLimit-Limit': String(o.statusLimit.limit),
				'X-RateLimit-Remaining': '0',
				'X-RateLimit-Reset': new Date(stormUntil).toISOString(),
			});
		}
		const sb = bucket('statuses', o.statusLimit, now);
		if (sb.used >= o.statusLimit.limit) {
			stats.limited++;
			return send(res, req, 429, { error: 'Too many requests' }, rateHeaders(o.statusLimit, sb));
		}
		if (key) {
			const seen = idem.get(key);
			if (seen && now - seen.at < HOUR) {
				stats.idemRepeats++;
				return send(res, req, 200, publicStatus(statuses.get(seen.id)), rateHeaders(o.statusLimit, sb));
			}
		}
		const text = typeof body.status === 'string' ? body.status : '';
		const visibility = body.visibility || 'public';
		if (!text.trim()) return send(res, req, 422, { error: "Validation failed: Text can't be blank" });
		if (!['public', 'unlisted', 'private', 'direct'].includes(visibility))
			return send(res, req, 422, { error: 'Validation failed: Visibility is not included in the list' });
		if (statusLength(text) > o.maxChars)
			return send(res, req, 422, { error: `Validation failed: Text character limit of ${o.maxChars} exceeded` });
		const irt = body.in_reply_to_id ? String(body.in_reply_to_id) : null;
		if (irt && !statuses.has(irt))
			return send(res, req, 404, { error: 'The post you are trying to reply to does not appear to exist.' });
		sb.used++;
		const s = makeStatus(me, text, { visibility, in_reply_to_id: irt });
		if (key) idem.set(key, { id: s.id, at: now });
		posted.push({ status: s, key, at: now });
		const headers = rateHeaders(o.statusLimit, sb);
		// A slow answer: the status exists before the client hears of it.
		if (o.postDelayMs) return setTimeout(() => send(res, req, 200, publicStatus(s), headers), o.postDelayMs);
		return send(res, req, 200, publicStatus(s), headers);
	}

	function publicStatus(s) {
		const { text, ...rest } = s;
		return rest;
	}

	function instanceV2() {
		return {
			domain: o.domain,
			title: 'Bakery test server',
			version: '4.3.0',
			configuration: {
				urls: { streaming: o.streamingUrl || `ws://127.0.0.1:${port}` },
				statuses: { max_characters: o.maxChars, max_media_attachments: 4, characters_reserved_per_url: 23 },
			},
		};
	}

	async function control(req, res, url, body) {
		if (url.pathname === '/_emulator/mention' && req.method === 'POST') {
			const r = mention({ from: body.from || 'customer', text: body.text || 'hello', visibility: body.visibility || 'public',
				inReplyTo: body.in_reply_to_id || null });
			return send(res, req, 200, { status: publicStatus(r.status), notification_id: r.notification.id });
		}
		if (url.pathname === '/_emulator/posted') return send(res, req, 200, posted.map((p) => ({ ...publicStatus(p.status), text: p.status.text })));
		return send(res, req, 404, { error: 'Record not found' });
	}

	const server = http.createServer((req, res) => {
		const chunks = [];
		let size = 0;
		req.on('data', (c) => {
			size += c.length;
			if (size <= 1 << 20) chunks.push(c);
		});
		req.on('end', () => {
			const url = new URL(req.url, 'http://127.0.0.1');
			let body = {};
			try {
				body = parseBody(req, Buffer.concat(chunks).toString('utf8'));
			} catch {
				return send(res, req, 400, { error: 'Malformed body' });
			}
			if (url.pathname.startsWith('/_emulator/')) return control(req, res, url, body);
			if (bearer(req, url) !== o.token) return send(res, req, 401, { error: 'The access token is invalid' });
			const now = Date.now();
			const gb = bucket('general', o.rateLimit, now);
			if (gb.used >= o.rateLimit.limit) {
				stats.limited++;
				return send(res, req, 429, { error: 'Too many requests' }, rateHeaders(o.rateLimit, gb));
			}
			gb.used++;
			const rh = rateHeaders(o.rateLimit, gb);
			const p = url.pathname;
			if (req.method === 'GET' && p === '/api/v1/accounts/verify_credentials') return send(res, req, 200, { ...me, source: { privacy: 'public' } }, rh);
			if (req.method === 'GET' && p === '/api/v2/instance') {
				if (!o.apiV2Instance) return send(res, req, 404, { error: 'Record not found' });
				return send(res, req, 200, instanceV2(), rh);
			}
			if (req.method === 'GET' && p === '/api/v1/instance')
				return send(res, req, 200, { uri: o.domain, title: 'Bakery test server', version: '3.5.0',
					urls: { streaming_api: o.streamingUrl || `ws://127.0.0.1:${port}` },
					configuration: { statuses: { max_characters: o.maxChars } } }, rh);
			if (req.method === 'PATCH' && p === '/api/v2/notifications/policy') {
				if (!o.policyEndpoint) return send(res, req, 404, { error: 'Record not found' });
				stats.policyPatches++;
				if (body.for_private_mentions) policy = body.for_private_mentions;
				return send(res, req, 200, { for_not_following: 'accept', for_not_followers: 'accept', for_new_accounts: 'accept',
					for_private_mentions: policy, for_limited_accounts: 'filter', summary: { pending_requests_count: filtered.length,
					pending_notifications_count: filtered.length } }, rh);
			}
			if (req.method === 'GET' && p === '/api/v1/notifications') {
				const { page, headers } = listNotifications(url);
				return send(res, req, 200, page, { ...rh, ...headers });
			}
			if (req.method === 'GET' && p.startsWith('/api/v1/statuses/')) {
				const s = statuses.get(p.slice('/api/v1/statuses/'.length));
				return s ? send(res, req, 200, publicStatus(s), rh) : send(res, req, 404, { error: 'Record not found' });
			}
			if (req.method === 'POST' && p === '/api/v1/statuses') return createStatus(req, res, url, body);
			return send(res, req, 404, { error: 'Record not found' });
		});
	});
	server.keepAliveTimeout = 30000;

	const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
	server.on('upgrade', (req, socket, head) => {
		const url = new URL(req.url, 'http://127.0.0.1');
		const refuse = (code, text) => {
			socket.write(`HTTP/1.1 ${code} ${text}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"error":"${text}"}`);
			socket.destroy();
			notify();
		};
		if (url.pathname !== '/api/v1/streaming' && url.pathname !== '/api/v1/streaming/') return refuse(404, 'Not Found');
		const proto = req.headers['sec-websocket-protocol'];
		const tok = bearer(req, url) || (proto ? proto.trim() : null);
		if (tok !== o.token) {
			stats.unauthorizedUpgrades++;
			return refuse(401, 'Unauthorized');
		}
		if (streamRefuse) {
			stats.upgradesRefused++;
			return refuse(streamRefuse, streamRefuse === 401 ? 'Unauthorized' : 'Service Unavailable');
		}
		const streams = new Set(url.searchParams.getAll('stream'));
		if (!streams.size) return refuse(400, 'Bad Request');
		wss.handleUpgrade(req, socket, head, (ws) => {
			const c = { ws, streams, alive: true, auth: req.headers.authorization ? 'header' : 'query' };
			clients.add(c);
			stats.connections++;
			ws.on('pong', () => (c.alive = true));
			ws.on('message', (data, binary) => {
				if (binary) {
					stats.binaryCloses++;
					ws.close(1003, 'binary frames are not accepted');
					return;
				}
				try {
					const m = JSON.parse(data.toString());
					if (m.type === 'subscribe' && typeof m.stream === 'string') c.streams.add(m.stream);
					if (m.type === 'unsubscribe' && typeof m.stream === 'string') c.streams.delete(m.stream);
				} catch {
					// ignored, like Mastodon
				}
			});
			ws.on('close', () => {
				clients.delete(c);
				notify();
			});
			ws.on('error', () => {});
			notify();
		});
	});

	const pinger = setInterval(() => {
		for (const c of clients) {
			if (!c.alive) {
				stats.pongDrops++;
				c.ws.terminate();
				continue;
			}
			c.alive = false;
			try {
				c.ws.ping();
			} catch {
				// closed meanwhile
			}
		}
	}, o.pingMs);

	let dropTimer = null;
	function scheduleDrop() {
		if (!o.drop) return;
		const [lo, hi] = o.drop;
		dropTimer = setTimeout(() => {
			dropAll();
			scheduleDrop();
		}, lo + Math.random() * (hi - lo));
	}
	function dropAll() {
		for (const c of clients) {
			stats.drops++;
			c.ws.terminate();
		}
	}

	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(o.port, '127.0.0.1', resolve);
	});
	const port = server.address().port;
	scheduleDrop();

	const emu = {
		port,
		url: `http://127.0.0.1:${port}`,
		me,
		options: o,
		stats,
		accounts,
		statuses,
		notifications,
		filtered,
		requests,
		posted,
		posts,
		clients,
		account,
		mention,
		favourite,
		deleteEvent,
		redeliver,
		follow: (a) => follows.add(a.id),
		dropAll,
		setDrop(d) {
			o.drop = d;
			clearTimeout(dropTimer);
			scheduleDrop();
		},
		setPostDelay(ms) {
			o.postDelayMs = ms;
		},
		storm(ms) {
			stormUntil = Date.now() + ms;
			return stormUntil;
		},
		refuseStream(status) {
			streamRefuse = status;
		},
		get policy() {
			return policy;
		},
		get stormUntil() {
			return stormUntil;
		},
		// Statuses the bot posted in reply to status id (each distinct status once).
		repliesTo(id) {
			return posted.filter((p) => p.status.in_reply_to_id === id).map((p) => p.status);
		},
		waitFor(pred, ms, what = 'condition') {
			if (pred()) return Promise.resolve();
			return new Promise((resolve, reject) => {
				const w = { pred, resolve };
				w.timer = setTimeout(() => {
					waiters.delete(w);
					reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
				}, ms);
				waiters.add(w);
			});
		},
		async close() {
			clearInterval(pinger);
			clearTimeout(dropTimer);
			for (const w of waiters) clearTimeout(w.timer);
			waiters.clear();
			for (const c of clients) c.ws.terminate();
			wss.close();
			server.closeAllConnections?.();
			await new Promise((r) => server.close(r));
		},
	};
	// Re-check waiters now and then (time-based predicates).
	const ticker = setInterval(notify, 50);
	const close = emu.close;
	emu.close = async () => {
		clearInterval(ticker);
		await close();
	};
	return emu;
}

if (import.meta.url === `file://${process.argv[1]}`) {
	const port = Number(process.argv[2] || 0);
	const emu = await startMastodonEmulator({ port, token: process.env.MASTODON_TOKEN || 'test-token' });
	console.log(`Mastodon emulator on ${emu.url} (token "${emu.options.token}")`);
	console.log(`  mention: curl -d '{"from":"amy","text":"when are you open?"}' -H 'content-type: application/json' ${emu.url}/_emulator/mention`);
	console.log(`  replies: curl ${emu.url}/_emulator/posted`);
}
