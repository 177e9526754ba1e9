// The connector contract (lib/contract.mjs) run against the Slack emulator:
// this file is only the adapter that tells the suite how to speak to it.
//
//   BUILD=build node --test tests/e2e/slack.contract.test.mjs
import { contract } from './lib/contract.mjs';
import { startSlackEmulator, slackLength } from './slack-emulator.mjs';

const CHANNELS = 8; // public questions spread over channels: Slack paces a channel to ~1 message a second

const shown = (p) => ({ text: p.text, private: p.private, at: p.at });

contract({
	name: 'slack',
	maxLength: 4000,
	length: slackLength,

	async start() {
		// Slack's redelivery schedule (at once, +1 min, +5 min), compressed.
		const emu = await startSlackEmulator({ retryDelaysMs: [0, 1000, 3000] });
		emu.public = Array.from({ length: CHANNELS }, (_, i) => emu.channel({ name: `shop${i}` }));
		emu.turn = 0;
		return emu;
	},
	stop: (emu) => emu.close(),
	connector: (emu) => ({
		yaml: `{ type: slack, instance: "${emu.url}", token_env: FD_CONTRACT_SLACK_BOT, app_token_env: FD_CONTRACT_SLACK_APP }`,
		env: { FD_CONTRACT_SLACK_BOT: emu.options.botToken, FD_CONTRACT_SLACK_APP: emu.options.appToken },
	}),
	// Signed in and a socket said hello.
	async ready(d) {
		await d.waitLog(/slack: connected/, 15000);
	},

	customer: (emu, i) => [...emu.users.values()].find((u) => u.name === `cust${i}`) || emu.user({ name: `cust${i}` }),
	bot: (emu) => emu.user({ name: 'otherbot', bot: true }),
	self: (emu) => emu.me,

	// Public: a channel (the thread of replyTo when given, half of them
	// mentioning the bot, so they arrive twice); private: the DM.
	post(emu, { from, text, private: priv, replyTo }) {
		if (priv) return emu.say({ from, channel: emu.im(from), text });
		if (replyTo && !replyTo.private) return emu.say({ from, channel: replyTo.channel, thread_ts: replyTo.root, text });
		const channel = emu.public[emu.turn++ % CHANNELS];
		return emu.say({ from, channel, text, mention: emu.turn % 2 === 0 });
	},
	redeliver: (emu, ref) => emu.redeliver(ref),
	drop: (emu) => emu.dropAll(),
	setDown: (emu, down) => emu.setDown(down),

	replies: (emu, ref) => emu.repliesTo(ref).map(shown),
	sent: (emu) => emu.posted.map(shown),
	rateLimit: (emu, ms) => emu.storm(ms),
});
