// The connector contract (lib/contract.mjs) run against the Meta emulator's
// Messenger: a Facebook Page's conversations, the Send API with
// messaging_type RESPONSE, echoes of what the Page sends, delivery and read
// receipts.  Every conversation is one to one; deliveries come signed
// (non-ASCII escaped as Meta signs it), batched, duplicated and out of
// order, and a "dropped connection" is a moment in which Meta cannot reach
// the webhook (it retries).
//
//   BUILD=build node --test tests/e2e/messenger.contract.test.mjs
import assert from 'node:assert/strict';
import { contract } from './lib/contract.mjs';
import { freePort } from './lib/daemon.mjs';
import { startMetaEmulator } from './meta-emulator.mjs';

const shown = (s) => ({ text: s.text, private: true, at: s.at });

contract({
	name: 'messenger',
	maxLength: 2000,
	length: (t) => [...t].length,
	privateOnly: true,

	async start() {
		const emu = await startMetaEmulator({ dupRate: 0.1 });
		emu.port = await freePort();
		return emu;
	},
	stop: (emu) => emu.close(),
	connector: (emu) => ({
		yaml: `{ type: messenger, page_id: "${emu.opts.pageId}", instance: "${emu.url}", ` +
			'token_env: FD_CONTRACT_PAGE_TOKEN, app_secret_env: FD_CONTRACT_META_SECRET, ' +
			`verify_token_env: FD_CONTRACT_META_VERIFY, listen: "127.0.0.1:${emu.port}", unconfirmed_wait: 3s }`,
		env: {
			FD_CONTRACT_PAGE_TOKEN: emu.opts.tokens.messenger,
			FD_CONTRACT_META_SECRET: emu.opts.appSecret,
			FD_CONTRACT_META_VERIFY: emu.opts.verifyToken,
		},
	}),
	// The token works and Meta verified the callback URL.
	async ready(d, emu) {
		await d.waitLog('meta: token accepted', 15000);
		const r = await emu.subscribe('messenger', `http://127.0.0.1:${emu.port}/webhook`);
		assert.ok(r.ok, `the subscription check failed: ${JSON.stringify(r)}`);
	},

	customer: (emu, i) => `25000000000${String(i).padStart(3, '0')}`,
	post: (emu, { from, text }) => emu.messenger.message({ from, text }),
	redeliver: (emu, ref) => emu.redeliver(ref.id),
	drop(emu) {
		emu.setDown(true);
		setTimeout(() => emu.setDown(false), 300);
	},
	setDown: (emu, down) => emu.setDown(down),

	replies: (emu, ref) => emu.repliesTo(ref).map(shown),
	sent: (emu) => emu.sent.filter((s) => s.product === 'messenger').map(shown),
	rateLimit: (emu, ms) => emu.storm('messenger', ms),
});
