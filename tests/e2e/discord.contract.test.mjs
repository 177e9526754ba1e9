// The connector contract (lib/contract.mjs) run against the Discord
// emulator: this file is only the adapter that tells the suite how to speak
// to it.
//
//   BUILD=build node --test tests/e2e/discord.contract.test.mjs
import { execFileSync } from 'node:child_process';
import { contract } from './lib/contract.mjs';
import { startDiscordEmulator, chars } from './discord-emulator.mjs';

const TOKEN = 'discord-contract-token-0123456789';

// Which customer message a bot message answers.  In place (a channel, a DM)
// Discord says it: message_reference.  A private answer to a public message
// goes to a DM, where it cannot quote a message of the channel; the outbox
// row it came from knows (reply_to), and its nonce is the row's idempotency
// key.  Read from the store at most every 200 ms.
function answers(emu) {
	const now = Date.now();
	if (emu.d && (!emu.rowsAt || now - emu.rowsAt > 200)) {
		emu.rowsAt = now;
		try {
			const out = execFileSync('sqlite3', [emu.d.db, "SELECT idem_key, reply_to FROM outbox WHERE kind = 'reply'"]).toString();
			emu.rows = new Map(out.trim().split('\n').filter(Boolean).map((l) => l.split('|')));
		} catch {
			/* busy: the previous answer stands */
		}
	}
	const rows = emu.rows || new Map();
	return emu.posted.map((p) => {
		const m = p.message;
		const ref = m.message_reference ? m.message_reference.message_id : rows.get((m.nonce || '').replace(/-\d+$/, ''));
		return { ref, text: m.content, private: !m.guild_id, at: p.at };
	});
}

contract({
	name: 'discord',
	maxLength: 2000,
	length: chars,

	async start() {
		const emu = await startDiscordEmulator({
			token: TOKEN,
			heartbeatMs: 1000,
			identifySpacingMs: 5000,
			routeLimit: { limit: 50, windowMs: 1000 },
		});
		emu.support = emu.channel(emu.guild('Contract Bakery'), 'support');
		return emu;
	},
	stop: (emu) => emu.close(),
	connector: (emu) => ({
		yaml: `{ type: discord, instance: "${emu.url}", token_env: FD_CONTRACT_DISCORD_TOKEN }`,
		env: { FD_CONTRACT_DISCORD_TOKEN: TOKEN },
	}),
	// Connected to the gateway with a session: from then on every message counts.
	async ready(d, emu) {
		emu.d = d;
		await d.waitLog(/discord: (signed in|resumed)/, 15000);
	},

	customer(emu, i) {
		const name = `contract-cust-${i}`;
		return [...emu.users.values()].find((u) => u.username === name) || emu.user(name);
	},
	bot: (emu) => emu.user('otherbot', { bot: true }),
	self: (emu) => emu.me,

	post(emu, { from, text, private: priv, replyTo }) {
		const m = priv
			? emu.dm(from, text)
			: emu.say(from, emu.support, text, { replyTo: replyTo && !replyTo.private ? emu.messages.get(replyTo.id) : null });
		return { id: m.id, private: priv };
	},
	redeliver: (emu, ref) => emu.redeliver(ref.id),
	drop: (emu) => emu.unpleasant('terminate'),
	setDown: (emu, down) => emu.refuseGateway(down),

	replies: (emu, ref) => answers(emu).filter((a) => a.ref === ref.id),
	sent: (emu) => answers(emu),
	rateLimit: (emu, ms) => emu.storm(ms),
});
