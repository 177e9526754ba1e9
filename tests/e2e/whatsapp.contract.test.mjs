// The connector contract (lib/contract.mjs) run against the Meta emulator's
// WhatsApp Cloud API: every conversation is one to one, deliveries come
// signed, batched, duplicated and out of order, and a "dropped connection"
// is a moment in which Meta cannot reach the webhook (it retries)
// (lib/meta.mjs).
//
//   BUILD=build node --test tests/e2e/whatsapp.contract.test.mjs
import { contract } from './lib/contract.mjs';
import { metaAdapter } from './lib/meta.mjs';

contract(metaAdapter('whatsapp'));
