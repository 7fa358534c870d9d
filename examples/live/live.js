// The live page of examples/server: subscribe to `orders` as a tenant's user with the
// graphql-ws client (window.graphqlWs, the browser build served beside this file), publish
// demo orders through POST /publish, and poll /metrics.
'use strict';

const QUERY = 'subscription { orders { id tenant total } }';
// The list is bounded like every buffer of the engine: older orders leave the page.
const MAX_ORDERS = 50;
const METRICS_EVERY_MS = 1000;

// Each figure sums every sample of its family (dropped frames are counted per reason).
const METRICS = {
  'metric-active': 'subcast_active_subscriptions',
  'metric-events': 'subcast_events_dispatched_total',
  'metric-delivered': 'subcast_frames_delivered_total',
  'metric-dropped': 'subcast_frames_dropped_total',
};

const $ = (id) => document.getElementById(id);
const form = $('connect-form');
const tenantInput = $('tenant');
const userInput = $('user');
const connectButton = $('connect');
const disconnectButton = $('disconnect');

let client = null;
let published = 0;

function setStatus(state, text) {
  $('status').dataset.state = state;
  $('status').textContent = text;
}

function setConnected(connected) {
  connectButton.disabled = connected;
  disconnectButton.disabled = !connected;
  tenantInput.disabled = connected;
  userInput.disabled = connected;
}

function showOrder(order) {
  const item = document.createElement('li');
  item.dataset.orderId = String(order.id);
  item.dataset.tenant = String(order.tenant);
  item.textContent = `${order.id}, tenant ${order.tenant}, total ${order.total}`;
  const list = $('orders');
  list.prepend(item);
  while (list.children.length > MAX_ORDERS) list.lastElementChild.remove();
  $('orders-empty').hidden = true;
}

function connect(tenant, user) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const who = `${user} of ${tenant}`;
  client = graphqlWs.createClient({
    url: `${scheme}://${location.host}/graphql`,
    connectionParams: { tenant, user },
    on: {
      connecting: () => setStatus('connecting', `Connecting as ${who}…`),
      connected: () => setStatus('connected', `Connected as ${who}.`),
      closed: (event) => {
        if (client) setStatus('reconnecting', `Connection closed (${event.code}); reconnecting…`);
      },
    },
  });
  setConnected(true);
  client.subscribe(
    { query: QUERY },
    {
      next: (result) => {
        if (result.data && result.data.orders) showOrder(result.data.orders);
        // The engine announces lost frames in-band; show the notice rather than hide it.
        if (result.errors) setStatus('warning', result.errors.map((e) => e.message).join('; '));
      },
      error: (error) => {
        const message = error instanceof Error ? error.message : `closed with ${error.code} ${error.reason}`;
        setStatus('error', `Subscription failed: ${message}`);
        disconnect();
      },
      complete: () => {},
    },
  );
}

function disconnect() {
  const closing = client;
  client = null;
  setConnected(false);
  if (closing) closing.dispose();
  if ($('status').dataset.state !== 'error') setStatus('disconnected', 'Disconnected.');
}

async function publish() {
  const tenant = tenantInput.value;
  published += 1;
  const order = {
    id: `web-${Date.now().toString(36)}-${published}`,
    tenant,
    total: Math.floor(Math.random() * 100),
  };
  const answer = $('published');
  try {
    const response = await fetch('/publish', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant, channel: 'orders', data: order }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${response.status}: ${text}`);
    const { matched, delivered } = JSON.parse(text);
    answer.dataset.orderId = order.id;
    answer.textContent = `Published ${order.id} for ${tenant}: matched ${matched}, delivered ${delivered}.`;
  } catch (error) {
    answer.textContent = `Publishing failed: ${error.message}`;
  }
  refreshMetrics();
}

/** Every sample of the Prometheus text: family name, labels as written, value. */
function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    const sample = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)/);
    if (sample) samples.push({ family: sample[1], labels: sample[2] ?? '', value: Number(sample[3]) });
  }
  return samples;
}

function total(samples, family) {
  const matching = samples.filter((s) => s.family === family);
  return matching.length ? String(matching.reduce((sum, s) => sum + s.value, 0)) : '–';
}

// A tenant's page sees the other tenant's orders refused (reason "tenant"): say why
// frames were dropped, not only how many.
function dropReasons(samples) {
  return samples
    .filter((s) => s.family === METRICS['metric-dropped'] && s.value > 0)
    .map((s) => `${(s.labels.match(/reason="([^"]*)"/) ?? [])[1] ?? 'other'} ${s.value}`)
    .join(', ');
}

async function refreshMetrics() {
  try {
    const response = await fetch('/metrics');
    if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
    const samples = parseMetrics(await response.text());
    for (const [id, family] of Object.entries(METRICS)) $(id).textContent = total(samples, family);
    const reasons = dropReasons(samples);
    $('metric-dropped-reasons').textContent = reasons && `(${reasons})`;
    $('metrics-error').textContent = '';
  } catch (error) {
    $('metrics-error').textContent = `Metrics unavailable: ${error.message}`;
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const user = userInput.value.trim();
  if (!user) return;
  connect(tenantInput.value, user);
});
disconnectButton.addEventListener('click', disconnect);
$('publish').addEventListener('click', publish);
const namePublishButton = () => {
  $('publish').textContent = `Publish an order for ${tenantInput.value}`;
};
tenantInput.addEventListener('change', namePublishButton);
namePublishButton();

refreshMetrics();
setInterval(refreshMetrics, METRICS_EVERY_MS);
