// Start the server under test, talk to its HTTP controls, stop it.
//
// The server is `$SUBCAST_SERVER` (a binary) or `$SUBCAST_SERVER_CMD` (a shell command),
// started with the flags below appended. It must print a line holding its URL
// (`ws://HOST:PORT/PATH`) once it accepts connections, serve `POST /publish` and
// `GET /metrics` on the same host and port, and close every connection with 1001 on SIGTERM.
// See README.md.

import { spawn } from 'node:child_process';
import { once } from 'node:events';

/** How long a start, a stop or an awaited message may take before the test fails. */
export const WAIT_MS = 10_000;

const FLAGS = {
  port: '--port',
  publishIntervalMs: '--publish-interval-ms',
  keepAliveMs: '--keep-alive-ms',
  pongTimeoutMs: '--pong-timeout-ms',
  initTimeoutMs: '--init-timeout-ms',
  authExpiryMs: '--auth-expiry-ms',
  maxSubscriptions: '--max-subscriptions',
};

/** Defaults that keep a test deterministic: no demo events, no server pings. */
const DEFAULTS = { port: 0, publishIntervalMs: 0, keepAliveMs: 0 };

function command(args) {
  if (process.env.SUBCAST_SERVER_CMD) {
    // `exec` so that SIGTERM reaches the server, not the shell.
    return ['sh', ['-c', `exec ${process.env.SUBCAST_SERVER_CMD} "$@"`, 'server', ...args]];
  }
  if (process.env.SUBCAST_SERVER) return [process.env.SUBCAST_SERVER, args];
  throw new Error('set SUBCAST_SERVER (a binary) or SUBCAST_SERVER_CMD (a shell command): see README.md');
}

/** Resolve with `promise`, or reject after `ms` with `what` in the message. */
export function within(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A running server under test. */
export class Server {
  constructor(child, url, options) {
    this.child = child;
    this.url = url;
    this.options = options;
    const parsed = new URL(url);
    this.port = Number(parsed.port);
    this.httpUrl = `http://${parsed.host}`;
    this.exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }));
  }

  /** Publish `data` on `channel` for `tenant`; resolves after the local dispatch. */
  async publish({ tenant, channel = 'orders', data }) {
    const response = await fetch(`${this.httpUrl}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant, channel, data }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`POST /publish answered ${response.status}: ${text}`);
    return JSON.parse(text);
  }

  /** The `subcast_active_subscriptions` gauge. */
  async activeSubscriptions() {
    const response = await fetch(`${this.httpUrl}/metrics`);
    const text = await response.text();
    const line = text.split('\n').find((l) => /^subcast_active_subscriptions(\{[^}]*\})? /.test(l));
    if (!line) throw new Error('/metrics has no subcast_active_subscriptions');
    return Number(line.split(' ').pop());
  }

  /** Wait until exactly `count` subscriptions are registered. */
  async waitForSubscriptions(count) {
    const polled = (async () => {
      for (;;) {
        if ((await this.activeSubscriptions()) === count) return;
        // A poll interval, not a synchronisation: the condition itself is what is awaited.
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    await within(polled, `${count} active subscription(s)`);
  }

  /** Send SIGTERM and wait for the process to exit (SIGKILL if it does not in time). */
  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill('SIGTERM');
    try {
      return await within(this.exited, 'the server to exit after SIGTERM');
    } catch (error) {
      this.child.kill('SIGKILL');
      throw error;
    }
  }
}

/**
 * Start a server with `options` (see FLAGS; `port: 0` picks a free one) and wait until it
 * announces its URL.
 */
export async function startServer(options = {}) {
  options = { ...DEFAULTS, ...options };
  const args = [];
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (!FLAGS[key]) throw new Error(`unknown server option ${key}`);
    args.push(FLAGS[key], String(value));
  }
  const [program, programArgs] = command(args);
  const child = spawn(program, programArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    if (process.env.SUBCAST_SERVER_LOG) process.stderr.write(chunk);
  });
  child.stdout.setEncoding('utf8');
  const announced = new Promise((resolve, reject) => {
    let stdout = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const url = stdout.match(/ws:\/\/[^\s,]+/);
      if (url) resolve(url[0]);
    });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      reject(new Error(`the server exited (${code ?? signal}) before announcing its URL:\n${stderr}`)),
    );
  });
  try {
    const url = await within(announced, 'the server to announce its URL');
    // Drain stdout so that a chatty server never blocks on a full pipe.
    child.stdout.resume();
    return new Server(child, url, options);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

/** Start a server for test `t`, stopped when the test ends. */
export async function serverFor(t, options = {}) {
  const server = await startServer(options);
  t.after(() => server.stop());
  return server;
}
