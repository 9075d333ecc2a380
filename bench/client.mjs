/**
 * A raw SMTP client written for speed: pre-built command buffers, one write per
 * group, replies counted by scanning for LF (Buffer indexOf) and reading only the
 * first four bytes of each line (code and separator). Not a general client: it
 * checks that every reply has the code it expects and fails the run otherwise.
 *
 * Pipelining follows RFC 2920: DATA ends a group and the client waits for 354; the
 * message content may open the next group, so in pipelined mode each write is
 * "<body>.CRLF MAIL RCPT DATA" and each message costs one round trip.
 */
import { connect } from "node:net";
import { performance } from "node:perf_hooks";
import { EHLO, QUIT } from "./messages.mjs";

const LF = 0x0a;
const DASH = 0x2d;
const ZERO = 0x30;

export const E_GREETING = [220];
export const E_OK = [250];
export const E_DATA = [354];
export const E_ENVELOPE = [250, 250, 354];
export const E_BODY_ENVELOPE = [250, 250, 250, 354];
export const E_BODY_QUIT = [250, 221];
export const E_QUIT = [221];

/** One client connection with at most one group of commands in flight. */
export class Conn {
  constructor(port, host = "127.0.0.1") {
    /** performance.now() when connect() was called. */
    this.startedAt = performance.now();
    this.socket = connect({ port, host, noDelay: true });
    this.linePos = 0;
    this.code = 0;
    this.sep = 0;
    this.expected = E_GREETING;
    this.index = 0;
    /** Time the group was written, and time its first reply arrived. */
    this.sentAt = this.startedAt;
    this.firstAt = 0;
    this.done = undefined;
    this.failed = undefined;
    this.error = undefined;
    this.closed = new Promise((resolve) => this.socket.once("close", resolve));
    this.socket.on("data", (chunk) => this.onData(chunk));
    this.socket.on("error", (err) => this.fail(err));
    this.socket.on("close", () => {
      if (this.done) this.fail(new Error("connection closed with replies outstanding"));
    });
  }

  /** Resolves with the connection once the greeting arrived (firstAt is its time). */
  static open(port, host) {
    const conn = new Conn(port, host);
    return new Promise((resolve, reject) => {
      conn.expect(E_GREETING, () => resolve(conn), reject);
    });
  }

  /** Waits for `expected` replies without writing (the greeting). */
  expect(expected, done, failed) {
    this.expected = expected;
    this.index = 0;
    this.done = done;
    this.failed = failed;
  }

  /** Writes `buf` and calls `done(conn)` when the replies in `expected` arrived. */
  send(buf, expected, done, failed) {
    this.expect(expected, done, failed);
    this.sentAt = performance.now();
    this.socket.write(buf);
  }

  /** Promise form of send(). */
  request(buf, expected) {
    return new Promise((resolve, reject) => this.send(buf, expected, resolve, reject));
  }

  ehlo() {
    return this.request(EHLO, E_OK);
  }

  /** QUIT, then wait until the server closes the connection. */
  async quit() {
    await this.request(QUIT, E_QUIT);
    this.socket.end();
    await this.closed;
  }

  destroy() {
    this.socket.destroy();
  }

  onData(chunk) {
    const n = chunk.length;
    let pos = 0;
    while (pos < n) {
      while (this.linePos < 4 && pos < n) {
        const b = chunk[pos];
        if (b === LF) break;
        if (this.linePos < 3) this.code = this.code * 10 + (b - ZERO);
        else this.sep = b;
        this.linePos++;
        pos++;
      }
      const lf = chunk.indexOf(LF, pos);
      if (lf === -1) {
        this.linePos += n - pos;
        return;
      }
      pos = lf + 1;
      const final = this.sep !== DASH;
      const code = this.code;
      this.linePos = 0;
      this.code = 0;
      this.sep = 0;
      if (final) this.reply(code);
    }
  }

  reply(code) {
    if (!this.done) {
      this.fail(new Error(`unexpected reply ${code} with no command outstanding`));
      return;
    }
    if (this.index === 0) this.firstAt = performance.now();
    const want = this.expected[this.index];
    if (code !== want) {
      this.fail(
        new Error(`expected reply ${want}, got ${code} (reply ${this.index + 1} of group)`),
      );
      return;
    }
    if (++this.index === this.expected.length) {
      const done = this.done;
      this.done = undefined;
      this.failed = undefined;
      done(this);
    }
  }

  fail(err) {
    this.error ??= err;
    const failed = this.failed;
    this.done = undefined;
    this.failed = undefined;
    this.socket.destroy();
    failed?.(err);
  }
}

/** Connects and says EHLO. */
export async function session(port) {
  const conn = await Conn.open(port);
  await conn.ehlo();
  return conn;
}

/**
 * Sends batches of `batch` messages with `sendMessages` until at least `ms` have
 * passed (a warm-up, or traffic before a window); returns how many were sent.
 */
export async function sendFor(conn, w, mode, ms, batch = 200) {
  let sent = 0;
  const until = performance.now() + ms;
  do {
    await sendMessages(conn, w, batch, mode, () => {});
    sent += batch;
  } while (performance.now() < until);
  return sent;
}

/**
 * Sends `count` messages over one connection, pipelined (one round trip per
 * message) or lock-step (MAIL, RCPT, DATA, body: four round trips). `onMessage(i,
 * latencyMs)` is called at each message's 250: pipelined, the latency runs from
 * writing the body to its 250; lock-step, from writing MAIL to the 250.
 */
export function sendMessages(conn, w, count, mode, onMessage) {
  return new Promise((resolve, reject) => {
    let i = 0;
    if (count === 0) return resolve();
    if (mode === "pipelined") {
      const afterBody = (c) => {
        onMessage(i, c.firstAt - c.sentAt);
        i++;
        sendBody();
      };
      const sendBody = () => {
        if (i === count - 1) {
          conn.send(
            w.body,
            E_OK,
            (c) => {
              onMessage(i, c.firstAt - c.sentAt);
              resolve();
            },
            reject,
          );
        } else {
          conn.send(w.bodyThenEnvelope, E_BODY_ENVELOPE, afterBody, reject);
        }
      };
      conn.send(w.envelope, E_ENVELOPE, sendBody, reject);
      return;
    }
    let startedAt = 0;
    const mail = () => {
      conn.send(w.mail, E_OK, rcpt, reject);
      startedAt = conn.sentAt;
    };
    const rcpt = () => conn.send(w.rcpt, E_OK, data, reject);
    const data = () => conn.send(w.data, E_DATA, body, reject);
    const body = () => conn.send(w.body, E_OK, sent, reject);
    const sent = (c) => {
      onMessage(i, c.firstAt - startedAt);
      if (++i === count) resolve();
      else mail();
    };
    mail();
  });
}

/**
 * `connections` persistent connections, each sending pipelined messages until
 * `stop()`; `counter.messages` counts 250s as they arrive. Resolves (after stop)
 * with the number of messages sent, once every connection has quit.
 */
export function flood(port, w, connections, counter) {
  let stopping = false;
  const one = async () => {
    const conn = await session(port);
    await new Promise((resolve, reject) => {
      const loop = () => {
        if (stopping) {
          conn.send(
            w.bodyThenQuit,
            E_BODY_QUIT,
            () => {
              counter.messages++;
              resolve();
            },
            reject,
          );
          return;
        }
        conn.send(
          w.bodyThenEnvelope,
          E_BODY_ENVELOPE,
          () => {
            counter.messages++;
            loop();
          },
          reject,
        );
      };
      conn.send(w.envelope, E_ENVELOPE, loop, reject);
    });
    conn.socket.end();
    await conn.closed;
  };
  const all = Promise.all(Array.from({ length: connections }, one));
  return {
    done: all.then(() => counter.messages),
    stop() {
      stopping = true;
    },
  };
}

/**
 * `concurrency` workers, each opening a new connection per message (greeting,
 * EHLO, MAIL/RCPT/DATA, body + QUIT) until `stop()`.
 */
export function connectionPerMessage(port, w, concurrency, counter) {
  let stopping = false;
  const worker = async () => {
    while (!stopping) {
      const conn = await session(port);
      await conn.request(w.envelope, E_ENVELOPE);
      await conn.request(w.bodyThenQuit, E_BODY_QUIT);
      counter.messages++;
      conn.socket.end();
    }
  };
  const all = Promise.all(Array.from({ length: concurrency }, worker));
  return {
    done: all.then(() => counter.messages),
    stop() {
      stopping = true;
    },
  };
}
