// A Discord API for tests: the gateway (v10, JSON) and the REST routes the
// frontdesk connector uses, following /work/shared/PLATFORMS.md ("Discord")
// point by point, including the unpleasant parts:
//
//   - GET /api/v10/gateway/bot with the IDENTIFY budget (session_start_limit);
//     IDENTIFYs beyond the budget are counted (on Discord they reset the
//     token), and one faster than `identifySpacingMs` after the previous one
//     gets op 9 d:false;
//   - HELLO with heartbeat_interval; op 11 ACK for every op 1; a client that
//     stops beating is dropped; the server may ask for a beat (op 1);
//     "zombie" connections stop ACKing and stop delivering (events buffer
//     in the session); op 7 RECONNECT, even before HELLO; op 9 d:true and
//     d:false; closes with 4000, 1001, 4009 (session gone) or no close frame;
//   - IDENTIFY: a bad token closes 4004, the MESSAGE_CONTENT intent when the
//     application lacks it closes 4014 (and without the intent guild
//     messages arrive with empty content); a second IDENTIFY closes 4005;
//     anything but a heartbeat before it closes 4003; a frame over 4,096
//     bytes or not JSON closes 4002; more than 120 frames in 60 s closes 4008;
//   - READY (session_id, resume_gateway_url on its own path, user), then one
//     GUILD_CREATE per guild with its channels and active threads and their
//     last_message_id; RESUME on resume_gateway_url replays every event after
//     the sequence it names, then RESUMED; an unknown or expired session gets
//     op 9 d:false, a sequence from the future closes 4007; a client's own
//     close with 1000/1001 ends its session;
//   - events may come more than once (`duplicates`: the same MESSAGE_CREATE
//     dispatched again with a new sequence number); the bot's own messages
//     come back as MESSAGE_CREATE with their nonce;
//   - POST /api/v10/channels/{id}/messages: Authorization "Bot <token>", a
//     User-Agent "DiscordBot (url, version)" (else 400), content of 1..2,000
//     characters (else 400), message_reference to a missing message is 400
//     unless fail_if_not_exists is false, without allowed_mentions
//     @everyone/@here/<@id> in the content ping people (counted as
//     `pings`), nonce + enforce_nonce within `nonceTtlMs` returns the
//     earlier message instead of a new one, 403 in channels the bot may not
//     use or to users who refuse DMs, 404 for unknown channels;
//   - rate limits: a bucket per channel for POSTs (`routeLimit`) and for GETs
//     (`getLimit`) with X-RateLimit-Limit/-Remaining/-Reset/-Reset-After/
//     -Bucket on every answer; 429 with Retry-After (whole seconds) and a
//     body {message, retry_after (float), global} with X-RateLimit-Scope;
//     the global limit (`globalPerSec` requests in any second) answers 429
//     with "global": true and X-RateLimit-Global; `random429` and
//     `random429Global` answer 429s out of the blue.  Every request that
//     arrives while a limit the client was told about still holds is
//     counted in `early` (nothing may be sent before a reset);
//   - GET /api/v10/channels/{id}/messages?after=&limit= (the oldest page
//     after the id, newest first) and POST /api/v10/users/@me/channels
//     (the DM channel with a user, the existing one when there is one).
//
// Use from a test:
//   const emu = await startDiscordEmulator({ token: 't', heartbeatMs: 500 });
//   const g = emu.guild('Bakery'); const ch = emu.channel(g, 'support');
//   const amy = emu.user('amy');
//   const m = emu.say(amy, ch, 'when are you open?');
//   await emu.waitFor(() => emu.repliesTo(m.id).length === 1, 5000);
//   await emu.close();
//
// Alone, for trying the daemon by hand:
//   node tests/e2e/discord-emulator.mjs [port]
import http from 'node:http';
import { URL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { WebSocketServer } from 'ws';

const EPOCH = 1420070400000n;
const INTENT_GUILDS = 1 << 0;
const INTENT_GUILD_MESSAGES = 1 << 9;
const INTENT_DIRECT_MESSAGES = 1 << 12;
const INTENT_MESSAGE_CONTENT = 1 << 15;

export function snowflakeTime(id) {
	return Number((BigInt(id) >> 22n) + EPOCH);
}
export const idCmp = (a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);
// Characters as Discord counts them (code points).
export const chars = (s) => [...s].length;

export async function startDiscordEmulator(opts = {}) {
	const o = {
		token: 'discord-test-token',
		port: 0,
		heartbeatMs: 41250,
		messageContent: true, // the application may use the MESSAGE_CONTENT intent
		sessionTtlMs: 120000, // a disconnected session stays resumable this long
		identifyBudget: 1000,
		identifySpacingMs: 5000,
		routeLimit: { limit: 5, windowMs: 5000 }, // POST /channels/{id}/messages, per channel
		getLimit: { limit: 50, windowMs: 1000 }, // GET /channels/{id}/messages, per channel
		globalPerSec: 50,
		nonceTtlMs: 5 * 60 * 1000,
		chaos: null, // [minMs, maxMs]: something unpleasant at random intervals
		chaosKinds: ['terminate', 'close4000', 'close1001', 'op7', 'op9true', 'op9false', 'close4009', 'zombie', 'beat', 'dupe'],
		reconnectBeforeHello: 0, // probability that a new connection gets op 7 before HELLO
		duplicates: 0, // probability that a MESSAGE_CREATE is dispatched twice
		random429: 0, // probability that a POST gets a 429 (scope shared) out of the blue
		random429Global: 0, // ... a global one
		postDelayMs: 0, // answer POST messages this late (the message exists at once)
		gatewayRefusesToken: false, // the gateway closes 4004 although REST takes the token (revoked meanwhile)
		...opts,
	};
	let seqId = 0n;
	const snowflake = (ms = Date.now()) => String(((BigInt(ms) - EPOCH) << 22n) | (seqId++ & 0x3fffffn));

	const users = new Map();
	const channels = new Map(); // id -> { id, type, guild_id, name, parent_id, messages: [], recipient, forbidden }
	const guilds = new Map(); // id -> { id, name, channels: [] }
	const messages = new Map();
	const dmByUser = new Map();
	const sessions = new Map(); // id -> { id, seq, events: [{s, frame}], conn, closedAt, valid }
	let current = null; // the bot's live session
	const conns = new Set();
	const posted = []; // every message the bot created: { message, at }
	const requests = []; // { method, path, status, at }
	const nonces = new Map(); // nonce -> { id, at }
	const buckets = new Map(); // key -> { used, resetAt, limit, windowMs, hold: until (announced exhaustion or 429) }
	const globalHits = []; // times of recent requests let through (global limit)
	let globalHold = 0; // a global 429 holds until then
	let globalHoldRoutes = new Set(); // routes answered since it began
	const forced = new Map(); // channel id -> wait (ms) of a 429 its next POST gets
	let stormUntil = 0; // every POST of a message is answered 429 until then
	let refuseGateway = false; // the gateway refuses upgrades (503) while set
	const waiters = new Set();
	const stats = {
		connections: 0, identifies: 0, identifyOverBudget: 0, identifyTooFast: 0, resumes: 0, resumesOnGatewayUrl: 0,
		resumeFailed: 0, replayed: 0, heartbeats: 0, beatRequests: 0, beatRequestsUnanswered: 0, heartbeatTimeouts: 0,
		zombies: 0, chaos: {}, clientCloses: {}, badFrames: 0, tooFast: 0, limited: 0, limitedGlobal: 0, injected429: 0,
		early: 0, earlyDetails: [], nonceRepeats: 0, pings: 0, badUserAgent: 0, unauthorized: 0, over2000: 0,
		duplicatesSent: 0, dmOpens: 0, sessionsInvalidated: 0, sessionsExpired: 0, gatewayBot: 0, backfillGets: 0,
		forbidden: 0,
	};
	let identifyRemaining = o.identifyBudget;
	let lastIdentify = 0;
	let port = 0;

	function notify() {
		for (const w of [...waiters]) {
			if (w.pred()) {
				waiters.delete(w);
				clearTimeout(w.timer);
				w.resolve();
			}
		}
	}

	const me = { id: snowflake(), username: 'frontdesk', global_name: 'Bakery Bot', bot: true };
	users.set(me.id, me);

	function user(username, { bot = false, global_name = null, refusesDms = false } = {}) {
		const u = { id: snowflake(), username, global_name: global_name ?? username, bot, refusesDms };
		users.set(u.id, u);
		return u;
	}
	function guild(name) {
		const g = { id: snowflake(), name, channels: [] };
		guilds.set(g.id, g);
		return g;
	}
	function channel(g, name, { forbidden = false } = {}) {
		const c = { id: snowflake(), type: 0, guild_id: g.id, name, messages: [], forbidden };
		channels.set(c.id, c);
		g.channels.push(c);
		return c;
	}
	function thread(parent, name) {
		const c = { id: snowflake(), type: 11, guild_id: parent.guild_id, parent_id: parent.id, name, messages: [] };
		channels.set(c.id, c);
		guilds.get(parent.guild_id).channels.push(c);
		return c;
	}
	function dmChannel(u) {
		let c = dmByUser.get(u.id);
		if (!c) {
			c = { id: snowflake(), type: 1, guild_id: null, name: null, recipient: u, messages: [] };
			channels.set(c.id, c);
			dmByUser.set(u.id, c);
		}
		return c;
	}

	function publicUser(u) {
		const p = { id: u.id, username: u.username, global_name: u.global_name, discriminator: '0', avatar: null };
		if (u.bot) p.bot = true;
		return p;
	}

	// What the bot sees of a message (content empty without MESSAGE_CONTENT,
	// except in DMs, its own messages and mentions of it).
	function view(m, intents = INTENT_MESSAGE_CONTENT) {
		const v = { ...m.wire };
		const sees = intents & INTENT_MESSAGE_CONTENT || !m.wire.guild_id || m.wire.author.id === me.id ||
			(m.wire.mentions || []).some((u) => u.id === me.id);
		if (!sees) v.content = '';
		return v;
	}

	// --- the gateway -------------------------------------------------------
	function send(c, payload) {
		if (c.ws.readyState !== 1) return;
		c.ws.send(JSON.stringify(payload));
	}

	// A dispatch into the bot's session: buffered (for RESUME), delivered
	// when a live, non-zombie connection is attached.
	function dispatch(t, d, s = current) {
		if (!s || !s.valid) return null;
		const frame = { op: 0, t, s: ++s.seq, d };
		s.events.push(frame);
		const c = s.conn;
		if (c && c.ready && !c.zombie) send(c, frame);
		return frame;
	}

	function newMessage(author, ch, content, { type = 0, webhook = false, replyTo = null, nonce = null, mentions = [], attachments = [], nick = null } = {}) {
		const id = snowflake();
		const wire = {
			id,
			type,
			channel_id: ch.id,
			author: publicUser(author),
			content,
			timestamp: new Date(snowflakeTime(id)).toISOString(),
			edited_timestamp: null,
			tts: false,
			mention_everyone: false,
			mentions: mentions.map(publicUser),
			mention_roles: [],
			attachments,
			embeds: [],
			pinned: false,
			flags: 0,
		};
		if (ch.guild_id) {
			wire.guild_id = ch.guild_id;
			wire.member = { nick, roles: [], joined_at: '2024-01-01T00:00:00.000Z' };
		}
		if (webhook) wire.webhook_id = snowflake();
		if (replyTo) wire.message_reference = { message_id: replyTo.wire.id, channel_id: replyTo.wire.channel_id, guild_id: replyTo.wire.guild_id };
		if (nonce !== null) wire.nonce = nonce;
		const m = { wire, at: Date.now(), channel: ch };
		messages.set(id, m);
		ch.messages.push(m);
		ch.last_message_id = id;
		return m;
	}

	function dispatchMessage(m) {
		const intents = current && current.intents;
		dispatch('MESSAGE_CREATE', view(m, intents));
		if (o.duplicates && Math.random() < o.duplicates) {
			stats.duplicatesSent++;
			dispatch('MESSAGE_CREATE', view(m, intents));
		}
	}

	// A customer (or anyone) writes in a channel, thread or DM.
	function say(author, ch, content, opts2 = {}) {
		const m = newMessage(author, ch, content, opts2);
		dispatchMessage(m);
		notify();
		return m.wire;
	}
	function dm(author, content, opts2 = {}) {
		return say(author, dmChannel(author), content, opts2);
	}

	function guildCreate(g) {
		const plain = (c) => ({ id: c.id, type: c.type, name: c.name, guild_id: g.id, parent_id: c.parent_id ?? null,
			last_message_id: c.last_message_id ?? null, position: 0, permission_overwrites: [] });
		return {
			id: g.id, name: g.name, unavailable: false, member_count: 10, large: false,
			channels: g.channels.filter((c) => c.type !== 11).map(plain),
			threads: g.channels.filter((c) => c.type === 11).map(plain),
			roles: [], emojis: [], members: [], voice_states: [], presences: [], stage_instances: [],
		};
	}

	function invalidate(s, why) {
		if (!s || !s.valid) return;
		s.valid = false;
		stats.sessionsInvalidated++;
		if (current === s) current = null;
		if (why === 'expired') stats.sessionsExpired++;
	}

	function closeConn(c, code, reason = '') {
		c.closedByServer = true;
		if (c.ws.readyState === 1) c.ws.close(code, reason);
		setTimeout(() => c.ws.readyState !== 3 && c.ws.terminate(), 1000).unref();
	}

	function onFrame(c, data, isBinary) {
		if (isBinary || data.length > 4096) {
			stats.badFrames++;
			return closeConn(c, 4002, 'Error while decoding payload.');
		}
		const now = Date.now();
		c.sent = c.sent.filter((t) => now - t < 60000);
		c.sent.push(now);
		if (c.sent.length > 120) {
			stats.tooFast++;
			return closeConn(c, 4008, 'Rate limited.');
		}
		let p;
		try {
			p = JSON.parse(data.toString('utf8'));
		} catch {
			stats.badFrames++;
			return closeConn(c, 4002, 'Error while decoding payload.');
		}
		switch (p.op) {
		case 1: {
			stats.heartbeats++;
			c.lastBeat = now;
			c.beatRequested = 0;
			if (!c.zombie) send(c, { op: 11 });
			return;
		}
		case 2: {
			if (c.session) return closeConn(c, 4005, 'Already authenticated.');
			const d = p.d || {};
			if (d.token !== o.token || o.gatewayRefusesToken) {
				stats.unauthorized++;
				return closeConn(c, 4004, 'Authentication failed.');
			}
			const intents = Number(d.intents) || 0;
			if (intents & INTENT_MESSAGE_CONTENT && !o.messageContent) return closeConn(c, 4014, 'Disallowed intent(s).');
			stats.identifies++;
			if (--identifyRemaining < 0) stats.identifyOverBudget++;
			if (lastIdentify && now - lastIdentify < o.identifySpacingMs) {
				stats.identifyTooFast++;
				lastIdentify = now;
				return send(c, { op: 9, d: false });
			}
			lastIdentify = now;
			if (current) invalidate(current, 'replaced');
			const s = { id: randomBytes(16).toString('hex'), seq: 0, events: [], conn: c, valid: true, intents, closedAt: 0 };
			sessions.set(s.id, s);
			current = s;
			c.session = s;
			c.ready = true;
			c.intents = intents;
			dispatch('READY', {
				v: 10,
				user: { ...publicUser(me), bot: true },
				guilds: [...guilds.values()].map((g) => ({ id: g.id, unavailable: true })),
				session_id: s.id,
				resume_gateway_url: `ws://127.0.0.1:${port}/resume`,
				shard: [0, 1],
				application: { id: me.id, flags: 0 },
			});
			if (intents & INTENT_GUILDS) for (const g of guilds.values()) dispatch('GUILD_CREATE', guildCreate(g));
			notify();
			return;
		}
		case 6: {
			if (c.session) return closeConn(c, 4005, 'Already authenticated.');
			const d = p.d || {};
			if (d.token !== o.token) {
				stats.unauthorized++;
				return closeConn(c, 4004, 'Authentication failed.');
			}
			stats.resumes++;
			if (c.path !== '/resume') stats.resumesOnGatewayUrl++;
			const s = sessions.get(d.session_id);
			if (s && s.valid && !s.conn && s.closedAt && now - s.closedAt > o.sessionTtlMs) invalidate(s, 'expired');
			if (!s || !s.valid) {
				stats.resumeFailed++;
				return send(c, { op: 9, d: false });
			}
			const seq = d.seq === null ? 0 : Number(d.seq);
			if (!Number.isInteger(seq) || seq > s.seq || seq < 0) return closeConn(c, 4007, 'Invalid seq.');
			if (s.conn && s.conn !== c) closeConn(s.conn, 4000, 'Session resumed elsewhere.');
			s.conn = c;
			s.closedAt = 0;
			c.session = s;
			c.ready = true;
			c.intents = s.intents;
			for (const f of s.events) {
				if (f.s > seq) {
					stats.replayed++;
					send(c, f);
				}
			}
			dispatch('RESUMED', null, s);
			notify();
			return;
		}
		default:
			if (!c.session) return closeConn(c, 4003, 'Not authenticated.');
			if (p.op === 3 || p.op === 4 || p.op === 8 || p.op === 31) return;
			return closeConn(c, 4001, 'Unknown opcode.');
		}
	}

	function onClose(c, code) {
		conns.delete(c);
		clearInterval(c.checker);
		stats.clientCloses[code] = (stats.clientCloses[code] || 0) + 1;
		const s = c.session;
		if (s && s.conn === c) {
			s.conn = null;
			s.closedAt = Date.now();
			// A client's own 1000/1001 ends its session.
			if (!c.closedByServer && (code === 1000 || code === 1001)) invalidate(s, 'client');
		}
		notify();
	}

	// --- chaos ---------------------------------------------------------------
	function unpleasant(kind) {
		const live = [...conns].filter((c) => c.ws.readyState === 1);
		stats.chaos[kind] = (stats.chaos[kind] || 0) + 1;
		for (const c of live) {
			switch (kind) {
			case 'terminate': c.closedByServer = true; c.ws.terminate(); break;
			case 'close4000': closeConn(c, 4000, 'Unknown error.'); break;
			case 'close1001': closeConn(c, 1001, 'Going away.'); break;
			case 'op7': send(c, { op: 7, d: null }); setTimeout(() => closeConn(c, 4000, 'Reconnect.'), 2000).unref(); break;
			case 'op9true': if (c.session) send(c, { op: 9, d: true }); break;
			case 'op9false': if (c.session) { invalidate(c.session, 'op9'); send(c, { op: 9, d: false }); } break;
			case 'close4009': if (c.session) invalidate(c.session, 'timeout'); closeConn(c, 4009, 'Session timed out.'); break;
			case 'zombie': c.zombie = true; stats.zombies++; break;
			case 'beat': stats.beatRequests++; c.beatRequested = Date.now(); send(c, { op: 1, d: null }); break;
			case 'dupe': {
				const s = c.session;
				const last = s && [...s.events].reverse().find((f) => f.t === 'MESSAGE_CREATE');
				if (last) {
					stats.duplicatesSent++;
					dispatch('MESSAGE_CREATE', last.d, s);
				}
				break;
			}
			default: break;
			}
		}
		notify();
	}

	let chaosTimer = null;
	function scheduleChaos() {
		if (!o.chaos) return;
		const [lo, hi] = o.chaos;
		chaosTimer = setTimeout(() => {
			unpleasant(o.chaosKinds[Math.floor(Math.random() * o.chaosKinds.length)]);
			scheduleChaos();
		}, lo + Math.random() * (hi - lo));
	}

	// --- REST ------------------------------------------------------------------
	function reply(res, req, status, body, headers = {}) {
		const text = body === undefined ? '' : JSON.stringify(body);
		res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
		res.end(text);
		requests.push({ method: req.method, path: req.url, status, at: Date.now() });
		notify();
	}

	function bucketFor(key, spec, now) {
		let b = buckets.get(key);
		if (!b || now >= b.resetAt) {
			b = { used: 0, resetAt: now + spec.windowMs, spec, hold: b && b.hold > now ? b.hold : 0, hash: key.split(':')[0] };
			buckets.set(key, b);
		}
		return b;
	}

	function rateHeaders(b, now) {
		const remaining = Math.max(0, b.spec.limit - b.used);
		return {
			'X-RateLimit-Limit': String(b.spec.limit),
			'X-RateLimit-Remaining': String(remaining),
			'X-RateLimit-Reset': (b.resetAt / 1000).toFixed(3),
			'X-RateLimit-Reset-After': (Math.max(0, b.resetAt - now) / 1000).toFixed(3),
			'X-RateLimit-Bucket': b.hash,
		};
	}

	function tooMany(res, req, retryMs, { global = false, scope = 'user', headers = {} } = {}) {
		stats.limited++;
		if (global) stats.limitedGlobal++;
		const h = { ...headers, 'Retry-After': String(Math.ceil(retryMs / 1000)), 'X-RateLimit-Scope': scope };
		if (global) h['X-RateLimit-Global'] = 'true';
		return reply(res, req, 429, { message: 'You are being rate limited.', retry_after: retryMs / 1000, global }, h);
	}

	// The limits every request passes: global, then the route's bucket.
	// Returns true when it answered (429).
	function limited(req, res, key, spec, now, what) {
		const route = key || req.url.split('?')[0];
		if (globalHold > now) {
			// A client sends one request per route at a time: the first
			// request on a route after the hold began may have been on its
			// way; one on a route already answered during the hold was sent
			// knowing of it.
			if (globalHoldRoutes.has(route)) {
				stats.early++;
				stats.earlyDetails.push({ what: 'global', at: now, until: globalHold, path: req.url });
			}
			globalHoldRoutes.add(route);
			tooMany(res, req, globalHold - now, { global: true, scope: 'global' });
			return true;
		}
		while (globalHits.length && now - globalHits[0] >= 1000) globalHits.shift();
		const injected = what === 'post' && o.random429Global && Math.random() < o.random429Global;
		if (globalHits.length >= o.globalPerSec || injected) {
			if (injected) stats.injected429++;
			globalHoldRoutes = new Set([route]);
			globalHold = injected ? now + 1000 : globalHits[0] + 1000;
			tooMany(res, req, globalHold - now, { global: true, scope: 'global' });
			return true;
		}
		globalHits.push(now);
		if (!key) return false;
		const b = bucketFor(key, spec, now);
		if (b.hold > now) {
			stats.early++;
			stats.earlyDetails.push({ what: key, at: now, until: b.hold, path: req.url });
		}
		if (b.used >= spec.limit) {
			b.hold = b.resetAt;
			tooMany(res, req, b.resetAt - now, { headers: rateHeaders(b, now) });
			return true;
		}
		if (what === 'post' && now < stormUntil) {
			b.hold = Math.max(b.hold, stormUntil);
			tooMany(res, req, stormUntil - now, { headers: { ...rateHeaders(b, now), 'X-RateLimit-Reset-After': ((stormUntil - now) / 1000).toFixed(3) } });
			return true;
		}
		const force = what === 'post' ? forced.get(key.slice(5)) : undefined;
		if (force !== undefined || (what === 'post' && o.random429 && Math.random() < o.random429)) {
			stats.injected429++;
			forced.delete(key.slice(5));
			const wait = force ?? 300 + Math.floor(Math.random() * 2200);
			b.hold = Math.max(b.hold, now + wait);
			tooMany(res, req, wait, { scope: 'shared', headers: { ...rateHeaders(b, now), 'X-RateLimit-Reset-After': (wait / 1000).toFixed(3) } });
			return true;
		}
		b.used++;
		// Telling the client the bucket is empty binds it until the reset.
		if (b.used >= spec.limit) b.hold = b.resetAt;
		req.rate = rateHeaders(b, now);
		return false;
	}

	function createMessage(req, res, ch, body, now) {
		const content = typeof body.content === 'string' ? body.content : '';
		if (!content.trim()) return reply(res, req, 400, { message: 'Cannot send an empty message', code: 50006 }, req.rate);
		if (chars(content) > 2000) {
			stats.over2000++;
			return reply(res, req, 400, { message: 'Invalid Form Body', code: 50035, errors: { content: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 2000 or fewer in length.' }] } } }, req.rate);
		}
		let ref = null;
		if (body.message_reference) {
			ref = messages.get(String(body.message_reference.message_id));
			if (ref && ref.wire.channel_id !== ch.id) return reply(res, req, 400, { message: 'Invalid Form Body', code: 50035 }, req.rate);
			if (!ref && body.message_reference.fail_if_not_exists !== false)
				return reply(res, req, 400, { message: 'Invalid Form Body', code: 50035, errors: { message_reference: { _errors: [{ code: 'REPLIES_UNKNOWN_MESSAGE', message: 'Unknown message' }] } } }, req.rate);
		}
		const nonce = body.nonce === undefined ? null : String(body.nonce);
		if (nonce !== null && nonce.length > 25) return reply(res, req, 400, { message: 'Invalid Form Body', code: 50035 }, req.rate);
		if (nonce !== null && body.enforce_nonce) {
			const seen = nonces.get(nonce);
			if (seen && now - seen.at < o.nonceTtlMs) {
				stats.nonceRepeats++;
				return reply(res, req, 200, messages.get(seen.id).wire, req.rate);
			}
		}
		// Without allowed_mentions, @everyone, @here and <@id> ping people.
		const am = body.allowed_mentions;
		const parses = !am || !Array.isArray(am.parse) || am.parse.length > 0 || (am.users && am.users.length) || (am.roles && am.roles.length);
		if (parses && /@(everyone|here)|<@[!&]?\d+>/.test(content)) stats.pings++;
		const m = newMessage(me, ch, content, { type: ref ? 19 : 0, replyTo: ref, nonce });
		m.wire.allowed_mentions = am;
		if (nonce !== null) nonces.set(nonce, { id: m.wire.id, at: now });
		posted.push({ message: m.wire, at: now, body });
		dispatchMessage(m); // the bot sees its own message come back
		const send200 = () => reply(res, req, 200, m.wire, req.rate);
		if (o.postDelayMs) setTimeout(send200, o.postDelayMs);
		else send200();
	}

	function listMessages(req, res, ch, url) {
		const limit = Math.min(100, Math.max(1, Number(url.searchParams.get('limit') || 50)));
		const after = url.searchParams.get('after');
		const before = url.searchParams.get('before');
		let list = ch.messages.map((m) => m.wire);
		let page;
		if (after) {
			list = list.filter((w) => idCmp(w.id, after) > 0).sort((a, b) => idCmp(a.id, b.id));
			page = list.slice(0, limit).reverse();
		} else {
			if (before) list = list.filter((w) => idCmp(w.id, before) < 0);
			list.sort((a, b) => idCmp(b.id, a.id));
			page = list.slice(0, limit);
		}
		stats.backfillGets++;
		return reply(res, req, 200, page.map((w) => view({ wire: w }, current ? current.intents : INTENT_MESSAGE_CONTENT)), req.rate);
	}

	function rest(req, res, url, body) {
		const now = Date.now();
		const auth = req.headers.authorization || '';
		if (auth !== `Bot ${o.token}`) {
			stats.unauthorized++;
			return reply(res, req, 401, { message: '401: Unauthorized', code: 0 });
		}
		if (!/^DiscordBot \(\S+, \S+\)$/.test(req.headers['user-agent'] || '')) {
			stats.badUserAgent++;
			return reply(res, req, 400, { message: 'A User-Agent "DiscordBot ($url, $version)" is required', code: 0 });
		}
		const p = url.pathname.replace(/^\/api\/v10/, '');
		if (req.method === 'GET' && p === '/gateway/bot') {
			stats.gatewayBot++;
			if (limited(req, res, null, null, now)) return;
			return reply(res, req, 200, {
				url: `ws://127.0.0.1:${port}/gateway`,
				shards: 1,
				session_start_limit: { total: o.identifyBudget, remaining: Math.max(0, identifyRemaining), reset_after: 86400000, max_concurrency: 1 },
			});
		}
		if (req.method === 'POST' && p === '/users/@me/channels') {
			if (limited(req, res, 'dm', { limit: 1000, windowMs: 1000 }, now)) return;
			const u = users.get(String(body.recipient_id));
			if (!u) return reply(res, req, 400, { message: 'Invalid Recipient(s)', code: 50033 }, req.rate);
			stats.dmOpens++;
			const c = dmChannel(u);
			return reply(res, req, 200, { id: c.id, type: 1, last_message_id: c.last_message_id ?? null, recipients: [publicUser(u)] }, req.rate);
		}
		const mm = /^\/channels\/(\d+)\/messages$/.exec(p);
		if (mm) {
			const ch = channels.get(mm[1]);
			const post = req.method === 'POST';
			if (!post && req.method !== 'GET') return reply(res, req, 405, { message: '405: Method Not Allowed', code: 0 });
			if (limited(req, res, `${post ? 'post' : 'get'}:${mm[1]}`, post ? o.routeLimit : o.getLimit, now, post ? 'post' : 'get')) return;
			if (!ch) return reply(res, req, 404, { message: 'Unknown Channel', code: 10003 }, req.rate);
			if (ch.forbidden) {
				stats.forbidden++;
				return reply(res, req, 403, { message: 'Missing Access', code: 50001 }, req.rate);
			}
			if (post && ch.recipient && ch.recipient.refusesDms) {
				stats.forbidden++;
				return reply(res, req, 403, { message: 'Cannot send messages to this user', code: 50007 }, req.rate);
			}
			return post ? createMessage(req, res, ch, body, now) : listMessages(req, res, ch, url);
		}
		return reply(res, req, 404, { message: '404: Not Found', code: 0 });
	}

	function control(req, res, url, body) {
		if (url.pathname === '/_emulator/say' && req.method === 'POST') {
			let u = [...users.values()].find((x) => x.username === (body.from || 'customer'));
			if (!u) u = user(body.from || 'customer');
			let m;
			if (body.dm) m = dm(u, body.text || 'hello');
			else {
				let ch = [...channels.values()].find((c) => c.type === 0 && c.name === (body.channel || 'support'));
				if (!ch) ch = channel([...guilds.values()][0] || guild('Bakery'), body.channel || 'support');
				m = say(u, ch, body.text || 'hello');
			}
			return reply(res, req, 200, m);
		}
		if (url.pathname === '/_emulator/posted') return reply(res, req, 200, posted.map((p) => p.message));
		return reply(res, req, 404, { message: 'not found' });
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
			const raw = Buffer.concat(chunks).toString('utf8');
			if (raw) {
				try {
					body = JSON.parse(raw);
				} catch {
					return reply(res, req, 400, { message: 'The request body contains invalid JSON.', code: 50109 });
				}
			}
			if (url.pathname.startsWith('/_emulator/')) return control(req, res, url, body);
			return rest(req, res, url, body);
		});
	});
	server.keepAliveTimeout = 30000;

	const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
	server.on('upgrade', (req, socket, head) => {
		const url = new URL(req.url, 'http://127.0.0.1');
		const path = url.pathname.replace(/\/$/, '');
		if (path !== '/gateway' && path !== '/resume') {
			socket.write('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
			return socket.destroy();
		}
		if (refuseGateway) {
			stats.upgradesRefused = (stats.upgradesRefused || 0) + 1;
			socket.write('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
			return socket.destroy();
		}
		wss.handleUpgrade(req, socket, head, (ws) => {
			const c = { ws, path, session: null, ready: false, zombie: false, sent: [], lastBeat: Date.now(), beatRequested: 0 };
			conns.add(c);
			stats.connections++;
			const version = url.searchParams.get('v');
			if (version !== '10' || url.searchParams.get('encoding') !== 'json') return closeConn(c, 4012, 'Invalid API version.');
			ws.on('message', (data, isBinary) => onFrame(c, data, isBinary));
			ws.on('close', (code) => onClose(c, code));
			ws.on('error', () => {});
			const hello = () => {
				send(c, { op: 10, d: { heartbeat_interval: o.heartbeatMs } });
				// A client that stops beating is dropped; one that ignores a
				// beat request is counted.
				c.checker = setInterval(() => {
					const now = Date.now();
					if (now - c.lastBeat > o.heartbeatMs * 2 + 1000) {
						stats.heartbeatTimeouts++;
						c.closedByServer = true;
						c.ws.terminate();
					}
					if (c.beatRequested && now - c.beatRequested > 2000) {
						stats.beatRequestsUnanswered++;
						c.beatRequested = 0;
					}
				}, Math.max(100, Math.min(1000, o.heartbeatMs / 2)));
			};
			if (o.reconnectBeforeHello && Math.random() < o.reconnectBeforeHello) {
				stats.chaos.op7BeforeHello = (stats.chaos.op7BeforeHello || 0) + 1;
				send(c, { op: 7, d: null });
				setTimeout(() => ws.readyState === 1 && hello(), 1000).unref();
			} else {
				hello();
			}
			notify();
		});
	});

	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(o.port, '127.0.0.1', resolve);
	});
	port = server.address().port;
	scheduleChaos();
	const ticker = setInterval(notify, 50);

	const emu = {
		port,
		url: `http://127.0.0.1:${port}`,
		me,
		options: o,
		stats,
		users,
		channels,
		guilds,
		messages,
		posted,
		requests,
		conns,
		user,
		guild,
		channel,
		thread,
		dmChannel,
		say,
		dm,
		unpleasant,
		// The next POST in channel id gets a 429 holding the route for ms.
		force429(id, ms) {
			forced.set(id, ms);
		},
		// Every POST of a message gets a 429 for ms; returns the reset (epoch ms).
		storm(ms) {
			stormUntil = Date.now() + ms;
			return stormUntil;
		},
		// While set, the gateway refuses new connections.
		refuseGateway(on) {
			refuseGateway = on;
		},
		// The same MESSAGE_CREATE once more (a new sequence number).
		redeliver(id) {
			const m = messages.get(id);
			if (m) dispatch('MESSAGE_CREATE', view(m, current && current.intents));
			notify();
		},
		get current() {
			return current;
		},
		setChaos(ch) {
			o.chaos = ch;
			clearTimeout(chaosTimer);
			scheduleChaos();
		},
		set(k, v) {
			o[k] = v;
		},
		// Messages the bot posted that answer message id (message_reference).
		repliesTo(id) {
			return posted.filter((p) => p.message.message_reference && p.message.message_reference.message_id === id).map((p) => p.message);
		},
		// Messages the bot posted in channel id.
		postedIn(id) {
			return posted.filter((p) => p.message.channel_id === id).map((p) => p.message);
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
			clearInterval(ticker);
			clearTimeout(chaosTimer);
			for (const w of waiters) clearTimeout(w.timer);
			waiters.clear();
			for (const c of conns) {
				clearInterval(c.checker);
				c.ws.terminate();
			}
			wss.close();
			server.closeAllConnections?.();
			await new Promise((r) => server.close(r));
		},
	};
	return emu;
}

if (import.meta.url === `file://${process.argv[1]}`) {
	const port = Number(process.argv[2] || 0);
	const emu = await startDiscordEmulator({ port, token: process.env.DISCORD_TOKEN || 'discord-test-token' });
	const g = emu.guild('Bakery');
	emu.channel(g, 'support');
	console.log(`Discord emulator on ${emu.url} (token "${emu.options.token}")`);
	console.log(`  config: { type: discord, instance: "${emu.url}", token_env: DISCORD_TOKEN }`);
	console.log(`  message: curl -d '{"from":"amy","text":"when are you open?"}' -H 'content-type: application/json' ${emu.url}/_emulator/say`);
	console.log(`  DM:      curl -d '{"from":"amy","dm":true,"text":"hello"}' -H 'content-type: application/json' ${emu.url}/_emulator/say`);
	console.log(`  replies: curl ${emu.url}/_emulator/posted`);
}
