// Meta for tests: one app with a WhatsApp business number, a Facebook Page
// (Messenger) and an Instagram professional account, following
// /work/shared/PLATFORMS.md ("WhatsApp Business Cloud API" and "Facebook
// Messenger and Instagram Messaging") point by point, including the
// unpleasant parts:
//
//   Webhooks (to the callback URL subscribed per product)
//   - the subscription check first: GET ?hub.mode=subscribe&hub.challenge=<n>
//     &hub.verify_token=<token>, which must answer the bare challenge;
//   - every POST signed: X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the
//     raw body, key = the app secret>; Messenger and Instagram bodies are
//     sent (and signed) with every non-ASCII character escaped as \uXXXX
//     (lowercase hex), WhatsApp's as plain UTF-8;
//   - batched: several entries per POST, several changes / messaging items
//     per entry (WhatsApp: `messages` and `statuses` in the same `messages`
//     field), up to `batchMax` events;
//   - out of order (`reorder`: any of the next 64 waiting events may go
//     first), duplicated (`dupRate`: a delivered batch is
//     delivered again later; sometimes the same batch twice at once), from
//     several connections at a time (`concurrency`);
//   - anything but a 200 (or no answer within `timeoutMs`) is retried, at
//     once and then less often (capped at `retryMaxMs` here instead of
//     hours), until it is answered 200: for as long as the daemon is down;
//   - forged deliveries (`forge()`): the right shape, a wrong signature;
//   - WhatsApp status callbacks for every message we accept (sent,
//     delivered, read) with biz_opaque_callback_data, some `failed` with an
//     error code (`failLater()`); Messenger echoes (with `message_echoes`
//     subscribed, `echoes: true`) and Instagram echoes (always) of every
//     message the Page sends, with app_id and metadata; echoes of a person
//     answering in the Page inbox (app_id 263902037430900) or another app,
//     or with no app_id; `standby` events for a thread another app owns.
//   - Messenger / Instagram beyond messages: delivery and read receipts
//     (`receipts: true`, after every message the Page sends), reactions,
//     postbacks (a tapped button: title and payload, no mid), attachments
//     without text; the handover protocol: `takeThread(product, from,
//     appId)` gives the conversation to another app (we get a
//     take_thread_control notice, the customer's messages come under
//     `standby`, and the Send API refuses us: (#10) without thread control,
//     code unconfirmed), `passThreadBack(product, from)` returns it (a
//     pass_thread_control notice naming our app).
//
//   Graph API (on emu.url, version in the path)
//   - WhatsApp: POST /{version}/{phone_number_id}/messages with a Bearer
//     system-user token: a text (≤4,096 characters, else 100), to `to`
//     exactly as the customer's wa_id came (else 131026), from the number
//     the customer wrote to, context.message_id; "mark as read"
//     {status:"read"}; 131047 past the 24-hour window since the customer's
//     last message; 130429 during a throughput storm; 131056 when one
//     customer gets more than the pair limit (`pairLimit: {burst, perMs}`,
//     or `pairStorm(to, n)`); 190 (HTTP 401) with an expired token.
//   - Messenger / Instagram: POST /{version}/me/messages?access_token=<page
//     token> with messaging_type RESPONSE within 24 hours of the user's last
//     message, MESSAGE_TAG + tag HUMAN_AGENT within 7 days (else 10/2018278
//     on Messenger, 1545041 on Instagram), text ≤2,000 characters
//     (Messenger) / ≤1,000 bytes of UTF-8 (Instagram), else 100;
//     sender_action mark_seen; 613 during a storm; 190 with a bad token.
//   - GET /{version}/{id}?fields=... for the connectors' sign-in.
//   No idempotency key anywhere: the same body twice is two messages.
//
// Use from a test:
//   const emu = await startMetaEmulator({ appSecret: 's', verifyToken: 'v' });
//   await emu.subscribe('whatsapp', `http://127.0.0.1:${port}/webhook`);
//   const m = emu.whatsapp.message({ from: '4915112345678', name: 'Amy', text: 'when are you open?' });
//   await waitUntil(() => emu.repliesTo(m.id).length === 1);
//   await emu.close();
import http from 'node:http';
import crypto from 'node:crypto';

export const INBOX_APP_ID = '263902037430900';
const DAY = 24 * 3600 * 1000;

// Meta's serialisation for Messenger and Instagram: non-ASCII as \uXXXX.
export function escapeNonAscii(json) {
	return json.replace(/[\u0080-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

export function sign(secret, body) {
	return 'sha256=' + crypto.createHmac('sha256', secret).update(body).digest('hex');
}

const rnd = (a, b) => a + Math.floor(Math.random() * (b - a + 1));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function startMetaEmulator(opts = {}) {
	const o = {
		appSecret: 'app-secret-0123456789',
		appId: '1517776481860111',
		verifyToken: 'verify-token-0123',
		version: 'v25.0',
		tokens: { whatsapp: 'wa-token-0123456789', messenger: 'page-token-0123456789', instagram: 'ig-token-0123456789' },
		phoneNumberIds: ['106540352242922'],
		pageId: '1122334455',
		igId: '17841400000000001',
		batchMax: 4,
		dupRate: 0,
		reorder: true,
		concurrency: 3,
		delayMs: [0, 15],
		retryMinMs: 50,
		retryMaxMs: 800,
		timeoutMs: 10000,
		statuses: true,
		echoes: true,
		receipts: true,
		pairLimit: null, // { burst, perMs }
		...opts,
	};
	const customers = new Map(); // key product:id -> { lastAt, sends: [times] }
	const events = new Map(); // message id -> event (for redelivery)
	const queue = []; // events waiting for delivery
	const retries = []; // batches whose retry is due: { product, evs, dup }
	const callbacks = {}; // product -> url
	const deliveries = []; // every POST we made: { product, at, status, ids, forged, dup }
	const sent = []; // every accepted message: { product, at, to, text, id, context, marker, messagingType, tag, from }
	const refused = []; // every refused send: { product, at, code, to, text }
	const reads = []; // mark read / mark_seen
	const verifies = []; // subscription checks: { product, status, body }
	const acks = []; // (message ids of batches answered 200, for checks)
	const failLaterIds = new Set();
	let stormUntil = { whatsapp: 0, messenger: 0, instagram: 0 };
	const pairStorms = new Map(); // to -> remaining 131056 answers
	const badToken = { whatsapp: false, messenger: false, instagram: false };
	let down = false; // deliveries cannot reach the daemon
	let inflight = 0;
	let seq = 0;
	let closed = false;
	let onAck = null;
	const id = (p) => `${p}${Date.now().toString(36)}${(++seq).toString(36)}${crypto.randomBytes(6).toString('hex')}`;

	function customer(product, cid) {
		const k = `${product}:${cid}`;
		if (!customers.has(k)) customers.set(k, { lastAt: 0, sends: [] });
		return customers.get(k);
	}

	// --- webhook deliveries ----------------------------------------------------------

	function enqueue(ev) {
		queue.push(ev);
		pump();
	}

	function bodyFor(product, evs) {
		if (product === 'whatsapp') {
			// One entry per phone number; messages and statuses in one change.
			const byNumber = new Map();
			for (const ev of evs) {
				if (!byNumber.has(ev.pnid)) byNumber.set(ev.pnid, { contacts: [], messages: [], statuses: [] });
				const v = byNumber.get(ev.pnid);
				if (ev.kind === 'message') {
					v.messages.push(ev.payload);
					if (ev.contact && !v.contacts.some((c) => c.wa_id === ev.contact.wa_id)) v.contacts.push(ev.contact);
				} else v.statuses.push(ev.payload);
			}
			const entry = [];
			for (const [pnid, v] of byNumber) {
				const value = { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: pnid } };
				if (v.contacts.length) value.contacts = v.contacts;
				if (v.messages.length) value.messages = v.messages;
				if (v.statuses.length) value.statuses = v.statuses;
				// Sometimes split into two changes of the same entry.
				if (v.messages.length && v.statuses.length && Math.random() < 0.5) {
					const a = { ...value, statuses: undefined };
					const b = { messaging_product: 'whatsapp', metadata: value.metadata, statuses: v.statuses };
					entry.push({ id: 'WABA-1', changes: [{ field: 'messages', value: a }, { field: 'messages', value: b }] });
				} else entry.push({ id: 'WABA-1', changes: [{ field: 'messages', value }] });
			}
			return JSON.stringify({ object: 'whatsapp_business_account', entry });
		}
		const object = product === 'instagram' ? 'instagram' : 'page';
		const owner = product === 'instagram' ? o.igId : o.pageId;
		// Several entries: split the events in up to two entries.
		const entries = [];
		const cut = evs.length > 1 && Math.random() < 0.5 ? rnd(1, evs.length - 1) : evs.length;
		for (const part of [evs.slice(0, cut), evs.slice(cut)]) {
			if (!part.length) continue;
			const e = { id: owner, time: Date.now() };
			for (const ev of part) {
				const field = ev.standby ? 'standby' : 'messaging';
				(e[field] = e[field] || []).push(ev.payload);
			}
			entries.push(e);
		}
		return escapeNonAscii(JSON.stringify({ object, entry: entries }));
	}

	function post(url, body, signature, timeoutMs) {
		return new Promise((resolve) => {
			const u = new URL(url);
			const req = http.request(
				{ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent: false,
					headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-hub-signature-256': signature, 'user-agent': 'facebookexternalua' } },
				(res) => {
					res.resume();
					res.on('end', () => resolve(res.statusCode));
					res.on('error', () => resolve(0));
					res.on('close', () => resolve(res.complete ? res.statusCode : 0));
				},
			);
			req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
			req.on('error', () => resolve(0));
			req.end(body);
		});
	}

	async function deliver(product, evs, dup) {
		inflight++;
		try {
			await sleep(rnd(o.delayMs[0], o.delayMs[1]));
			const url = callbacks[product];
			const body = bodyFor(product, evs);
			let status = 0;
			if (!down && url && !closed) status = await post(url, body, sign(o.appSecret, body), o.timeoutMs);
			const ids = evs.map((e) => e.id);
			deliveries.push({ product, at: Date.now(), status, ids, dup });
			if (status === 200) {
				for (const e of evs) e.delivered = (e.delivered || 0) + 1;
				acks.push({ product, at: Date.now(), ids: evs.filter((e) => e.kind === 'message').map((e) => e.id) });
				if (onAck) onAck(product, evs.filter((e) => e.kind === 'message').map((e) => e.id));
				if (!dup && o.dupRate && Math.random() < o.dupRate) {
					// Delivered again later (each subscribed app gets retries).
					setTimeout(() => { if (!closed) for (const e of evs) queue.push({ ...e, dupOf: true }); pump(); }, rnd(10, 300));
				}
			} else if (!closed) {
				// Retried on a schedule of its own (at once, then less often),
				// not behind whatever new traffic queued up meanwhile.
				for (const e of evs) e.tries = (e.tries || 0) + 1;
				const wait = Math.min(o.retryMaxMs, o.retryMinMs * 2 ** Math.min(evs[0].tries, 8));
				setTimeout(() => {
					if (closed) return;
					retries.push({ product, evs, dup });
					pump();
				}, evs[0].tries === 1 ? 0 : wait);
			}
		} finally {
			inflight--;
			if (!closed) setImmediate(pump);
		}
	}

	function pump() {
		// Retries due first, then new traffic; never more than `concurrency`
		// connections at once.
		while (!closed && retries.length && inflight < o.concurrency) {
			const r = retries.shift();
			deliver(r.product, r.evs, r.dup);
		}
		while (!closed && queue.length && inflight < o.concurrency) {
			if (o.reorder) {
				// Out of order: any of the next few waiting events may go first.
				const i = rnd(0, Math.min(queue.length, 64) - 1);
				const t = queue[0];
				queue[0] = queue[i];
				queue[i] = t;
			}
			const first = queue.shift();
			const batch = [first];
			const n = rnd(1, o.batchMax);
			for (let i = 0; i < queue.length && batch.length < n; ) {
				if (queue[i].product === first.product && !batch.some((b) => b.id === queue[i].id)) batch.push(queue.splice(i, 1)[0]);
				else i++;
			}
			const dup = batch.some((b) => b.dupOf);
			deliver(first.product, batch, dup);
			// Now and then the very same batch twice at once.
			if (o.dupRate && Math.random() < o.dupRate / 3) deliver(first.product, batch.map((b) => ({ ...b })), true);
		}
	}

	// --- customers write -------------------------------------------------------------------

	const whatsapp = {
		message({ from, name = null, text, type = 'text', phoneNumberId = o.phoneNumberIds[0], at = Date.now(), context = null, raw = null }) {
			const mid = 'wamid.' + Buffer.from(id('HBg')).toString('base64');
			const payload = raw || { from, id: mid, timestamp: String(Math.floor(at / 1000)), type };
			if (!raw) {
				if (type === 'text') payload.text = { body: text };
				else if (type === 'image') payload.image = { caption: text, mime_type: 'image/jpeg', sha256: 'x', id: '123' };
				else if (type === 'reaction') payload.reaction = { message_id: context, emoji: text };
				if (context && type !== 'reaction') payload.context = { from: '15550783881', id: context };
			}
			const c = customer('whatsapp', from);
			c.lastAt = Math.max(c.lastAt, at);
			c.number = phoneNumberId;
			const ev = { product: 'whatsapp', kind: 'message', id: payload.id || mid, pnid: phoneNumberId, payload, contact: name ? { profile: { name }, wa_id: from } : null };
			events.set(ev.id, ev);
			enqueue(ev);
			return { id: ev.id, thread: `${phoneNumberId}:${from}` };
		},
	};

	const ownerOf = (product) => (product === 'instagram' ? o.igId : o.pageId);

	function pageMessage(product, { from, text, at = Date.now(), standby = false, attachments = null, postback = null }) {
		const owner = ownerOf(product);
		const c = customer(product, from);
		// While another app controls the conversation, its events go to us
		// under `standby`.
		standby = standby || !!c.threadOwner;
		let mid = (product === 'instagram' ? 'aWdfZ' : 'm_') + id('');
		const payload = { sender: { id: from }, recipient: { id: owner }, timestamp: at };
		if (postback) {
			// A tapped button: no mid (the daemon makes its id from the
			// sender and the timestamp).
			payload.postback = { title: postback.title, payload: postback.payload };
			mid = `pb.${from}.${at}`;
		} else {
			const message = { mid };
			if (text !== undefined && text !== null) message.text = text;
			if (attachments) message.attachments = attachments;
			payload.message = message;
		}
		// The window counts every message of the customer, whoever has the
		// conversation.
		c.lastAt = Math.max(c.lastAt, at);
		const ev = { product, kind: 'message', id: mid, payload, standby };
		events.set(mid, ev);
		enqueue(ev);
		return { id: mid, thread: `${owner}:${from}`, standby };
	}

	// A notice that is no message (receipts, reactions, handovers).
	function notice(product, from, fields, standby = false) {
		const payload = { sender: { id: from }, recipient: { id: ownerOf(product) }, timestamp: Date.now(), ...fields };
		const ev = { product, kind: 'notice', id: `n.${id('')}`, payload, standby };
		events.set(ev.id, ev);
		enqueue(ev);
		return { id: ev.id };
	}

	function takeThread(product, from, appId = INBOX_APP_ID) {
		customer(product, from).threadOwner = String(appId);
		return notice(product, from, { take_thread_control: { previous_owner_app_id: o.appId, new_owner_app_id: String(appId), metadata: 'taken' } });
	}

	function passThreadBack(product, from) {
		const c = customer(product, from);
		const prev = c.threadOwner;
		c.threadOwner = null;
		return notice(product, from, { pass_thread_control: { previous_owner_app_id: prev, new_owner_app_id: o.appId, metadata: 'back to the bot' } });
	}

	// What the Page sends comes back as an echo.
	function echo(product, to, text, appId, metadata) {
		const owner = product === 'instagram' ? o.igId : o.pageId;
		const mid = (product === 'instagram' ? 'aWdfZ' : 'm_') + id('');
		const message = { mid, is_echo: true, text };
		if (appId !== null && appId !== undefined) message.app_id = Number(appId);
		if (metadata) message.metadata = metadata;
		const payload = { sender: { id: owner }, recipient: { id: to }, timestamp: Date.now(), message };
		const ev = { product, kind: 'echo', id: mid, payload };
		events.set(mid, ev);
		enqueue(ev);
		return { id: mid };
	}

	const pageProduct = (product) => ({
		message: (m) => pageMessage(product, m),
		standby: (m) => pageMessage(product, { ...m, standby: true }),
		postback: ({ from, title, payload = 'P', at = Date.now() }) => pageMessage(product, { from, at, postback: { title, payload } }),
		// A person answers in the Page inbox / the Instagram app (or
		// another app does; appId null: an echo without app_id).
		inboxReply: ({ to, text, appId = INBOX_APP_ID }) => echo(product, to, text, appId, null),
		react: ({ from, mid, emoji = 'love' }) => notice(product, from, { reaction: { mid, action: 'react', reaction: emoji } }),
		takeThread: (from, appId) => takeThread(product, from, appId),
		passThreadBack: (from) => passThreadBack(product, from),
	});
	const messenger = pageProduct('messenger');
	const instagram = pageProduct('instagram');

	// A delivery with the right shape and a wrong signature.
	async function forge(product, text = 'when are you open?') {
		const url = callbacks[product];
		const from = product === 'whatsapp' ? '4900000000000' : 'forged-user';
		const fid = product === 'whatsapp' ? 'wamid.FORGED' + id('') : 'm_FORGED' + id('');
		let body;
		if (product === 'whatsapp') {
			body = JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: 'WABA-1', changes: [{ field: 'messages', value: {
				messaging_product: 'whatsapp', metadata: { phone_number_id: o.phoneNumberIds[0] }, contacts: [{ profile: { name: 'Mallory' }, wa_id: from }],
				messages: [{ from, id: fid, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: text } }] } }] }] });
		} else {
			const owner = product === 'instagram' ? o.igId : o.pageId;
			body = escapeNonAscii(JSON.stringify({ object: product === 'instagram' ? 'instagram' : 'page', entry: [{ id: owner, time: Date.now(), messaging: [
				{ sender: { id: from }, recipient: { id: owner }, timestamp: Date.now(), message: { mid: fid, text } }] }] }));
		}
		const variants = [sign('not-the-app-secret', body), sign(o.appSecret, body + ' '), 'sha256=' + '0'.repeat(64), 'sha1=abc', null];
		const signature = variants[rnd(0, variants.length - 1)];
		const status = await new Promise((resolve) => {
			const u = new URL(url);
			const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
			if (signature) headers['x-hub-signature-256'] = signature;
			const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers, agent: false }, (res) => {
				res.resume();
				res.on('end', () => resolve(res.statusCode));
				// The daemon killed between the answer's head and its end:
				// the response is cut, neither 'end' nor the request's 'error'
				// follows.  Counted as not received, as Meta would.
				res.on('error', () => resolve(0));
				res.on('close', () => resolve(res.complete ? res.statusCode : 0));
			});
			req.on('error', () => resolve(0));
			// A webhook that never answers is a finding, not a hang.
			req.setTimeout(o.timeoutMs, () => {
				req.destroy();
				resolve(-1);
			});
			req.end(body);
		});
		deliveries.push({ product, at: Date.now(), status, ids: [fid], forged: true });
		return { id: fid, status };
	}

	// --- the Graph API -----------------------------------------------------------------------

	function graphError(res, httpStatus, code, message, extra = {}) {
		const body = { error: { message, type: code === 190 ? 'OAuthException' : 'OAuthException', code, fbtrace_id: 'A' + crypto.randomBytes(8).toString('hex'), ...extra } };
		res.writeHead(httpStatus, { 'content-type': 'application/json' });
		res.end(JSON.stringify(body));
	}

	function json(res, status, body) {
		res.writeHead(status, { 'content-type': 'application/json' });
		res.end(JSON.stringify(body));
	}

	function pairCheck(c, to) {
		const n = pairStorms.get(to) || 0;
		if (n > 0) {
			pairStorms.set(to, n - 1);
			return true;
		}
		if (!o.pairLimit) return false;
		const now = Date.now();
		c.sends = c.sends.filter((t) => now - t < o.pairLimit.perMs);
		return c.sends.length >= o.pairLimit.burst;
	}

	function whatsappSend(req, res, pnid, body) {
		const auth = req.headers.authorization || '';
		if (auth !== `Bearer ${o.tokens.whatsapp}` || badToken.whatsapp)
			return graphError(res, 401, 190, 'Error validating access token: Session has expired', { error_subcode: 463 });
		if (!o.phoneNumberIds.includes(pnid)) return graphError(res, 400, 100, 'Unsupported post request. Object does not exist');
		if (!body || body.messaging_product !== 'whatsapp') return graphError(res, 400, 100, '(#100) Invalid parameter');
		if (body.status === 'read') {
			reads.push({ product: 'whatsapp', at: Date.now(), message_id: body.message_id, pnid });
			if (!events.has(body.message_id)) return graphError(res, 400, 100, '(#100) Invalid parameter');
			return json(res, 200, { success: true });
		}
		const to = body.to;
		const text = body.text && body.text.body;
		// One clock reading for the record and the storm check: a send
		// accepted the millisecond the storm ends is not "during" it.
		const now = Date.now();
		const rec = { product: 'whatsapp', at: now, to, text, pnid, context: body.context && body.context.message_id, marker: body.biz_opaque_callback_data };
		const c = customers.get(`whatsapp:${to}`);
		const refuse = (status, code, msg, extra) => {
			refused.push({ ...rec, code });
			return graphError(res, status, code, msg, extra);
		};
		if (!c) return refuse(400, 131026, 'Message undeliverable', { error_data: { details: 'the recipient is not a WhatsApp user we know' } });
		if (c.number && c.number !== pnid) return refuse(400, 131026, 'Message undeliverable', { error_data: { details: 'the customer wrote to another number' } });
		if (body.type !== 'text' || typeof text !== 'string' || !text.length) return refuse(400, 100, '(#100) Invalid parameter');
		if ([...text].length > 4096) return refuse(400, 100, '(#100) Param text[\'body\'] must be at most 4096 characters long.');
		if (now < stormUntil.whatsapp) return refuse(400, 130429, 'Rate limit hit', { error_data: { details: 'Cloud API message throughput has been reached.' } });
		if (Date.now() - c.lastAt > DAY) return refuse(400, 131047, 'Re-engagement message', { error_data: { details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.' } });
		if (pairCheck(c, to)) return refuse(400, 131056, '(Business Account, Consumer Account) pair rate limit hit', { error_data: { details: 'Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.' } });
		c.sends.push(Date.now());
		const wamid = 'wamid.' + Buffer.from(id('out')).toString('base64');
		sent.push({ ...rec, id: wamid, thread: `${pnid}:${to}` });
		json(res, 200, { messaging_product: 'whatsapp', contacts: [{ input: to, wa_id: to }], messages: [{ id: wamid }] });
		if (o.statuses) {
			const failed = failLaterIds.has(to);
			const states = failed ? ['failed'] : ['sent', 'delivered', 'read'];
			let t = 0;
			for (const s of states) {
				t += rnd(5, 40);
				setTimeout(() => {
					if (closed) return;
					const st = { id: wamid, status: s, timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: to };
					if (rec.marker) st.biz_opaque_callback_data = rec.marker;
					if (failed) st.errors = [{ code: 131056, title: 'Pair rate limit hit', message: 'Pair rate limit hit', error_data: { details: 'too many messages' } }];
					const ev = { product: 'whatsapp', kind: 'status', id: `${wamid}/${s}`, pnid, payload: st };
					enqueue(ev);
				}, t);
			}
		}
	}

	function pageSend(req, res, u, body) {
		const token = u.searchParams.get('access_token') || (req.headers.authorization || '').replace(/^Bearer /, '');
		const product = token === o.tokens.instagram ? 'instagram' : token === o.tokens.messenger ? 'messenger' : null;
		if (!product || badToken[product]) return graphError(res, 400, 190, 'Error validating access token: The session has been invalidated', { error_subcode: 460 });
		const to = body && body.recipient && body.recipient.id;
		const c = customers.get(`${product}:${to}`);
		if (body && body.sender_action) {
			reads.push({ product, at: Date.now(), to, action: body.sender_action });
			return c ? json(res, 200, { recipient_id: to }) : graphError(res, 400, 100, '(#100) No matching user found', { error_subcode: 2018001 });
		}
		const text = body && body.message && body.message.text;
		const now = Date.now();
		const rec = { product, at: now, to, text, messagingType: body && body.messaging_type, tag: body && body.tag,
			marker: body && body.message && body.message.metadata, context: body && body.reply_to && body.reply_to.mid };
		const refuse = (status, code, msg, extra) => {
			refused.push({ ...rec, code });
			return graphError(res, status, code, msg, extra);
		};
		if (!c) return refuse(400, 100, '(#100) No matching user found', { error_subcode: 2018001 });
		if (typeof text !== 'string' || !text.length) return refuse(400, 100, '(#100) Invalid parameter');
		if (product === 'messenger' && [...text].length > 2000) return refuse(400, 100, '(#100) Length of param message[text] must be less than or equal to 2000');
		if (product === 'instagram' && Buffer.byteLength(text) > 1000) return refuse(400, 100, '(#100) Length of param message[text] must be less than or equal to 1000 bytes');
		if (now < stormUntil[product]) return refuse(400, 613, 'Calls to this api have exceeded the rate limit.');
		if (c.threadOwner) return refuse(400, 10, '(#10) This app does not have thread control of this conversation.', { error_subcode: 2018300 });
		const age = Date.now() - c.lastAt;
		const type = rec.messagingType;
		const windowClosed = () => product === 'instagram'
			? refuse(400, 1545041, 'The message is sent outside of allowed window.')
			: refuse(400, 10, '(#10) This message is sent outside of allowed window.', { error_subcode: 2018278 });
		if (type === 'RESPONSE' || type === 'UPDATE') {
			if (age > DAY) return windowClosed();
		} else if (type === 'MESSAGE_TAG') {
			if (rec.tag !== 'HUMAN_AGENT') return refuse(400, 100, '(#100) Invalid tag');
			if (age > 7 * DAY) return windowClosed();
		} else return refuse(400, 100, '(#100) param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}');
		const mid = (product === 'instagram' ? 'aWdfZ' : 'm_') + id('out');
		sent.push({ ...rec, id: mid, thread: `${product === 'instagram' ? o.igId : o.pageId}:${to}` });
		// `answerDelayMs`: the message is taken at once, the answer comes
		// late (a test can kill the sender in between: outcome unknown).
		if (o.answerDelayMs) setTimeout(() => { try { json(res, 200, { recipient_id: to, message_id: mid }); } catch { /* gone */ } }, o.answerDelayMs);
		else json(res, 200, { recipient_id: to, message_id: mid });
		if (product === 'instagram' || o.echoes) setTimeout(() => { if (!closed) echo(product, to, text, o.appId, rec.marker); }, rnd(5, 40));
		if (o.receipts) {
			// The customer's app reports delivery and reading.
			setTimeout(() => {
				if (closed) return;
				const now = Date.now();
				if (product === 'messenger') notice(product, to, { delivery: { mids: [mid], watermark: now } });
				notice(product, to, { read: product === 'instagram' ? { mid } : { watermark: now } });
			}, rnd(10, 60));
		}
	}

	const server = http.createServer((req, res) => {
		let data = '';
		req.on('data', (c) => (data += c));
		req.on('end', () => {
			const u = new URL(req.url, 'http://x');
			const parts = u.pathname.split('/').filter(Boolean);
			let body = null;
			try {
				body = data ? JSON.parse(data) : null;
			} catch {
				return graphError(res, 400, 100, 'Invalid JSON');
			}
			if (parts[0] !== o.version) return graphError(res, 400, 2500, 'Unknown path components');
			if (req.method === 'GET' && parts.length === 2) {
				const who = parts[1];
				if (o.phoneNumberIds.includes(who)) {
					if ((req.headers.authorization || '') !== `Bearer ${o.tokens.whatsapp}` || badToken.whatsapp) return graphError(res, 401, 190, 'Error validating access token');
					return json(res, 200, { verified_name: 'Test Bakery', display_phone_number: '+1 555-078-3881', id: who });
				}
				const token = u.searchParams.get('access_token') || (req.headers.authorization || '').replace(/^Bearer /, '');
				if (who === o.pageId || who === 'me') {
					if (token !== o.tokens.messenger || badToken.messenger) return graphError(res, 400, 190, 'Error validating access token');
					return json(res, 200, { name: 'Test Bakery', id: o.pageId });
				}
				if (who === o.igId) {
					if (token !== o.tokens.instagram || badToken.instagram) return graphError(res, 400, 190, 'Error validating access token');
					return json(res, 200, { username: 'testbakery', id: o.igId });
				}
				return graphError(res, 400, 100, 'Unsupported get request');
			}
			if (req.method === 'POST' && parts.length === 3 && parts[2] === 'messages') {
				if (parts[1] === 'me') return pageSend(req, res, u, body);
				return whatsappSend(req, res, parts[1], body);
			}
			graphError(res, 400, 2500, 'Unknown path components');
		});
	});
	await new Promise((r) => server.listen(o.port || 0, '127.0.0.1', r));
	const port = server.address().port;

	const emu = {
		url: `http://127.0.0.1:${port}`,
		opts: o,
		whatsapp,
		messenger,
		instagram,
		sent,
		refused,
		reads,
		deliveries,
		acks,
		verifies,
		customers,
		// Subscribe `product`'s webhook to url: the subscription check
		// first (resolves { status, body }; the webhook is used only when
		// the challenge came back).
		async subscribe(product, url, verifyToken = o.verifyToken) {
			const challenge = String(rnd(100000000, 999999999));
			const q = `?hub.mode=subscribe&hub.challenge=${challenge}&hub.verify_token=${encodeURIComponent(verifyToken)}`;
			const r = await new Promise((resolve) => {
				const req = http.get(url + q, { agent: false }, (res) => {
					let b = '';
					res.on('data', (c) => (b += c));
					res.on('end', () => resolve({ status: res.statusCode, body: b }));
					res.on('close', () => resolve({ status: res.complete ? res.statusCode : 0, body: b }));
				}).on('error', (e) => resolve({ status: 0, body: String(e) }));
				req.setTimeout(o.timeoutMs, () => {
					req.destroy();
					resolve({ status: -1, body: `no answer in ${o.timeoutMs} ms` });
				});
			});
			verifies.push({ product, ...r });
			if (r.status === 200 && r.body === challenge) {
				callbacks[product] = url;
				pump();
				return { ...r, ok: true };
			}
			return { ...r, ok: false };
		},
		forge,
		// The platform delivers the event of message `mid` again.
		redeliver(mid) {
			const ev = events.get(mid);
			if (ev) enqueue({ ...ev, dupOf: true });
		},
		// While true, deliveries cannot reach the daemon (they are retried).
		setDown(v) {
			down = v;
			if (!v) pump();
		},
		storm(product, ms) {
			stormUntil[product] = Date.now() + ms;
			return stormUntil[product];
		},
		// The next n sends to `to` get 131056.
		pairStorm(to, n) {
			pairStorms.set(to, n);
		},
		// Sends to `to` are reported `failed` (131056) in a later status.
		failLater(to) {
			failLaterIds.add(to);
		},
		expireToken(product, v = true) {
			badToken[product] = v;
		},
		// Called with (product, messageIds) right after a delivery was answered 200.
		onAck(fn) {
			onAck = fn;
		},
		// The bot's messages answering customer message ref (they quote it:
		// WhatsApp context.message_id, the Send API's reply_to.mid).
		repliesTo(ref) {
			return sent.filter((s) => s.context === ref.id);
		},
		// Every message the bot sent in the conversation of ref.
		inThread(ref) {
			return sent.filter((s) => s.thread === ref.thread);
		},
		pending: () => queue.length + retries.length + inflight,
		async close() {
			closed = true;
			await new Promise((r) => server.close(r));
			server.closeAllConnections && server.closeAllConnections();
		},
	};
	return emu;
}

// Alone, for trying the daemon by hand:
//   node tests/e2e/meta-emulator.mjs [port]
if (import.meta.url === `file://${process.argv[1]}`) {
	const emu = await startMetaEmulator({ port: Number(process.argv[2] || 0) });
	console.log(`Meta emulator: Graph API at ${emu.url}; app secret ${emu.opts.appSecret}, verify token ${emu.opts.verifyToken}`);
}
