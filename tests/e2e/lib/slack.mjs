// What the Slack tests share: the daemon with a Slack connector pointed at
// the emulator, the suite's rules and word list (lib/contract.mjs), and
// replies whose menu needs two Slack messages once escaped.
import { startDaemon, BUILD } from './daemon.mjs';
import { RULES, LEXICON, REPLY_TEXTS, connectorConfig } from './contract.mjs';

export const SLOW = BUILD.includes('san') ? 3 : 1;

// A reply text is at most 4,096 bytes, but every '&' is five characters on
// Slack's wire: this one needs two messages of at most 4,000.
export const MENU = Array.from({ length: 80 }, (_, i) => `Bread & cake no. ${i}: rye & spelt & oat & seed.`).join(' ');
export const REPLIES = `faq.opening_hours: "Hi{{#author}} {{author}}{{/author}}! We bake from 7:00 every day & close at 18:00."
faq.menu: "${MENU}"
${REPLY_TEXTS}`;

// A daemon with a web chat, the dashboard and the Slack connector; with
// `restart` (an earlier handle) the same directory, ports and store.
export function slackDaemon(emu, restart = null) {
	const opts = {
		files: { 'rules.yaml': RULES, 'replies.yaml': REPLIES, 'lexicon.yaml': LEXICON },
		env: { FD_SLACK_BOT: emu.options.botToken, FD_SLACK_APP: emu.options.appToken },
		timeoutMs: 15000 * SLOW,
		config: connectorConfig('Slack Bakery', `{ type: slack, instance: "${emu.url}", token_env: FD_SLACK_BOT, app_token_env: FD_SLACK_APP }`),
	};
	if (restart) Object.assign(opts, { dir: restart.dir, ports: restart.ports });
	return startDaemon(opts);
}
