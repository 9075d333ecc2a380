/**
 * Code written for smtp-server's documented API runs against this package's
 * SMTPServer. Each server below is an example from smtp-server 3.21's README
 * (node_modules/smtp-server/README.md: SIZE and sizeExceeded, rejectOversized,
 * XCLIENT/XFORWARD trust, session.disabledCommands, maxRecipients) or from its
 * classic documentation (nodemailer.com/extras/smtp-server: onConnect, onAuth,
 * onMailFrom, onRcptTo, onData piping the stream). The handler bodies are as
 * documented; the only changes are TypeScript annotations (`SMTPServerError`, as
 * smtp-server's own types name it), an unused `session` spelt `_session` (lint),
 * `process.stdout` replaced by a collector, and placeholders (`storage`,
 * `isTrustedNetwork`) given a body. Clients: nodemailer,
 * or the raw client where the dialog itself is the point.
 */
import { Writable } from "node:stream";
import nodemailer, { type Transporter } from "nodemailer";
import { afterEach, describe, expect, test } from "vitest";
import { SMTPServer, type SMTPServerOptions } from "../../src/index.js";
import { ipv6Missing } from "../helpers/port.js";
import { RawClient } from "../helpers/raw-client.js";

/** smtp-server's name for an error passed to a handler callback. */
type SMTPServerError = Error & { responseCode?: number };

/** The IPv4-mapped loopback address: an IPv6 listener that only IPv4 loopback clients reach. */
const MAPPED_LOOPBACK = "::ffff:127.0.0.1";
const mappedMissing = await ipv6Missing(MAPPED_LOOPBACK);

const servers: SMTPServer[] = [];
const transports: Transporter[] = [];
const clients: RawClient[] = [];

/** 'error' events of the servers: none is expected in this file. */
const serverErrors: Error[] = [];

afterEach(async () => {
  for (const t of transports.splice(0)) t.close();
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  expect(serverErrors.splice(0)).toEqual([]);
});

async function listen(server: SMTPServer, host = "127.0.0.1"): Promise<number> {
  servers.push(server);
  server.on("error", (err: Error) => serverErrors.push(err));
  await server.listen(0, host);
  return (server.server.address() as { port: number }).port;
}

function mailer(port: number, auth?: { user: string; pass: string }): Transporter {
  const t = nodemailer.createTransport({
    host: "127.0.0.1",
    port,
    secure: false,
    ignoreTLS: true,
    ...(auth ? { auth } : {}),
  });
  transports.push(t);
  return t;
}

async function raw(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  expect((await c.read()).code).toBe(220);
  return c;
}

async function failure(p: Promise<unknown>): Promise<SMTPServerError & { response?: string }> {
  try {
    await p;
  } catch (err) {
    return err as SMTPServerError & { response?: string };
  }
  throw new Error("expected the send to fail");
}

/** A Writable standing in for `process.stdout` / `storage`: keeps what it is given. */
function collector() {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString("utf8") };
}

const SMALL = { from: "a@example.com", to: "b@example.com", subject: "hi", text: "small" };
const BIG = { ...SMALL, subject: "big", text: "x".repeat(4000) };

describe("README: Using the SIZE extension", () => {
  test("onData answers an oversized message with its own 552; a small one is OK", async () => {
    const server = new SMTPServer({
      authOptional: true,
      size: 1024 * 1024, // 1 MiB limit
      onData(stream, _session, callback) {
        stream.on("end", () => {
          if (stream.sizeExceeded) {
            const err: SMTPServerError = new Error("Message too large");
            err.responseCode = 552;
            return callback(err);
          }
          callback(null, "OK");
        });
        stream.resume(); // Consume the stream
      },
    });
    const port = await listen(server);
    expect((await mailer(port).sendMail(SMALL)).response).toBe("250 OK");
    const err = await failure(
      mailer(port).sendMail({ ...SMALL, text: "y".repeat(1024 * 1024 + 10) }),
    );
    expect(err.responseCode).toBe(552);
    expect(err.response).toBe("552 Message too large");
  });

  test("sizeExceeded and byteLength are live: a data handler sees the flag turn true", async () => {
    const flags: boolean[] = [];
    const server = new SMTPServer({
      authOptional: true,
      size: 1024,
      onData(stream, _session, callback) {
        stream.on("data", () => flags.push(stream.sizeExceeded));
        stream.on("end", () => callback(null, "OK"));
      },
    });
    const port = await listen(server);
    // The decision is onData's: this one keeps the oversized message.
    expect((await mailer(port).sendMail(BIG)).response).toBe("250 OK");
    expect(flags.at(-1)).toBe(true);
  });
});

describe("README: rejectOversized", () => {
  // One server per message: `stream.pipe(storage)` ends `storage` with the message,
  // so a second message would be piped into an ended stream (in smtp-server too).
  function readmeServer() {
    const storage = collector().stream;
    return new SMTPServer({
      authOptional: true,
      size: 1024,
      rejectOversized: true,
      onData(stream, _session, callback) {
        stream.pipe(storage);
        stream.on("end", () => callback(null, "OK")); // a 552 replaces this reply if the message was too large
      },
    });
  }

  test("the server answers 552 itself, whatever onData reports", async () => {
    const port = await listen(readmeServer());
    const err = await failure(mailer(port).sendMail(BIG));
    expect(err.responseCode).toBe(552);
    expect(err.response).toBe("552 Error: message exceeds fixed maximum message size 1024");
  });

  test("a message within the limit gets onData's reply", async () => {
    const port = await listen(readmeServer());
    expect((await mailer(port).sendMail(SMALL)).response).toBe("250 OK");
  });
});

describe("README: Trusting XCLIENT and XFORWARD", () => {
  const trustedProxies = (proxies: string[]) =>
    new SMTPServer({
      authOptional: true,
      useXClient: proxies, // only these hosts may send XCLIENT
      useXForward: proxies,
    });

  test("a client that is not one of the proxies does not see them and gets 550", async () => {
    const port = await listen(trustedProxies(["10.0.0.5", "10.0.0.6"]));
    const c = await raw(port);
    const ehlo = await c.command("EHLO client.test");
    expect(ehlo.lines.some((l) => /^X(CLIENT|FORWARD) /.test(l))).toBe(false);
    expect((await c.command("XCLIENT ADDR=192.0.2.1")).code).toBe(550);
    expect((await c.command("XFORWARD ADDR=192.0.2.1")).code).toBe(550);
  });

  test.skipIf(mappedMissing)(
    `a listed proxy that a dual-stack listener reports as ::ffff:a.b.c.d is trusted ${mappedMissing ?? ""}`.trim(),
    async () => {
      // Listening on the IPv4-mapped loopback: IPv4 clients arrive as ::ffff:127.0.0.1,
      // as on a dual-stack listener, without listening beyond loopback.
      const server = trustedProxies(["127.0.0.1"]);
      const port = await listen(server, MAPPED_LOOPBACK);
      const c = await raw(port);
      const ehlo = await c.command("EHLO proxy.test");
      expect(ehlo.lines).toContain("XCLIENT NAME ADDR PORT PROTO HELO LOGIN");
      expect(ehlo.lines).toContain("XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE");
      expect((await c.command("XCLIENT ADDR=192.0.2.1")).code).toBe(220);
    },
  );
});

describe("README: Disabling commands per session", () => {
  test("AUTH is offered to the trusted network only", async () => {
    const isTrustedNetwork = (address: string) => address === "127.0.0.1";
    const server = new SMTPServer({
      disabledCommands: ["AUTH"],
      allowInsecureAuth: true,
      onConnect(session, callback) {
        if (isTrustedNetwork(session.remoteAddress)) {
          session.disabledCommands = []; // offer AUTH to this client only
        }
        callback();
      },
      onAuth(auth, _session, callback) {
        callback(null, { user: auth.username });
      },
    });
    const port = await listen(server);
    const c = await raw(port);
    expect((await c.command("EHLO client.test")).lines).toContain("AUTH LOGIN PLAIN");
    const info = await mailer(port, { user: "bob", pass: "secret" }).sendMail(SMALL);
    expect(info.response).toMatch(/^250 /);
  });
});

describe("README: Limiting the number of recipients", () => {
  test("the 101st recipient gets 452; DATA goes on with the 100 accepted", async () => {
    const received: string[][] = [];
    const server = new SMTPServer({
      authOptional: true,
      maxRecipients: 100,
      onData(stream, session, callback) {
        received.push(session.envelope.rcptTo.map((r) => r.address));
        stream.resume();
        stream.on("end", () => callback());
      },
    });
    const port = await listen(server);
    const c = await raw(port);
    await c.command("EHLO client.test");
    await c.command("MAIL FROM:<a@example.com>");
    for (let i = 1; i <= 100; i++)
      expect((await c.command(`RCPT TO:<r${i}@example.com>`)).code).toBe(250);
    expect(await c.command("RCPT TO:<r101@example.com>")).toMatchObject({
      code: 452,
      lines: ["Error: too many recipients"],
    });
    // A recipient already accepted does not count again.
    expect((await c.command("RCPT TO:<r1@example.com>")).code).toBe(250);
    expect((await c.command("DATA")).code).toBe(354);
    expect((await c.command("Subject: many\r\n\r\nhi\r\n.")).code).toBe(250);
    expect(received[0]).toHaveLength(100);
  });
});

describe("documentation: handler examples", () => {
  test("onConnect refusing localhost: 554 with the error's message, then the end", async () => {
    const server = new SMTPServer({
      onConnect(session, callback) {
        if (session.remoteAddress === "127.0.0.1") {
          return callback(new Error("No connections from localhost allowed"));
        }
        return callback(); // Accept the connection
      },
    });
    const port = await listen(server);
    const c = await RawClient.connect(port);
    clients.push(c);
    expect(await c.read()).toMatchObject({
      code: 554,
      lines: ["No connections from localhost allowed"],
    });
    await c.waitClose();
  });

  const onAuth: SMTPServerOptions["onAuth"] = (auth, _session, callback) => {
    if (auth.username !== "abc" || auth.password !== "def") {
      return callback(new Error("Invalid username or password"));
    }
    callback(null, { user: 123 }); // where 123 is the user id or similar property
  };

  test("onAuth (PLAIN): the right password logs in, a wrong one gets 535 with the message", async () => {
    const users: unknown[] = [];
    const server = new SMTPServer({
      allowInsecureAuth: true,
      authMethods: ["PLAIN"],
      onAuth,
      onMailFrom(_address, session, callback) {
        users.push(session.user);
        callback();
      },
    });
    const port = await listen(server);
    const info = await mailer(port, { user: "abc", pass: "def" }).sendMail(SMALL);
    expect(info.response).toMatch(/^250 /);
    expect(users).toEqual([123]);
    const err = await failure(mailer(port, { user: "abc", pass: "wrong" }).sendMail(SMALL));
    expect(err.responseCode).toBe(535);
    expect(err.response).toBe("535 Invalid username or password");
  });

  test("onMailFrom refusing a sender with err.responseCode = 553", async () => {
    const server = new SMTPServer({
      authOptional: true,
      onMailFrom(address, _session, callback) {
        if (address.address !== "allowed@example.com") {
          const err: SMTPServerError = new Error(
            "Only allowed@example.com is allowed to send mail",
          );
          err.responseCode = 553;
          return callback(err);
        }
        return callback(); // Accept the address
      },
    });
    const port = await listen(server);
    const err = await failure(mailer(port).sendMail({ ...SMALL, from: "other@example.com" }));
    expect(err.responseCode).toBe(553);
    expect(err.response).toBe("553 Only allowed@example.com is allowed to send mail");
    const ok = await mailer(port).sendMail({ ...SMALL, from: "allowed@example.com" });
    expect(ok.response).toMatch(/^250 /);
  });

  test("onRcptTo refusing a recipient, and a quota check with the declared SIZE (452)", async () => {
    const server = new SMTPServer({
      authOptional: true,
      size: 1024 * 1024,
      onRcptTo(address, session, callback) {
        let err: SMTPServerError;
        if (/^deny/i.test(address.address)) {
          return callback(new Error("Not accepted"));
        }
        // Reject messages larger than 100 bytes to an over-quota user
        const from = session.envelope.mailFrom;
        if (
          address.address.toLowerCase() === "almost-full@example.com" &&
          from &&
          from.args &&
          Number(from.args.SIZE) > 100
        ) {
          err = new Error(`Insufficient channel storage: ${address.address}`);
          err.responseCode = 452;
          return callback(err);
        }
        callback();
      },
    });
    const port = await listen(server);
    const denied = await failure(mailer(port).sendMail({ ...SMALL, to: "deny@example.com" }));
    expect(denied.response).toBe("550 Not accepted");
    const c = await raw(port);
    await c.command("EHLO client.test");
    await c.command("MAIL FROM:<a@example.com> SIZE=500");
    expect(await c.command("RCPT TO:<almost-full@example.com>")).toMatchObject({
      code: 452,
      lines: ["Insufficient channel storage: almost-full@example.com"],
    });
    expect((await c.command("RCPT TO:<b@example.com>")).code).toBe(250);
  });

  test("onData piping the message to a stream (process.stdout in the docs)", async () => {
    const stdout = collector();
    const server = new SMTPServer({
      authOptional: true,
      onData(stream, _session, callback) {
        stream.pipe(stdout.stream, { end: false }); // print message to console
        stream.on("end", callback);
      },
    });
    const port = await listen(server);
    const info = await mailer(port).sendMail({ ...SMALL, text: "Hello from the docs" });
    expect(info.response).toBe("250 OK: message queued");
    expect(stdout.text()).toContain("Subject: hi");
    expect(stdout.text()).toContain("Hello from the docs");
  });

  test("onClose is told when the client leaves", async () => {
    let seen: (id: string) => void = () => undefined;
    const closed = new Promise<string>((resolve) => {
      seen = resolve;
    });
    const sessions: string[] = [];
    const server = new SMTPServer({
      authOptional: true,
      onConnect(session, callback) {
        sessions.push(session.id);
        callback();
      },
      onClose(session) {
        seen(session.id);
      },
    });
    const port = await listen(server);
    const c = await raw(port);
    await c.command("QUIT");
    expect(await closed).toBe(sessions[0]);
  });
});
