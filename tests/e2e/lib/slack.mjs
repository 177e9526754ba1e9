// What the Slack tests share: the daemon with a Slack connector pointed at
// the emulator, the suite's rules and word list (lib/contract.mjs), and
// replies whose menu needs two Slack messages once escaped.
import { startDaemon, AGENT_HASH, BUILD } from './daemon.mjs';
import { RULES, LEXICON } from './contract.mjs';

export const SLOW = BUILD.includes('san') ? 3 : 1;

// A reply text is at most 4,096 bytes, but every '&' is five characters on
// Slack's wire: this one needs two messages of at most 4,000.
export const MENU = Array.from({ length: 80 }, (_, i) => `Bread & cake no. ${i}: rye & spelt & oat & seed.`).join(' ');
export const REPLIES = `faq.opening_hours: "Hi{{#author}} {{author}}{{/author}}! We bake from 7:00 every day & close at 18:00."
faq.menu: "${MENU}"
escalated: "Thanks! A person will reply by {{due}}."
escalated.refund: "Sorry about that. A person will look at the refund and reply by {{due}}."
negative: "Sorry to hear that. A person will reply by {{due}}."
abusive: "We've received your message."
human: "A person will reply by {{due}}."
waiting: "We have your message; a person will reply soon."
offline: "I've sent you a direct message so we can sort this out."
`;

// A daemon with a web chat, the dashboard and the Slack connector; with
// `restart` (an earlier handle) the same directory, ports and store.
export function slackDaemon(emu, restart = null) {
	const opts = {
		files: { 'rules.yaml': RULES, 'replies.yaml': REPLIES, 'lexicon.yaml': LEXICON },
		env: { FD_SLACK_BOT: emu.options.botToken, FD_SLACK_APP: emu.options.appToken },
		timeoutMs: 15000 * SLOW,
		config: ({ ports }) => `business:
  name: Slack Bakery
  timezone: UTC
  hours: { mon-sun: "00:00-24:00" }
rules: [rules.yaml]
replies: [replies.yaml]
sentiment: { lexicon: [lexicon.yaml] }
store: { path: frontdesk.db, synchronous: normal }
connectors:
  - { type: webchat, listen: "127.0.0.1:${ports.webchat}" }
  - { type: slack, instance: "${emu.url}", token_env: FD_SLACK_BOT, app_token_env: FD_SLACK_APP }
dashboard:
  listen: "127.0.0.1:${ports.dashboard}"
  agents: [ { login: sam, name: Sam, password_hash: "${AGENT_HASH}" } ]
`,
	};
	if (restart) Object.assign(opts, { dir: restart.dir, ports: restart.ports });
	return startDaemon(opts);
}
