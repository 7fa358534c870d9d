// A graphql-ws client that resumes from its last cursor: run `examples/resume.rs` first.
//
//   (cd tests/conformance && npm ci)
//   node examples/resume_client.mjs ws://127.0.0.1:4001/graphql
//
// The graphql-ws client re-sends the same subscribe payload when it reconnects, so keeping
// the last `payload.extensions.cursor` in that payload's `extensions` is all it takes. The
// script cuts its own connection after 5 ticks (the server keeps publishing meanwhile) and
// exits 0 once it has read 40 ticks numbered one after another across the reconnection.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../tests/conformance/package.json', import.meta.url));
const { createClient } = require('graphql-ws');
const WebSocket = require('ws');

const url = process.argv[2] ?? 'ws://127.0.0.1:4001/graphql';
const sockets = [];
class TrackedWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    sockets.push(this);
  }
}

const client = createClient({
  url,
  webSocketImpl: TrackedWebSocket,
  retryAttempts: Infinity,
  shouldRetry: () => true,
  retryWait: () => new Promise((resolve) => setTimeout(resolve, 1000)),
});

// The one payload object the client sends, again on every reconnection.
const payload = { query: 'subscription { ticks { n } }', extensions: {} };
const seen = [];
let cut = false;

const done = new Promise((resolve, reject) => {
  client.subscribe(payload, {
    next(result) {
      if (result.errors) {
        // EVENTS_GAP: the history no longer held everything after the cursor.
        return reject(new Error(`notice: ${JSON.stringify(result.errors)}`));
      }
      if (result.extensions?.cursor) payload.extensions.cursor = result.extensions.cursor;
      const n = result.data.ticks.n;
      if (seen.length && n !== seen.at(-1) + 1) {
        return reject(new Error(`tick ${n} after ${seen.at(-1)}: something was lost or repeated`));
      }
      seen.push(n);
      if (seen.length === 5 && !cut) {
        cut = true;
        console.log(`read ticks ${seen[0]}..${n}; cutting the connection`);
        sockets.at(-1).terminate();
      }
      if (seen.length === 40) resolve();
    },
    error: reject,
    complete: () => reject(new Error('the subscription completed')),
  });
});

try {
  await done;
  console.log(
    `read ticks ${seen[0]}..${seen.at(-1)} over ${sockets.length} connections, none lost or repeated`,
  );
  process.exit(0);
} catch (error) {
  console.error(error.message);
  process.exit(1);
} finally {
  client.dispose();
}
