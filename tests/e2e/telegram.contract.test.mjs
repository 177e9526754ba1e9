// The connector contract (lib/contract.mjs) run against the Telegram
// emulator: this file is only the adapter that tells the suite how to speak
// to it.  A public post opens a topic of its own in a forum group (a
// conversation is a chat, or a chat's topic, so each post is one, as a
// thread is elsewhere), one group per customer (a group takes 20
// messages a minute), addressed to the bot with an @mention (the bot is an
// admin there, so privacy mode lets mentions through); private ones go to
// the customer's private chat.
//
//   BUILD=build node --test tests/e2e/telegram.contract.test.mjs
import { contract } from './lib/contract.mjs';
import { startTelegramEmulator, messageLength } from './telegram-emulator.mjs';

const TOKEN = '123456:contract-token_0123456789';

const shown = (s) => ({ text: s.message.text, private: s.message.chat.type === 'private', at: s.at });

contract({
	name: 'telegram',
	maxLength: 4096,
	length: messageLength,

	async start() {
		const emu = await startTelegramEmulator({ token: TOKEN });
		emu.groupOf = new Map();
		return emu;
	},
	stop: (emu) => emu.close(),
	connector: (emu) => ({
		yaml: `{ type: telegram, instance: "${emu.url}", token_env: FD_CONTRACT_TG_TOKEN }`,
		env: { FD_CONTRACT_TG_TOKEN: TOKEN },
	}),
	// Signed in, the webhook deleted, polling.
	async ready(d) {
		await d.waitLog(/telegram: polling/, 15000);
	},

	customer(emu, i) {
		const name = `Cust${i}`;
		return [...emu.users.values()].find((u) => u.first_name === name) || emu.user({ first_name: name });
	},
	bot: (emu) => [...emu.users.values()].find((u) => u.is_bot && u.id !== emu.me.id) || emu.user({ first_name: 'Otherbot', bot: true }),
	self: (emu) => emu.me,

	post(emu, { from, text, private: priv, replyTo }) {
		let m;
		if (priv || (replyTo && replyTo.m.chat.type === 'private')) {
			m = emu.message({ from, chat: emu.privateChat(from), text });
		} else {
			if (!emu.groupOf.has(from.id)) emu.groupOf.set(from.id, emu.group({ title: `Shop fans ${from.first_name}`, forum: true, botAdmin: true }));
			const g = emu.groupOf.get(from.id);
			m = emu.message({ from, chat: g, topic: emu.topic(g), text: `@${emu.me.username} ${text}` });
		}
		return { id: `${m.chat.id}:${m.message_id}`, m };
	},
	redeliver: (emu, ref) => emu.redeliver(ref.m),
	drop: (emu) => emu.dropAll(),
	setDown(emu, down) {
		emu.down = down;
	},

	replies: (emu, ref) => emu.sent.filter((s) => s.replyTo && s.replyTo.chat_id === ref.m.chat.id && s.replyTo.message_id === ref.m.message_id).map(shown),
	sent: (emu) => emu.sent.map(shown),
	rateLimit: (emu, ms) => emu.rateLimit(ms),
});
