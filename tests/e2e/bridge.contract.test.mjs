// The connector contract (lib/contract.mjs) run against the bridge: the
// "platform" is tests/e2e/bridge-peer.mjs, an adapter that keeps its posts
// and the replies it delivered; this file only tells the suite how to speak
// to it.
//
//   BUILD=build node --test tests/e2e/bridge.contract.test.mjs
import { contract } from './lib/contract.mjs';
import { freePort } from './lib/daemon.mjs';
import { startBridgePeer } from './bridge-peer.mjs';

const TOKEN = 'contract-bridge-token-0123456789';
const LIMIT = 300; // max_length: small, so a long answer must be split

const shown = (r) => ({ text: r.text, private: r.private, at: r.at });

contract({
	name: 'bridge',
	maxLength: LIMIT,
	limit: LIMIT,
	length: (t) => [...t].length,

	async start() {
		return startBridgePeer({ port: await freePort(), token: TOKEN });
	},
	stop: (emu) => emu.close(),
	connector: (emu) => ({
		yaml: `{ type: bridge, listen: "127.0.0.1:${emu.port}", token_env: FD_CONTRACT_BRIDGE_TOKEN, max_length: ${LIMIT} }`,
		env: { FD_CONTRACT_BRIDGE_TOKEN: TOKEN },
	}),
	async ready(d) {
		await d.waitLog(/bridge: adapter connected/, 15000);
	},

	customer: (emu, i) => ({ id: `cust${i}`, name: `Customer ${i}`, bot: false }),
	bot: () => ({ id: 'otherbot', name: 'Other Bot', bot: true }),
	self: () => ({ id: 'frontdesk', name: 'Contract Bakery', bot: true }),

	// Private: the customer's one-to-one conversation; public: a thread under
	// the message in a room (or the thread of replyTo).
	post(emu, { from, text, private: priv, replyTo }) {
		const id = emu.nextId();
		let thread = `general:${id}`;
		if (priv) thread = `dm:${from.id}`;
		else if (replyTo && !replyTo.private) thread = replyTo.thread;
		return emu.post({ id, author: from, thread, text, private: priv });
	},
	redeliver: (emu, ref) => emu.redeliver(ref),
	drop: (emu) => emu.drop(),
	setDown: (emu, down) => emu.setDown(down),

	replies: (emu, ref) => emu.repliesTo(ref.id).map(shown),
	sent: (emu) => emu.sent.map(shown),
	rateLimit: (emu, ms) => emu.rateLimit(ms),
});
