// The live page of examples/server (examples/live) in a real browser: Debian's chromium,
// headless, driven by playwright-core. Each test starts its own server with no demo orders,
// so every order on a page is one the test published through the page's button.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { serverFor, WAIT_MS } from '../../conformance/lib/server.js';

const T = { timeout: 60_000 };
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const VENDORED_CLIENT = new URL('../../../examples/live/graphql-ws.min.js', import.meta.url);
const NPM_CLIENT = new URL('../node_modules/graphql-ws/umd/graphql-ws.min.js', import.meta.url);
const NPM_CLIENT_PACKAGE = new URL('../node_modules/graphql-ws/package.json', import.meta.url);

const ACME = { tenant: 'acme', user: 'alice' };
const GLOBEX = { tenant: 'globex', user: 'gina' };

let browser;

before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
});

after(() => browser?.close());

/** A fresh browser context on the live page of `server`, closed when test `t` ends. */
async function livePage(t, server) {
  const context = await browser.newContext();
  t.after(() => context.close());
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  await page.goto(`${server.httpUrl}/`);
  return page;
}

/** Connect `page` as `user` of `tenant` through its form, as a person would. */
async function connect(page, { tenant, user }) {
  await page.getByLabel('Tenant').selectOption(tenant);
  await page.getByLabel('User').fill(user);
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  await page.locator('#status[data-state="connected"]').waitFor();
}

/** Click the page's publish button; resolves with the id of the order it published. */
async function publishFromPage(page) {
  const previous = await page.locator('#published').getAttribute('data-order-id');
  await page.getByRole('button', { name: /^Publish an order/ }).click();
  const published = await page.waitForFunction(
    (previous) => {
      const id = document.getElementById('published').dataset.orderId;
      return id !== undefined && id !== previous && id;
    },
    previous,
    { timeout: WAIT_MS },
  );
  return published.jsonValue();
}

/** The order with `id` in the page's list of received orders. */
const receivedOrder = (page, id) => page.locator(`#orders li[data-order-id="${id}"]`);

test('the vendored graphql-ws browser build is the pinned npm release', async () => {
  const [vendored, npm, { version }] = await Promise.all([
    readFile(VENDORED_CLIENT, 'utf8'),
    readFile(NPM_CLIENT, 'utf8'),
    readFile(NPM_CLIENT_PACKAGE, 'utf8').then(JSON.parse),
  ]);
  const header = vendored.slice(0, vendored.indexOf('*/\n') + 3);
  assert.match(header, new RegExp(`^/\\*! graphql-ws ${version.replaceAll('.', '\\.')},`));
  assert.match(header, /MIT License/);
  assert.equal(vendored.slice(header.length), npm);
});

test('an order published on the acme page appears on the acme page', T, async (t) => {
  const server = await serverFor(t);
  const acme = await livePage(t, server);
  await connect(acme, ACME);
  await server.waitForSubscriptions(1);

  const id = await publishFromPage(acme);

  await receivedOrder(acme, id).waitFor();
  assert.equal(await receivedOrder(acme, id).getAttribute('data-tenant'), 'acme');
});

test('an order published for acme does not appear on the globex page', T, async (t) => {
  const server = await serverFor(t);
  const acme = await livePage(t, server);
  const globex = await livePage(t, server);
  await connect(acme, ACME);
  await connect(globex, GLOBEX);
  await server.waitForSubscriptions(2);

  const acmeOrder = await publishFromPage(acme);
  await receivedOrder(acme, acmeOrder).waitFor();
  // Published after the acme order on the same channel: once it has arrived, the acme
  // order would have arrived before it.
  const globexOrder = await publishFromPage(globex);
  await receivedOrder(globex, globexOrder).waitFor();

  assert.equal(await receivedOrder(globex, acmeOrder).count(), 0);
  const tenants = await globex.locator('#orders li').evaluateAll((items) => items.map((i) => i.dataset.tenant));
  assert.deepEqual(tenants, ['globex']);
});

test('the metrics panel shows the frames the engine delivered', T, async (t) => {
  const server = await serverFor(t);
  const page = await livePage(t, server);
  await connect(page, ACME);
  await server.waitForSubscriptions(1);
  // Before the publish, the panel must show a count that the order then raises.
  await page.waitForFunction(() => document.getElementById('metric-delivered').textContent === '0', null, {
    timeout: WAIT_MS,
  });

  const id = await publishFromPage(page);
  await receivedOrder(page, id).waitFor();

  await page.waitForFunction(() => Number(document.getElementById('metric-delivered').textContent) > 0, null, {
    timeout: WAIT_MS,
  });
  await page.waitForFunction(() => document.getElementById('metric-active').textContent === '1', null, {
    timeout: WAIT_MS,
  });
});

test('the page loads and talks only to its own server, without errors', T, async (t) => {
  const server = await serverFor(t);
  const context = await browser.newContext();
  t.after(() => context.close());
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  const requested = [];
  const errors = [];
  page.on('request', (request) => requested.push(request.url()));
  page.on('websocket', (socket) => requested.push(socket.url()));
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));

  await page.goto(`${server.httpUrl}/`);
  await connect(page, ACME);
  await server.waitForSubscriptions(1);
  const id = await publishFromPage(page);
  await receivedOrder(page, id).waitFor();

  const host = new URL(server.httpUrl).host;
  assert.deepEqual(requested.filter((url) => new URL(url).host !== host), []);
  assert.ok(requested.includes(server.url), `no WebSocket to ${server.url} in ${requested}`);
  assert.deepEqual(errors, []);
});
