// The connector contract (lib/contract.mjs) run against the Mattermost
// emulator: this file is only the adapter that tells the suite how to speak
// to it.
//
//   BUILD=build node --test tests/e2e/mattermost.contract.test.mjs
import { contract } from './lib/contract.mjs';
import { startMattermostEmulator, postLength } from './mattermost-emulator.mjs';

const TOKEN = 'contract-token-0123456789';
const LIMIT = 300; // the emulator's MaxPostSize: small, so a long answer must be split

const isDm = (emu, p) => emu.channels.get(p.channel_id).type === 'D';
const shown = (emu, b) => ({ text: b.post.message, private: isDm(emu, b.post), at: b.at });

contract({
	name: 'mattermost',
	maxLength: LIMIT,
	limit: LIMIT,
	length: postLength,

	async start() {
		const emu = await startMattermostEmulator({ token: TOKEN, maxPostSize: LIMIT, chatter: true });
		emu.town = emu.channel({ name: 'town-square' });
		return emu;
	},
	stop: (emu) => emu.close(),
	connector: (emu) => ({
		yaml: `{ type: mattermost, instance: "${emu.url}", token_env: FD_CONTRACT_MM_TOKEN }`,
		env: { FD_CONTRACT_MM_TOKEN: TOKEN },
	}),
	// Signed in and connected (a hello, or a resumed session).
	async ready(d) {
		await d.waitLog(/mattermost: connected/, 15000);
	},

	customer(emu, i) {
		const name = `cust${i}`;
		const u = [...emu.users.values()].find((x) => x.username === name) || emu.user({ username: name });
		emu.town.members.add(u.id);
		return u;
	},
	bot(emu) {
		const u = emu.user({ username: 'otherbot', bot: true });
		emu.town.members.add(u.id);
		return u;
	},
	self: (emu) => emu.me,

	// Public: the town square (in the thread of replyTo when given); private: a DM.
	post(emu, { from, text, private: priv, replyTo }) {
		let p;
		if (priv) p = emu.post({ from, channel: emu.dm(from), text });
		else if (replyTo && !isDm(emu, replyTo.post)) p = emu.post({ from, replyTo: replyTo.post, text });
		else p = emu.post({ from, channel: emu.town, text });
		return { id: p.id, post: p };
	},
	redeliver: (emu, ref) => emu.redeliver(ref.post),
	drop: (emu) => emu.dropAll(),
	setDown(emu, down) {
		emu.refuseSocket = down ? 503 : 0;
	},

	replies: (emu, ref) => emu.botPosts.filter((b) => b.post.props.frontdesk_reply_to === ref.id).map((b) => shown(emu, b)),
	sent: (emu) => emu.botPosts.map((b) => shown(emu, b)),
	rateLimit: (emu, ms) => emu.storm(ms),
});
