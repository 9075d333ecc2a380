/**
 * User hooks over real sockets: every hook in callback style and as an async function,
 * rejections (SMTPError, a plain Error with responseCode, a plain Error), hooks that
 * misbehave (call back twice, throw), the onData stream (chunks, byteLength,
 * sizeExceeded, draining, backpressure) and LMTP's per-recipient replies.
 */
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import nodemailer from "nodemailer";
import { afterEach, describe, expect, test } from "vitest";
import { SMTPError } from "../../src/protocol/errors.js";
import type { SMTPSession } from "../../src/protocol/types.js";
import type { SMTPDataStream } from "../../src/server/data-stream.js";
import { SMTPServer } from "../../src/server/smtp-server.js";
import { RawClient } from "../helpers/raw-client.js";

type Options = NonNullable<ConstructorParameters<typeof SMTPServer>[0]>;
type Callback = (err?: Error | null) => void;
type OnData = NonNullable<Options["onData"]>;

const servers: SMTPServer[] = [];
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(options: Options = {}): Promise<{ server: SMTPServer; port: number }> {
  const server = new SMTPServer({ authOptional: true, ...options });
  servers.push(server);
  await server.listen(0, "127.0.0.1");
  const address = server.server.address();
  if (!address || typeof address === "string") throw new Error("no TCP address");
  return { server, port: address.port };
}

async function connect(port: number, greeting = 220): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  expect((await c.read()).code).toBe(greeting);
  return c;
}

/** Opens a transaction up to the 354. */
async function openData(c: RawClient, hello = "EHLO"): Promise<void> {
  expect((await c.command(`${hello} hooks.test`)).code).toBe(250);
  expect((await c.command("MAIL FROM:<a@example.com>")).code).toBe(250);
  expect((await c.command("RCPT TO:<b@example.com>")).code).toBe(250);
  expect((await c.command("DATA")).code).toBe(354);
}

/** One whole transaction; resolves with the reply to the final dot. */
async function send(c: RawClient, body: string | Buffer): Promise<string> {
  await openData(c);
  c.write(body);
  return (await c.command(".")).raw;
}

function errorWithCode(message: string, responseCode: number): Error {
  return Object.assign(new Error(message), { responseCode });
}

/** What a hook decides, and the reply the client should get for it. */
const verdicts: Array<[string, () => unknown, string]> = [
  ["SMTPError", () => new SMTPError(553, "Bad mailbox"), "553 Bad mailbox"],
  // (A 421 also closes the connection: parity-hooks.test.ts.)
  ["a plain Error with responseCode", () => errorWithCode("Try later", 451), "451 Try later"],
  ["an SMTPError with an enhanced code", () => new SMTPError(550, "Nope", "5.7.1"), "550 Nope"],
];

describe.each([
  ["callback style", "callback"],
  ["async style", "async"],
] as const)("hooks in %s", (_name, style) => {
  /** A hook in the style under test that accepts, or rejects with `err`. */
  function hook<A extends unknown[]>(decide: (...args: A) => unknown) {
    if (style === "async") {
      return async (...args: A) => {
        await new Promise((r) => setImmediate(r));
        const err = decide(...args);
        if (err) throw err;
      };
    }
    return (...args: [...A, Callback]) => {
      const cb = args[args.length - 1] as Callback;
      const err = decide(...(args.slice(0, -1) as A));
      setImmediate(() => cb(err as Error | undefined));
    };
  }

  test("onConnect accepts: the client is greeted", async () => {
    const seen: string[] = [];
    const { port } = await start({
      onConnect: hook((session: SMTPSession) => void seen.push(session.remoteAddress)) as never,
    });
    await connect(port);
    expect(seen).toEqual(["127.0.0.1"]);
  });

  test.each([...verdicts, ["a plain Error: 554", () => new Error("Go away"), "554 Go away"]])(
    "onConnect rejects with %s: the client gets it instead of the greeting, then the connection closes",
    async (_n, make, expected) => {
      const { port } = await start({ onConnect: hook(() => make()) as never });
      const c = await RawClient.connect(port);
      clients.push(c);
      expect((await c.read()).raw).toBe(`${expected}\r\n`);
      await c.waitClose();
    },
  );

  test.each([
    ...verdicts,
    ["a plain Error: 550", () => new Error("Sender refused"), "550 Sender refused"],
  ])("onMailFrom rejects with %s", async (_n, make, expected) => {
    const { port } = await start({
      onMailFrom: hook((a: { address: string }) =>
        a.address.startsWith("bad") ? make() : undefined,
      ) as never,
    });
    const c = await connect(port);
    await c.command("EHLO hooks.test");
    expect((await c.command("MAIL FROM:<bad@example.com>")).raw).toBe(`${expected}\r\n`);
    expect((await c.command("MAIL FROM:<good@example.com>")).raw).toBe("250 Accepted\r\n");
  });

  test.each([
    ...verdicts,
    ["a plain Error: 550", () => new Error("No such user"), "550 No such user"],
  ])("onRcptTo rejects with %s", async (_n, make, expected) => {
    const { port } = await start({
      onRcptTo: hook((a: { address: string }) =>
        a.address.startsWith("bad") ? make() : undefined,
      ) as never,
    });
    const c = await connect(port);
    await c.command("EHLO hooks.test");
    await c.command("MAIL FROM:<a@example.com>");
    expect((await c.command("RCPT TO:<bad@example.com>")).raw).toBe(`${expected}\r\n`);
    expect((await c.command("RCPT TO:<good@example.com>")).raw).toBe("250 Accepted\r\n");
  });

  test("onMailFrom and onRcptTo accept: the transaction goes through", async () => {
    const calls: string[] = [];
    const { port } = await start({
      onMailFrom: hook((a: { address: string }) => void calls.push(`mail ${a.address}`)) as never,
      onRcptTo: hook((a: { address: string }) => void calls.push(`rcpt ${a.address}`)) as never,
    });
    const c = await connect(port);
    expect(await send(c, "Subject: ok\r\n\r\nok\r\n")).toBe("250 OK: message queued\r\n");
    expect(calls).toEqual(["mail a@example.com", "rcpt b@example.com"]);
  });

  test.each([
    ...verdicts,
    [
      "a plain Error: 450, as smtp-server",
      () => new Error("Storage offline"),
      "450 Storage offline",
    ],
  ])("onData rejects with %s after the data", async (_n, make, expected) => {
    const onData =
      style === "async"
        ? async (stream: SMTPDataStream) => {
            for await (const _chunk of stream);
            throw make();
          }
        : (stream: SMTPDataStream, _s: SMTPSession, cb: Callback) => {
            stream.on("end", () => cb(make() as Error));
            stream.resume();
          };
    const { port } = await start({ onData: onData as never });
    const c = await connect(port);
    expect(await send(c, "Subject: x\r\n\r\nx\r\n")).toBe(`${expected}\r\n`);
    expect(await send(c, "Subject: y\r\n\r\ny\r\n")).toBe(`${expected}\r\n`);
  });

  test("onData accepts with a message text: 250 with that text", async () => {
    const onData =
      style === "async"
        ? async (stream: SMTPDataStream) => {
            for await (const _chunk of stream);
            return "Stored as 42";
          }
        : (stream: SMTPDataStream, _s: SMTPSession, cb: (e: null, m: string) => void) => {
            stream.on("end", () => cb(null, "Stored as 42"));
            stream.resume();
          };
    const { port } = await start({ onData: onData as never });
    const c = await connect(port);
    expect(await send(c, "Subject: x\r\n\r\nx\r\n")).toBe("250 Stored as 42\r\n");
  });

  test("onClose is called once per connection with the session", async () => {
    const closed: string[] = [];
    let done: () => void = () => {};
    const allClosed = new Promise<void>((resolve) => {
      done = resolve;
    });
    const record = (session: SMTPSession) => {
      closed.push(session.hostNameAppearsAs || "(none)");
      if (closed.length === 2) done();
    };
    const { port } = await start({
      onClose:
        style === "async"
          ? async (session: SMTPSession) => {
              await new Promise((r) => setImmediate(r));
              record(session);
            }
          : record,
    });
    const polite = await connect(port);
    await polite.command("EHLO polite.test");
    await polite.command("QUIT");
    const rude = await connect(port);
    rude.close();
    await allClosed;
    expect(closed.sort()).toEqual(["(none)", "polite.test"]);
  });
});

describe("hooks that misbehave", () => {
  test("a callback called twice: the first verdict counts, the second is ignored", async () => {
    const { port } = await start({
      onMailFrom(_a, _s, cb) {
        cb();
        cb(new SMTPError(550, "too late"));
      },
      onRcptTo(_a, _s, cb) {
        cb(new SMTPError(550, "No such user"));
        cb();
      },
    });
    const c = await connect(port);
    await c.command("EHLO twice.test");
    expect((await c.command("MAIL FROM:<a@example.com>")).raw).toBe("250 Accepted\r\n");
    expect((await c.command("RCPT TO:<b@example.com>")).raw).toBe("550 No such user\r\n");
    expect((await c.command("NOOP")).raw).toBe("250 OK\r\n");
  });

  test("a hook that calls back and also returns a promise: the first to settle counts", async () => {
    const { port } = await start({
      onMailFrom(_a, _s, cb) {
        cb();
        return Promise.reject(new SMTPError(550, "ignored"));
      },
    });
    const c = await connect(port);
    await c.command("EHLO both.test");
    expect((await c.command("MAIL FROM:<a@example.com>")).raw).toBe("250 Accepted\r\n");
    expect((await c.command("NOOP")).raw).toBe("250 OK\r\n");
  });

  test("a hook that throws synchronously gets 451 and the server keeps serving", async () => {
    let crash = true;
    const { port } = await start({
      onMailFrom(_a, _s, cb) {
        if (crash) throw new TypeError("bug in the hook");
        cb();
      },
    });
    const c = await connect(port);
    await c.command("EHLO crash.test");
    expect((await c.command("MAIL FROM:<a@example.com>")).code).toBe(451);
    crash = false;
    expect((await c.command("MAIL FROM:<a@example.com>")).code).toBe(250);
    const other = await connect(port);
    expect((await other.command("EHLO other.test")).code).toBe(250);
  });

  test("an onRcptTo and an onData that throw synchronously get 451", async () => {
    const { port } = await start({
      onRcptTo(a, _s, cb) {
        if (a.address === "crash@example.com") throw new Error("boom");
        cb();
      },
      onData() {
        throw new Error("boom");
      },
    });
    const c = await connect(port);
    await c.command("EHLO crash.test");
    await c.command("MAIL FROM:<a@example.com>");
    expect((await c.command("RCPT TO:<crash@example.com>")).code).toBe(451);
    expect((await c.command("RCPT TO:<b@example.com>")).code).toBe(250);
    expect((await c.command("DATA")).code).toBe(354);
    c.write("Subject: x\r\n\r\nx\r\n");
    expect((await c.command(".")).code).toBe(451);
    expect((await c.command("NOOP")).code).toBe(250);
  });

  test.each([
    ["rejects with undefined", () => Promise.reject(undefined)],
    ["rejects with 0", () => Promise.reject(0)],
    ["rejects with an empty string", () => Promise.reject("")],
    [
      "throws undefined synchronously",
      () => {
        throw undefined;
      },
    ],
    [
      "throws a string synchronously",
      () => {
        throw "boom";
      },
    ],
  ])("a hook that %s is a failure, not an acceptance: 451", async (_n, onMailFrom) => {
    const { port } = await start({ onMailFrom: onMailFrom as never });
    const c = await connect(port);
    await c.command("EHLO falsy.test");
    expect((await c.command("MAIL FROM:<a@example.com>")).code).toBe(451);
    expect((await c.command("NOOP")).code).toBe(250);
  });

  test("an onConnect that throws synchronously refuses with 554 and closes", async () => {
    const { port } = await start({
      onConnect() {
        throw new Error("boom");
      },
    });
    const c = await RawClient.connect(port);
    clients.push(c);
    expect((await c.read()).code).toBe(554);
    await c.waitClose();
  });

  test("an async onClose that rejects is reported as 'error', not as an unhandled rejection", async () => {
    const { server, port } = await start({
      async onClose() {
        throw new Error("async onClose broke");
      },
    });
    const failed = once(server, "error") as Promise<[Error]>;
    const c = await connect(port);
    await c.command("QUIT");
    const [err] = await failed;
    expect(err.message).toBe("async onClose broke");
  });
});

describe("the onData stream", () => {
  test("iterates Uint8Array chunks; byteLength grows with them and ends at the message size", async () => {
    const observed: Array<{ isUint8Array: boolean; byteLength: number; readSoFar: number }> = [];
    let finalLength = -1;
    const { port } = await start({
      async onData(stream) {
        let readSoFar = 0;
        for await (const chunk of stream) {
          readSoFar += chunk.length;
          observed.push({
            isUint8Array: chunk instanceof Uint8Array,
            byteLength: stream.byteLength,
            readSoFar,
          });
        }
        finalLength = stream.byteLength;
      },
    });
    const body = `Subject: chunks\r\n\r\n${"0123456789".repeat(30_000)}\r\n`;
    const c = await connect(port);
    expect(await send(c, body)).toBe("250 OK: message queued\r\n");
    expect(observed.length).toBeGreaterThan(0);
    for (const o of observed) {
      expect(o.isUint8Array).toBe(true);
      expect(o.byteLength).toBeGreaterThanOrEqual(o.readSoFar);
    }
    expect(finalLength).toBe(Buffer.byteLength(body));
  });

  test("sizeExceeded is false under the limit and true over it before the stream ends", async () => {
    const flags: Array<{ during: boolean[]; atEnd: boolean; byteLength: number }> = [];
    const { port } = await start({
      size: 1000,
      rejectOversized: true,
      onData(stream, _session, callback) {
        const during: boolean[] = [];
        stream.on("data", () => during.push(stream.sizeExceeded));
        stream.on("end", () => {
          flags.push({ during, atEnd: stream.sizeExceeded, byteLength: stream.byteLength });
          callback(null);
        });
      },
    });
    const c = await connect(port);
    const small = "Subject: s\r\n\r\nsmall\r\n";
    expect(await send(c, small)).toMatch(/^250 /);
    const big = `Subject: b\r\n\r\n${"b".repeat(5000)}\r\n`;
    expect(await send(c, big)).toMatch(/^552 /);
    expect(flags).toHaveLength(2);
    expect(flags[0]).toEqual({ during: [false], atEnd: false, byteLength: small.length });
    expect(flags[1]!.during.every((f) => f === false)).toBe(true);
    expect(flags[1]!.atEnd).toBe(true);
    expect(flags[1]!.byteLength).toBe(big.length);
  });

  test.each([
    [
      "a callback-style hook that calls back at once",
      ((_stream, _session, callback) => callback(null)) as OnData,
    ],
    ["an async hook that returns at once", (async () => {}) as OnData],
    [
      "a hook that stops iterating after the first chunk",
      (async (stream) => {
        for await (const _chunk of stream) break;
      }) as OnData,
    ],
    [
      "a hook that destroys the stream",
      ((stream, _session, callback) => {
        stream.destroy();
        callback(null);
      }) as OnData,
    ],
  ])(
    "%s: the rest is drained, the 250 arrives and the next message goes through",
    async (_name, onData) => {
      const { port } = await start({ onData });
      const c = await connect(port);
      const big = `Subject: big\r\n\r\n${"x".repeat(76)}\r\n`.repeat(20_000); // ~1.6 MB
      expect(await send(c, big)).toBe("250 OK: message queued\r\n");
      expect(await send(c, "Subject: next\r\n\r\nnext\r\n")).toBe("250 OK: message queued\r\n");
    },
  );

  test("a slow consumer gets a 5 MB message intact, with reading paused meanwhile (backpressure)", async () => {
    const received: { sha256: string; bytes: number; maxBuffered: number }[] = [];
    const { port } = await start({
      async onData(stream) {
        const hash = createHash("sha256");
        let bytes = 0;
        let maxBuffered = 0;
        for await (const chunk of stream) {
          maxBuffered = Math.max(maxBuffered, stream.readableLength);
          hash.update(chunk);
          bytes += chunk.length;
          await new Promise((r) => setImmediate(r));
        }
        received.push({ sha256: hash.digest("hex"), bytes, maxBuffered });
      },
    });
    const payload = randomBytes(3_750_000).toString("base64"); // 5 MB of base64
    const lines = payload.match(/.{1,76}/g)!.join("\r\n");
    const raw = Buffer.from(
      `Subject: big\r\nContent-Transfer-Encoding: base64\r\n\r\n${lines}\r\n`,
    );
    expect(raw.length).toBeGreaterThan(5_000_000);
    const t = nodemailer.createTransport({
      host: "127.0.0.1",
      port,
      secure: false,
      ignoreTLS: true,
    });
    const info = await t.sendMail({
      envelope: { from: "a@example.com", to: ["b@example.com"] },
      raw,
    });
    t.close();
    expect(info.response).toMatch(/^250 /);
    expect(received).toHaveLength(1);
    expect(received[0]!.bytes).toBe(raw.length);
    expect(received[0]!.sha256).toBe(createHash("sha256").update(raw).digest("hex"));
    // Without backpressure the whole message would pile up in the stream's buffer.
    expect(received[0]!.maxBuffered).toBeLessThan(1024 * 1024);
  });
});

describe("LMTP", () => {
  async function lmtpTransaction(port: number, recipients: string[]): Promise<RawClient> {
    const c = await RawClient.connect(port);
    clients.push(c);
    expect((await c.read()).raw).toBe("220 localhost LMTP\r\n");
    expect((await c.command("EHLO no.test")).code).toBe(500);
    expect((await c.command("LHLO lmtp.test")).code).toBe(250);
    expect((await c.command("MAIL FROM:<a@example.com>")).code).toBe(250);
    for (const r of recipients) expect((await c.command(`RCPT TO:<${r}>`)).code).toBe(250);
    expect((await c.command("DATA")).code).toBe(354);
    c.write("Subject: lmtp\r\n\r\nhello\r\n.\r\n");
    return c;
  }

  test("the callback's array gives one reply per recipient", async () => {
    const { port } = await start({
      lmtp: true,
      onData(stream, session, callback) {
        stream.resume();
        stream.on("end", () => {
          callback(
            null,
            session.envelope.rcptTo.map((r) => {
              if (r.address === "full@example.com") return new SMTPError(452, "Mailbox full");
              if (r.address === "gone@example.com") return errorWithCode("No such user", 550);
              if (r.address === "plain@example.com") return new Error("Temporary failure");
              return `Delivered to ${r.address}`;
            }),
          );
        });
      },
    });
    const recipients = [
      "ok@example.com",
      "full@example.com",
      "gone@example.com",
      "plain@example.com",
    ];
    const c = await lmtpTransaction(port, recipients);
    const replies = await c.readMany(recipients.length);
    expect(replies.map((r) => r.raw)).toEqual([
      "250 Delivered to ok@example.com\r\n",
      "452 Mailbox full\r\n",
      "550 No such user\r\n",
      "450 Temporary failure\r\n",
    ]);
    expect((await c.command("QUIT")).code).toBe(221);
  });

  test("a single verdict is repeated for every recipient", async () => {
    let reject = false;
    const { port } = await start({
      lmtp: true,
      async onData(stream) {
        for await (const _chunk of stream);
        if (reject) throw new SMTPError(554, "Rejected");
      },
    });
    const c1 = await lmtpTransaction(port, ["a@example.com", "b@example.com"]);
    expect((await c1.readMany(2)).map((r) => r.code)).toEqual([250, 250]);
    reject = true;
    const c2 = await lmtpTransaction(port, ["a@example.com", "b@example.com", "c@example.com"]);
    expect((await c2.readMany(3)).map((r) => r.raw)).toEqual([
      "554 Rejected\r\n",
      "554 Rejected\r\n",
      "554 Rejected\r\n",
    ]);
  });

  // RFC 2033 4.2: one reply per successful RCPT, "even if there were multiple
  // successful RCPT commands giving the same forward-path"; the envelope, and the
  // callback's array, still hold each address once.
  test("a repeated recipient gets a reply for each of its RCPTs, its own verdict", async () => {
    const seen: string[][] = [];
    const { port } = await start({
      lmtp: true,
      onData(stream, session, callback) {
        stream.resume();
        stream.on("end", () => {
          seen.push(session.envelope.rcptTo.map((r) => r.address));
          callback(
            null,
            session.envelope.rcptTo.map((r) =>
              r.address === "b@example.com"
                ? new SMTPError(452, "Mailbox full")
                : `Delivered to ${r.address}`,
            ),
          );
        });
      },
    });
    const c = await connect(port);
    expect((await c.command("LHLO lmtp.test")).code).toBe(250);
    c.write(
      "MAIL FROM:<s@example.com>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<A@Example.COM>\r\n" +
        "RCPT TO:<b@example.com>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n",
    );
    expect((await c.readMany(6)).map((r) => r.code)).toEqual([250, 250, 250, 250, 250, 354]);
    c.write("Subject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n");
    expect((await c.readMany(5)).map((r) => r.raw)).toEqual([
      "250 Delivered to a@example.com\r\n",
      "250 Delivered to a@example.com\r\n",
      "452 Mailbox full\r\n",
      "250 Delivered to a@example.com\r\n",
      "221 Bye\r\n",
    ]);
    expect(seen).toEqual([["a@example.com", "b@example.com"]]);
  });

  test("a refused RCPT gets no reply after the data, a repeated accepted one does", async () => {
    const { port } = await start({
      lmtp: true,
      onRcptTo(address, _session, callback) {
        callback(address.address === "no@example.com" ? new SMTPError(550, "No") : null);
      },
    });
    const c = await connect(port);
    expect((await c.command("LHLO lmtp.test")).code).toBe(250);
    c.write(
      "MAIL FROM:<s@example.com>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<no@example.com>\r\n" +
        "RCPT TO:<a@example.com>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n",
    );
    expect((await c.readMany(8)).map((r) => r.code)).toEqual([
      250, 250, 550, 250, 354, 250, 250, 221,
    ]);
  });

  test("with BDAT too: one reply per accepted RCPT after the LAST chunk", async () => {
    const { port } = await start({ lmtp: true, hideCHUNKING: false });
    const c = await connect(port);
    const lhlo = await c.command("LHLO lmtp.test");
    expect(lhlo.lines).toContain("CHUNKING");
    c.write(
      "MAIL FROM:<s@example.com>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<a@EXAMPLE.com>\r\n" +
        "BDAT 2 LAST\r\nhiQUIT\r\n",
    );
    expect((await c.readMany(6)).map((r) => r.code)).toEqual([250, 250, 250, 250, 250, 221]);
  });
});

describe("handlers on the instance, as in smtp-server", () => {
  test("a handler assigned after construction is called, with the server as `this`", async () => {
    const { server, port } = await start();
    const seen: Array<{ self: unknown; bytes: number }> = [];
    server.onData = function (this: unknown, stream, _session, callback) {
      let bytes = 0;
      stream.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
      });
      stream.on("end", () => {
        seen.push({ self: this, bytes });
        callback(null, "kept by a late handler");
      });
    };
    const c = await connect(port);
    expect(await send(c, "Subject: late\r\n\r\nhello\r\n")).toBe("250 kept by a late handler\r\n");
    expect(seen).toEqual([{ self: server, bytes: "Subject: late\r\n\r\nhello\r\n".length }]);
  });

  test("a subclass's handler methods are called, and options given to it still win", async () => {
    class Picky extends SMTPServer {
      readonly refused = "nobody@example.com";
      override onRcptTo(address: { address: string }, _session: SMTPSession, callback: Callback) {
        callback(address.address === this.refused ? errorWithCode("No such user", 550) : null);
      }
      override onMailFrom(_address: unknown, _session: SMTPSession, callback: Callback) {
        callback(errorWithCode("the method, not the option", 451));
      }
    }
    const server = new Picky({
      authOptional: true,
      onMailFrom: (_address, _session, callback) => callback(),
    });
    servers.push(server);
    await server.listen(0, "127.0.0.1");
    const c = await connect((server.address() as { port: number }).port);
    expect((await c.command("EHLO hooks.test")).code).toBe(250);
    expect((await c.command("MAIL FROM:<a@example.com>")).code).toBe(250);
    expect((await c.command("RCPT TO:<nobody@example.com>")).raw).toBe("550 No such user\r\n");
    expect((await c.command("RCPT TO:<b@example.com>")).code).toBe(250);
  });

  test("a handler option that is not a function is refused at construction; null means none", () => {
    expect(() => new SMTPServer({ onData: "save" as unknown as OnData })).toThrow(
      "SMTPServer: onData must be a function (callback style or async), got string",
    );
    class WithMethod extends SMTPServer {
      override onConnect(_session: SMTPSession, callback: Callback) {
        callback();
      }
    }
    const options = { onConnect: null } as unknown as Options;
    const server = new WithMethod(options);
    expect(server.onConnect).toBe(WithMethod.prototype.onConnect);
  });

  test("a handler given as an option is called with the server as `this`", async () => {
    const selves: unknown[] = [];
    const { server, port } = await start({
      onConnect(this: unknown, _session, callback) {
        selves.push(this);
        callback();
      },
    });
    await connect(port);
    expect(selves).toEqual([server]);
  });
});

describe("a hook that edits the envelope", () => {
  test("a recipient it removed frees its place: a later repeat of another is still one entry (a long envelope)", async () => {
    let session: SMTPSession | undefined;
    const { port } = await start({
      onRcptTo(address, s, callback) {
        session = s;
        // A suppression list applied as recipients arrive: r21 drops the first one.
        if (address.address === "r21@x.test") s.envelope.rcptTo.splice(0, 1);
        callback();
      },
    });
    const c = await connect(port);
    await c.command("EHLO c");
    await c.command("MAIL FROM:<a@x.test>");
    for (let i = 0; i <= 21; i++)
      expect((await c.command(`RCPT TO:<r${i}@x.test>`)).code).toBe(250);
    expect((await c.command("RCPT TO:<R20@x.test>")).code).toBe(250);
    const list = session!.envelope.rcptTo.map((r) => r.address.toLowerCase());
    expect(list).toHaveLength(21);
    expect(list.filter((a) => a === "r20@x.test")).toHaveLength(1);
    expect(list).not.toContain("r0@x.test");
  });
});
