// Drives tierbench's mock Stripe with the OFFICIAL Stripe SDK for Node (npm `stripe`):
// objects, lists (auto-pagination), expansions, errors and idempotent replays come
// back as the SDK's own types, and the mock's webhook signatures verify with
// stripe.webhooks.constructEvent. Prints one line per check; exits 1 on the first
// failure. Run by tests/tierbench/mock_compat.rs; install the SDK with
// scripts/compat/install.sh.
//
// Environment: TIERBENCH_COMPAT_DIR (where node_modules/stripe is), MOCK_URL,
// MOCK_FIXTURE (a JSON file the test writes: ids, webhook deliveries).
'use strict';

const fs = require('fs');
const path = require('path');

const dir = process.env.TIERBENCH_COMPAT_DIR;
const Stripe = require(path.join(dir, 'node_modules', 'stripe'));
const url = new URL(process.env.MOCK_URL);
const fixture = JSON.parse(fs.readFileSync(process.env.MOCK_FIXTURE, 'utf8'));

const client = (key) =>
  new Stripe(key, {
    host: url.hostname,
    port: Number(url.port),
    protocol: 'http',
    maxNetworkRetries: 0,
    telemetry: false,
  });
const stripe = client('sk_test_compat');

function check(cond, what) {
  if (!cond) throw new Error(`FAILED: ${what}`);
  console.log(`ok - ${what}`);
}

async function rejects(promise, what) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error(`FAILED: ${what} did not throw`);
}

async function main() {
  console.log(`stripe-node ${Stripe.PACKAGE_VERSION} (API ${Stripe.API_VERSION})`);
  const cus = await stripe.customers.retrieve(fixture.customer);
  check(cus.object === 'customer' && cus.id === fixture.customer, 'customers.retrieve gives a Customer');
  check(typeof cus.email === 'string' && cus.invoice_settings !== undefined, 'customer fields are typed');
  check(cus.lastResponse.statusCode === 200 && cus.lastResponse.requestId.startsWith('req_'), 'lastResponse carries Request-Id');

  const page = await stripe.customers.list({ limit: 3 });
  check(page.object === 'list' && page.data.length === 3 && page.has_more === true && page.url === '/v1/customers', 'customers.list gives a page');
  const all = await stripe.customers.list({ limit: 25 }).autoPagingToArray({ limit: 10000 });
  check(all.length === fixture.customer_count && new Set(all.map((c) => c.id)).size === all.length, `auto-pagination walks all ${fixture.customer_count} customers once`);
  const back = await stripe.customers.list({ limit: 3, ending_before: page.data[2].id });
  check(back.data.length === 2 && back.data[0].id === page.data[0].id, 'ending_before pages back');

  const subs = await stripe.subscriptions.list({ customer: fixture.subscribed_customer, expand: ['data.customer'] });
  check(subs.data.length >= 1 && subs.data[0].customer.object === 'customer', 'subscriptions.list expands data.customer');
  const sub = await stripe.subscriptions.retrieve(subs.data[0].id, { expand: ['default_payment_method'] });
  check(sub.object === 'subscription' && sub.default_payment_method.object === 'payment_method', 'subscriptions.retrieve expands default_payment_method');
  check(sub.items.data[0].current_period_end > sub.items.data[0].current_period_start, 'subscription items carry their periods');
  const inv = await stripe.invoices.retrieve(fixture.invoice, { expand: ['customer'] });
  check(inv.object === 'invoice' && inv.customer.object === 'customer', 'invoices.retrieve expands customer');
  const pms = await stripe.customers.listPaymentMethods(fixture.customer, { limit: 10 });
  check(pms.data.every((p) => p.object === 'payment_method' && p.customer === fixture.customer), 'customers.listPaymentMethods');

  const first = await stripe.customers.update(fixture.customer, { metadata: { plan: 'gold' } }, { idempotencyKey: 'compat-1' });
  const again = await stripe.customers.update(fixture.customer, { metadata: { plan: 'gold' } }, { idempotencyKey: 'compat-1' });
  check(first.metadata.plan === 'gold', 'customers.update applies the change');
  check(again.lastResponse.headers['idempotent-replayed'] === 'true' && again.id === first.id, 'an idempotent replay is flagged');
  const mismatch = await rejects(stripe.customers.update(fixture.customer, { metadata: { plan: 'silver' } }, { idempotencyKey: 'compat-1' }), 'key reuse');
  check(mismatch.type === 'StripeIdempotencyError' && mismatch.statusCode === 400, `key reuse with other params is a ${mismatch.type}`);

  const missing = await rejects(stripe.customers.retrieve('cus_nope'), 'a missing customer');
  check(missing.type === 'StripeInvalidRequestError' && missing.statusCode === 404 && missing.code === 'resource_missing' && missing.param === 'id', 'a missing object is a StripeInvalidRequestError 404 resource_missing');
  check(missing.message === "No such customer: 'cus_nope'", 'with Stripe\'s message');
  const unknown = await rejects(stripe.customers.list({ colour: 'red' }), 'an unknown parameter');
  check(unknown.type === 'StripeInvalidRequestError' && unknown.statusCode === 400 && unknown.param === 'colour', 'an unknown parameter is a 400');
  const auth = await rejects(client('pk_test_compat').customers.list(), 'a publishable key');
  check(auth.type === 'StripeAuthenticationError' && auth.statusCode === 401, 'a bad key is a StripeAuthenticationError 401');
  await stripe.invoices.list({ limit: 1 });
  const limited = await rejects(stripe.invoices.list({ limit: 1 }), 'the second invoices.list');
  check(limited.type === 'StripeRateLimitError' && limited.statusCode === 429 && limited.code === 'rate_limit', 'a rate-limited call is a StripeRateLimitError rate_limit');
  check(limited.headers['stripe-rate-limited-reason'] === 'endpoint-rate' && limited.headers['retry-after'] === undefined, 'with its reason and no Retry-After');

  for (const d of fixture.deliveries) {
    for (const secret of d.secrets) {
      const event = stripe.webhooks.constructEvent(d.payload, d.header, secret);
      check(event.object === 'event' && event.id === d.event_id && event.type === d.type, `${event.type} ${event.id} verifies with ${secret}`);
    }
    const bad = await rejects(Promise.resolve().then(() => stripe.webhooks.constructEvent(d.payload, d.header, 'whsec_wrong')), 'a wrong secret');
    check(bad.type === 'StripeSignatureVerificationError', 'a wrong secret fails verification');
    const tampered = await rejects(Promise.resolve().then(() => stripe.webhooks.constructEvent(d.payload.replace('"event"', '"evnt"'), d.header, d.secrets[0])), 'a changed body');
    check(tampered.message.startsWith('No signatures found matching the expected signature for payload'), 'a changed body fails verification');
  }
  console.log('ALL OK');
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
