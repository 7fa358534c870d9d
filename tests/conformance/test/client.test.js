// The reference client, graphql-ws's `createClient`, against the server: events arrive,
// keep-alive works both ways, and the client comes back after 1001 and 4403.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

import { ORDERS } from '../lib/raw.js';
import { serverFor, startServer, within } from '../lib/server.js';

const T = { timeout: 30_000 };

const ACME = { tenant: 'acme', user: 'alice' };
const GLOBEX = { tenant: 'globex', user: 'gina' };

/** A graphql-ws client for test `t`, disposed when the test ends. */
function clientFor(t, server, options = {}) {
  const client = createClient({
    url: server.url,
    webSocketImpl: WebSocket,
    connectionParams: ACME,
    retryAttempts: 0,
    ...options,
  });
  // `dispose` rethrows the last failed connect (a refused one, a 4403): not this test's concern.
  t.after(() => Promise.resolve(client.dispose()).catch(() => {}));
  return client;
}

/** The next value of `iterator`, which must come within the wait. */
async function nextValue(iterator, what = 'an event') {
  const { value, done } = await within(iterator.next(), what);
  assert.equal(done, false, `the subscription ended while waiting for ${what}`);
  return value;
}

/** Resolve when `client` emits `event` with arguments satisfying `accept`. */
function emitted(client, event, accept = () => true) {
  return new Promise((resolve) => {
    const off = client.on(event, (...args) => {
      if (accept(...args)) {
        off();
        resolve(args);
      }
    });
  });
}

test('iterate() receives the published events in order', T, async (t) => {
  const server = await serverFor(t);
  const client = clientFor(t, server);
  const orders = client.iterate({ query: ORDERS });
  const first = orders.next();
  await server.waitForSubscriptions(1);

  await server.publish({ tenant: 'acme', data: { id: 'o-1', total: 1 } });
  await server.publish({ tenant: 'acme', data: { id: 'o-2', total: 2 } });

  assert.deepEqual((await within(first, 'the first event')).value, { data: { orders: { id: 'o-1', total: 1 } } });
  assert.deepEqual(await nextValue(orders), { data: { orders: { id: 'o-2', total: 2 } } });
  await orders.return();
  await server.waitForSubscriptions(0);
});

test("a second tenant's client does not see the first tenant's events", T, async (t) => {
  const server = await serverFor(t);
  const acme = clientFor(t, server, { connectionParams: ACME }).iterate({ query: ORDERS });
  const globex = clientFor(t, server, { connectionParams: GLOBEX }).iterate({ query: ORDERS });
  const acmeFirst = acme.next();
  const globexFirst = globex.next();
  await server.waitForSubscriptions(2);

  await server.publish({ tenant: 'acme', data: { id: 'acme-1', total: 1 } });
  await server.publish({ tenant: 'globex', data: { id: 'globex-1', total: 2 } });

  // Frames keep the publishing order per connection: each client's first event is its own.
  assert.equal((await within(globexFirst, "globex's event")).value.data.orders.id, 'globex-1');
  assert.equal((await within(acmeFirst, "acme's event")).value.data.orders.id, 'acme-1');
});

test("the client's keep-alive pings are answered with pongs", T, async (t) => {
  const server = await serverFor(t);
  const client = clientFor(t, server, { lazy: false, keepAlive: 20, onNonLazyError: () => {} });
  let pongs = 0;
  // `pong` with `received` true: a pong the server sent.
  await within(emitted(client, 'pong', (received) => received && ++pongs === 3), 'three pongs');
});

test("the server's keep-alive pings are answered by the client and the connection stays", T, async (t) => {
  const server = await serverFor(t, { keepAliveMs: 20, pongTimeoutMs: 2_000 });
  const client = clientFor(t, server, { lazy: false, onNonLazyError: () => {} });
  let closed = null;
  client.on('closed', (event) => (closed = event));
  let pings = 0;
  await within(emitted(client, 'ping', (received) => received && ++pings === 5), 'five server pings');
  assert.equal(closed, null);
});

test('after a restart (1001) the client reconnects and resubscribes', T, async (t) => {
  let server = await startServer();
  t.after(() => server.stop());
  const client = clientFor(t, server, {
    // Retry everything, also the refused connections while the server is down.
    retryAttempts: 1_000,
    shouldRetry: () => true,
    retryWait: () => new Promise((resolve) => setTimeout(resolve, 20)),
  });
  const orders = client.iterate({ query: ORDERS });
  const first = orders.next();
  await server.waitForSubscriptions(1);
  await server.publish({ tenant: 'acme', data: { id: 'before', total: 1 } });
  assert.equal((await within(first, 'the event before the restart')).value.data.orders.id, 'before');

  const reconnected = emitted(client, 'connected', (_socket, _payload, wasRetry) => wasRetry);
  // The first close the client sees; it may read the frame after the server has exited.
  const closed = emitted(client, 'closed');
  await server.stop();
  const [event] = await within(closed, 'the client to see the close');
  assert.equal(event.code, 1001);
  server = await startServer({ port: server.port });
  await within(reconnected, 'the client to reconnect');
  await server.waitForSubscriptions(1);
  await server.publish({ tenant: 'acme', data: { id: 'after', total: 2 } });

  assert.equal((await nextValue(orders, 'the event after the restart')).data.orders.id, 'after');
});

test('after its credentials expire (4403) the client reconnects with fresh ones', T, async (t) => {
  const server = await serverFor(t, { authExpiryMs: 300 });
  let inits = 0;
  const client = clientFor(t, server, {
    connectionParams: () => ({ ...ACME, user: `alice-${++inits}` }),
    retryAttempts: 5,
    retryWait: () => Promise.resolve(),
  });
  const expired = emitted(client, 'closed', (event) => event.code === 4403);
  const reconnected = emitted(client, 'connected', (_socket, _payload, wasRetry) => wasRetry);
  const orders = client.iterate({ query: ORDERS });
  await within(expired, 'the credentials to expire');
  await within(reconnected, 'the client to reconnect');
  assert.ok(inits >= 2, `connectionParams read ${inits} time(s)`);

  await server.waitForSubscriptions(1);
  await server.publish({ tenant: 'acme', data: { id: 'after-expiry', total: 1 } });
  assert.equal((await nextValue(orders)).data.orders.id, 'after-expiry');
});

test('a refused connection (4403) is retried and accepted with fresh credentials', T, async (t) => {
  const server = await serverFor(t);
  let inits = 0;
  const client = clientFor(t, server, {
    // The first attempt has no user: refused.
    connectionParams: () => (++inits === 1 ? { tenant: 'acme' } : ACME),
    retryAttempts: 5,
    retryWait: () => Promise.resolve(),
  });
  const refused = emitted(client, 'closed', (event) => event.code === 4403);
  const orders = client.iterate({ query: ORDERS });
  const first = orders.next();
  await within(refused, 'the refusal');
  await server.waitForSubscriptions(1);
  await server.publish({ tenant: 'acme', data: { id: 'accepted', total: 1 } });
  assert.equal((await within(first, 'the event')).value.data.orders.id, 'accepted');
  assert.equal(inits, 2);
});

test('an invalid document reaches the client as an error, not a close', T, async (t) => {
  const server = await serverFor(t);
  const client = clientFor(t, server);
  let closed = null;
  client.on('closed', (event) => (closed = event));
  const orders = client.iterate({ query: 'subscription { orders { id ' });
  const failed = await within(orders.next().then(
    () => null,
    (errors) => errors,
  ), 'the error');
  assert.ok(Array.isArray(failed) && failed.length > 0, 'rejected with the GraphQL errors');
  assert.equal(closed, null);
});

// "orders" in the cursor encoding (`1.<hex channel>.<position>`), at position 5-0.
const ORDERS_CURSOR = '1.6f7264657273.5-0';

test('a subscribe with a cursor on a server without history gets EVENTS_GAP, then live events', T, async (t) => {
  const server = await serverFor(t);
  const client = clientFor(t, server);
  const orders = client.iterate({ query: ORDERS, extensions: { cursor: ORDERS_CURSOR } });
  const notice = await nextValue(orders, 'the gap notice');
  assert.equal(notice.errors[0].extensions.code, 'EVENTS_GAP');
  assert.equal(notice.errors[0].extensions.count, undefined);
  await server.waitForSubscriptions(1);
  await server.publish({ tenant: 'acme', data: { id: 'o-1', total: 1 } });
  assert.equal((await nextValue(orders)).data.orders.id, 'o-1');
});

test('a malformed cursor reaches the client as an INVALID_CURSOR error, not a close', T, async (t) => {
  const server = await serverFor(t);
  const client = clientFor(t, server);
  let closed = null;
  client.on('closed', (event) => (closed = event));
  const orders = client.iterate({ query: ORDERS, extensions: { cursor: 'not-a-cursor' } });
  const failed = await within(orders.next().then(
    () => null,
    (errors) => errors,
  ), 'the error');
  assert.equal(failed?.[0]?.extensions?.code, 'INVALID_CURSOR');
  assert.equal(closed, null);
});
