// What the bridge tests share: a daemon with a web chat, the dashboard and a
// bridge on a port of the test's choosing, with the suite's rules and word
// list (lib/contract.mjs); with `restart` (an earlier handle) the same
// directory, ports and store.
import { startDaemon, AGENT_HASH, BUILD } from './daemon.mjs';
import { RULES, LEXICON } from './contract.mjs';

export const SLOW = BUILD.includes('san') ? 3 : 1;
export const TOKEN = 'bridge-test-token-0123456789abcdef';

export const REPLIES = `faq.opening_hours: "Hi{{#author}} {{author}}{{/author}}! We bake from 7:00 every day."
faq.menu: "${Array.from({ length: 12 }, (_, i) => `Loaf ${i}: rye, spelt and seeds.`).join(' ')}"
escalated: "Thanks! A person will reply by {{due}}."
escalated.refund: "Sorry about that. A person will look at the refund and reply by {{due}}."
negative: "Sorry to hear that. A person will reply by {{due}}."
abusive: "We've received your message."
human: "A person will reply by {{due}}."
waiting: "We have your message; a person will reply soon."
offline: "I've sent you a direct message so we can sort this out."
`;

export function bridgeDaemon(port, { restart = null, extra = '', env = {} } = {}) {
	const opts = {
		files: { 'rules.yaml': RULES, 'replies.yaml': REPLIES, 'lexicon.yaml': LEXICON },
		env: { FD_BRIDGE_TOKEN: TOKEN, ...env },
		timeoutMs: 15000 * SLOW,
		config: ({ ports }) => `business:
  name: Bridge Bakery
  timezone: UTC
  hours: { mon-sun: "00:00-24:00" }
rules: [rules.yaml]
replies: [replies.yaml]
sentiment: { lexicon: [lexicon.yaml] }
store: { path: frontdesk.db, synchronous: normal }
connectors:
  - { type: webchat, listen: "127.0.0.1:${ports.webchat}" }
  - { type: bridge, name: lines, listen: "127.0.0.1:${port}", token_env: FD_BRIDGE_TOKEN${extra} }
dashboard:
  listen: "127.0.0.1:${ports.dashboard}"
  agents: [ { login: sam, name: Sam, password_hash: "${AGENT_HASH}" } ]
`,
	};
	if (restart) Object.assign(opts, { dir: restart.dir, ports: restart.ports });
	return startDaemon(opts);
}
