// What the bridge tests share: a daemon with a web chat, the dashboard and a
// bridge on a port of the test's choosing, with the suite's rules and word
// list (lib/contract.mjs); with `restart` (an earlier handle) the same
// directory, ports and store.
import { startDaemon, BUILD } from './daemon.mjs';
import { RULES, LEXICON, REPLY_TEXTS, connectorConfig } from './contract.mjs';

export const SLOW = BUILD.includes('san') ? 3 : 1;
export const TOKEN = 'bridge-test-token-0123456789abcdef';

export const REPLIES = `faq.opening_hours: "Hi{{#author}} {{author}}{{/author}}! We bake from 7:00 every day."
faq.menu: "${Array.from({ length: 12 }, (_, i) => `Loaf ${i}: rye, spelt and seeds.`).join(' ')}"
${REPLY_TEXTS}`;

export function bridgeDaemon(port, { restart = null, extra = '', env = {} } = {}) {
	const opts = {
		files: { 'rules.yaml': RULES, 'replies.yaml': REPLIES, 'lexicon.yaml': LEXICON },
		env: { FD_BRIDGE_TOKEN: TOKEN, ...env },
		timeoutMs: 15000 * SLOW,
		config: connectorConfig('Bridge Bakery', `{ type: bridge, name: lines, listen: "127.0.0.1:${port}", token_env: FD_BRIDGE_TOKEN${extra} }`),
	};
	if (restart) Object.assign(opts, { dir: restart.dir, ports: restart.ports });
	return startDaemon(opts);
}
