// The connector contract (lib/contract.mjs) run against the Meta emulator's
// Instagram: a professional account's direct messages, 1,000 bytes of UTF-8
// a message, every message the account sends echoed back, read receipts;
// deliveries signed (non-ASCII escaped as Meta signs it), batched,
// duplicated, out of order and retried (lib/meta.mjs).
//
//   BUILD=build node --test tests/e2e/instagram.contract.test.mjs
import { contract } from './lib/contract.mjs';
import { metaAdapter } from './lib/meta.mjs';

contract(metaAdapter('instagram'));
