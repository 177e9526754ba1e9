// The connector contract (lib/contract.mjs) run against the Mastodon
// emulator: this file is only the adapter that tells the suite how to speak
// to it.  A new connector copies this file and writes its own adapter.
//
//   BUILD=build node --test tests/e2e/mastodon.contract.test.mjs
import { contract } from './lib/contract.mjs';
import { startMastodonEmulator, statusLength } from './mastodon-emulator.mjs';

const TOKEN = 'contract-token-0123456789';
const LIMIT = 300; // the emulator's max_characters: small, so a long answer must be split

contract({
	name: 'mastodon',
	maxLength: LIMIT,
	limit: LIMIT,
	length: statusLength,

	start: () =>
		startMastodonEmulator({
			token: TOKEN,
			maxChars: LIMIT,
			pingMs: 1000,
			rateLimit: { limit: 1000000, windowMs: 300000 },
			statusLimit: { limit: 1000000, windowMs: 3 * 3600 * 1000 },
		}),
	stop: (emu) => emu.close(),
	connector: (emu) => ({
		yaml: `{ type: mastodon, instance: "${emu.url}", token_env: FD_CONTRACT_MASTODON_TOKEN }`,
		env: { FD_CONTRACT_MASTODON_TOKEN: TOKEN },
	}),
	// Signed in and streaming, with a cursor: from then on every mention counts.
	async ready(d) {
		await d.waitLog(/first start|mastodon: starting.*cursor=\d/, 15000);
		await d.waitLog('mastodon: stream connected', 15000);
	},

	customer: (emu, i) => emu.accounts.get(`contract-cust-${i}`) || emu.account({ username: `cust${i}`, id: `contract-cust-${i}` }),
	bot: (emu) => emu.account({ username: 'otherbot', bot: true }),
	self: (emu) => emu.me,

	post(emu, { from, text, private: priv, replyTo }) {
		const { status } = emu.mention({ from, text, visibility: priv ? 'direct' : 'public', inReplyTo: replyTo ? replyTo.id : null });
		return { id: status.id, status };
	},
	redeliver(emu, ref) {
		const n = emu.notifications.find((x) => x.status && x.status.id === ref.id);
		emu.redeliver(n.id);
	},
	drop: (emu) => emu.dropAll(),
	setDown: (emu, down) => emu.refuseStream(down ? 503 : 0),

	replies: (emu, ref) =>
		emu.posted
			.filter((p) => p.status.in_reply_to_id === ref.id)
			.map((p) => ({ text: p.status.text, private: p.status.visibility === 'direct', at: p.at })),
	sent: (emu) => emu.posted.map((p) => ({ text: p.status.text, private: p.status.visibility === 'direct', at: p.at })),
	rateLimit: (emu, ms) => emu.storm(ms),
});
