/**
 * The server's life over real sockets: close() is graceful (idle clients get 421, a
 * transaction in flight finishes first), bounded by closeTimeout, frees the port, and
 * clients that vanish mid-transaction never crash the server.
 */
import { once } from "node:events";
import { connect as netConnect, type Socket } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import type { SMTPSession } from "../../src/protocol/types.js";
import { SMTPServer } from "../../src/server/smtp-server.js";
import { loadTestCertificates } from "../../src/server/test-certs.js";
import { portOf } from "../helpers/port.js";
import { RawClient } from "../helpers/raw-client.js";

type Options = NonNullable<ConstructorParameters<typeof SMTPServer>[0]>;

const servers: SMTPServer[] = [];
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(
  options: Options = {},
  port = 0,
): Promise<{ server: SMTPServer; port: number }> {
  const server = new SMTPServer({ authOptional: true, ...options });
  servers.push(server);
  await server.listen(port, "127.0.0.1");
  return { server, port: portOf(server) };
}

async function connect(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  expect((await c.read()).code).toBe(220);
  return c;
}

async function openData(c: RawClient): Promise<void> {
  expect((await c.command("EHLO life.test")).code).toBe(250);
  expect((await c.command("MAIL FROM:<a@example.com>")).code).toBe(250);
  expect((await c.command("RCPT TO:<b@example.com>")).code).toBe(250);
  expect((await c.command("DATA")).code).toBe(354);
}

/**
 * Watches the server's side of each close (onClose). The n-th `next()` resolves with
 * the n-th closed session, whether it closed before or after the call.
 */
function closeWatcher() {
  const closed: SMTPSession[] = [];
  const waiters = new Map<number, (s: SMTPSession) => void>();
  let asked = 0;
  return {
    onClose(session: SMTPSession) {
      closed.push(session);
      waiters.get(closed.length - 1)?.(session);
    },
    next(): Promise<SMTPSession> {
      const index = asked++;
      const done = closed[index];
      if (done) return Promise.resolve(done);
      return new Promise((resolve) => waiters.set(index, resolve));
    },
  };
}

/** Rejects if `p` has not settled within `ms`: a bound, not a synchronisation. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

describe("close()", () => {
  test("an idle connection gets 421 and is closed; close() resolves and emits 'close'", async () => {
    const { server, port } = await start();
    const c = await connect(port);
    expect((await c.command("EHLO idle.test")).code).toBe(250);
    const closeEvent = once(server, "close");
    const closing = server.close();
    expect((await c.read()).raw).toBe("421 Server shutting down\r\n");
    await c.waitClose();
    await closing;
    await closeEvent;
    expect(server.server.listening).toBe(false);
  });

  test("a connection in the middle of DATA finishes its transaction, then gets 421", async () => {
    const messages: string[] = [];
    const { server, port } = await start({
      async onData(stream) {
        const chunks: Uint8Array[] = [];
        for await (const chunk of stream) chunks.push(chunk);
        messages.push(Buffer.concat(chunks).toString());
      },
    });
    const c = await connect(port);
    await openData(c);
    c.write("Subject: in flight\r\n\r\nfirst half, ");
    const closing = server.close();
    c.write("second half\r\n.\r\n");
    expect((await c.read()).raw).toBe("250 OK: message queued\r\n");
    c.write("MAIL FROM:<again@example.com>\r\n");
    expect((await c.read()).raw).toBe("421 Server shutting down\r\n");
    await c.waitClose();
    await closing;
    expect(messages).toEqual(["Subject: in flight\r\n\r\nfirst half, second half\r\n"]);
  });

  test("a MAIL waiting for its hook gets its reply, and its transaction goes on to the message, then 421", async () => {
    let release: () => void = () => {};
    const hookCalled = new Promise<void>((called) => {
      release = called;
    });
    let proceed: () => void = () => {};
    const { server, port } = await start({
      onMailFrom(_a, _s, cb) {
        proceed = () => cb();
        release();
      },
    });
    const c = await connect(port);
    await c.command("EHLO busy.test");
    c.write("MAIL FROM:<a@example.com>\r\n");
    await hookCalled;
    const closing = server.close();
    proceed();
    expect((await c.read()).raw).toBe("250 Accepted\r\n");
    expect((await c.command("RCPT TO:<b@example.com>")).code).toBe(250);
    expect((await c.command("DATA")).code).toBe(354);
    c.write("Subject: late\r\n\r\nx\r\n.\r\n");
    expect((await c.read()).code).toBe(250);
    expect((await c.read()).raw).toBe("421 Server shutting down\r\n");
    await c.waitClose();
    await closing;
  });

  test("a transaction between RCPT and DATA when close() is called goes on; RSET ends it with 421", async () => {
    const { server, port } = await start();
    const c = await connect(port);
    await c.command("EHLO envelope.test");
    expect((await c.command("MAIL FROM:<a@example.com>")).code).toBe(250);
    expect((await c.command("RCPT TO:<b@example.com>")).code).toBe(250);
    const closing = server.close();
    expect((await c.command("RCPT TO:<c@example.com>")).code).toBe(250);
    c.write("RSET\r\nMAIL FROM:<next@example.com>\r\n");
    expect((await c.read()).code).toBe(250);
    expect((await c.read()).raw).toBe("421 Server shutting down\r\n");
    await c.waitClose();
    await closing;
  });

  test("a transaction left open past closeTimeout is cut with 421", async () => {
    const { server, port } = await start({ closeTimeout: 50 });
    const c = await connect(port);
    await c.command("EHLO stalled.test");
    expect((await c.command("MAIL FROM:<a@example.com>")).code).toBe(250);
    const closing = server.close();
    expect((await within(c.read(), 5000, "the 421")).raw).toBe("421 Server shutting down\r\n");
    await c.waitClose();
    await closing;
  });

  test("a half-done AUTH exchange is no transaction: 421 at once, close() does not wait for closeTimeout", async () => {
    const { server, port } = await start({ closeTimeout: 60_000, allowInsecureAuth: true });
    const c = await connect(port);
    await c.command("EHLO auth.test");
    expect((await c.command("AUTH LOGIN")).code).toBe(334);
    const closing = server.close();
    expect((await within(c.read(), 5000, "the 421")).raw).toBe("421 Server shutting down\r\n");
    await within(closing, 5000, "close()");
  });

  test("implicit TLS: a client still in its handshake is dropped at close(), never sent plaintext", async () => {
    const { key, cert } = loadTestCertificates();
    const { server, port } = await start({ secure: true, key, cert, closeTimeout: 60_000 });
    const raw = netConnect(port, "127.0.0.1");
    await once(raw, "connect");
    const received: Buffer[] = [];
    raw.on("data", (d: Buffer) => received.push(d));
    raw.on("error", () => undefined); // dropped mid-handshake: a reset is expected
    raw.write(Buffer.from([0x16, 0x03, 0x01])); // the first bytes of a ClientHello, no more
    // Not events.once: it would reject on the reset's 'error' before the 'close'.
    const ended = new Promise((resolve) => raw.once("close", resolve));
    await within(server.close(), 5000, "close()");
    await within(ended, 5000, "the client's socket closed");
    expect(Buffer.concat(received).toString("latin1")).not.toContain("421");
  });

  /**
   * Runs `scenario` (a port from the OS, freed by close(), listened on again) anew on a
   * fresh port when its listen fails with EADDRINUSE: another process may take a port
   * the moment it is freed. A server that kept its port fails every try.
   */
  async function onAFreedPort(scenario: () => Promise<void>, tries = 3): Promise<void> {
    for (let i = 1; ; i++) {
      try {
        return await scenario();
      } catch (err) {
        if (i >= tries || (err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
      }
    }
  }

  test("the port is free once close() resolves: a new server listens on it", async () => {
    await onAFreedPort(async () => {
      const { server, port } = await start();
      const c = await connect(port);
      await server.close();
      await c.waitClose();
      const { port: again } = await start({}, port);
      expect(again).toBe(port);
      const c2 = await connect(port);
      expect((await c2.command("EHLO again.test")).code).toBe(250);
    });
  });

  test("the same server can listen again after close()", async () => {
    await onAFreedPort(async () => {
      const { server, port } = await start();
      await server.close();
      await server.listen(port, "127.0.0.1");
      const c = await connect(port);
      expect((await c.command("EHLO again.test")).code).toBe(250);
    });
  });

  test("close(cb) calls the callback when done and returns nothing (Jest and mocha refuse a hook that takes done and returns a promise)", async () => {
    const { server, port } = await start();
    const c = await connect(port);
    let returned: unknown = "not called";
    const called = new Promise<void>((resolve) => {
      returned = server.close(resolve);
    });
    expect(returned).toBeUndefined();
    await called;
    await c.waitClose();
    expect(server.server.listening).toBe(false);
    await expect(server.close()).resolves.toBeUndefined();
  });

  test("a client that never reads is cut after closeTimeout", async () => {
    const { server, port } = await start({ closeTimeout: 200 });
    const c = await connect(port);
    c.socket.pause(); // reads nothing more: the server's 421 and FIN are never taken up
    const closeEvent = once(server, "close");
    await within(server.close(), 1500, "close() with closeTimeout: 200");
    await closeEvent;
    c.socket.resume();
    await c.waitClose();
  });

  test("a client stuck in the middle of DATA is cut after closeTimeout", async () => {
    const watcher = closeWatcher();
    const { server, port } = await start({
      closeTimeout: 200,
      onClose: watcher.onClose,
      onData(stream, _s, cb) {
        stream.on("data", () => {});
        stream.on("end", () => cb(null));
      },
    });
    const c = await connect(port);
    await openData(c);
    c.write("Subject: never ends\r\n\r\n");
    const closed = watcher.next();
    await within(server.close(), 1500, "close() with closeTimeout: 200");
    await closed;
    await c.waitClose();
  });
});

describe("clients that go away", () => {
  const abrupt: Array<[string, (s: Socket) => void]> = [
    ["closes its socket", (s) => s.destroy()],
    ["resets the connection", (s) => s.resetAndDestroy()],
  ];

  test.each(abrupt)(
    "a client that %s mid-DATA does not crash a callback-style onData without an error listener",
    async (_name, leave) => {
      const watcher = closeWatcher();
      const delivered: string[] = [];
      const { port } = await start({
        onClose: watcher.onClose,
        onData(stream, _session, callback) {
          const chunks: Buffer[] = [];
          stream.on("data", (chunk: Buffer) => chunks.push(chunk));
          stream.on("end", () => {
            delivered.push(Buffer.concat(chunks).toString());
            callback(null);
          });
        },
      });
      const c = await connect(port);
      await openData(c);
      c.write(`Subject: cut\r\n\r\n${"x".repeat(100_000)}`);
      const closed = watcher.next();
      leave(c.socket);
      await closed;

      const other = await connect(port);
      await openData(other);
      expect((await other.command("Subject: fine\r\n\r\nfine\r\n.")).code).toBe(250);
      expect(delivered).toEqual(["Subject: fine\r\n\r\nfine\r\n"]);
    },
  );

  test("a for-await onData sees the aborted transaction as an error", async () => {
    let aborted: (err: Error) => void = () => {};
    const seen = new Promise<Error>((resolve) => {
      aborted = resolve;
    });
    const { port } = await start({
      async onData(stream) {
        try {
          for await (const _chunk of stream);
        } catch (err) {
          aborted(err as Error);
          throw err;
        }
      },
    });
    const c = await connect(port);
    await openData(c);
    c.write("Subject: cut\r\n\r\npartial");
    c.socket.destroy();
    const err = await seen;
    // smtp-server's error for a client gone mid-message.
    expect(err).toMatchObject({
      message: "Connection closed before the message was received in full",
      code: "ECONNECTION",
    });
    const other = await connect(port);
    expect((await other.command("EHLO other.test")).code).toBe(250);
  });

  test("a reset connection is reported through 'error' when someone listens", async () => {
    const watcher = closeWatcher();
    let gotData: () => void = () => {};
    const dataArrived = new Promise<void>((resolve) => {
      gotData = resolve;
    });
    const { server, port } = await start({
      onClose: watcher.onClose,
      onData(stream) {
        stream.once("data", () => gotData());
      },
    });
    const errors: Array<Error & { code?: string; remote?: string }> = [];
    server.on("error", (err) => errors.push(err));
    const c = await connect(port);
    await openData(c);
    c.write("Subject: x\r\n\r\nbody");
    await dataArrived; // the server is waiting for more when the reset comes
    const closed = watcher.next();
    c.socket.resetAndDestroy();
    await closed;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      code: "ECONNRESET",
      remote: "127.0.0.1",
      remoteAddress: "127.0.0.1",
    });
  });

  test("a reset outside a transaction is no 'error' (as in smtp-server): the client just left", async () => {
    const watcher = closeWatcher();
    const { server, port } = await start({ onClose: watcher.onClose });
    const errors: Error[] = [];
    server.on("error", (err) => errors.push(err));
    const c = await connect(port);
    expect((await c.command("EHLO gone.test")).code).toBe(250);
    const closed = watcher.next();
    c.socket.resetAndDestroy();
    await closed;
    expect(errors).toEqual([]);
  });

  test("a client refused by onConnect that talks early is released at once", async () => {
    const watcher = closeWatcher();
    const { port } = await start({
      onClose: watcher.onClose,
      onConnect(_session, cb) {
        cb(new Error("go away"));
      },
    });
    const c = await RawClient.connect(port);
    clients.push(c);
    expect((await c.read()).raw).toBe("554 go away\r\n");
    c.write("EHLO early.talker\r\n");
    await c.waitClose();
    // Without reading on, the server would only notice the client's FIN at its 2 s cut-off.
    await within(watcher.next(), 1500, "the server's side of the close");
  });

  test("a client that vanishes while a hook is pending gets no reply and breaks nothing", async () => {
    const watcher = closeWatcher();
    let proceed: () => void = () => {};
    const hookCalled = new Promise<void>((called) => {
      proceed = called;
    });
    const verdicts: Array<() => void> = [];
    const { port } = await start({
      onClose: watcher.onClose,
      onRcptTo(_a, _s, cb) {
        verdicts.push(() => cb());
        proceed();
      },
    });
    const c = await connect(port);
    await c.command("EHLO gone.test");
    await c.command("MAIL FROM:<a@example.com>");
    c.write("RCPT TO:<b@example.com>\r\n");
    await hookCalled;
    const closed = watcher.next();
    c.socket.destroy();
    await closed;
    for (const v of verdicts) v(); // the verdict arrives after the client left
    const other = await connect(port);
    expect((await other.command("EHLO other.test")).code).toBe(250);
  });
});
