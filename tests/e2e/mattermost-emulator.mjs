// A Mattermost server for tests: the REST and WebSocket API the frontdesk
// connector uses, following /work/shared/PLATFORMS.md ("Mattermost") point
// by point, including the unpleasant parts:
//
//   - WebSocket /api/v4/websocket with `Authorization: Bearer` at the
//     upgrade (401 otherwise); first event `hello` {connection_id,
//     server_version} with seq 0, +1 per event; `posted` carries the post
//     as a JSON *string* and `mentions` as a JSON string too; props.from_bot
//     is the string "true"; the bot's own posts come back as `posted`;
//     other events (typing, status_change) advance seq too;
//   - resume: ?connection_id=&sequence_number= (the next seq wanted): while
//     the session lives (`sessionTtlMs`) and the seq is within its last 128
//     events, the missed events are replayed with no new hello (events
//     for a disconnected session are buffered); otherwise a new hello with
//     a new connection_id and seq 0;
//   - the server pings every `pingMs` and drops a socket that has not
//     ponged for `deadMs`; sockets can be dropped without a close frame
//     (dropAll, or at random with `drop: [minMs, maxMs]`);
//   - REST: users/me, config/client?format=old (MaxPostSize as a string),
//     users/{id}/channels (DMs and groups included, last_post_at),
//     channels/{id}/posts?since= (posts updated after it, thread roots
//     included, at most 1,000), posts/{id}/thread, channels/direct (the
//     existing DM when there is one), POST /api/v4/posts: 201; root_id
//     must be a root post of the same channel (400); the bot must be a
//     member (403); message over MaxPostSize (400); pending_post_id seen
//     within `dedupeMs` (30 s) returns the first post, and 500
//     api.post.deduplicate_create_post.pending while the first is still
//     being saved (`saveDelayMs`);
//   - errors are JSON {id, message, detailed_error, request_id,
//     status_code}, except a 429: `Retry-After` and the plain-text body
//     "limit exceeded"; X-Ratelimit-Limit/Remaining/Reset (seconds until
//     the reset, not an epoch) on every answer when `rateLimit` is set;
//     storm(ms) answers every POST 429 until then;
//   - unknown outcomes: `emu.loseAnswers = n` (the next n POST /posts are
//     created but answered 502), `emu.holdAnswers = n` (created, never
//     answered: the client may die waiting), `emu.cutWhileSaving = n` (the
//     connection is cut while the post is being saved for saveDelayMs, so
//     a retry meets the 500 "pending" answer).
//
// Use from a test:
//   const emu = await startMattermostEmulator({ token: 't' });
//   const amy = emu.user({ username: 'amy' });
//   const town = emu.channel({ name: 'town-square', members: [amy] });
//   const p = emu.post({ from: amy, channel: town, text: 'when are you open?' });
//   await emu.waitFor(() => emu.repliesTo(p.id).length === 1, 5000);
//   await emu.close();
//
// Alone, for trying the daemon by hand (token "test-token"):
//   node tests/e2e/mattermost-emulator.mjs [port]
//   curl -d '{"from":"amy","text":"when are you open?"}' http://127.0.0.1:PORT/_emulator/post
import http from 'node:http';
import { URL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { WebSocketServer } from 'ws';

const BUFFER = 128;

// Mattermost ids: 26 lower-case alphanumerics.
export function newId() {
	const a = 'abcdefghijklmnopqrstuvwxyz0123456789';
	const b = randomBytes(26);
	let s = '';
	for (const x of b) s += a[x % a.length];
	return s;
}

// What Mattermost counts toward MaxPostSize: runes (code points).
export const postLength = (text) => [...text].length;

export async function startMattermostEmulator(opts = {}) {
	const o = {
		token: 'test-token',
		maxPostSize: 16383,
		pingMs: 60000,
		deadMs: 100000,
		sessionTtlMs: 5 * 60000,
		dedupeMs: 30000,
		saveDelayMs: 0,
		rateLimit: null, // { perSecond, burst }
		drop: null,
		chatter: false, // typing/status events between posts
		...opts,
	};
	const emu = {
		users: new Map(),
		channels: new Map(),
		posts: new Map(),
		botPosts: [], // { post, at }
		requests: [], // { method, path, status, at }
		sessions: new Map(), // connection_id -> { seq, buffer: [{seq, text}], ws, lastActive }
		hellos: 0,
		resumes: 0,
		upgrades: 0,
		refused: 0,
		pending: new Map(), // pending_post_id -> { postId | null, at }
		stormUntil: 0,
		admissions: 0, // POSTs let through the rate limit so far (a bot post's `seq`)
		refuseSocket: 0, // an HTTP status for every WebSocket upgrade (the socket cannot come back)
		loseAnswers: 0,
		holdAnswers: 0,
		cutWhileSaving: 0,
		held: [],
		violations: [], // sends accepted before a rate-limit reset
	};
	const me = { id: newId(), username: 'frontdesk', is_bot: true };
	emu.me = me;
	emu.users.set(me.id, me);
	const team = newId();
	emu.team = team;

	emu.user = ({ username, bot = false, id } = {}) => {
		const u = { id: id || newId(), username: username || `user${emu.users.size}`, is_bot: bot };
		emu.users.set(u.id, u);
		return u;
	};
	// A channel the bot is a member of (unless member: false).
	emu.channel = ({ name, type = 'O', members = [], bot = true } = {}) => {
		const c = { id: newId(), name: name || `chan-${emu.channels.size}`, type, team_id: type === 'D' || type === 'G' ? '' : team, members: new Set(members.map((u) => u.id)), last_post_at: 0 };
		if (bot) c.members.add(me.id);
		emu.channels.set(c.id, c);
		return c;
	};
	emu.dm = (a, b = me) => {
		for (const c of emu.channels.values())
			if (c.type === 'D' && c.members.has(a.id) && c.members.has(b.id) && c.members.size === (a.id === b.id ? 1 : 2)) return c;
		const c = { id: newId(), name: `${a.id}__${b.id}`, type: 'D', team_id: '', members: new Set([a.id, b.id]), last_post_at: 0 };
		emu.channels.set(c.id, c);
		return c;
	};

	let clock = 0;
	const stamp = () => (clock = Math.max(clock + 1, Date.now()));

	function wirePost(p) {
		return {
			id: p.id, create_at: p.create_at, update_at: p.update_at, edit_at: 0, delete_at: p.delete_at || 0,
			is_pinned: false, user_id: p.user_id, channel_id: p.channel_id, root_id: p.root_id, original_id: '',
			message: p.message, type: p.type, props: p.props, hashtags: '', file_ids: [], pending_post_id: '',
			metadata: {},
		};
	}

	// Send one event to the bot's sessions (buffered while disconnected).
	function broadcast(event, data, broadcastInfo = {}) {
		for (const s of emu.sessions.values()) {
			const frame = { event, data, broadcast: { omit_users: null, user_id: '', channel_id: '', team_id: '', ...broadcastInfo }, seq: s.seq++ };
			const text = JSON.stringify(frame);
			s.buffer.push({ seq: frame.seq, text });
			if (s.buffer.length > BUFFER) s.buffer.shift();
			if (s.ws && s.ws.readyState === 1) s.ws.send(text);
		}
	}

	function publish(p) {
		const c = emu.channels.get(p.channel_id);
		c.last_post_at = p.create_at;
		if (!c.members.has(me.id)) return;
		const sender = emu.users.get(p.user_id);
		const mentions = [...p.message.matchAll(/@([a-z0-9._-]+)/g)].map((m) => [...emu.users.values()].find((u) => u.username === m[1])).filter(Boolean).map((u) => u.id);
		const data = {
			channel_display_name: c.name, channel_name: c.name, channel_type: c.type,
			post: JSON.stringify(wirePost(p)), sender_name: `@${sender ? sender.username : 'unknown'}`, set_online: true,
			team_id: c.team_id,
		};
		if (mentions.length) data.mentions = JSON.stringify(mentions);
		broadcast('posted', data, { channel_id: c.id });
		if (o.chatter) broadcast('typing', { parent_id: '', user_id: p.user_id }, { channel_id: c.id });
	}

	function createPost({ user_id, channel_id, message, root_id = '', props = {}, type = '' }) {
		const t = stamp();
		const p = { id: newId(), create_at: t, update_at: t, user_id, channel_id, root_id, message, type, props };
		emu.posts.set(p.id, p);
		publish(p);
		return p;
	}

	// A post by `from` (a user) in `channel`, or in reply to `replyTo`.
	emu.post = ({ from, channel, text, replyTo, type = '', webhook = false }) => {
		const c = channel || emu.channels.get(replyTo.channel_id);
		const root = replyTo ? replyTo.root_id || replyTo.id : '';
		const props = {};
		if (from.is_bot) props.from_bot = 'true';
		if (webhook) props.from_webhook = 'true';
		return createPost({ user_id: from.id, channel_id: c.id, message: text, root_id: root, props, type });
	};
	// The same posted event again (a server may deliver twice).
	emu.redeliver = (p) => publish(p);
	emu.repliesTo = (id) => emu.botPosts.filter((b) => b.post.props.frontdesk_reply_to === id).map((b) => b.post);
	emu.sent = () => emu.botPosts.map((b) => ({ ...b.post, at: b.at, seq: b.seq }));

	emu.dropAll = () => {
		for (const s of emu.sessions.values()) if (s.ws) s.ws.terminate();
	};
	// Forget every session: the next connection gets a new hello.
	emu.forgetSessions = () => {
		emu.dropAll();
		emu.sessions.clear();
	};
	emu.storm = (ms) => {
		emu.stormUntil = Date.now() + ms;
		return emu.stormUntil;
	};
	emu.waitFor = async (pred, ms = 5000, what = 'condition') => {
		const t0 = Date.now();
		while (!pred()) {
			if (Date.now() - t0 > ms) throw new Error(`emulator: timeout after ${ms} ms waiting for ${what}`);
			await new Promise((r) => setTimeout(r, 20));
		}
	};

	// --- REST ---------------------------------------------------------------
	let bucket = o.rateLimit ? o.rateLimit.burst : 0;
	let refillAt = Date.now();
	function rateHeaders(res) {
		if (!o.rateLimit) return true;
		const now = Date.now();
		const add = Math.floor(((now - refillAt) / 1000) * o.rateLimit.perSecond);
		if (add > 0) {
			bucket = Math.min(o.rateLimit.burst, bucket + add);
			refillAt = now;
		}
		const reset = Math.max(1, Math.ceil(1 / o.rateLimit.perSecond));
		res.setHeader('X-Ratelimit-Limit', String(o.rateLimit.perSecond));
		res.setHeader('X-Ratelimit-Reset', String(reset)); // seconds until, not an epoch
		if (bucket <= 0) {
			res.setHeader('X-Ratelimit-Remaining', '0');
			return false;
		}
		bucket--;
		res.setHeader('X-Ratelimit-Remaining', String(bucket));
		return true;
	}
	function tooMany(res, seconds) {
		res.writeHead(429, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': String(seconds) });
		res.end('limit exceeded\n');
	}
	function json(res, status, body) {
		res.writeHead(status, { 'Content-Type': 'application/json' });
		res.end(JSON.stringify(body));
	}
	function fail(res, status, id, message) {
		json(res, status, { id, message, detailed_error: '', request_id: newId(), status_code: status });
	}
	const authorized = (req) => req.headers.authorization === `Bearer ${o.token}`;

	function postList(posts) {
		const out = { order: [], posts: {}, next_post_id: '', prev_post_id: '', has_next: false };
		for (const p of posts.sort((a, b) => b.create_at - a.create_at)) {
			out.order.push(p.id);
			out.posts[p.id] = wirePost(p);
		}
		return out;
	}

	async function handle(req, res, body) {
		const u = new URL(req.url, 'http://x');
		const path = u.pathname;
		if (path.startsWith('/_emulator/')) return emulatorControl(req, res, path, body);
		if (!authorized(req)) return fail(res, 401, 'api.context.session_expired.app_error', 'Invalid or expired session, please login again.');
		if (!rateHeaders(res)) return tooMany(res, 1);
		let m;
		if (req.method === 'GET' && path === '/api/v4/users/me') return json(res, 200, { id: me.id, username: me.username, is_bot: true });
		if (req.method === 'GET' && path === '/api/v4/config/client') return json(res, 200, { MaxPostSize: String(o.maxPostSize), Version: '10.0.0' });
		if (req.method === 'GET' && (m = /^\/api\/v4\/users\/([a-z0-9]+)\/channels$/.exec(path))) {
			if (m[1] !== me.id && m[1] !== 'me') return fail(res, 403, 'api.context.permissions.app_error', 'You do not have the appropriate permissions.');
			return json(res, 200, [...emu.channels.values()].filter((c) => c.members.has(me.id)).map((c) => ({ id: c.id, type: c.type, name: c.name, team_id: c.team_id, last_post_at: c.last_post_at, delete_at: 0 })));
		}
		if (req.method === 'GET' && (m = /^\/api\/v4\/channels\/([a-z0-9]+)\/posts$/.exec(path))) {
			const c = emu.channels.get(m[1]);
			if (!c) return fail(res, 404, 'app.channel.get.existing.app_error', 'Unable to find the existing channel.');
			if (!c.members.has(me.id)) return fail(res, 403, 'api.context.permissions.app_error', 'You do not have the appropriate permissions.');
			const since = Number(u.searchParams.get('since') || 0);
			let hits = [...emu.posts.values()].filter((p) => p.channel_id === c.id && p.update_at > since).slice(0, 1000);
			const roots = new Set(hits.map((p) => p.root_id).filter((r) => r && !hits.some((h) => h.id === r)));
			hits = hits.concat([...roots].map((r) => emu.posts.get(r)).filter(Boolean));
			return json(res, 200, postList(hits));
		}
		if (req.method === 'GET' && (m = /^\/api\/v4\/posts\/([a-z0-9]+)\/thread$/.exec(path))) {
			const root = emu.posts.get(m[1]);
			if (!root) return fail(res, 404, 'app.post.get.app_error', 'Unable to get the post.');
			return json(res, 200, postList([...emu.posts.values()].filter((p) => p.id === root.id || p.root_id === root.id)));
		}
		if (req.method === 'POST' && path === '/api/v4/channels/direct') {
			let ids;
			try {
				ids = JSON.parse(body);
			} catch {
				return fail(res, 400, 'api.context.invalid_body_param.app_error', 'Invalid or missing user_ids in request body.');
			}
			if (!Array.isArray(ids) || ids.length !== 2 || !ids.every((x) => emu.users.has(x)) || !ids.includes(me.id))
				return fail(res, 400, 'api.context.invalid_body_param.app_error', 'Invalid or missing user_ids in request body.');
			const other = emu.users.get(ids[0] === me.id ? ids[1] : ids[0]);
			return json(res, 201, { id: emu.dm(other).id, type: 'D' });
		}
		if (req.method === 'POST' && path === '/api/v4/posts') return createFromApi(res, body);
		return fail(res, 404, 'api.no_route', 'Not found');
	}

	emu.setDedupeMs = (ms) => (o.dedupeMs = ms);
	emu.setSaveDelayMs = (ms) => (o.saveDelayMs = ms);

	async function createFromApi(res, body) {
		// `at` of a bot post is when its request was let through the rate
		// limit, not when the (possibly delayed) save ended: a request let
		// through just before a storm is not a post made during it.
		const admitted = Date.now();
		if (admitted < emu.stormUntil) return tooMany(res, Math.max(1, Math.ceil((emu.stormUntil - admitted) / 1000)));
		const seq = emu.admissions++;
		let b;
		try {
			b = JSON.parse(body);
		} catch {
			return fail(res, 400, 'api.context.invalid_body_param.app_error', 'Invalid or missing post in request body.');
		}
		const c = emu.channels.get(b.channel_id);
		if (!c) return fail(res, 400, 'api.context.invalid_param.app_error', 'Invalid channel_id parameter.');
		if (!c.members.has(me.id)) return fail(res, 403, 'api.context.permissions.app_error', 'You do not have the appropriate permissions.');
		if (typeof b.message !== 'string' || postLength(b.message) > o.maxPostSize)
			return fail(res, 400, 'model.post.is_valid.message_length.app_error', 'Invalid Message parameter.');
		if (b.root_id) {
			const root = emu.posts.get(b.root_id);
			if (!root || root.channel_id !== c.id || root.root_id)
				return fail(res, 400, 'api.post.create_post.root_id.app_error', 'Invalid RootId parameter.');
		}
		const key = b.pending_post_id;
		if (key) {
			const seen = emu.pending.get(key);
			if (seen && Date.now() - seen.at < o.dedupeMs) {
				if (!seen.postId) return fail(res, 500, 'api.post.deduplicate_create_post.pending', 'Post rejected by plugin.');
				return json(res, 201, wirePost(emu.posts.get(seen.postId)));
			}
			emu.pending.set(key, { postId: null, at: Date.now() });
		}
		if (emu.cutWhileSaving > 0) {
			emu.cutWhileSaving--;
			res.socket.destroy();
		}
		if (o.saveDelayMs) await new Promise((r) => setTimeout(r, o.saveDelayMs));
		const p = createPost({ user_id: me.id, channel_id: c.id, message: b.message, root_id: b.root_id || '', props: { ...(b.props || {}), from_bot: 'true' } });
		if (key) emu.pending.get(key).postId = p.id;
		emu.botPosts.push({ post: p, at: admitted, seq });
		if (emu.holdAnswers > 0) {
			emu.holdAnswers--;
			emu.held.push(res);
			return;
		}
		if (emu.loseAnswers > 0) {
			emu.loseAnswers--;
			return fail(res, 502, 'proxy', 'Bad gateway');
		}
		return json(res, 201, wirePost(p));
	}

	function emulatorControl(req, res, path, body) {
		let b = {};
		try {
			b = body ? JSON.parse(body) : {};
		} catch {
			/* empty */
		}
		if (path === '/_emulator/post') {
			let from = [...emu.users.values()].find((x) => x.username === b.from) || emu.user({ username: b.from || 'customer' });
			const c = b.dm ? emu.dm(from) : [...emu.channels.values()].find((x) => x.type === 'O') || emu.channel({ name: 'town-square', members: [from] });
			c.members.add(from.id);
			return json(res, 200, emu.post({ from, channel: c, text: b.text || 'hello' }));
		}
		return json(res, 404, {});
	}

	const server = http.createServer((req, res) => {
		const chunks = [];
		req.on('data', (d) => chunks.push(d));
		req.on('end', () => {
			const body = Buffer.concat(chunks).toString('utf8');
			const at = Date.now();
			const orig = res.writeHead.bind(res);
			res.writeHead = (status, ...rest) => {
				emu.requests.push({ method: req.method, path: req.url, status, at });
				return orig(status, ...rest);
			};
			handle(req, res, body).catch((e) => fail(res, 500, 'emulator', String(e)));
		});
	});

	// --- WebSocket ----------------------------------------------------------
	const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
	server.on('upgrade', (req, socket, head) => {
		const u = new URL(req.url, 'http://x');
		emu.upgrades++;
		if (u.pathname !== '/api/v4/websocket') {
			socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
			return;
		}
		if (emu.refuseSocket) {
			socket.end(`HTTP/1.1 ${emu.refuseSocket} Service Unavailable\r\nContent-Length: 0\r\n\r\n`);
			return;
		}
		if (!authorized(req)) {
			emu.refused++;
			socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
			return;
		}
		wss.handleUpgrade(req, socket, head, (ws) => attach(ws, u.searchParams.get('connection_id'), u.searchParams.get('sequence_number')));
	});

	function attach(ws, connId, seqParam) {
		let s = connId ? emu.sessions.get(connId) : null;
		if (s && Date.now() - s.lastActive > o.sessionTtlMs) {
			emu.sessions.delete(connId);
			s = null;
		}
		const want = seqParam === null ? NaN : Number(seqParam);
		let resumed = false;
		if (s && Number.isInteger(want)) {
			if (want === s.seq) resumed = true; // nothing missed
			else if (s.buffer.length && want >= s.buffer[0].seq && want < s.seq) resumed = true;
		}
		if (s && s.ws && s.ws !== ws) s.ws.terminate();
		if (!resumed) {
			if (s) emu.sessions.delete(connId);
			s = { id: newId(), seq: 0, buffer: [], ws, lastActive: Date.now() };
			emu.sessions.set(s.id, s);
			emu.hellos++;
			const hello = JSON.stringify({ event: 'hello', data: { server_version: '10.0.0.1.abc.false', connection_id: s.id }, broadcast: { omit_users: null, user_id: me.id, channel_id: '', team_id: '' }, seq: s.seq++ });
			s.buffer.push({ seq: 0, text: hello });
			ws.send(hello);
		} else {
			emu.resumes++;
			s.ws = ws;
			for (const f of s.buffer) if (f.seq >= want) ws.send(f.text);
		}
		s.lastActive = Date.now();
		let alive = Date.now();
		ws.on('pong', () => (alive = Date.now()));
		ws.on('message', () => (alive = Date.now()));
		const ping = setInterval(() => {
			if (Date.now() - alive > o.deadMs) return ws.terminate();
			if (ws.readyState === 1) ws.ping();
		}, o.pingMs);
		ws.on('close', () => {
			clearInterval(ping);
			if (s.ws === ws) {
				s.ws = null;
				s.lastActive = Date.now();
			}
		});
		ws.on('error', () => {});
	}

	let dropTimer = null;
	function scheduleDrop() {
		if (!o.drop) return;
		const [a, b] = o.drop;
		dropTimer = setTimeout(() => {
			emu.drops = (emu.drops || 0) + 1;
			emu.dropAll();
			scheduleDrop();
		}, a + Math.random() * (b - a));
	}
	emu.setDrop = (range) => {
		clearTimeout(dropTimer);
		o.drop = range;
		scheduleDrop();
	};

	await new Promise((r) => server.listen(opts.port || 0, '127.0.0.1', r));
	emu.port = server.address().port;
	emu.url = `http://127.0.0.1:${emu.port}`;
	scheduleDrop();
	emu.close = () =>
		new Promise((r) => {
			clearTimeout(dropTimer);
			for (const c of wss.clients) c.terminate();
			for (const r of emu.held) r.socket?.destroy();
			wss.close();
			server.closeAllConnections?.();
			server.close(() => r());
		});
	return emu;
}

if (import.meta.url === `file://${process.argv[1]}`) {
	const emu = await startMattermostEmulator({ port: Number(process.argv[2] || 0) });
	console.log(`mattermost emulator on ${emu.url} (token "test-token")`);
}
