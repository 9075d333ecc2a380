/**
 * SMTPServer over real sockets on 127.0.0.1: messages from nodemailer arrive byte for
 * byte, pipelined and lock-step dialogs get their replies in order, and listen(),
 * the events, the session and the options behave as smtp-server documents them.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { connect as tlsConnect } from "node:tls";
import nodemailer, { type SendMailOptions } from "nodemailer";
import PostalMime from "postal-mime";
import { SMTPServer as ReferenceServer } from "smtp-server";
import { afterEach, describe, expect, test } from "vitest";
import { SMTPError } from "../../src/protocol/errors.js";
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

function track(server: SMTPServer): SMTPServer {
  servers.push(server);
  return server;
}

async function start(options: Options = {}): Promise<{ server: SMTPServer; port: number }> {
  const server = track(new SMTPServer({ authOptional: true, ...options }));
  await server.listen(0, "127.0.0.1");
  return { server, port: portOf(server) };
}

async function connect(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  return c;
}

function mailer(port: number) {
  return nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true });
}

/** The bytes nodemailer composes for `mail`, CRLF line ends (what goes into DATA). */
async function compose(mail: SendMailOptions): Promise<Buffer> {
  const t = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "windows" });
  return (await t.sendMail(mail)).message as Buffer;
}

/** An onData hook that collects each message's bytes. */
function collector() {
  const messages: Buffer[] = [];
  const onData: NonNullable<Options["onData"]> = async (stream) => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    messages.push(Buffer.concat(chunks));
  };
  return { messages, onData };
}

describe("messages from nodemailer", () => {
  test("onData sees exactly the bytes nodemailer composed: text, html, attachments, leading dots", async () => {
    const { messages, onData } = collector();
    const { port } = await start({ onData });
    const raw = await compose({
      from: "Sender <sender@example.com>",
      to: "rcpt@example.com",
      subject: "Exact bytes ✓",
      text: ".starts with a dot\r\n..two dots\r\nand\r\n.\r\nalone on a line\r\n",
      html: "<p>Hello <b>world</b></p>\n<p>.dot</p>",
      attachments: [
        { filename: "random.bin", content: randomBytes(200_000) },
        { filename: "notes.txt", content: ".\r\n.hidden\r\n" },
      ],
    });
    const t = mailer(port);
    const info = await t.sendMail({
      envelope: { from: "sender@example.com", to: ["rcpt@example.com"] },
      raw,
    });
    t.close();
    expect(info.response).toMatch(/^250 /);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.length).toBe(raw.length);
    expect(messages[0]!.equals(raw)).toBe(true);
  });

  test("a message from sendMail parses back to its text, html and attachment", async () => {
    const { messages, onData } = collector();
    const { port } = await start({ onData });
    const attachment = randomBytes(50_000);
    const t = mailer(port);
    const info = await t.sendMail({
      from: "sender@example.com",
      to: ["one@example.com", "two@example.com"],
      subject: "Parts",
      text: "plain body",
      html: "<p>html body</p>",
      attachments: [
        { filename: "blob.bin", content: attachment, contentType: "application/x-test" },
      ],
    });
    t.close();
    expect(info.accepted).toEqual(["one@example.com", "two@example.com"]);
    const parsed = await PostalMime.parse(messages[0]!);
    expect(parsed.subject).toBe("Parts");
    expect(parsed.text?.trim()).toBe("plain body");
    expect(parsed.html?.trim()).toBe("<p>html body</p>");
    expect(parsed.attachments).toHaveLength(1);
    const [a] = parsed.attachments;
    expect(a?.filename).toBe("blob.bin");
    expect(a?.mimeType).toBe("application/x-test");
    expect(Buffer.from(a?.content as ArrayBuffer).equals(attachment)).toBe(true);
  });
});

describe("dialogs", () => {
  const bodies = [
    "Subject: one\r\n\r\nfirst\r\n",
    "Subject: two\r\n\r\n.dotted\r\n",
    "Subject: three\r\n\r\nthird\r\n",
  ];
  const script = [
    "EHLO pipe.test\r\n",
    "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n",
    `${bodies[0]}.\r\n`,
    "MAIL FROM:<a@example.com>\r\nRCPT TO:<reject@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n",
    "Subject: two\r\n\r\n..dotted\r\n.\r\n",
    "NOOP\r\n",
    "MAIL FROM:<a@example.com>\r\nRCPT TO:<d@example.com>\r\nDATA\r\n",
    `${bodies[2]}.\r\n`,
    "QUIT\r\n",
  ].join("");
  const expected = [
    [250, "localhost Nice to meet you, [127.0.0.1]"],
    [250, "Accepted"],
    [250, "Accepted"],
    [354, "End data with <CR><LF>.<CR><LF>"],
    [250, "OK: message queued"],
    [250, "Accepted"],
    [550, "No such user"],
    [250, "Accepted"],
    [354, "End data with <CR><LF>.<CR><LF>"],
    [250, "OK: message queued"],
    [250, "OK"],
    [250, "Accepted"],
    [250, "Accepted"],
    [354, "End data with <CR><LF>.<CR><LF>"],
    [250, "OK: message queued"],
    [221, "Bye"],
  ];

  /** Async hooks, so that the pipelined input has to wait for them in order. */
  function slowHooks() {
    const received: string[] = [];
    const options: Options = {
      async onRcptTo(address) {
        await new Promise((r) => setImmediate(r));
        if (address.address === "reject@example.com") throw new SMTPError(550, "No such user");
      },
      async onData(stream, session) {
        const chunks: Uint8Array[] = [];
        for await (const chunk of stream) {
          await new Promise((r) => setImmediate(r));
          chunks.push(chunk);
        }
        received.push(
          `${session.envelope.rcptTo.map((r) => r.address).join(",")}|${Buffer.concat(chunks).toString()}`,
        );
      },
    };
    return { received, options };
  }

  test.each([
    ["in one write", (c: RawClient) => c.write(script)],
    [
      "one byte per write",
      (c: RawClient) => {
        for (const byte of Buffer.from(script)) c.write(Buffer.from([byte]));
      },
    ],
  ])("three pipelined transactions sent %s get their replies in order", async (_name, send) => {
    const { received, options } = slowHooks();
    const { port } = await start(options);
    const c = await connect(port);
    expect((await c.read()).code).toBe(220);
    send(c);
    const replies = await c.readMany(expected.length);
    expect(replies.map((r) => [r.code, r.lines[0]])).toEqual(expected);
    await c.waitClose();
    expect(received).toEqual([
      `b@example.com|${bodies[0]}`,
      `c@example.com|${bodies[1]}`,
      `d@example.com|${bodies[2]}`,
    ]);
  });

  test("a lock-step dialog gets each reply before the next command", async () => {
    const { received, options } = slowHooks();
    const { port } = await start(options);
    const c = await connect(port);
    expect((await c.read()).raw).toBe("220 localhost ESMTP\r\n");
    expect((await c.command("EHLO lock.test")).raw).toBe(
      [
        "250-localhost Nice to meet you, [127.0.0.1]",
        "250-PIPELINING",
        "250-8BITMIME",
        "250-SMTPUTF8",
        "250-AUTH LOGIN PLAIN",
        "250 STARTTLS",
        "",
      ].join("\r\n"),
    );
    expect((await c.command("MAIL FROM:<a@example.com>")).raw).toBe("250 Accepted\r\n");
    expect((await c.command("RCPT TO:<reject@example.com>")).raw).toBe("550 No such user\r\n");
    expect((await c.command("RCPT TO:<b@example.com>")).raw).toBe("250 Accepted\r\n");
    expect((await c.command("DATA")).raw).toBe("354 End data with <CR><LF>.<CR><LF>\r\n");
    c.write("Subject: lock\r\n\r\n");
    c.write("..line\r\n");
    expect((await c.command(".")).raw).toBe("250 OK: message queued\r\n");
    expect((await c.command("RSET")).raw).toBe("250 Flushed\r\n");
    expect((await c.command("DATA")).code).toBe(503);
    expect((await c.command("QUIT")).raw).toBe("221 Bye\r\n");
    await c.waitClose();
    expect(received).toEqual(["b@example.com|Subject: lock\r\n\r\n.line\r\n"]);
  });
});

describe("listen()", () => {
  test("highWaterMark, keepAlive and keepAliveInitialDelay reach the accepted sockets (net.ServerOpts)", async () => {
    const { server, port } = await start({
      highWaterMark: 1024,
      keepAlive: true,
      keepAliveInitialDelay: 5000,
    });
    const c = await connect(port);
    expect((await c.read()).code).toBe(220);
    const [conn] = [...server.connections];
    expect(conn?.socket.readableHighWaterMark).toBe(1024);
    expect(conn?.socket.writableHighWaterMark).toBe(1024);
    // Node keeps them on the net.Server (the delay in seconds) and applies them to
    // each accepted socket.
    expect(server.server).toMatchObject({ keepAlive: true, keepAliveInitialDelay: 5 });
    // The conversation is unchanged.
    expect((await c.command("EHLO client.test")).code).toBe(250);
  });

  test("listen(0) binds an OS-assigned port and resolves with the server", async () => {
    const server = track(new SMTPServer({ authOptional: true }));
    expect(await server.listen(0)).toBe(server);
    expect(server.server.listening).toBe(true);
    const port = portOf(server);
    expect(port).toBeGreaterThan(0);
    const c = await connect(port);
    expect((await c.read()).code).toBe(220);
  });

  test('listen(0, "127.0.0.1") binds that address; server.address() is the net.Server\'s', async () => {
    const server = track(new SMTPServer());
    await server.listen(0, "127.0.0.1");
    const address = server.server.address();
    expect(address).toMatchObject({ address: "127.0.0.1", family: "IPv4" });
    expect(server.address()).toEqual(address);
  });

  test("listen(0, cb) calls cb once listening and still returns a promise", async () => {
    const server = track(new SMTPServer());
    let listeningInCallback: boolean | undefined;
    const called = new Promise<void>((resolve) => {
      void server.listen(0, () => {
        listeningInCallback = server.server.listening;
        resolve();
      });
    });
    await called;
    expect(listeningInCallback).toBe(true);
  });

  test('listen(0, "127.0.0.1", cb) calls cb, emits "listening" and resolves', async () => {
    const server = track(new SMTPServer());
    const events: string[] = [];
    server.on("listening", () => events.push("event"));
    await server.listen(0, "127.0.0.1", () => events.push("callback"));
    expect(events).toEqual(["event", "callback"]);
    expect(server.server.address()).toMatchObject({ address: "127.0.0.1" });
  });

  test("listen({ port, host }) takes the options form of net.Server", async () => {
    const server = track(new SMTPServer());
    await server.listen({ port: 0, host: "127.0.0.1" });
    expect(server.server.address()).toMatchObject({ address: "127.0.0.1" });
  });

  test("a port in use rejects the promise and emits 'error' to listeners", async () => {
    const { port } = await start();
    const second = track(new SMTPServer());
    const errors: Error[] = [];
    second.on("error", (err) => errors.push(err));
    await expect(second.listen(port, "127.0.0.1")).rejects.toMatchObject({ code: "EADDRINUSE" });
    expect(errors).toMatchObject([{ code: "EADDRINUSE" }]);
    expect(second.server.listening).toBe(false);
  });

  test("a port in use without an 'error' listener only rejects the promise", async () => {
    const { port } = await start();
    const second = track(new SMTPServer());
    await expect(second.listen(port, "127.0.0.1")).rejects.toMatchObject({ code: "EADDRINUSE" });
    // nothing was thrown out of the event loop: vitest would report it as an unhandled error
  });

  test("after a failed listen the same server can listen elsewhere, once", async () => {
    const { port } = await start();
    const second = track(new SMTPServer());
    await expect(second.listen(port, "127.0.0.1")).rejects.toMatchObject({ code: "EADDRINUSE" });
    const events: string[] = [];
    second.on("listening", () => events.push("listening"));
    await second.listen(0, "127.0.0.1", () => events.push("callback"));
    expect(events).toEqual(["listening", "callback"]);
    const c = await connect(portOf(second));
    expect((await c.read()).code).toBe(220);
  });

  test("listen() on a server that already listens rejects", async () => {
    const { server } = await start();
    await expect(server.listen(0, "127.0.0.1")).rejects.toMatchObject({
      code: "ERR_SERVER_ALREADY_LISTEN",
    });
    expect(server.server.listening).toBe(true);
  });
});

describe("events", () => {
  test("'connect' is emitted with the session for every accepted client", async () => {
    const { server, port } = await start();
    const connected = once(server, "connect") as Promise<[SMTPSession]>;
    const c = await connect(port);
    const [session] = await connected;
    expect(session.remoteAddress).toBe("127.0.0.1");
    expect(session.remotePort).toBe(c.socket.localPort);
    expect(session.id).toEqual(expect.any(String));
  });

  test("'close' is emitted once close() has finished", async () => {
    const { server } = await start();
    const closed = once(server, "close");
    await server.close();
    await closed;
    expect(server.server.listening).toBe(false);
  });

  test("'error' reports what went wrong in the server, with the client's address", async () => {
    const { server, port } = await start({
      onClose() {
        throw new Error("onClose broke");
      },
    });
    const failed = once(server, "error") as Promise<[Error & { remote?: string }]>;
    const c = await connect(port);
    await c.read();
    await c.command("QUIT");
    const [err] = await failed;
    expect(err.message).toBe("onClose broke");
    expect(err.remote).toBe("127.0.0.1");
  });
});

describe("the session handed to hooks", () => {
  test("has smtp-server's shape: id, addresses, client name, envelope with args, transmission type", async () => {
    const seen: Record<string, SMTPSession> = {};
    const snapshot = (name: string, s: SMTPSession) => {
      seen[name] = structuredClone(s);
    };
    const { server, port } = await start({
      size: 1000,
      onConnect(session, cb) {
        snapshot("connect", session);
        cb();
      },
      onMailFrom(_address, session, cb) {
        snapshot("mail", session);
        cb();
      },
      onRcptTo(_address, session, cb) {
        snapshot("rcpt", session);
        cb();
      },
      onData(stream, session, cb) {
        stream.resume();
        stream.on("end", () => {
          snapshot("data", session);
          cb(null);
        });
      },
    });
    const connected = once(server, "connect") as Promise<[SMTPSession]>;
    const c = await connect(port);
    await c.read();
    await c.command("EHLO Client.Example");
    await c.command("MAIL FROM:<from@example.com> BODY=8BITMIME SIZE=100");
    await c.command("RCPT TO:<one@example.com>");
    await c.command("RCPT TO:<two@example.com>");
    await c.command("DATA");
    expect((await c.command("Subject: s\r\n\r\nbody\r\n.")).code).toBe(250);
    const [connectSession] = await connected;

    const id = connectSession.id;
    for (const s of Object.values(seen)) {
      expect(s).toMatchObject({
        id,
        remoteAddress: "127.0.0.1",
        remotePort: c.socket.localPort,
        localAddress: "127.0.0.1",
        localPort: port,
        clientHostname: "[127.0.0.1]",
        secure: false,
      });
    }
    expect(seen.connect).toMatchObject({
      hostNameAppearsAs: "",
      envelope: { mailFrom: false, rcptTo: [] },
    });
    expect(seen.mail).toMatchObject({
      hostNameAppearsAs: "client.example",
      openingCommand: "EHLO",
      transmissionType: "ESMTP",
      envelope: { mailFrom: false, rcptTo: [] },
    });
    const from = { address: "from@example.com", args: { BODY: "8BITMIME", SIZE: "100" } };
    expect(seen.rcpt?.envelope.mailFrom).toEqual(from);
    expect(seen.rcpt?.envelope.rcptTo).toEqual([{ address: "one@example.com", args: false }]);
    expect(seen.data?.envelope).toMatchObject({
      mailFrom: from,
      rcptTo: [
        { address: "one@example.com", args: false },
        { address: "two@example.com", args: false },
      ],
      bodyType: "8bitmime",
    });
    expect(seen.data?.transaction).toBe(1);
  });

  test("HELO makes the transmission type SMTP", async () => {
    const types: string[] = [];
    const { port } = await start({
      onMailFrom(_a, session, cb) {
        types.push(session.transmissionType);
        cb();
      },
    });
    const c = await connect(port);
    await c.read();
    expect((await c.command("HELO old.example")).raw).toBe(
      "250 localhost Nice to meet you, [127.0.0.1]\r\n",
    );
    expect((await c.command("MAIL FROM:<a@example.com>")).code).toBe(250);
    expect(types).toEqual(["SMTP"]);
  });

  test("after HELO no extension is offered: its parameters and BDAT are refused, as after EHLO they are taken", async () => {
    const { port } = await start({ size: 1000, hideDSN: false, hideCHUNKING: false });
    const codes = async (hello: string) => {
      const c = await connect(port);
      await c.read();
      await c.command(`${hello} old.example`);
      const out: number[] = [];
      for (const line of [
        "MAIL FROM:<a@example.com> SIZE=10",
        "MAIL FROM:<a@example.com> BODY=8BITMIME",
        "MAIL FROM:<a@example.com> AUTH=<>",
        "MAIL FROM:<a@example.com> RET=FULL",
        "MAIL FROM:<a@example.com> SMTPUTF8",
        "RSET",
        "MAIL FROM:<a@example.com>",
        "RCPT TO:<b@example.com> NOTIFY=NEVER",
        "RCPT TO:<b@example.com>",
        "BDAT 0 LAST",
      ]) {
        const r = await c.command(line);
        out.push(r.code);
        // A MAIL with a parameter that was taken: the next one needs a fresh transaction.
        if (line.startsWith("MAIL FROM:<a@example.com> ") && r.code === 250) {
          await c.command("RSET");
        }
      }
      c.close();
      return out;
    };
    expect(await codes("HELO")).toEqual([555, 501, 555, 555, 555, 250, 250, 555, 250, 502]);
    expect(await codes("EHLO")).toEqual([250, 250, 250, 250, 250, 250, 250, 250, 250, 250]);
  });
});

describe("options that shape the greeting and EHLO", () => {
  test("name and banner appear in the greeting and the EHLO reply", async () => {
    const { port } = await start({ name: "mx.example.test", banner: "Welcome to the test" });
    const c = await connect(port);
    expect((await c.read()).raw).toBe("220 mx.example.test ESMTP Welcome to the test\r\n");
    expect((await c.command("EHLO c.test")).lines[0]).toBe(
      "mx.example.test Nice to meet you, [127.0.0.1]",
    );
  });

  const ehloCases: Array<[string, Options]> = [
    ["the defaults", {}],
    ["size", { size: 1000 }],
    ["size with hideSize", { size: 1000, hideSize: true }],
    ["disabledCommands AUTH and STARTTLS", { disabledCommands: ["AUTH", "STARTTLS"] }],
    [
      "hidePIPELINING, hide8BITMIME, hideSMTPUTF8",
      { hidePIPELINING: true, hide8BITMIME: true, hideSMTPUTF8: true },
    ],
    ["hideSTARTTLS", { hideSTARTTLS: true }],
    ["ENHANCEDSTATUSCODES and DSN shown", { hideENHANCEDSTATUSCODES: false, hideDSN: false }],
    ["authMethods", { authMethods: ["PLAIN", "CRAM-MD5"] }],
  ];

  async function ehloLines(port: number): Promise<string[]> {
    const c = await connect(port);
    await c.read();
    const lines = (await c.command("EHLO c.test")).lines;
    c.close();
    return lines;
  }

  test.each(ehloCases)(
    "EHLO advertises what smtp-server 3.21 advertises with %s",
    async (_n, o) => {
      const { port } = await start({ name: "mx.test", ...o });
      const { key, cert } = loadTestCertificates();
      const reference = new ReferenceServer({
        authOptional: true,
        disableReverseLookup: true,
        name: "mx.test",
        key,
        cert,
        ...(o as object),
      });
      await new Promise<void>((resolve) => reference.listen(0, "127.0.0.1", resolve));
      try {
        const refPort = (reference.server.address() as { port: number }).port;
        expect(await ehloLines(port)).toEqual(await ehloLines(refPort));
      } finally {
        await new Promise<void>((resolve) => reference.close(() => resolve()));
      }
    },
  );

  test("size with hideSize: as in smtp-server, a declared SIZE is not checked, the data is", async () => {
    const { port } = await start({
      size: 100,
      hideSize: true,
      rejectOversized: true,
      onData: collector().onData,
    });
    const c = await connect(port);
    await c.read();
    expect((await c.command("EHLO c.test")).lines).toContain("SIZE");
    expect((await c.command("MAIL FROM:<a@example.com> SIZE=101")).code).toBe(250);
    await c.command("RCPT TO:<b@example.com>");
    await c.command("DATA");
    c.write(`${"z".repeat(200)}\r\n`);
    expect((await c.command(".")).code).toBe(552);
  });

  test("size shown: a declared SIZE over the limit is refused at MAIL", async () => {
    const { port } = await start({ size: 100 });
    const c = await connect(port);
    await c.read();
    expect((await c.command("EHLO c.test")).lines).toContain("SIZE 100");
    expect((await c.command("MAIL FROM:<a@example.com> SIZE=101")).code).toBe(552);
    expect((await c.command("MAIL FROM:<a@example.com> SIZE=100")).code).toBe(250);
  });

  test("a disabled command is refused and not advertised", async () => {
    const { port } = await start({ disabledCommands: ["AUTH"] });
    const c = await connect(port);
    await c.read();
    expect((await c.command("EHLO c.test")).lines.some((l) => l.startsWith("AUTH"))).toBe(false);
    const refused = await c.command("AUTH PLAIN AGFsaWNlAHNlY3JldA==");
    expect([500, 502]).toContain(refused.code);
  });

  test("ENHANCEDSTATUSCODES shown puts enhanced codes on the replies", async () => {
    const { port } = await start({ hideENHANCEDSTATUSCODES: false });
    const c = await connect(port);
    expect((await c.read()).raw).toBe("220 localhost ESMTP\r\n");
    await c.command("EHLO c.test");
    expect((await c.command("MAIL FROM:<a@example.com>")).raw).toBe("250 2.1.0 Accepted\r\n");
    expect((await c.command("RCPT TO:<b@example.com>")).raw).toBe("250 2.1.5 Accepted\r\n");
  });
});

describe("limits", () => {
  test("maxClients: the extra client gets 421 and is closed; a freed slot is reused", async () => {
    let closeSeen: () => void = () => {};
    const { port } = await start({
      maxClients: 1,
      onClose: () => closeSeen(),
    });
    const first = await connect(port);
    expect((await first.read()).code).toBe(220);

    const extra = await connect(port);
    expect((await extra.read()).raw).toBe(
      "421 localhost Too many connected clients, try again in a moment\r\n",
    );
    await extra.waitClose();

    const firstClosed = new Promise<void>((resolve) => {
      closeSeen = resolve;
    });
    await first.command("QUIT");
    await firstClosed;

    const next = await connect(port);
    expect((await next.read()).code).toBe(220);
  });

  // A client that says nothing after the greeting: no command of its own can be left
  // unread when the timer fires (a stalled loop runs expired timers before it reads).
  // The timeout after commands is the next test's.
  test("socketTimeout: an idle client gets 421 Timeout and is closed", async () => {
    const { port } = await start({ socketTimeout: 100 });
    const c = await connect(port);
    expect((await c.read()).code).toBe(220);
    expect((await c.read()).raw).toBe("421 Timeout - closing connection\r\n");
    await c.waitClose();
  });

  test("socketTimeout: an idle client in the middle of DATA times out too; onData gets no message", async () => {
    const { messages, onData } = collector();
    const { port } = await start({ socketTimeout: 100, onData });
    const c = await connect(port);
    await c.read();
    // The whole dialog up to the idle phase in one write: the server reads it at once,
    // so a stalled loop has no later command to time out in front of.
    c.write(
      "EHLO idle.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nSubject: never finished\r\n",
    );
    expect((await c.readMany(4)).map((r) => r.code)).toEqual([250, 250, 250, 354]);
    expect((await c.read()).code).toBe(421);
    await c.waitClose();
    expect(messages).toEqual([]);
  });

  test("greetingDelay defaults to 0: the greeting comes without waiting", async () => {
    const { server, port } = await start();
    expect(server.options.greetingDelay).toBe(0);
    const c = await connect(port);
    expect((await c.read()).raw).toBe("220 localhost ESMTP\r\n");
  });

  test("greetingDelay, when set, still greets", async () => {
    const { port } = await start({ greetingDelay: 20 });
    const c = await connect(port);
    expect((await c.read()).code).toBe(220);
  });
});

describe("construction is cheap", () => {
  test("a new server opens no socket", () => {
    const server = new SMTPServer({ size: 1000 });
    expect(server.server.listening).toBe(false);
    expect(server.server.address()).toBeNull();
    expect(server.connections.size).toBe(0);
  });

  test("invalid TLS key material is not touched until a TLS handshake needs it", async () => {
    const options: Options = { secure: true, key: "not a key", cert: "not a certificate" };
    const server = track(new SMTPServer(options));
    expect(() => server.secureContext()).toThrow();
    await server.listen(0, "127.0.0.1");
    const failed = once(server, "error") as Promise<[Error]>;
    const client = tlsConnect({
      port: portOf(server),
      host: "127.0.0.1",
      rejectUnauthorized: false,
    });
    client.on("error", () => {});
    await new Promise((resolve) => client.on("close", resolve));
    const [err] = await failed;
    expect(err).toBeInstanceOf(Error);
    expect(server.server.listening).toBe(true);
  });

  test("a STARTTLS server with invalid key material serves plaintext until STARTTLS", async () => {
    const { port } = await start({ key: "not a key", cert: "not a certificate" });
    const c = await connect(port);
    expect((await c.read()).code).toBe(220);
    expect((await c.command("EHLO c.test")).lines).toContain("STARTTLS");
    expect((await c.command("MAIL FROM:<a@example.com>")).code).toBe(250);
  });
});
