// A Slack workspace for tests: the Web API methods and the Socket Mode
// WebSocket that the frontdesk connector uses, following
// /work/shared/PLATFORMS.md ("Slack (Socket Mode)") point by point,
// including the unpleasant parts:
//
//   - apps.connections.open takes only the app-level token (xapp-) and is
//     Tier 1: a small burst, then 429 with Retry-After; its URL is a
//     one-time ticket (a second upgrade with it is refused);
//   - the socket starts with `hello`; every envelope must be acknowledged
//     with {"envelope_id"} within `ackTimeoutMs` (3 s like Slack), else the
//     event comes again (a new envelope, the same event_id, retry_attempt
//     1..3, retry_reason "timeout") on *any* open socket — after `maxRetries`
//     it is dropped and counted; an ack of an earlier envelope of an event
//     counts for the event;
//   - a message that mentions the bot in a channel arrives twice: as
//     `message` and as `app_mention`, with different event ids, in random
//     order; DMs never get app_mention;
//   - our own posts come back as `message` events with bot_id (and no
//     subtype), other bots post with bot_id too; edits, joins and deletes
//     arrive as subtypes;
//   - sockets live `lifetimeMs` when set (like &debug_reconnects=true):
//     `disconnect` warning, then refresh_requested, then the close after
//     `graceMs`; `link_disabled` when Socket Mode is switched off;
//     `too_many_websockets` past `maxSockets`; sockets dropped at random
//     (`drop: [minMs, maxMs]`) without a close frame; pings, and a socket
//     that does not pong is dropped;
//   - chat.postMessage: ok:false errors with HTTP 200 (channel_not_found,
//     not_in_channel, no_text, msg_too_long over 40,000), ~1 message per
//     second per channel with a short burst, then 429 + Retry-After and
//     {"ok":false,"error":"ratelimited"}; a storm (every post 429 until a
//     reset); failures injected on demand (internal_error after posting or
//     not); answers delayed (`postDelayMs`) so a client can die between the
//     message's creation and the answer; no idempotency key;
//   - conversations.history / conversations.replies: newest first / thread
//     order, `oldest`/`latest`/`inclusive`, cursor paging, metadata only with
//     include_all_metadata, limit at most 15 and one call per minute (what
//     Slack allows apps outside its Marketplace); read methods ignore JSON
//     bodies (form or query only), write methods take JSON;
//   - ts values are strings ("1355517523.000005") and unique per channel.
//
// It also checks the client: messages over 4,000 characters, posts on a
// channel or method before its rate-limit reset, and text with unescaped
// '<' or '&' are counted in `violations`.
//
// Use from a test:
//   const emu = await startSlackEmulator({ ackTimeoutMs: 3000 });
//   const amy = emu.user({ name: 'amy' });
//   const general = emu.channel({ name: 'general' });
//   const ref = emu.say({ from: amy, channel: general, text: 'when are you open?' });
//   await emu.waitFor(() => emu.repliesTo(ref).length === 1, 5000);
//   await emu.close();
//
// Alone, for trying the daemon by hand:
//   node tests/e2e/slack-emulator.mjs [port]
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { URL } from 'node:url';
import { WebSocketServer } from 'ws';

const MINUTE = 60000;

// Slack's own escaping of text (what a client must send).
export const slackEscape = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
export const slackUnescape = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
// Characters as Slack counts them (code points).
export const slackLength = (s) => [...s].length;

export async function startSlackEmulator(opts = {}) {
	const o = {
		port: 0,
		botToken: 'xoxb-test-bot-token',
		appToken: 'xapp-test-app-token',
		teamId: 'T0000TEST',
		appId: 'A0000TEST',
		botUserId: 'U0BOT0001',
		botId: 'B0BOT0001',
		ackTimeoutMs: 3000,
		retryDelaysMs: [0, MINUTE, 5 * MINUTE], // HTTP mode: at once, +1 min, +5 min
		maxRetries: 3,
		pingMs: 10000,
		lifetimeMs: 0, // 0: hours; else warning, refresh_requested, close
		warnMs: 10000, // warning this long before refresh_requested
		graceMs: 2000, // the old socket closes this long after refresh_requested
		maxSockets: 10,
		openLimit: { burst: 5, perMinute: 1 }, // apps.connections.open, Tier 1
		channelLimit: { burst: 3, perSecond: 1 }, // chat.postMessage per channel
		historyLimit: { burst: 1, perMinute: 1 }, // conversations.history/replies, non-Marketplace
		historyMaxLimit: 15,
		postDelayMs: 0,
		drop: null, // [minMs, maxMs]
		...opts,
	};

	// --- the workspace --------------------------------------------------------
	const users = new Map(); // id -> { id, name, bot, botId }
	const channels = new Map(); // id -> { id, name, type, member, user (im), messages: [] }
	const ims = new Map(); // user id -> im channel
	const events = new Map(); // event_id -> { event, acked, attempt, dropped }
	const envelopes = new Map(); // envelope_id -> { ev, socket, timer }
	const waiting = []; // events waiting for a socket: { ev, reason }
	const sockets = new Set();
	const tickets = new Map(); // ticket -> { used }
	const posted = []; // every message the bot created: { channel, ts, text, thread_ts, metadata, at, private }
	const requests = []; // { method, path, status, error, at }
	const violations = []; // what a well-behaved client never does
	const limits = new Map(); // name -> { tokens, at, resetAt }
	const failures = []; // injected chat.postMessage failures: { error, posted, channel }
	const stats = {
		opens: 0, opensLimited: 0, connections: 0, hellos: 0, acks: 0, lateAcks: 0, unknownAcks: 0,
		deliveries: 0, redeliveries: 0, dropped: 0, echoes: 0, drops: 0, pongDrops: 0, upgradesRefused: 0,
		posts: 0, postsLimited: 0, postErrors: 0, histories: 0, historiesLimited: 0, dmOpens: 0,
		tooManySockets: 0, linkDisabledSent: 0, refreshes: 0, gaps: 0,
	};
	const waiters = new Set();
	let seq = 0;
	let lastTs = 0n;
	let stormUntil = 0;
	let linkDisabled = false;
	let refuseUpgrade = 0;
	let down = false; // no socket may connect (upgrades refused with 503)

	const id = (prefix) => `${prefix}${(++seq).toString(36).toUpperCase().padStart(8, '0')}`;
	const nextTs = () => {
		let t = BigInt(Date.now()) * 1000n;
		if (t <= lastTs) t = lastTs + 1n;
		lastTs = t;
		const s = t.toString();
		return `${s.slice(0, -6)}.${s.slice(-6)}`;
	};
	const tsCmp = (a, b) => {
		const [ai, af = ''] = a.split('.'), [bi, bf = ''] = b.split('.');
		const x = BigInt(ai) * 1000000n + BigInt((af + '000000').slice(0, 6));
		const y = BigInt(bi) * 1000000n + BigInt((bf + '000000').slice(0, 6));
		return x < y ? -1 : x > y ? 1 : 0;
	};

	function notify() {
		for (const w of [...waiters]) {
			if (w.pred()) {
				waiters.delete(w);
				clearTimeout(w.timer);
				w.resolve();
			}
		}
	}

	function user({ name, bot = false, id: uid = null, display = null } = {}) {
		const u = { id: uid || id('U'), name: name || `user${seq}`, display: display ?? name, bot, botId: bot ? id('B') : null };
		users.set(u.id, u);
		return u;
	}
	const me = user({ name: 'frontdesk', bot: true, id: o.botUserId });
	me.botId = o.botId;

	function channel({ name, type = 'channel', member = true } = {}) {
		const prefix = type === 'im' ? 'D' : type === 'channel' ? 'C' : 'G';
		const c = { id: id(prefix), name: name || `ch${seq}`, type, member, user: null, messages: [] };
		channels.set(c.id, c);
		return c;
	}

	function im(u) {
		let c = ims.get(u.id);
		if (!c) {
			c = channel({ name: `dm-${u.name}`, type: 'im' });
			c.user = u.id;
			ims.set(u.id, c);
		}
		return c;
	}

	// --- rate limits ------------------------------------------------------------
	// A token bucket: `burst` at once, refilled at `per` per `windowMs`.
	function take(name, spec, windowMs, now = Date.now()) {
		let b = limits.get(name);
		if (!b) {
			b = { tokens: spec.burst, at: now, resetAt: 0 };
			limits.set(name, b);
		}
		b.tokens = Math.min(spec.burst, b.tokens + ((now - b.at) * spec.per) / windowMs);
		b.at = now;
		if (b.tokens >= 1) {
			b.tokens -= 1;
			return 0;
		}
		const waitMs = ((1 - b.tokens) * windowMs) / spec.per;
		b.resetAt = Math.max(b.resetAt, now + waitMs);
		return waitMs;
	}
	// A post on a scope before the reset we announced is a violation.
	const announced = new Map(); // scope -> reset (epoch ms) from a Retry-After we sent
	function checkReset(scope, now) {
		const r = announced.get(scope);
		if (r && now < r) violations.push({ kind: 'before-reset', scope, at: now, reset: r });
	}

	// --- events and envelopes -------------------------------------------------------
	function liveSockets() {
		return [...sockets].filter((s) => s.hello && !s.closing && s.ws.readyState === 1);
	}

	function sendEnvelope(ev, reason) {
		const live = liveSockets();
		if (!live.length) {
			// No socket: the event waits for one (this does not use up a retry).
			waiting.push({ ev, reason });
			return;
		}
		const s = live[Math.floor(Math.random() * live.length)];
		const envId = `${randomBytes(8).toString('hex')}-${ev.attempt}`;
		const env = {
			envelope_id: envId,
			type: 'events_api',
			accepts_response_payload: false,
			retry_attempt: ev.attempt,
			retry_reason: ev.attempt ? reason : '',
			payload: {
				token: 'verification-token',
				team_id: o.teamId,
				api_app_id: o.appId,
				event: ev.event,
				type: 'event_callback',
				event_id: ev.id,
				event_time: Math.floor(Date.now() / 1000),
				authorizations: [{ enterprise_id: null, team_id: o.teamId, user_id: o.botUserId, is_bot: true, is_enterprise_install: false }],
				is_ext_shared_channel: false,
				event_context: `4-${randomBytes(6).toString('hex')}`,
			},
		};
		const rec = { ev, socket: s, timer: null };
		envelopes.set(envId, rec);
		stats.deliveries++;
		if (ev.attempt) stats.redeliveries++;
		s.ws.send(JSON.stringify(env));
		rec.timer = setTimeout(() => {
			envelopes.delete(envId);
			if (ev.acked) return;
			if (ev.attempt >= o.maxRetries) {
				ev.dropped = true;
				stats.dropped++;
				notify();
				return;
			}
			ev.attempt++;
			ev.pendingRetry = setTimeout(() => {
				ev.pendingRetry = null;
				if (!ev.acked) sendEnvelope(ev, 'timeout');
			}, o.retryDelaysMs[Math.min(ev.attempt - 1, o.retryDelaysMs.length - 1)]);
		}, o.ackTimeoutMs);
	}

	function emit(event) {
		const ev = { id: `Ev${randomBytes(5).toString('hex').toUpperCase()}`, event, acked: false, attempt: 0, dropped: false };
		events.set(ev.id, ev);
		sendEnvelope(ev, '');
		return ev;
	}

	function flushWaiting() {
		while (waiting.length && liveSockets().length) {
			const { ev, reason } = waiting.shift();
			if (!ev.acked) sendEnvelope(ev, reason || 'timeout');
		}
	}

	function messageEvent(c, m) {
		const e = { type: 'message', channel: c.id, user: m.user, text: m.text, ts: m.ts, event_ts: m.ts, channel_type: c.type, team: o.teamId };
		if (m.thread_ts) e.thread_ts = m.thread_ts;
		if (m.subtype) e.subtype = m.subtype;
		if (m.bot_id) e.bot_id = m.bot_id;
		if (m.files) e.files = m.files;
		if (m.user_profile) e.user_profile = m.user_profile;
		if (m.blocks) e.blocks = m.blocks;
		return e;
	}

	// A customer (or anyone) writes.  `mention` puts <@bot> in front; in a
	// channel the event then also comes as app_mention.
	function say({ from, channel: c, text, thread_ts = null, mention = false, subtype = null, files = null, profile = true }) {
		if (typeof c === 'string') c = channels.get(c);
		const body = mention && !text.includes(`<@${o.botUserId}>`) ? `<@${o.botUserId}> ${text}` : text;
		const m = { ts: nextTs(), user: from.id, text: body, thread_ts, subtype, files, at: Date.now() };
		if (from.bot) m.bot_id = from.botId;
		if (profile && !from.bot) m.user_profile = { display_name: from.display || '', real_name: from.name, name: from.name };
		c.messages.push(m);
		if (thread_ts) {
			const parent = c.messages.find((x) => x.ts === thread_ts);
			if (parent) parent.reply_count = (parent.reply_count || 0) + 1;
		}
		const evs = [];
		if (c.member || c.type === 'im') {
			const msgEv = messageEvent(c, m);
			const mentionsBot = body.includes(`<@${o.botUserId}>`) && c.type !== 'im' && !subtype && from.id !== o.botUserId;
			const both = [msgEv];
			if (mentionsBot) {
				const am = { type: 'app_mention', user: m.user, text: m.text, ts: m.ts, channel: c.id, event_ts: m.ts };
				if (thread_ts) am.thread_ts = thread_ts;
				// A bot's mention carries its bot_id, like the message itself.
				if (m.bot_id) am.bot_id = m.bot_id;
				if (Math.random() < 0.5) both.unshift(am);
				else both.push(am);
			}
			for (const e of both) evs.push(emit(e));
		}
		notify();
		return { id: `${c.id}:${m.ts}`, channel: c.id, ts: m.ts, thread_ts, root: thread_ts || m.ts, from: from.id, events: evs.map((e) => e.id), private: c.type === 'im' };
	}

	// The platform delivers an event of ref again (a duplicate, as Slack
	// sends when an ack was late or lost), even when it was acknowledged.
	function redeliver(ref, which = 0) {
		const ev = events.get(ref.events[which]);
		ev.attempt = Math.min(ev.attempt + 1, o.maxRetries);
		sendEnvelope(ev, 'timeout');
	}

	// --- sockets ----------------------------------------------------------------------
	function disconnect(s, reason) {
		if (s.ws.readyState !== 1) return;
		s.ws.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'applink-emulator' } }));
	}

	function retire(s) {
		// Slack: a warning, refresh_requested, then the socket goes.
		if (s.retiring) return;
		s.retiring = true;
		stats.refreshes++;
		disconnect(s, 'warning');
		s.t1 = setTimeout(() => {
			disconnect(s, 'refresh_requested');
			s.t2 = setTimeout(() => {
				// Did the client open the next socket in time?
				if (!liveSockets().some((x) => x !== s && !x.retiring)) stats.gaps++;
				s.closing = true;
				try {
					s.ws.close(1000);
				} catch {
					/* gone */
				}
			}, o.graceMs);
		}, o.warnMs);
	}

	function dropAll() {
		for (const s of sockets) {
			stats.drops++;
			s.closing = true;
			s.ws.terminate();
		}
	}

	// --- HTTP ------------------------------------------------------------------------------
	function send(res, req, method, status, body, headers = {}) {
		res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
		res.end(JSON.stringify(body));
		requests.push({ method, status, error: body && body.ok === false ? body.error : null, at: Date.now() });
		notify();
	}
	const limited = (res, req, method, waitMs, scope) => {
		const secs = Math.max(1, Math.ceil(waitMs / 1000));
		if (scope) announced.set(scope, Math.max(announced.get(scope) || 0, Date.now() + secs * 1000));
		return send(res, req, method, 429, { ok: false, error: 'ratelimited' }, { 'Retry-After': String(secs) });
	};

	function publicMessage(c, m, withMetadata) {
		const out = { type: 'message', user: m.user, text: m.text, ts: m.ts };
		if (m.thread_ts) out.thread_ts = m.thread_ts;
		if (m.reply_count) out.reply_count = m.reply_count;
		if (m.bot_id) out.bot_id = m.bot_id;
		if (m.subtype) out.subtype = m.subtype;
		if (withMetadata && m.metadata) out.metadata = m.metadata;
		return out;
	}

	function page(list, args, res, req, method) {
		const limit = Math.min(o.historyMaxLimit, Math.max(1, Number(args.limit || 100)));
		const start = args.cursor ? Number(Buffer.from(args.cursor, 'base64').toString().replace('next_ts:', '')) : 0;
		if (!Number.isInteger(start) || start < 0) return send(res, req, method, 200, { ok: false, error: 'invalid_cursor' });
		const items = list.slice(start, start + limit);
		const more = start + limit < list.length;
		const body = { ok: true, messages: items, has_more: more, pin_count: 0, response_metadata: { next_cursor: more ? Buffer.from(`next_ts:${start + limit}`).toString('base64') : '' } };
		return send(res, req, method, 200, body);
	}

	function inWindow(m, args) {
		const incl = args.inclusive === 'true' || args.inclusive === '1' || args.inclusive === true;
		if (args.oldest && (incl ? tsCmp(m.ts, String(args.oldest)) < 0 : tsCmp(m.ts, String(args.oldest)) <= 0)) return false;
		if (args.latest && (incl ? tsCmp(m.ts, String(args.latest)) > 0 : tsCmp(m.ts, String(args.latest)) >= 0)) return false;
		return true;
	}

	function postMessage(req, res, args) {
		const method = 'chat.postMessage';
		const now = Date.now();
		stats.posts++;
		const c = channels.get(args.channel);
		if (now < stormUntil) {
			stats.postsLimited++;
			return limited(res, req, method, stormUntil - now, 'storm');
		}
		if (!c) return send(res, req, method, 200, { ok: false, error: 'channel_not_found' });
		if (!c.member && c.type !== 'im') return send(res, req, method, 200, { ok: false, error: 'not_in_channel' });
		const text = typeof args.text === 'string' ? args.text : '';
		if (!text.trim()) return send(res, req, method, 200, { ok: false, error: 'no_text' });
		if (slackLength(text) > 40000) return send(res, req, method, 200, { ok: false, error: 'msg_too_long' });
		const wait = take(`post:${c.id}`, { burst: o.channelLimit.burst, per: o.channelLimit.perSecond }, 1000, now);
		if (wait) {
			stats.postsLimited++;
			return limited(res, req, method, wait, `post:${c.id}`);
		}
		checkReset(`post:${c.id}`, now);
		checkReset('storm', now);
		if (slackLength(text) > 4000) violations.push({ kind: 'too-long', length: slackLength(text), channel: c.id, at: now });
		if (/[<>]|&(?!amp;|lt;|gt;)/.test(text)) violations.push({ kind: 'unescaped', text: text.slice(0, 80), at: now });
		const fail = failures.length && (!failures[0].channel || failures[0].channel === c.id) ? failures.shift() : null;
		if (fail && !fail.posted) {
			stats.postErrors++;
			return send(res, req, method, 200, { ok: false, error: fail.error });
		}
		let metadata = args.metadata;
		if (typeof metadata === 'string') {
			try {
				metadata = JSON.parse(metadata);
			} catch {
				return send(res, req, method, 200, { ok: false, error: 'invalid_metadata_format' });
			}
		}
		const thread_ts = args.thread_ts ? String(args.thread_ts) : null;
		if (thread_ts && !c.messages.some((m) => m.ts === thread_ts)) violations.push({ kind: 'thread-not-found', channel: c.id, thread_ts, at: now });
		const m = { ts: nextTs(), user: o.botUserId, bot_id: o.botId, text, thread_ts, metadata: metadata || null, at: now };
		c.messages.push(m);
		if (thread_ts) {
			const parent = c.messages.find((x) => x.ts === thread_ts);
			if (parent) parent.reply_count = (parent.reply_count || 0) + 1;
		}
		const p = { channel: c.id, ts: m.ts, text, thread_ts, metadata: m.metadata, at: now, private: c.type === 'im', unfurl: args.unfurl_links };
		posted.push(p);
		// Our own message comes back as an event, with bot_id.
		if (c.member || c.type === 'im') {
			stats.echoes++;
			emit(messageEvent(c, m));
		}
		const answer = () => {
			if (fail && fail.posted) {
				stats.postErrors++;
				return send(res, req, method, 200, { ok: false, error: fail.error });
			}
			return send(res, req, method, 200, { ok: true, channel: c.id, ts: m.ts, message: { ...publicMessage(c, m, true), bot_profile: { id: o.botId, name: 'frontdesk' } } });
		};
		if (o.postDelayMs) return setTimeout(answer, o.postDelayMs);
		return answer();
	}

	function history(req, res, args, method) {
		const now = Date.now();
		stats.histories++;
		const wait = take('history', { burst: o.historyLimit.burst, per: o.historyLimit.perMinute }, MINUTE, now);
		if (wait) {
			stats.historiesLimited++;
			return limited(res, req, method, wait, 'history');
		}
		checkReset('history', now);
		const c = channels.get(args.channel);
		if (!c) return send(res, req, method, 200, { ok: false, error: 'channel_not_found' });
		const meta = args.include_all_metadata === 'true' || args.include_all_metadata === '1';
		if (method === 'conversations.history') {
			const list = c.messages.filter((m) => (!m.thread_ts || m.thread_ts === m.ts) && inWindow(m, args))
				.sort((a, b) => tsCmp(b.ts, a.ts)).map((m) => publicMessage(c, m, meta));
			return page(list, args, res, req, method);
		}
		if (!args.ts) return send(res, req, method, 200, { ok: false, error: 'thread_not_found' });
		const parent = c.messages.find((m) => m.ts === String(args.ts));
		if (!parent) return send(res, req, method, 200, { ok: false, error: 'thread_not_found' });
		const list = [parent, ...c.messages.filter((m) => m.thread_ts === parent.ts && m.ts !== parent.ts && inWindow(m, args))
			.sort((a, b) => tsCmp(a.ts, b.ts))].map((m) => publicMessage(c, m, meta));
		return page(list, args, res, req, method);
	}

	function api(req, res, method, args, token) {
		const appOnly = method === 'apps.connections.open';
		if (!token) return send(res, req, method, 200, { ok: false, error: 'not_authed' });
		if (appOnly && token !== o.appToken)
			return send(res, req, method, 200, { ok: false, error: token === o.botToken ? 'not_allowed_token_type' : 'invalid_auth' });
		if (!appOnly && token !== o.botToken)
			return send(res, req, method, 200, { ok: false, error: token === o.appToken ? 'not_allowed_token_type' : 'invalid_auth' });
		switch (method) {
		case 'apps.connections.open': {
			stats.opens++;
			const wait = take('open', { burst: o.openLimit.burst, per: o.openLimit.perMinute }, MINUTE);
			if (wait) {
				stats.opensLimited++;
				return limited(res, req, method, wait, 'open');
			}
			checkReset('open', Date.now());
			const ticket = randomBytes(12).toString('hex');
			tickets.set(ticket, { used: false, at: Date.now() });
			return send(res, req, method, 200, { ok: true, url: `ws://127.0.0.1:${port}/link/?ticket=${ticket}&app_id=${o.appId}` });
		}
		case 'auth.test':
			return send(res, req, method, 200, { ok: true, url: 'https://bakery-test.slack.com/', team: 'Bakery', user: 'frontdesk', team_id: o.teamId, user_id: o.botUserId, bot_id: o.botId, is_enterprise_install: false });
		case 'chat.postMessage':
			return postMessage(req, res, args);
		case 'conversations.open': {
			stats.dmOpens++;
			const u = users.get(String(args.users || '').split(',')[0]);
			if (!args.users) return send(res, req, method, 200, { ok: false, error: 'users_list_not_supplied' });
			if (!u) return send(res, req, method, 200, { ok: false, error: 'user_not_found' });
			if (u.bot) return send(res, req, method, 200, { ok: false, error: 'cannot_dm_bot' });
			return send(res, req, method, 200, { ok: true, channel: { id: im(u).id } });
		}
		case 'conversations.history':
		case 'conversations.replies':
			return history(req, res, args, method);
		default:
			return send(res, req, method, 404, { ok: false, error: 'unknown_method' });
		}
	}

	const JSON_METHODS = new Set(['chat.postMessage', 'conversations.open']);
	const server = http.createServer((req, res) => {
		const chunks = [];
		let size = 0;
		req.on('data', (c) => {
			size += c.length;
			if (size <= 1 << 20) chunks.push(c);
		});
		req.on('end', () => {
			const url = new URL(req.url, 'http://127.0.0.1');
			const raw = Buffer.concat(chunks).toString('utf8');
			if (url.pathname.startsWith('/_emulator/')) return control(req, res, url, raw);
			const m = /^\/api\/([a-zA-Z.]+)$/.exec(url.pathname);
			if (!m) return send(res, req, '-', 404, { ok: false, error: 'unknown_method' });
			const method = m[1];
			const args = Object.fromEntries(url.searchParams);
			const ct = (req.headers['content-type'] || '').split(';')[0].trim();
			if (raw && ct === 'application/x-www-form-urlencoded') Object.assign(args, Object.fromEntries(new URLSearchParams(raw)));
			else if (raw && ct === 'application/json') {
				// Only write methods read JSON bodies; others see no arguments.
				if (JSON_METHODS.has(method)) {
					try {
						Object.assign(args, JSON.parse(raw));
					} catch {
						return send(res, req, method, 200, { ok: false, error: 'invalid_json' });
					}
				}
			}
			const auth = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization || '');
			return api(req, res, method, args, auth ? auth[1] : args.token || null);
		});
	});
	server.keepAliveTimeout = 30000;

	function control(req, res, url, raw) {
		let body = {};
		try {
			body = raw ? JSON.parse(raw) : {};
		} catch {
			/* empty */
		}
		if (url.pathname === '/_emulator/say' && req.method === 'POST') {
			const from = [...users.values()].find((u) => u.name === (body.from || 'customer')) || user({ name: body.from || 'customer' });
			const c = [...channels.values()].find((x) => x.name === (body.channel || 'general')) || channel({ name: body.channel || 'general' });
			const ref = say({ from, channel: c, text: body.text || 'hello', mention: !!body.mention });
			return send(res, req, 'say', 200, ref);
		}
		if (url.pathname === '/_emulator/posted') return send(res, req, 'posted', 200, posted);
		return send(res, req, '-', 404, { ok: false, error: 'unknown_method' });
	}

	const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
	server.on('upgrade', (req, socket, head) => {
		const url = new URL(req.url, 'http://127.0.0.1');
		const refuse = (code, text) => {
			stats.upgradesRefused++;
			socket.write(`HTTP/1.1 ${code} ${text}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${text}`);
			socket.destroy();
			notify();
		};
		if (url.pathname !== '/link/' && url.pathname !== '/link') return refuse(404, 'Not Found');
		if (down || refuseUpgrade) return refuse(refuseUpgrade || 503, 'Service Unavailable');
		const t = tickets.get(url.searchParams.get('ticket') || '');
		if (!t || t.used || Date.now() - t.at > 30000) return refuse(401, 'Unauthorized');
		t.used = true;
		wss.handleUpgrade(req, socket, head, (ws) => {
			const s = { ws, id: randomBytes(4).toString('hex'), hello: false, closing: false, retiring: false, alive: true, opened: Date.now() };
			sockets.add(s);
			stats.connections++;
			ws.on('pong', () => (s.alive = true));
			ws.on('message', (data, binary) => {
				if (binary) return;
				let m;
				try {
					m = JSON.parse(data.toString());
				} catch {
					return;
				}
				if (!m || typeof m.envelope_id !== 'string') return;
				const rec = envelopes.get(m.envelope_id);
				if (!rec) {
					stats.unknownAcks++;
					return;
				}
				stats.acks++;
				clearTimeout(rec.timer);
				envelopes.delete(m.envelope_id);
				if (rec.ev.acked) stats.lateAcks++;
				rec.ev.acked = true;
				if (rec.ev.pendingRetry) clearTimeout(rec.ev.pendingRetry);
				notify();
			});
			ws.on('close', () => {
				sockets.delete(s);
				clearTimeout(s.t0);
				clearTimeout(s.t1);
				clearTimeout(s.t2);
				notify();
			});
			ws.on('error', () => {});
			if (linkDisabled) {
				stats.linkDisabledSent++;
				disconnect(s, 'link_disabled');
				s.closing = true;
				setTimeout(() => ws.close(1000), 50);
				return;
			}
			if (sockets.size > o.maxSockets) {
				stats.tooManySockets++;
				disconnect(s, 'too_many_websockets');
				s.closing = true;
				setTimeout(() => ws.close(1000), 50);
				return;
			}
			s.hello = true;
			stats.hellos++;
			ws.send(JSON.stringify({ type: 'hello', num_connections: liveSockets().length, debug_info: { host: 'applink-emulator', build_number: 1, approximate_connection_time: o.lifetimeMs ? Math.round(o.lifetimeMs / 1000) : 18060 }, connection_info: { app_id: o.appId } }));
			if (o.lifetimeMs) s.t0 = setTimeout(() => retire(s), Math.max(0, o.lifetimeMs - o.warnMs));
			flushWaiting();
			notify();
		});
	});

	const pinger = setInterval(() => {
		for (const s of sockets) {
			if (!s.alive) {
				stats.pongDrops++;
				s.ws.terminate();
				continue;
			}
			s.alive = false;
			try {
				s.ws.ping();
			} catch {
				/* closed meanwhile */
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

	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(o.port, '127.0.0.1', resolve);
	});
	const port = server.address().port;
	scheduleDrop();
	const ticker = setInterval(notify, 50);

	const emu = {
		port,
		url: `http://127.0.0.1:${port}`,
		options: o,
		me,
		stats,
		users,
		channels,
		events,
		posted,
		requests,
		violations,
		sockets,
		user,
		channel,
		im,
		say,
		redeliver,
		dropAll,
		setDrop(d) {
			o.drop = d;
			clearTimeout(dropTimer);
			scheduleDrop();
		},
		// Every live socket is told to refresh (warning, refresh_requested, close).
		refreshAll() {
			for (const s of sockets) retire(s);
		},
		disableLink() {
			linkDisabled = true;
			for (const s of sockets) {
				stats.linkDisabledSent++;
				disconnect(s, 'link_disabled');
				s.closing = true;
				setTimeout(() => s.ws.close(1000), 50);
			}
		},
		enableLink() {
			linkDisabled = false;
		},
		setDown(v) {
			down = v;
			if (v) dropAll();
		},
		refuseUpgrades(status) {
			refuseUpgrade = status;
		},
		storm(ms) {
			stormUntil = Date.now() + ms;
			return stormUntil;
		},
		get stormUntil() {
			return stormUntil;
		},
		// The next chat.postMessage (to `channel` if given) fails with `error`;
		// with posted: true the message is created all the same.
		failNext(error, { posted: p = false, channel: ch = null } = {}) {
			failures.push({ error, posted: p, channel: ch });
		},
		setPostDelay(ms) {
			o.postDelayMs = ms;
		},
		// Bot messages that answer ref (by the reply_to their metadata names).
		repliesTo(ref) {
			return posted.filter((p) => p.metadata && p.metadata.event_payload && p.metadata.event_payload.reply_to === ref.id);
		},
		liveSockets: () => liveSockets().length,
		unacked: () => [...events.values()].filter((e) => !e.acked && !e.event.bot_id),
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
			clearInterval(ticker);
			clearTimeout(dropTimer);
			for (const w of waiters) clearTimeout(w.timer);
			waiters.clear();
			for (const e of events.values()) clearTimeout(e.pendingRetry);
			for (const r of envelopes.values()) clearTimeout(r.timer);
			for (const s of sockets) {
				clearTimeout(s.t0);
				clearTimeout(s.t1);
				clearTimeout(s.t2);
				s.ws.terminate();
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
	const emu = await startSlackEmulator({ port });
	console.log(`Slack emulator on ${emu.url} (bot token "${emu.options.botToken}", app token "${emu.options.appToken}")`);
	console.log(`  a message: curl -d '{"from":"amy","channel":"general","text":"when are you open?"}' -H 'content-type: application/json' ${emu.url}/_emulator/say`);
	console.log(`  replies:   curl ${emu.url}/_emulator/posted`);
}
