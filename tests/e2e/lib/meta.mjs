// What the tests of the three Meta connectors share: the connector
// contract's adapter (lib/contract.mjs) for a Meta product, against the
// Meta emulator.  Every conversation is one to one; deliveries come signed,
// batched, duplicated and out of order, and a "dropped connection" is a
// moment in which Meta cannot reach the webhook (it retries).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { freePort, startDaemon, waitUntil, AGENT_HASH, AGENT_PASSWORD, BUILD } from './daemon.mjs';
import { startMetaEmulator } from '../meta-emulator.mjs';

const SLOW = BUILD.includes('san') ? 3 : 1;

// The bakery the Meta tests run: one FAQ and one escalation.
export const RULES = `- id: opening-hours
  match: { any: ["opening hours", "when are you open"] }
  reply: faq.opening_hours
- id: refund
  match: { any: [refund] }
  escalate: { priority: high }
`;
export const REPLIES = `faq.opening_hours: "We bake from 7:00 every day."
escalated: "Thanks! A person will reply by {{due}}."
negative: "Sorry to hear that. A person will reply by {{due}}."
abusive: "We've received your message."
human: "A person will reply by {{due}}."
waiting: "We have your message; a person will reply soon."
`;

export const sql = (d, q) => execFileSync('sqlite3', [d.db, q]).toString().trim();

// A daemon with the Meta connectors `types` names on the emulator, each
// webhook verified by the emulator's subscription check.  extra: dir and
// ports of an earlier run (a restart), unconfirmedWait.
export async function startMetaDaemon(emu, ports, types, extra = {}) {
	const o = emu.opts;
	const wait = extra.unconfirmedWait || '3s';
	const common = `instance: "${emu.url}", app_secret_env: META_SECRET, verify_token_env: META_VERIFY, unconfirmed_wait: ${wait}`;
	const entries = {
		whatsapp: `{ type: whatsapp, phone_number_id: "${o.phoneNumberIds[0]}", token_env: WA_TOKEN, listen: "127.0.0.1:${ports.whatsapp}", ${common} }`,
		messenger: `{ type: messenger, page_id: "${o.pageId}", app_id: "${o.appId}", token_env: PAGE_TOKEN, listen: "127.0.0.1:${ports.messenger}", ${common} }`,
		instagram: `{ type: instagram, account_id: "${o.igId}", token_env: IG_TOKEN, listen: "127.0.0.1:${ports.instagram}", ${common} }`,
	};
	const d = await startDaemon({
		dir: extra.dir,
		ports: extra.dir ? extra.ports : undefined,
		files: { 'rules.yaml': RULES, 'replies.yaml': REPLIES },
		env: { WA_TOKEN: o.tokens.whatsapp, PAGE_TOKEN: o.tokens.messenger, IG_TOKEN: o.tokens.instagram, META_SECRET: o.appSecret, META_VERIFY: o.verifyToken },
		timeoutMs: 15000 * SLOW,
		config: ({ ports: p }) => `business: { name: Test Bakery, timezone: UTC, hours: { mon-sun: "00:00-24:00" } }
rules: [rules.yaml]
replies: [replies.yaml]
store: { path: frontdesk.db, synchronous: normal }
connectors:
  - { type: webchat, listen: "127.0.0.1:${p.webchat}" }
${types.map((t) => `  - ${entries[t]}`).join('\n')}
dashboard:
  listen: "127.0.0.1:${p.dashboard}"
  agents: [ { login: sam, name: Sam, password_hash: "${AGENT_HASH}" } ]
`,
	});
	try {
		await waitUntil(() => (d.log().match(/meta: token accepted/g) || []).length >= types.length, 15000 * SLOW, 'every token accepted', 100);
		for (const t of types) {
			const r = await emu.subscribe(t, `http://127.0.0.1:${ports[t]}/webhook`);
			assert.ok(r.ok, JSON.stringify(r));
		}
	} catch (e) {
		await d.kill();
		d.cleanup();
		throw e;
	}
	return d;
}

// Signs in to the dashboard as sam: { cookie, csrf }.
export async function dashLogin(d) {
	const r = await fetch(d.url('/api/login', 'dashboard'), {
		method: 'POST',
		headers: { 'Content-Type': 'application/json' },
		body: JSON.stringify({ login: 'sam', password: AGENT_PASSWORD }),
	});
	assert.equal(r.status, 200);
	const body = await r.json();
	return { cookie: r.headers.get('set-cookie').split(';')[0], csrf: body.csrf };
}

const shown = (s) => ({ text: s.text, private: true, at: s.at });

// The facts of each product the adapter needs.
const PRODUCTS = {
	whatsapp: {
		maxLength: 4096,
		length: (t) => [...t].length,
		id: (emu) => `phone_number_id: "${emu.opts.phoneNumberIds[0]}"`,
		customer: (emu, i) => ({ wa: `4915100000${String(i).padStart(3, '0')}`, name: `Customer ${i}` }),
		post: (emu, { from, text }) => emu.whatsapp.message({ from: from.wa, name: from.name, text }),
	},
	messenger: {
		maxLength: 2000,
		length: (t) => [...t].length,
		id: (emu) => `page_id: "${emu.opts.pageId}"`,
		customer: (emu, i) => `25000000000${String(i).padStart(3, '0')}`,
		post: (emu, { from, text }) => emu.messenger.message({ from, text }),
	},
	instagram: {
		maxLength: 1000,
		length: (t) => Buffer.byteLength(t),
		id: (emu) => `account_id: "${emu.opts.igId}"`,
		customer: (emu, i) => `35000000000${String(i).padStart(3, '0')}`,
		post: (emu, { from, text }) => emu.instagram.message({ from, text }),
	},
};

// The contract adapter for `product` ("whatsapp", "messenger", "instagram").
export function metaAdapter(product) {
	const p = PRODUCTS[product];
	return {
		name: product,
		maxLength: p.maxLength,
		limit: p.maxLength,
		length: p.length,
		privateOnly: true,

		async start() {
			const emu = await startMetaEmulator({ dupRate: 0.1 });
			emu.port = await freePort();
			return emu;
		},
		stop: (emu) => emu.close(),
		connector: (emu) => ({
			yaml: `{ type: ${product}, ${p.id(emu)}, instance: "${emu.url}", ` +
				'token_env: FD_CONTRACT_META_TOKEN, app_secret_env: FD_CONTRACT_META_SECRET, ' +
				`verify_token_env: FD_CONTRACT_META_VERIFY, listen: "127.0.0.1:${emu.port}", unconfirmed_wait: 3s }`,
			env: {
				FD_CONTRACT_META_TOKEN: emu.opts.tokens[product],
				FD_CONTRACT_META_SECRET: emu.opts.appSecret,
				FD_CONTRACT_META_VERIFY: emu.opts.verifyToken,
			},
		}),
		// The token works and Meta verified the callback URL.
		async ready(d, emu) {
			await d.waitLog('meta: token accepted', 15000);
			const r = await emu.subscribe(product, `http://127.0.0.1:${emu.port}/webhook`);
			assert.ok(r.ok, `the subscription check failed: ${JSON.stringify(r)}`);
		},

		customer: p.customer,
		post: p.post,
		redeliver: (emu, ref) => emu.redeliver(ref.id),
		drop(emu) {
			emu.setDown(true);
			setTimeout(() => emu.setDown(false), 300);
		},
		setDown: (emu, down) => emu.setDown(down),

		replies: (emu, ref) => emu.repliesTo(ref).map(shown),
		sent: (emu) => emu.sent.filter((s) => s.product === product).map(shown),
		rateLimit: (emu, ms) => emu.storm(product, ms),
	};
}
