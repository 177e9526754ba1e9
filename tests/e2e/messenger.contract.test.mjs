// The connector contract (lib/contract.mjs) run against the Meta emulator's
// Messenger: a Facebook Page's conversations, the Send API with
// messaging_type RESPONSE, echoes of what the Page sends, delivery and read
// receipts; deliveries signed (non-ASCII escaped as Meta signs it), batched,
// duplicated, out of order and retried (lib/meta.mjs).
//
//   BUILD=build node --test tests/e2e/messenger.contract.test.mjs
import { contract } from './lib/contract.mjs';
import { metaAdapter } from './lib/meta.mjs';

contract(metaAdapter('messenger'));
