// A platform and its adapter as frontdesk's bridge sees them
// (docs/bridge-protocol.md): a WebSocket client of ws://127.0.0.1:PORT/bridge
// that keeps the platform's posts and the replies it delivered, and behaves
// as the protocol asks an adapter to, including its unpleasant parts:
//
//   - a post is kept until frontdesk says `stored`; after every reconnect
//     the posts not stored yet are sent again, in order;
//   - a reply id is an idempotency key: a reply frame whose id was
//     delivered already is answered `delivered` again and not posted twice
//     (counted in `redelivered`);
//   - rateLimit(ms): for that long every reply is answered `failed` with
//     `retry_after_ms` (the time left), and nothing is posted;
//   - with `chaos`: now and then a reply is answered `failed` without a
//     retry time, and now and then the socket is cut right after a reply
//     was posted and before `delivered` went out (an adapter crash), so
//     frontdesk must send it again and the peer must not post it twice;
//   - drop() cuts the socket at once; setDown(true) keeps it from coming
//     back; the peer reconnects by itself otherwise (also while frontdesk is
//     down: connection refused, retried every 100-300 ms).
//
// Violations the tests assert on: a reply sent again, on the socket that
// carried the peer's `failed`, before its `retry_after_ms` had passed
// (`early`), a reply sent
// again on the very socket that had confirmed it (`sameSocket`), a frame
// that breaks the protocol (`bad`).
import WebSocket from 'ws';

export function startBridgePeer({ port, token, chaos = 0, rand = Math.random }) {
	const url = `ws://127.0.0.1:${port}/bridge`;
	const emu = {
		url,
		port,
		token,
		posts: new Map(), // id -> { id, thread, author, private, text, stored: 0 }
		order: [], // post ids in the order written
		sent: [], // replies posted: { id, thread, reply_to, private, text, agent, at }
		byId: new Map(), // reply id -> reply posted
		redelivered: 0,
		sameSocket: [], // reply ids sent again on the socket that had confirmed them
		failedSent: 0,
		cuts: 0,
		connects: 0,
		errors: [], // error frames from frontdesk
		bad: [], // reply frames that break the protocol
		early: [], // reply ids sent again before their retry_after_ms (must stay empty)
		notBefore: new Map(), // reply id -> { until, ws }: when the peer said it may come again, on which socket
		limitUntil: 0,
		down: false,
		closed: false,
		ws: null,
		open: false,
	};
	let seq = 0;
	let timer = null;

	const send = (o) => {
		if (emu.open) emu.ws.send(JSON.stringify(o));
	};
	const frame = (p) => ({ type: 'post', id: p.id, thread: p.thread, author: p.author, private: p.private, text: p.text, ts: p.ts });

	function connect() {
		timer = null;
		if (emu.closed || emu.down || emu.ws) return;
		const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` }, handshakeTimeout: 5000 });
		emu.ws = ws;
		ws.on('open', () => {
			emu.open = true;
			emu.connects++;
			for (const id of emu.order) {
				const p = emu.posts.get(id);
				if (!p.stored) send(frame(p));
			}
		});
		ws.on('message', (data) => onFrame(ws, data.toString('utf8')));
		ws.on('error', () => {});
		ws.on('close', () => {
			if (emu.ws === ws) {
				emu.ws = null;
				emu.open = false;
			}
			again();
		});
	}
	function again() {
		if (emu.closed || emu.down || timer || emu.ws) return;
		timer = setTimeout(connect, 100 + Math.floor(rand() * 200));
	}

	function onFrame(ws, text) {
		if (ws !== emu.ws) return; // an old socket's last words
		let f;
		try {
			f = JSON.parse(text);
		} catch {
			emu.bad.push(text);
			return;
		}
		if (f.type === 'stored') {
			const p = emu.posts.get(f.id);
			if (p) p.stored++;
			else emu.bad.push(text);
		} else if (f.type === 'error') {
			emu.errors.push(f);
		} else if (f.type === 'reply') {
			onReply(ws, f, text);
		} else {
			emu.bad.push(text);
		}
	}

	function onReply(ws, f, text) {
		if (typeof f.id !== 'string' || typeof f.thread !== 'string' || typeof f.text !== 'string' || typeof f.private !== 'boolean') {
			emu.bad.push(text);
			return;
		}
		const now = Date.now();
		// Early on the socket that carried the `failed`: frontdesk had it (a
		// `failed` on a socket that died since may never have arrived).
		const nb = emu.notBefore.get(f.id);
		if (nb && nb.until > now && nb.ws === ws) emu.early.push({ id: f.id, early_ms: nb.until - now });
		if (emu.byId.has(f.id)) {
			emu.redelivered++;
			// On the socket that confirmed it: frontdesk ignored a `delivered`.
			if (emu.byId.get(f.id).ws === ws) emu.sameSocket.push(f.id);
			send({ type: 'delivered', id: f.id });
			return;
		}
		if (now < emu.limitUntil) {
			emu.notBefore.set(f.id, { until: emu.limitUntil, ws });
			send({ type: 'failed', id: f.id, retry_after_ms: emu.limitUntil - now, error: 'rate limited' });
			return;
		}
		if (chaos && rand() < chaos) {
			emu.failedSent++;
			send({ type: 'failed', id: f.id, error: 'the platform had a hiccup' });
			return;
		}
		const r = { id: f.id, thread: f.thread, reply_to: f.reply_to, private: f.private, text: f.text, agent: f.agent, at: now };
		emu.sent.push(r);
		emu.byId.set(f.id, r);
		Object.defineProperty(r, 'ws', { value: ws, enumerable: false });
		if (chaos && rand() < chaos) {
			// Posted on the platform, and the adapter died before it said so.
			emu.cuts++;
			ws.terminate();
			return;
		}
		send({ type: 'delivered', id: f.id });
	}

	// A post from `author` ({ id, name, bot }) in `thread`; returns it.
	emu.post = ({ author, thread, text, private: priv = false, id }) => {
		const p = { id: id || `p${++seq}`, thread, author, private: priv, text, ts: new Date().toISOString(), stored: 0 };
		emu.posts.set(p.id, p);
		emu.order.push(p.id);
		send(frame(p));
		return p;
	};
	emu.nextId = () => `p${++seq}`;
	emu.redeliver = (p) => send(frame(p));
	emu.raw = (s) => emu.open && emu.ws.send(s);
	emu.drop = () => {
		if (emu.ws) emu.ws.terminate();
	};
	emu.setDown = (down) => {
		emu.down = down;
		if (!down) again();
	};
	emu.rateLimit = (ms) => {
		emu.limitUntil = Date.now() + ms;
		return emu.limitUntil;
	};
	emu.repliesTo = (id) => emu.sent.filter((r) => r.reply_to === id);
	emu.unstored = () => emu.order.filter((id) => !emu.posts.get(id).stored);
	emu.close = async () => {
		emu.closed = true;
		if (timer) clearTimeout(timer);
		if (emu.ws) emu.ws.terminate();
	};
	connect();
	return emu;
}
