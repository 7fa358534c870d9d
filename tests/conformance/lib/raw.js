// A raw graphql-transport-ws client over `ws`: every message the server sends, in order,
// with its close code, and nothing done on its behalf (no pong, no retry).

import WebSocket from 'ws';
import { within } from './server.js';

export const SUBPROTOCOL = 'graphql-transport-ws';

export const ORDERS = 'subscription { orders { id total } }';

export class RawClient {
  constructor(socket) {
    this.socket = socket;
    /** Messages not yet taken by `next`, as `{ data, isBinary }`. */
    this.queue = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.wake();
      });
    });
    socket.on('message', (data, isBinary) => {
      this.queue.push({ data, isBinary });
      this.wake();
    });
    // An error is followed by `close`; the tests read the close.
    socket.on('error', () => {});
  }

  wake() {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** Connect to `url` offering `protocols` (default: graphql-transport-ws only). */
  static async connect(url, protocols = [SUBPROTOCOL]) {
    const socket = new WebSocket(url, protocols);
    const opened = new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    await within(opened, `a WebSocket to ${url}`);
    return new RawClient(socket);
  }

  send(message) {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  sendBinary(bytes) {
    this.socket.send(bytes, { binary: true });
  }

  /** The next message, which must be a text message holding JSON; fails on a close. */
  async next(what = 'a message') {
    const taken = (async () => {
      for (;;) {
        const message = this.queue.shift();
        if (message) return message;
        if (this.socket.readyState === WebSocket.CLOSED) {
          const { code, reason } = await this.closed;
          throw new Error(`the socket closed (${code} ${reason}) while waiting for ${what}`);
        }
        await new Promise((resolve) => this.waiters.push(resolve));
      }
    })();
    const { data, isBinary } = await within(taken, what);
    if (isBinary) throw new Error(`${what} arrived as a binary message`);
    return JSON.parse(data.toString());
  }

  /** The close, after which no message may be left unread. */
  async closeEvent(what = 'the server to close the socket') {
    const closed = await within(this.closed, what);
    const unread = this.queue.map(({ data }) => data.toString());
    return { ...closed, unread };
  }

  /** Send `connection_init` with `payload` and expect `connection_ack`. */
  async init(payload = { tenant: 'acme', user: 'alice' }) {
    this.send({ type: 'connection_init', payload });
    for (;;) {
      const ack = await this.next('connection_ack');
      // A keep-alive ping may come first (the protocol allows one at any time): a loaded
      // machine can take longer than a short keep-alive interval to acknowledge.
      if (ack.type === 'ping') {
        this.send({ type: 'pong' });
        continue;
      }
      if (ack.type !== 'connection_ack') throw new Error(`expected connection_ack, got ${JSON.stringify(ack)}`);
      return ack;
    }
  }

  subscribe(id, query = ORDERS) {
    this.send({ id, type: 'subscribe', payload: { query } });
  }

  /**
   * Round-trip a `ping` with a unique payload and return every message that arrived
   * before its `pong`: the server handles messages in order, so this shows what an earlier
   * message caused.
   */
  async barrier() {
    const token = `barrier-${Math.random().toString(36).slice(2)}`;
    this.send({ type: 'ping', payload: { token } });
    const before = [];
    for (;;) {
      const message = await this.next(`the pong of ${token}`);
      if (message.type === 'pong' && message.payload?.token === token) return before;
      before.push(message);
    }
  }

  close() {
    this.socket.close(1000, 'Normal Closure');
  }
}

/** A raw client for test `t`, closed when the test ends. */
export async function rawClientFor(t, server, protocols) {
  const client = await RawClient.connect(server.url, protocols);
  t.after(() => client.socket.terminate());
  return client;
}
