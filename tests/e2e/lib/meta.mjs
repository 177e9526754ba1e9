// What the tests of the three Meta connectors share: the connector
// contract's adapter (lib/contract.mjs) for a Meta product, against the
// Meta emulator.  Every conversation is one to one; deliveries come signed,
// batched, duplicated and out of order, and a "dropped connection" is a
// moment in which Meta cannot reach the webhook (it retries).
import assert from 'node:assert/strict';
import { freePort } from './daemon.mjs';
import { startMetaEmulator } from '../meta-emulator.mjs';

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
