// Every rule of graphql-transport-ws (PROTOCOL.md of graphql-ws), checked on the wire with
// a raw client: the messages, their order, their kind (text) and the close codes.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ORDERS, RawClient, rawClientFor } from '../lib/raw.js';
import { serverFor } from '../lib/server.js';

const T = { timeout: 30_000 };

/** A server and a client whose connection is acknowledged as acme/alice. */
async function acknowledged(t, options) {
  const server = await serverFor(t, options);
  const client = await rawClientFor(t, server);
  await client.init();
  return { server, client };
}

test('connection_init is answered by connection_ack', T, async (t) => {
  const server = await serverFor(t);
  const client = await rawClientFor(t, server);
  client.send({ type: 'connection_init', payload: { tenant: 'acme', user: 'alice' } });
  assert.deepEqual(await client.next(), { type: 'connection_ack' });
});

test('a published event arrives as a next message with the subscription id', T, async (t) => {
  const { server, client } = await acknowledged(t);
  client.subscribe('s1');
  await server.waitForSubscriptions(1);

  const report = await server.publish({ tenant: 'acme', data: { id: 'o-1', total: 5 } });

  assert.equal(report.delivered, 1);
  assert.deepEqual(await client.next('next'), {
    id: 's1',
    type: 'next',
    payload: { data: { orders: { id: 'o-1', total: 5 } } },
  });
});

test('every message the server sends is a text message', T, async (t) => {
  const { server, client } = await acknowledged(t, { keepAliveMs: 50 });
  client.subscribe('s1');
  client.subscribe('bad', 'subscription {');
  await server.waitForSubscriptions(1);
  await server.publish({ tenant: 'acme', data: { id: 'o-1', total: 1 } });
  client.send({ type: 'ping' });
  const seen = new Set();
  // `next` fails on a binary message: read until each kind of server message was seen.
  while (!['next', 'error', 'pong', 'ping'].every((type) => seen.has(type))) {
    seen.add((await client.next('next, error, pong and ping')).type);
  }
});

test('subscribe before connection_init closes with 4401', T, async (t) => {
  const server = await serverFor(t);
  const client = await rawClientFor(t, server);
  client.subscribe('s1');
  const { code, unread } = await client.closeEvent();
  assert.equal(code, 4401);
  assert.deepEqual(unread, []);
});

test('a refused connection_init closes with 4403', T, async (t) => {
  const server = await serverFor(t);
  const client = await rawClientFor(t, server);
  client.send({ type: 'connection_init', payload: { tenant: 'acme' } });
  const { code, unread } = await client.closeEvent();
  assert.equal(code, 4403);
  assert.deepEqual(unread, []);
});

test('credentials that expire close the connection with 4403 and end its subscriptions', T, async (t) => {
  const { server, client } = await acknowledged(t, { authExpiryMs: 1_000 });
  client.subscribe('s1');
  await server.waitForSubscriptions(1);
  const { code } = await client.closeEvent('the credentials to expire');
  assert.equal(code, 4403);
  await server.waitForSubscriptions(0);
});

test('no connection_init within the timeout closes with 4408', T, async (t) => {
  const server = await serverFor(t, { initTimeoutMs: 200 });
  const client = await rawClientFor(t, server);
  const { code, unread } = await client.closeEvent('the init timeout');
  assert.equal(code, 4408);
  assert.deepEqual(unread, []);
});

test('a second connection_init closes with 4429', T, async (t) => {
  const { client } = await acknowledged(t);
  client.send({ type: 'connection_init', payload: { tenant: 'acme', user: 'alice' } });
  assert.equal((await client.closeEvent()).code, 4429);
});

test('subscribe with the id of an active subscription closes with 4409', T, async (t) => {
  const { server, client } = await acknowledged(t);
  client.subscribe('s1');
  await server.waitForSubscriptions(1);
  client.subscribe('s1');
  assert.equal((await client.closeEvent()).code, 4409);
  await server.waitForSubscriptions(0);
});

const INVALID = {
  'a message that is not JSON': '{"type": "connection_init"',
  'a JSON value that is not an object': '["connection_init"]',
  'a message without a type': '{"payload": {}}',
  'an unknown message type': '{"type": "start", "id": "1"}',
  'a message type only the server sends (next)': '{"type": "next", "id": "1", "payload": {}}',
  'connection_init whose payload is not an object': '{"type": "connection_init", "payload": "token"}',
};

for (const [what, text] of Object.entries(INVALID)) {
  test(`${what} closes with 4400`, T, async (t) => {
    const server = await serverFor(t);
    const client = await rawClientFor(t, server);
    client.send(text);
    assert.equal((await client.closeEvent()).code, 4400);
  });
}

const INVALID_AFTER_ACK = {
  'subscribe whose id is not a string': { id: 1, type: 'subscribe', payload: { query: ORDERS } },
  'subscribe without a payload': { id: 's1', type: 'subscribe' },
  'subscribe whose payload has no query': { id: 's1', type: 'subscribe', payload: {} },
  'subscribe whose variables are not an object': {
    id: 's1',
    type: 'subscribe',
    payload: { query: ORDERS, variables: [1] },
  },
  'complete without an id': { type: 'complete' },
};

for (const [what, message] of Object.entries(INVALID_AFTER_ACK)) {
  test(`${what} closes with 4400`, T, async (t) => {
    const { client } = await acknowledged(t);
    client.send(message);
    assert.equal((await client.closeEvent()).code, 4400);
  });
}

test('a binary message closes with 4400', T, async (t) => {
  const { client } = await acknowledged(t);
  client.sendBinary(Buffer.from(JSON.stringify({ type: 'ping' })));
  assert.equal((await client.closeEvent()).code, 4400);
});

test('a message over the size limit closes with 1009 or 4400', T, async (t) => {
  const { client } = await acknowledged(t);
  const query = `subscription { orders { id ${'total '.repeat(50_000)} } }`;
  client.subscribe('big', query);
  const { code } = await client.closeEvent();
  assert.ok([1009, 4400].includes(code), `closed with ${code}`);
});

test('ping is answered by pong with the same payload, before and after the ack', T, async (t) => {
  const server = await serverFor(t);
  const client = await rawClientFor(t, server);
  client.send({ type: 'ping', payload: { n: 1, nested: { ok: true } } });
  assert.deepEqual(await client.next(), { type: 'pong', payload: { n: 1, nested: { ok: true } } });
  await client.init();
  client.send({ type: 'ping' });
  assert.deepEqual(await client.next(), { type: 'pong' });
});

test('an unsolicited pong is ignored', T, async (t) => {
  const { client } = await acknowledged(t);
  client.send({ type: 'pong', payload: { heartbeat: 1 } });
  assert.deepEqual(await client.barrier(), []);
});

test('complete for an unknown id is ignored', T, async (t) => {
  const { client } = await acknowledged(t);
  client.send({ id: 'never-subscribed', type: 'complete' });
  assert.deepEqual(await client.barrier(), []);
});

test('no complete is sent back for a subscription the client completed', T, async (t) => {
  const { server, client } = await acknowledged(t);
  client.subscribe('s1');
  await server.waitForSubscriptions(1);
  client.send({ id: 's1', type: 'complete' });
  assert.deepEqual(await client.barrier(), []);
  await server.waitForSubscriptions(0);
  await server.publish({ tenant: 'acme', data: { id: 'o-1', total: 1 } });
  assert.deepEqual(await client.barrier(), []);
});

test('an invalid document gets one error and no complete, and frees its id', T, async (t) => {
  const { server, client } = await acknowledged(t);
  client.subscribe('s1', 'subscription { orders { id ');
  const [error, ...rest] = await client.barrier();
  assert.equal(error.type, 'error');
  assert.equal(error.id, 's1');
  assert.ok(Array.isArray(error.payload) && error.payload.length > 0, 'payload is a list of errors');
  assert.ok(error.payload.every((e) => typeof e.message === 'string'), 'each error has a message');
  assert.deepEqual(rest, []);

  client.subscribe('s1');
  await server.waitForSubscriptions(1);
  assert.deepEqual(await client.barrier(), []);
});

test('one subscription over the per-connection maximum gets an error, the socket stays open', T, async (t) => {
  const { server, client } = await acknowledged(t, { maxSubscriptions: 1 });
  client.subscribe('s1');
  client.subscribe('s2');
  const [error, ...rest] = await client.barrier();
  assert.equal(error.type, 'error');
  assert.equal(error.id, 's2');
  assert.deepEqual(rest, []);
  await server.waitForSubscriptions(1);
  await server.publish({ tenant: 'acme', data: { id: 'o-1', total: 1 } });
  assert.equal((await client.next('next')).id, 's1');
});

test('a flood of pings closes with 4429', T, async (t) => {
  const { client } = await acknowledged(t);
  for (let i = 0; i < 1000; i++) client.send({ type: 'ping' });
  let pongs = 0;
  const closed = (async () => {
    for (;;) {
      try {
        await client.next();
        pongs++;
      } catch {
        return client.closeEvent();
      }
    }
  })();
  const { code } = await closed;
  assert.equal(code, 4429);
  assert.ok(pongs < 1000, `${pongs} pongs`);
});

test('a client offering only an unknown subprotocol gets no graphql-transport-ws socket', T, async (t) => {
  const server = await serverFor(t);
  let client;
  try {
    client = await RawClient.connect(server.url, ['graphql-ws']);
  } catch {
    // The handshake failed: the server did not agree to the offered sub-protocol.
    return;
  }
  t.after(() => client.socket.terminate());
  assert.notEqual(client.socket.protocol, 'graphql-transport-ws');
  assert.equal((await client.closeEvent()).code, 4406);
});

test('a client offering no subprotocol is closed with 4406', T, async (t) => {
  const server = await serverFor(t);
  const client = await rawClientFor(t, server, []);
  assert.equal((await client.closeEvent()).code, 4406);
});

test('the server sends keep-alive pings and keeps a connection that answers them', T, async (t) => {
  const { client } = await acknowledged(t, { keepAliveMs: 50, pongTimeoutMs: 2_000 });
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(await client.next('a keep-alive ping'), { type: 'ping' });
    client.send({ type: 'pong' });
  }
});

test('a keep-alive ping left unanswered closes with 4504', T, async (t) => {
  const { client } = await acknowledged(t, { keepAliveMs: 50, pongTimeoutMs: 100 });
  assert.deepEqual(await client.next('a keep-alive ping'), { type: 'ping' });
  assert.equal((await client.closeEvent('the pong timeout')).code, 4504);
});

test("an event of another tenant is not sent", T, async (t) => {
  const server = await serverFor(t);
  const acme = await rawClientFor(t, server);
  await acme.init({ tenant: 'acme', user: 'alice' });
  const globex = await rawClientFor(t, server);
  await globex.init({ tenant: 'globex', user: 'gina' });
  acme.subscribe('s1');
  globex.subscribe('s1');
  await server.waitForSubscriptions(2);

  await server.publish({ tenant: 'acme', data: { id: 'acme-1', total: 1 } });
  await server.publish({ tenant: 'globex', data: { id: 'globex-1', total: 2 } });

  // Per connection, frames keep the publishing order: the first is the tenant's own.
  assert.equal((await globex.next()).payload.data.orders.id, 'globex-1');
  assert.equal((await acme.next()).payload.data.orders.id, 'acme-1');
  assert.deepEqual(await globex.barrier(), []);
  assert.deepEqual(await acme.barrier(), []);
});

test('closing the socket ends its subscriptions', T, async (t) => {
  const { server, client } = await acknowledged(t);
  client.subscribe('s1');
  client.subscribe('s2');
  await server.waitForSubscriptions(2);
  client.close();
  await server.waitForSubscriptions(0);
});

test('SIGTERM closes every connection with 1001 Going away', T, async (t) => {
  const server = await serverFor(t);
  const subscribed = await rawClientFor(t, server);
  await subscribed.init();
  subscribed.subscribe('s1');
  const idle = await rawClientFor(t, server);
  await server.waitForSubscriptions(1);

  const exited = server.stop();
  for (const client of [subscribed, idle]) {
    const { code, reason } = await client.closeEvent('1001');
    assert.equal(code, 1001);
    assert.equal(reason, 'Going away');
  }
  await exited;
});
