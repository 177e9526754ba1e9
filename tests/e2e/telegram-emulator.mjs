// A Telegram Bot API server for tests: the methods the frontdesk connector
// uses, following /work/shared/PLATFORMS.md ("Telegram Bot API") point by
// point, including the unpleasant parts:
//
//   - {instance}/bot<token>/<method>, GET or POST with a query, a form or
//     JSON; answers {"ok":true,"result":…} or, with the same HTTP status,
//     {"ok":false,"error_code":N,"description":"…","parameters":{…}}; a
//     wrong token 401 "Unauthorized", a malformed path 404 "Not Found";
//   - getUpdates {offset, limit 1–100, timeout ≤ 50 s, allowed_updates}:
//     updates below offset are confirmed and deleted (a negative offset
//     keeps the last N); unconfirmed updates live 24 h (emu.clockSkewMs
//     moves the emulator's clock); the long poll answers at once when an
//     update arrives; allowed_updates is sticky (omitted: the last list
//     given stays; never given: every type but chat_member,
//     message_reaction and message_reaction_count), and an update of a
//     type not allowed is never queued;
//   - 409 "Conflict: can't use getUpdates method while webhook is
//     active; use deleteWebhook to delete the webhook first" while a
//     webhook is set (emu.setWebhook); a second getUpdates ends the one
//     waiting with 409 "Conflict: terminated by other getUpdates request;
//     make sure that only one bot instance is running" (emu.secondPoller
//     keeps polling like another program with the same token); each such
//     409 is counted in emu.conflicts;
//   - message ids: private chats and basic groups number them in the bot's
//     own sequence, supergroups per chat, Business chats in the owner's
//     sequence; chat ids negative for groups, -100… for supergroups;
//   - groups with privacy mode (the default, emu.privacy): only commands,
//     replies to the bot's messages and service messages reach the bot,
//     plain @mentions do not, unless the bot is an admin there; other
//     bots' group messages never; forum topics (message_thread_id,
//     is_topic_message); a group upgraded to a supergroup
//     (migrate_to_chat_id, and 400 with parameters.migrate_to_chat_id
//     to a send there);
//   - edits arrive as edited_message / edited_business_message updates;
//   - Telegram Business: business_connection {id, user, user_chat_id, date,
//     is_enabled, rights.can_reply}; business_message for the customer's
//     messages, the owner's own (from = owner) and those a bot sent for the
//     owner (sender_business_bot); a reply with business_connection_id only
//     in a chat active within 24 h, only while the connection is enabled and
//     may reply;
//   - sendMessage {chat_id, text 1–4096 UTF-16 units, reply_parameters
//     {message_id, chat_id?, allow_sending_without_reply?},
//     message_thread_id, business_connection_id}; parse_mode is recorded (a
//     test may say none is used); 403 "Forbidden: bot was blocked by the
//     user", "Forbidden: bot can't initiate conversation with a user",
//     "Forbidden: bot was kicked from the group chat"; 400 "Bad Request:
//     chat not found", "message is too long", "message to be replied not
//     found", "message thread not found";
//   - limits: one message a second per chat, 20 a minute per group,
//     `globalPerSec` in all; beyond, 429 "Too Many Requests: retry after N"
//     with parameters.retry_after, and the limit holds until then: a send
//     arriving while one holds (after a grace for requests already on their
//     way) is recorded in emu.violations; emu.rateLimit(ms) limits every send;
//   - editMessageReplyMarkup without markup: "Bad Request: message is not
//     modified: …" for the bot's own message (and an owner's, with the
//     business connection), "message can't be edited" for anyone else's,
//     "message to edit not found" when the chat has no such id;
//   - unreliable: emu.fail(n, mode) makes the next n sendMessage requests
//     'drop-before' (connection cut, nothing sent), 'drop-after' (sent,
//     connection cut before the answer), '502' (a proxy's page, nothing
//     sent), '502-after' (sent, then the proxy's page) or 'gap-drop-after'
//     (as drop-after, 400 ids of the bot's numbering taken by messages it
//     never sees just before this one, and a customer's message right
//     after it: emu.gapAfter); emu.editsCutUntil (epoch ms) cuts every
//     editMessageReplyMarkup until then; emu.dropAll()
//     cuts every connection (a waiting poll included); emu.down = true
//     answers 502 to everything.
//
// Use from a test:
//   const emu = await startTelegramEmulator({ token: '123:abc' });
//   const amy = emu.user({ first_name: 'Amy' });
//   const m = emu.message({ from: amy, chat: emu.privateChat(amy), text: 'when are you open?' });
//   await emu.waitFor(() => emu.repliesTo(m).length === 1, 5000);
//   await emu.close();
//
// Two daemons sharing one bot (several machines on one PostgreSQL store)
// each get a way in of their own: `const urlB = await emu.entrance();`.
//
// Alone, for trying the daemon by hand (token "123456:test-token"):
//   node tests/e2e/telegram-emulator.mjs [port]
//   curl -d '{"from":"amy","text":"when are you open?"}' http://127.0.0.1:PORT/_emulator/message
//   curl http://127.0.0.1:PORT/_emulator/sent
import http from 'node:http';
import { URL } from 'node:url';

const DAY = 24 * 3600 * 1000;
const DEFAULT_DENY = new Set(['chat_member', 'message_reaction', 'message_reaction_count']);

// What Telegram counts toward 4,096: UTF-16 code units (a JS string's length).
export const messageLength = (text) => text.length;

export async function startTelegramEmulator(opts = {}) {
	const o = {
		token: '123456:test-token',
		globalPerSec: 30,
		chatGapMs: 1000,
		groupPerMin: 20,
		graceMs: 250,
		privacy: true,
		...opts,
	};
	const me = { id: 7000000001, is_bot: true, first_name: 'Acme Bakery', username: 'acme_bakery_bot' };
	const emu = {
		me,
		users: new Map(),
		chats: new Map(),
		connections: new Map(),
		updates: [], // queued: { update_id, type, at, body }
		confirmed: new Map(), // update_id -> { at, update }
		delivered: new Map(), // update_id -> times handed out
		filtered: [], // updates not queued: their type was not allowed
		sent: [], // the bot's messages: { message, at, parseMode }
		sendAttempts: [], // every sendMessage that arrived: { at, chat }
		requests: [], // { method, at, status, agent, body }
		violations: [], // sends while a limit held
		limited: 0, // 429s answered
		limitLog: [], // { scope, at, until } of each 429
		webhook: '',
		dropped: 0, // pending updates dropped by deleteWebhook
		allowed: null, // the sticky allowed_updates list, null: never given
		conflicts: 0,
		down: false,
		clockSkewMs: 0,
	};
	let nextUpdate = 100000;
	let nextUser = 500000001;
	let nextGroup = 4000000001;
	let nextSuper = 1000000000001;
	let botBox = 1; // the bot's own message numbering
	const now = () => Date.now() + emu.clockSkewMs;

	// --- people and chats ------------------------------------------------------------
	emu.user = ({ first_name, last_name, username, bot = false, id, started = true } = {}) => {
		const u = { id: id || nextUser++, is_bot: bot, first_name: first_name || `User${nextUser}`, started, blocked: false };
		if (last_name) u.last_name = last_name;
		if (username !== null) u.username = username || `${u.first_name.toLowerCase()}${u.id % 1000}`;
		emu.users.set(u.id, u);
		return u;
	};
	const wireUser = (u) => {
		const w = { id: u.id, is_bot: u.is_bot, first_name: u.first_name };
		if (u.last_name) w.last_name = u.last_name;
		if (u.username) w.username = u.username;
		return w;
	};
	emu.privateChat = (u) => {
		let c = emu.chats.get(u.id);
		if (!c) {
			c = { id: u.id, type: 'private', user: u, messages: new Map() };
			emu.chats.set(c.id, c);
		}
		return c;
	};
	// A group the bot is in; supergroup: numbered per chat; forum: with topics.
	emu.group = ({ title, supergroup = false, forum = false, botAdmin = false } = {}) => {
		const id = supergroup || forum ? -(nextSuper++ + 1000000000000) : -nextGroup++;
		const c = { id, type: supergroup || forum ? 'supergroup' : 'group', title: title || `Group ${Math.abs(id)}`, forum, botAdmin, member: true, box: 1, messages: new Map(), topics: new Set() };
		emu.chats.set(id, c);
		return c;
	};
	emu.topic = (group) => {
		const m = emu.message({ from: [...emu.users.values()][0] || emu.user(), chat: group, service: { forum_topic_created: { name: 'Orders' } } });
		group.topics.add(m.message_id);
		return m.message_id;
	};
	const wireChat = (c) => {
		if (c.type === 'private') {
			const w = { id: c.id, type: 'private', first_name: c.user.first_name };
			if (c.user.username) w.username = c.user.username;
			return w;
		}
		const w = { id: c.id, type: c.type, title: c.title };
		if (c.forum) w.is_forum = true;
		return w;
	};
	const numbering = (c, conn) => {
		if (conn) return conn; // the owner's own sequence
		if (c.type === 'supergroup') return c;
		return null; // the bot's
	};
	const nextId = (c, conn) => {
		const n = numbering(c, conn);
		if (!n) return botBox++;
		if (!n.box) n.box = 1;
		return n.box++;
	};

	// --- updates ------------------------------------------------------------------------
	const waiters = new Set();
	function enqueue(type, body) {
		const allowed = emu.allowed ? emu.allowed.includes(type) : !DEFAULT_DENY.has(type);
		const up = { update_id: nextUpdate++, type, at: now(), body };
		if (!allowed) {
			emu.filtered.push(up);
			return up;
		}
		emu.updates.push(up);
		for (const w of [...waiters]) w();
		return up;
	}
	const wireUpdate = (up) => ({ update_id: up.update_id, [up.type]: up.body });

	function store(c, m, conn) {
		(conn ? conn.chats : c.messages).set(conn ? `${c.id}:${m.message_id}` : m.message_id, m);
	}
	const findMessage = (c, id, conn) => (conn ? conn.chats.get(`${c.id}:${id}`) : c.messages.get(id));

	// Would a bot in privacy mode see this group message?
	function reaches(c, from, m) {
		if (c.type === 'private') return true;
		if (from.is_bot) return false; // bots never see other bots in groups
		if (!o.privacy || c.botAdmin || m.service) return true;
		const t = m.text || m.caption || '';
		if (t.startsWith('/')) return true;
		return !!(m.reply_to_message && m.reply_to_message.from && m.reply_to_message.from.id === me.id);
	}

	// A message from `from` in `chat` (a group: needs no membership).
	emu.message = ({ from, chat, text, caption, photo = false, replyTo = null, topic = 0, service = null, senderChat = null, sticker = false }) => {
		const c = chat;
		const m = { message_id: nextId(c), from: wireUser(from), chat: wireChat(c), date: Math.floor(now() / 1000) };
		if (text !== undefined) m.text = text;
		if (caption !== undefined) m.caption = caption;
		if (photo) m.photo = [{ file_id: 'AgAD', file_unique_id: 'x', width: 90, height: 90 }];
		if (sticker) m.sticker = { file_id: 'CAAD', file_unique_id: 'y', width: 512, height: 512, is_animated: false, is_video: false, type: 'regular' };
		if (senderChat) m.sender_chat = senderChat;
		if (service) Object.assign(m, service);
		if (topic) {
			m.message_thread_id = topic;
			m.is_topic_message = true;
		}
		if (replyTo) m.reply_to_message = { ...replyTo };
		store(c, m);
		if (reaches(c, from, m)) enqueue('message', m);
		return m;
	};
	// The same message in a new update (a platform may deliver twice).
	emu.redeliver = (m) => enqueue(m.business_connection_id ? 'business_message' : 'message', m);
	emu.edit = (m, text) => {
		const e = { ...m, text, edit_date: Math.floor(now() / 1000) };
		return enqueue(m.business_connection_id ? 'edited_business_message' : 'edited_message', e);
	};
	// A group becomes a supergroup: the old one says where it went.
	emu.migrate = (c) => {
		const s = emu.group({ title: c.title, supergroup: true, botAdmin: c.botAdmin }); // admins stay admins
		c.migratedTo = s.id;
		const from = [...emu.users.values()].find((u) => !u.is_bot) || emu.user();
		const m = { message_id: nextId(c), from: wireUser(from), chat: wireChat(c), date: Math.floor(now() / 1000), migrate_to_chat_id: s.id };
		store(c, m);
		enqueue('message', m);
		return s;
	};

	// --- Telegram Business ------------------------------------------------------------
	emu.connectBusiness = (owner, { enabled = true, canReply = true } = {}) => {
		const conn = { id: `BC${Math.random().toString(36).slice(2, 12)}Ab-_`, owner, enabled, canReply, box: 1, chats: new Map(), active: new Map() };
		emu.connections.set(conn.id, conn);
		enqueue('business_connection', wireConnection(conn));
		return conn;
	};
	emu.setBusiness = (conn, { enabled, canReply }) => {
		if (enabled !== undefined) conn.enabled = enabled;
		if (canReply !== undefined) conn.canReply = canReply;
		enqueue('business_connection', wireConnection(conn));
	};
	function wireConnection(conn) {
		return { id: conn.id, user: wireUser(conn.owner), user_chat_id: conn.owner.id, date: Math.floor(now() / 1000), is_enabled: conn.enabled, rights: { can_reply: conn.canReply } };
	}
	// A message in the owner's private chat with `customer`: from the
	// customer, from the owner (a person answering), or sent for the owner
	// by another bot (viaBot).
	emu.businessMessage = ({ conn, customer, from = customer, text, viaBot = null }) => {
		const c = emu.privateChat(customer);
		const m = { message_id: nextId(c, conn), from: wireUser(from), chat: wireChat(c), date: Math.floor(now() / 1000), business_connection_id: conn.id, text };
		if (viaBot) m.sender_business_bot = wireUser(viaBot);
		store(c, m, conn);
		conn.active.set(c.id, now());
		enqueue('business_message', m);
		return m;
	};

	// --- what the bot sent --------------------------------------------------------------
	emu.repliesTo = (m) =>
		emu.sent.filter((s) => s.replyTo && s.replyTo.message_id === m.message_id && s.replyTo.chat_id === m.chat.id && (s.conn || '') === (m.business_connection_id || '')).map((s) => s.message);
	emu.sentTo = (chat) => emu.sent.filter((s) => s.message.chat.id === chat.id).map((s) => s.message);
	emu.waitFor = async (pred, ms = 5000, what = 'condition') => {
		const t0 = Date.now();
		while (!pred()) {
			if (Date.now() - t0 > ms) throw new Error(`emulator: timeout after ${ms} ms waiting for ${what}`);
			await new Promise((r) => setTimeout(r, 20));
		}
	};

	// --- limits ----------------------------------------------------------------------
	const limits = new Map(); // scope -> { until, since }
	const recent = new Map(); // scope -> [times]
	emu.rateLimit = (ms) => {
		const t = Date.now();
		limits.set('global', { until: t + ms, since: t });
		return t + ms;
	};
	function tooMany(res, scope, untilMs) {
		const t = Date.now();
		if (!limits.has(scope) || limits.get(scope).until <= t) limits.set(scope, { until: untilMs, since: t });
		const s = Math.max(1, Math.ceil((limits.get(scope).until - t) / 1000));
		emu.limited++;
		emu.limitLog.push({ scope, at: t, until: limits.get(scope).until });
		return answerError(res, 429, `Too Many Requests: retry after ${s}`, { retry_after: s });
	}
	// 429 when a limit holds or this send would pass one; else count it.
	function limitCheck(res, chat, req) {
		const t = Date.now();
		for (const scope of ['global', `chat:${chat.id}`]) {
			const l = limits.get(scope);
			if (l && l.until > t) {
				if (t - l.since > o.graceMs) emu.violations.push({ scope, at: t, until: l.until, chat: chat.id, text: req.text });
				tooMany(res, scope, l.until);
				return false;
			}
		}
		const g = (recent.get('global') || []).filter((x) => x > t - 1000);
		if (g.length >= o.globalPerSec) return tooMany(res, 'global', g[0] + 1000), false;
		const key = `chat:${chat.id}`;
		const cr = (recent.get(key) || []).filter((x) => x > t - 60000);
		const last = cr[cr.length - 1];
		if (last !== undefined && t - last < o.chatGapMs - 100) return tooMany(res, key, last + o.chatGapMs), false;
		if (chat.type !== 'private' && cr.length >= o.groupPerMin) return tooMany(res, key, cr[cr.length - o.groupPerMin] + 60000), false;
		g.push(t);
		cr.push(t);
		recent.set('global', g);
		recent.set(key, cr);
		return true;
	}

	// --- the API ------------------------------------------------------------------------
	function answer(res, result) {
		res.writeHead(200, { 'Content-Type': 'application/json' });
		res.end(JSON.stringify({ ok: true, result }));
	}
	function answerError(res, code, description, parameters) {
		const b = { ok: false, error_code: code, description };
		if (parameters) b.parameters = parameters;
		res.writeHead(code, { 'Content-Type': 'application/json' });
		res.end(JSON.stringify(b));
	}
	const int = (v) => (v === undefined || v === null || v === '' ? undefined : Number(v));
	function params(req, u, body) {
		const p = Object.fromEntries(u.searchParams);
		const ct = req.headers['content-type'] || '';
		if (body && ct.includes('application/json')) Object.assign(p, JSON.parse(body));
		else if (body && ct.includes('application/x-www-form-urlencoded')) Object.assign(p, Object.fromEntries(new URLSearchParams(body)));
		for (const k of ['allowed_updates', 'reply_parameters'])
			if (typeof p[k] === 'string') p[k] = JSON.parse(p[k]);
		return p;
	}

	let waiting = null; // the getUpdates request waiting now: { end(result) }
	function getUpdates(req, res, p) {
		if (emu.webhook) return answerError(res, 409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first");
		if (p.allowed_updates !== undefined) emu.allowed = Array.isArray(p.allowed_updates) && p.allowed_updates.length ? p.allowed_updates.slice() : null;
		const offset = int(p.offset);
		const limit = Math.min(100, Math.max(1, int(p.limit) || 100));
		const timeout = Math.min(50, Math.max(0, int(p.timeout) || 0));
		const t = now();
		emu.updates = emu.updates.filter((x) => t - x.at < DAY);
		if (offset !== undefined && offset > 0) {
			for (const x of emu.updates) if (x.update_id < offset && !emu.confirmed.has(x.update_id)) emu.confirmed.set(x.update_id, { at: Date.now(), update: x });
			emu.updates = emu.updates.filter((x) => x.update_id >= offset);
			if (emu.onConfirm) emu.onConfirm(offset);
		} else if (offset !== undefined && offset < 0) {
			emu.updates = emu.updates.slice(offset);
		}
		if (waiting) waiting.conflict();
		const take = () => emu.updates.slice(0, limit);
		const give = () => {
			const list = take();
			for (const x of list) emu.delivered.set(x.update_id, (emu.delivered.get(x.update_id) || 0) + 1);
			answer(res, list.map(wireUpdate));
		};
		if (take().length || !timeout) return give();
		let done = false;
		const me = {
			end: () => {
				if (done) return;
				done = true;
				clearTimeout(timer);
				waiters.delete(wake);
				if (waiting === me) waiting = null;
			},
			conflict: () => {
				if (done) return;
				me.end();
				emu.conflicts++;
				answerError(res, 409, 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running');
			},
		};
		const wake = () => {
			if (done) return;
			me.end();
			give();
		};
		const timer = setTimeout(wake, timeout * 1000);
		waiters.add(wake);
		waiting = me;
		res.on('close', () => me.end());
	}

	function sendMessage(req, res, p) {
		const chatId = int(p.chat_id);
		emu.sendAttempts.push({ at: Date.now(), chat: chatId });
		const conn = p.business_connection_id ? emu.connections.get(p.business_connection_id) : null;
		if (p.business_connection_id && (!conn || !conn.enabled)) return answerError(res, 400, 'Bad Request: BUSINESS_CONNECTION_INVALID');
		if (conn && !conn.canReply) return answerError(res, 403, 'Forbidden: BUSINESS_CONNECTION_NOT_ALLOWED');
		// A user's private chat exists once they opened it (started).
		const u = emu.users.get(chatId);
		const c = emu.chats.get(chatId) || (u && !u.is_bot && u.started ? emu.privateChat(u) : null);
		if (!c) return answerError(res, u && !u.is_bot ? 403 : 400, u && !u.is_bot ? "Forbidden: bot can't initiate conversation with a user" : 'Bad Request: chat not found');
		if (c.migratedTo) return answerError(res, 400, 'Bad Request: group chat was upgraded to a supergroup chat', { migrate_to_chat_id: c.migratedTo });
		if (conn) {
			const last = conn.active.get(c.id);
			if (!last || now() - last > DAY) return answerError(res, 400, 'Bad Request: BUSINESS_PEER_USAGE_MISSING');
		} else if (c.type === 'private') {
			if (c.user.blocked) return answerError(res, 403, 'Forbidden: bot was blocked by the user');
			if (!c.user.started) return answerError(res, 403, "Forbidden: bot can't initiate conversation with a user");
		} else if (!c.member) {
			return answerError(res, 403, 'Forbidden: bot was kicked from the group chat');
		}
		const text = typeof p.text === 'string' ? p.text : '';
		if (!text.trim()) return answerError(res, 400, 'Bad Request: message text is empty');
		if (messageLength(text) > 4096) return answerError(res, 400, 'Bad Request: message is too long');
		const topic = int(p.message_thread_id);
		if (topic && (!c.forum || !c.topics.has(topic))) return answerError(res, 400, 'Bad Request: message thread not found');
		let replyTo = null;
		const rp = p.reply_parameters || (p.reply_to_message_id ? { message_id: p.reply_to_message_id, allow_sending_without_reply: p.allow_sending_without_reply } : null);
		if (rp) {
			const rc = rp.chat_id ? emu.chats.get(int(rp.chat_id)) : c;
			if (rp.chat_id && conn) return answerError(res, 400, 'Bad Request: reply in another chat is not supported for business messages');
			const target = rc ? findMessage(rc, int(rp.message_id), rc === c ? conn : null) : null;
			const cross = rc !== c;
			if (!target || (cross && rc.protected)) {
				if (!rp.allow_sending_without_reply || cross) return answerError(res, 400, 'Bad Request: message to be replied not found');
			} else {
				replyTo = { chat_id: rc.id, message_id: target.message_id };
			}
		}
		if (!limitCheck(res, c, { text })) return;
		const mode = emu.failures.length ? emu.failures.shift() : null;
		if (mode === 'drop-before') return res.socket.destroy();
		// Meanwhile messages the bot never sees (a basic group's talk under
		// privacy mode) took 400 ids of the bot's own numbering.
		if (mode === 'gap-drop-after' && !numbering(c, conn)) botBox += 400;
		if (mode === '502') return proxyError(res);
		const m = { message_id: nextId(c, conn), from: wireUser(me), chat: wireChat(c), date: Math.floor(now() / 1000), text };
		if (topic) {
			m.message_thread_id = topic;
			m.is_topic_message = true;
		}
		if (conn) {
			m.business_connection_id = conn.id;
			m.sender_business_bot = wireUser(me);
			m.from = wireUser(conn.owner);
			conn.active.set(c.id, now());
		}
		if (replyTo) m.reply_to_message = findMessage(emu.chats.get(replyTo.chat_id), replyTo.message_id, replyTo.chat_id === c.id ? conn : null);
		m.bySelf = true;
		store(c, m, conn);
		const wire = { ...m };
		delete wire.bySelf;
		emu.sent.push({ message: wire, at: Date.now(), replyTo, conn: conn ? conn.id : '', parseMode: p.parse_mode || null });
		if (mode === 'gap-drop-after') {
			// ...and right after it a customer writes: the bot sees an id
			// beyond the lost one.
			const u = emu.user({ first_name: 'After' });
			emu.gapAfter = emu.message({ from: u, chat: emu.privateChat(u), text: 'hello, are you there?' });
		}
		if (mode === 'drop-after' || mode === 'gap-drop-after') return res.socket.destroy();
		if (mode === '502-after') return proxyError(res);
		answer(res, wire);
	}
	function proxyError(res) {
		res.writeHead(502, { 'Content-Type': 'text/html' });
		res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
	}
	emu.failures = [];
	emu.editsCutUntil = 0; // editMessageReplyMarkup: connection cut until then
	emu.fail = (n, mode) => {
		for (let i = 0; i < n; i++) emu.failures.push(mode);
	};

	function editMessageReplyMarkup(req, res, p) {
		if (Date.now() < emu.editsCutUntil) return res.socket.destroy();
		const c = emu.chats.get(int(p.chat_id));
		const conn = p.business_connection_id ? emu.connections.get(p.business_connection_id) : null;
		const m = c ? findMessage(c, int(p.message_id), conn) : null;
		if (!m) return answerError(res, 400, 'Bad Request: message to edit not found');
		const ours = m.bySelf || (conn && m.from && m.from.id === conn.owner.id);
		if (!ours) return answerError(res, 400, "Bad Request: message can't be edited");
		if (p.reply_markup && JSON.stringify(p.reply_markup) !== JSON.stringify(m.reply_markup || null)) {
			m.reply_markup = p.reply_markup;
			return answer(res, m);
		}
		return answerError(res, 400, 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message');
	}

	async function api(req, res, method, p) {
		if (method === 'getMe') return answer(res, { ...wireUser(me), can_join_groups: true, can_read_all_group_messages: !o.privacy, supports_inline_queries: false, can_connect_to_business: true, has_main_web_app: false });
		if (method === 'deleteWebhook') {
			if (p.drop_pending_updates === true || p.drop_pending_updates === 'true') {
				emu.dropped += emu.updates.length;
				emu.updates = [];
			}
			emu.webhook = '';
			return answer(res, true);
		}
		if (method === 'setWebhook') {
			emu.webhook = p.url || '';
			return answer(res, true);
		}
		if (method === 'getUpdates') return getUpdates(req, res, p);
		if (method === 'sendMessage') return sendMessage(req, res, p);
		if (method === 'editMessageReplyMarkup') return editMessageReplyMarkup(req, res, p);
		if (method === 'getBusinessConnection') {
			const conn = emu.connections.get(p.business_connection_id);
			return conn ? answer(res, wireConnection(conn)) : answerError(res, 400, 'Bad Request: BUSINESS_CONNECTION_INVALID');
		}
		return answerError(res, 404, 'Not Found: method not found');
	}

	function control(req, res, path, body) {
		let b = {};
		try {
			b = body ? JSON.parse(body) : {};
		} catch {
			/* empty */
		}
		if (path === '/_emulator/message') {
			const from = [...emu.users.values()].find((u) => u.first_name === b.from) || emu.user({ first_name: b.from || 'Customer' });
			const m = emu.message({ from, chat: emu.privateChat(from), text: b.text || 'hello' });
			return answer(res, m);
		}
		if (path === '/_emulator/sent') return answer(res, emu.sent.map((s) => s.message));
		return answerError(res, 404, 'Not Found');
	}

	const sockets = new Set();
	const handler = (req, res) => {
		const chunks = [];
		req.on('data', (d) => chunks.push(d));
		req.on('end', () => {
			const body = Buffer.concat(chunks).toString('utf8');
			const u = new URL(req.url, 'http://x');
			if (u.pathname.startsWith('/_emulator/')) return control(req, res, u.pathname, body);
			const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(u.pathname);
			const at = Date.now();
			const orig = res.writeHead.bind(res);
			res.writeHead = (status, ...rest) => {
				emu.requests.push({ method: m ? m[2] : u.pathname, at, status, agent: req.headers['user-agent'] || '', body, port: req.socket.localPort });
				return orig(status, ...rest);
			};
			if (emu.down) return proxyError(res);
			if (!m) return answerError(res, 404, 'Not Found');
			if (m[1] !== o.token) return answerError(res, 401, 'Unauthorized');
			let p;
			try {
				p = params(req, u, body);
			} catch {
				return answerError(res, 400, "Bad Request: can't parse JSON");
			}
			api(req, res, m[2], p).catch((e) => answerError(res, 500, `Internal Server Error: ${e}`));
		});
	};
	const servers = [];
	const serve = async (port) => {
		const server = http.createServer(handler);
		server.on('connection', (s) => {
			sockets.add(s);
			s.on('close', () => sockets.delete(s));
		});
		await new Promise((r) => server.listen(port, '127.0.0.1', r));
		servers.push(server);
		return server.address().port;
	};
	// Cut every open connection (or each with probability `share`).
	emu.dropAll = (share = 1) => {
		for (const s of sockets) if (share >= 1 || Math.random() < share) s.destroy();
	};
	emu.setWebhook = (url) => (emu.webhook = url);

	// Another program polling with the same token (emu.secondPoller = true).
	let second = null;
	emu.startSecondPoller = () => {
		let stop = false;
		const loop = () => {
			if (stop) return;
			const r = http.request({ host: '127.0.0.1', port: emu.port, method: 'POST', path: `/bot${o.token}/getUpdates`, headers: { 'content-type': 'application/json' } }, (res) => {
				res.resume();
				res.on('end', () => setTimeout(loop, 50));
			});
			r.on('error', () => setTimeout(loop, 50));
			r.end(JSON.stringify({ timeout: 1, limit: 1 }));
		};
		loop();
		second = () => (stop = true);
	};
	emu.stopSecondPoller = () => second && second();

	emu.port = await serve(opts.port || 0);
	emu.url = `http://127.0.0.1:${emu.port}`;
	// The same server on another port (another machine's way in): requests
	// record the port they came to (emu.requests[].port), so a test tells
	// two daemons sharing one bot apart.
	emu.entrance = async () => `http://127.0.0.1:${await serve(0)}`;
	emu.close = () =>
		new Promise((r) => {
			if (second) second();
			if (waiting) waiting.end();
			for (const s of sockets) s.destroy();
			let left = servers.length;
			for (const server of servers) server.close(() => --left || r());
		});
	return emu;
}

if (import.meta.url === `file://${process.argv[1]}`) {
	const emu = await startTelegramEmulator({ port: Number(process.argv[2] || 0) });
	console.log(`telegram emulator on ${emu.url} (token "123456:test-token")`);
}
