// Drives tierbench's mock Stripe with the OFFICIAL Stripe SDK for Node (npm `stripe`):
// objects, lists (auto-pagination), expansions, errors and idempotent replays come
// back as the SDK's own types, and the mock's webhook signatures verify with
// stripe.webhooks.constructEvent. Run by tests/tierbench/mock_compat.rs; install
// the SDK with scripts/compat/install.sh (the pinned version) or let
// scripts/compat/drift.sh try the newest releases.
//
// The checks read what the SDK hands back from the answer (status, the error's
// raw type, code, param and message, headers, objects), never text the SDK
// composes itself, so a release that only reformats its messages passes. Every
// check runs, even after one fails: one line each, `ok - ...` or `FAILED: ...`,
// then `ALL OK` or `N FAILED`, and exit 1 when any failed.
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

let failures = 0;
// `cond` is a function, so a check whose inputs are missing (an earlier call
// failed) fails by itself instead of stopping the rest.
function check(what, cond) {
  let held = false;
  let why = '';
  try {
    held = cond() === true;
  } catch (e) {
    why = ` (${e && e.message ? e.message : String(e)})`;
  }
  if (held) {
    console.log(`ok - ${what}`);
  } else {
    failures += 1;
    console.log(`FAILED: ${what}${why}`);
  }
}

// The error a call answered with, or an Error saying it did not fail.
async function failure(call) {
  try {
    await call();
  } catch (e) {
    return e;
  }
  return new Error('the call succeeded');
}

// A call's value, or undefined when it threw (the checks on it then fail).
async function value(what, call) {
  try {
    return await call();
  } catch (e) {
    failures += 1;
    console.log(`FAILED: ${what} threw ${e && e.message ? e.message : String(e)}`);
    return undefined;
  }
}

// The error as the answer gave it: HTTP status and the body's `error` object.
const raw = (e) => ({ status: e.statusCode, ...(e.raw || {}) });

async function main() {
  console.log(`stripe-node ${Stripe.PACKAGE_VERSION} (API ${Stripe.API_VERSION})`);
  const cus = await value('customers.retrieve', () => stripe.customers.retrieve(fixture.customer));
  check('customers.retrieve gives a Customer', () => cus.object === 'customer' && cus.id === fixture.customer);
  check('customer fields are typed', () => typeof cus.email === 'string' && cus.invoice_settings !== undefined);
  check('lastResponse carries Request-Id', () => cus.lastResponse.statusCode === 200 && cus.lastResponse.requestId.startsWith('req_'));

  const page = await value('customers.list', () => stripe.customers.list({ limit: 3 }));
  check('customers.list gives a page', () => page.object === 'list' && page.data.length === 3 && page.has_more === true && page.url === '/v1/customers');
  const all = await value('auto-pagination', () => stripe.customers.list({ limit: 25 }).autoPagingToArray({ limit: 10000 }));
  check(`auto-pagination walks all ${fixture.customer_count} customers once`, () => all.length === fixture.customer_count && new Set(all.map((c) => c.id)).size === all.length);
  const back = await value('ending_before', () => stripe.customers.list({ limit: 3, ending_before: page.data[2].id }));
  check('ending_before pages back', () => back.data.length === 2 && back.data[0].id === page.data[0].id);

  const subs = await value('subscriptions.list', () => stripe.subscriptions.list({ customer: fixture.subscribed_customer, expand: ['data.customer'] }));
  check('subscriptions.list expands data.customer', () => subs.data.length >= 1 && subs.data[0].customer.object === 'customer');
  const sub = await value('subscriptions.retrieve', () => stripe.subscriptions.retrieve(subs.data[0].id, { expand: ['default_payment_method'] }));
  check('subscriptions.retrieve expands default_payment_method', () => sub.object === 'subscription' && sub.default_payment_method.object === 'payment_method');
  check('subscription items carry their periods', () => sub.items.data[0].current_period_end > sub.items.data[0].current_period_start);
  const inv = await value('invoices.retrieve', () => stripe.invoices.retrieve(fixture.invoice, { expand: ['customer'] }));
  check('invoices.retrieve expands customer', () => inv.object === 'invoice' && inv.customer.object === 'customer');
  const pms = await value('customers.listPaymentMethods', () => stripe.customers.listPaymentMethods(fixture.customer, { limit: 10 }));
  check('customers.listPaymentMethods', () => pms.data.length > 0 && pms.data.every((p) => p.object === 'payment_method' && p.customer === fixture.customer));

  const first = await value('customers.update', () => stripe.customers.update(fixture.customer, { metadata: { plan: 'gold' } }, { idempotencyKey: 'compat-1' }));
  const again = await value('customers.update again', () => stripe.customers.update(fixture.customer, { metadata: { plan: 'gold' } }, { idempotencyKey: 'compat-1' }));
  check('customers.update applies the change', () => first.metadata.plan === 'gold');
  check('an idempotent replay is flagged', () => again.lastResponse.headers['idempotent-replayed'] === 'true' && again.id === first.id);
  const mismatch = raw(await failure(() => stripe.customers.update(fixture.customer, { metadata: { plan: 'silver' } }, { idempotencyKey: 'compat-1' })));
  check('key reuse with other params is a 400 idempotency_error', () => mismatch.status === 400 && mismatch.type === 'idempotency_error');

  const missingError = await failure(() => stripe.customers.retrieve('cus_nope'));
  const missing = raw(missingError);
  check('a missing object is a 404 invalid_request_error resource_missing on id', () => missing.status === 404 && missing.type === 'invalid_request_error' && missing.code === 'resource_missing' && missing.param === 'id');
  check("with Stripe's message", () => missing.message === "No such customer: 'cus_nope'");
  check('the SDK raises it as a StripeInvalidRequestError', () => missingError instanceof Stripe.errors.StripeInvalidRequestError);
  const unknown = raw(await failure(() => stripe.customers.list({ colour: 'red' })));
  check('an unknown parameter is a 400 invalid_request_error on that param', () => unknown.status === 400 && unknown.type === 'invalid_request_error' && unknown.param === 'colour');
  const authError = await failure(() => client('pk_test_compat').customers.list());
  check('a publishable key is a 401', () => raw(authError).status === 401 && raw(authError).type === 'invalid_request_error');
  check('the SDK raises it as a StripeAuthenticationError', () => authError instanceof Stripe.errors.StripeAuthenticationError);
  await value('invoices.list', () => stripe.invoices.list({ limit: 1 }));
  const limitedError = await failure(() => stripe.invoices.list({ limit: 1 }));
  const limited = raw(limitedError);
  check('a rate-limited call is a 429 invalid_request_error rate_limit', () => limited.status === 429 && limited.type === 'invalid_request_error' && limited.code === 'rate_limit');
  check('the SDK raises it as a StripeRateLimitError', () => limitedError instanceof Stripe.errors.StripeRateLimitError);
  check('with its reason and no Retry-After', () => limitedError.headers['stripe-rate-limited-reason'] === 'endpoint-rate' && limitedError.headers['retry-after'] === undefined);

  for (const d of fixture.deliveries) {
    for (const secret of d.secrets) {
      let event;
      check(`${d.type} ${d.event_id} verifies with ${secret}`, () => {
        event = stripe.webhooks.constructEvent(d.payload, d.header, secret);
        return event.object === 'event' && event.id === d.event_id && event.type === d.type;
      });
    }
    const bad = await failure(() => stripe.webhooks.constructEvent(d.payload, d.header, 'whsec_wrong'));
    check('a wrong secret fails verification', () => bad instanceof Stripe.errors.StripeSignatureVerificationError);
    const tampered = await failure(() => stripe.webhooks.constructEvent(d.payload.replace('"event"', '"evnt"'), d.header, d.secrets[0]));
    check('a changed body fails verification', () => tampered instanceof Stripe.errors.StripeSignatureVerificationError);
  }
  console.log(failures === 0 ? 'ALL OK' : `${failures} FAILED`);
  process.exit(failures === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
