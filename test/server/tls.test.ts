/**
 * STARTTLS (RFC 3207) and implicit TLS (RFC 8314) over real sockets, with every
 * client verifying the server against the test CA in fixtures/tls/.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { connect as netConnect, createServer as netCreateServer, type Socket } from "node:net";
import {
  createSecureContext,
  type SecureContext,
  type SecureContextOptions,
  type TLSSocket,
  connect as tlsConnect,
} from "node:tls";
import nodemailer, { type SMTPTransportOptions } from "nodemailer";
import { SMTPServer as Reference } from "smtp-server";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import type { SMTPSession } from "../../src/protocol/types.js";
import type { SMTPServerOptions } from "../../src/server/options.js";
import { SMTPServer } from "../../src/server/smtp-server.js";
import { within } from "../hardening/support.js";
import { RawClient } from "../helpers/raw-client.js";

const pem = (name: string): Buffer =>
  readFileSync(new URL(`../../fixtures/tls/${name}`, import.meta.url));
const ca = pem("ca.pem");
const localhost = { key: pem("localhost-key.pem"), cert: pem("localhost.pem") };
const wrongHost = { key: pem("wrong-host-key.pem"), cert: pem("wrong-host.pem") };
/** Client certificates: one the test CA signed, one nobody trusts. */
const trustedClient = { key: pem("client-key.pem"), cert: pem("client.pem") };
const selfSignedClient = {
  key: pem("self-signed-client-key.pem"),
  cert: pem("self-signed-client.pem"),
};

interface Received {
  raw: string;
  session: Pick<SMTPSession, "secure" | "servername" | "tlsOptions" | "transmissionType">;
}

interface Running {
  server: SMTPServer;
  port: number;
  received: Received[];
  /** What onMailFrom saw (a copy of the session's TLS facts and the envelope). */
  mailFrom: Array<{ address: string; session: Received["session"]; requireTLS: boolean }>;
  /** What the server reported through 'error' (a test that expects some takes them out). */
  errors: Error[];
}

const servers: SMTPServer[] = [];
const started: Running[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  // Every connection has ended (close() waited for them): nothing more will be reported.
  const errors = started.splice(0).flatMap((s) => s.errors.map((e) => e.message));
  expect(errors, "server 'error' events no test expected").toEqual([]);
});

/** What the server reports when the client drops the connection before its TLS handshake ends. */
const HANDSHAKE_CLOSED = "connection closed during the TLS handshake";

/** Closes the server (every connection ended) and takes out the errors it reported. */
/**
 * The server's 'error' messages once it has reported `count` of them (awaited, at
 * most 5 s), and after it closed (so nothing more can come).
 */
async function reportedErrors(s: Running, count: number): Promise<string[]> {
  while (s.errors.length < count) await within(once(s.server, "error"), 5000, "'error'");
  await s.server.close();
  return s.errors.splice(0).map((e) => e.message);
}

function tlsFacts(s: SMTPSession): Received["session"] {
  return {
    secure: s.secure,
    servername: s.servername,
    tlsOptions: s.tlsOptions,
    transmissionType: s.transmissionType,
  };
}

async function start(options: SMTPServerOptions = {}): Promise<Running> {
  const received: Received[] = [];
  const mailFrom: Running["mailFrom"] = [];
  const server = new SMTPServer({
    authOptional: true,
    onMailFrom(address, session, callback) {
      mailFrom.push({
        address: address.address,
        session: tlsFacts(session),
        requireTLS: session.envelope.requireTLS,
      });
      callback();
    },
    async onData(stream, session) {
      const parts: Buffer[] = [];
      for await (const chunk of stream) parts.push(chunk as Buffer);
      received.push({ raw: Buffer.concat(parts).toString("utf8"), session: tlsFacts(session) });
    },
    ...options,
  });
  const errors: Error[] = [];
  // Client-caused socket errors are reported here, never thrown; afterEach expects none
  // unless the test took out the ones it caused.
  server.on("error", (err: Error) => errors.push(err));
  servers.push(server);
  await server.listen(0, "127.0.0.1");
  const addr = server.server.address();
  if (!addr || typeof addr === "string") throw new Error("no address");
  const running = { server, port: addr.port, received, mailFrom, errors };
  started.push(running);
  return running;
}

/** A nodemailer transport that trusts only the test CA (full verification). */
function transport(port: number, extra: SMTPTransportOptions = {}) {
  const { tls, ...rest } = extra;
  return nodemailer.createTransport({
    host: "127.0.0.1",
    port,
    secure: false,
    requireTLS: true,
    tls: { ca, ...tls },
    ...rest,
  });
}

function send(port: number, extra: SMTPTransportOptions = {}, subject = "over TLS") {
  return transport(port, extra).sendMail({
    from: "sender@example.com",
    to: "rcpt@example.com",
    subject,
    text: `body of ${subject}`,
  });
}

/** Connects, reads the greeting, sends EHLO. */
async function ehlo(port: number): Promise<{ client: RawClient; extensions: string[] }> {
  const client = await RawClient.connect(port);
  expect((await client.read()).code).toBe(220);
  const r = await client.command("EHLO client.test");
  expect(r.code).toBe(250);
  return { client, extensions: r.lines.slice(1) };
}

/** EHLO, STARTTLS, handshake (verified against the test CA). */
async function startTls(port: number, servername = "localhost") {
  const { client } = await ehlo(port);
  expect((await client.command("STARTTLS")).raw).toBe("220 Ready to start TLS\r\n");
  await client.startTls(ca, servername);
  return client;
}

/** A plain TCP client that drops what it reads (so that it sees the server close). */
function rawSocket(port: number): { socket: Socket; closed: Promise<void> } {
  const socket = netConnect({ port, host: "127.0.0.1" });
  socket.on("error", () => {});
  socket.resume();
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  return { socket, closed };
}

/** The bytes a real TLS client sends first (its ClientHello), captured off the wire. */
async function captureClientHello(): Promise<Buffer> {
  const catcher = netCreateServer();
  const first = new Promise<Buffer>((resolve) => {
    catcher.once("connection", (s: Socket) => {
      s.once("data", (chunk: Buffer) => {
        resolve(chunk);
        s.destroy();
      });
    });
  });
  await new Promise<void>((resolve) => catcher.listen(0, "127.0.0.1", resolve));
  const { port } = catcher.address() as { port: number };
  const client = tlsConnect({ host: "127.0.0.1", port, servername: "localhost", ca });
  client.on("error", () => {});
  const hello = await first;
  client.destroy();
  await new Promise<void>((resolve) => catcher.close(() => resolve()));
  return hello;
}

describe("nodemailer over TLS with the certificate verified against the test CA", () => {
  test("delivers over STARTTLS (requireTLS) and the session says so", async () => {
    const s = await start();
    const info = await send(s.port);
    expect(info.response).toMatch(/^250 /);
    expect(s.received).toHaveLength(1);
    expect(s.received[0]?.raw).toContain("body of over TLS");
    const session = s.mailFrom[0]?.session;
    expect(session?.secure).toBe(true);
    expect(session?.transmissionType).toBe("ESMTPS");
    expect(session?.tlsOptions).toMatchObject({
      name: expect.stringMatching(/\w/),
      standardName: expect.stringMatching(/^TLS_/),
      version: expect.stringMatching(/^TLSv1\.[23]$/),
    });
  });

  test("delivers over implicit TLS (secure: true on both sides)", async () => {
    const s = await start({ secure: true });
    const info = await send(s.port, { secure: true, requireTLS: false });
    expect(info.response).toMatch(/^250 /);
    expect(s.received[0]?.raw).toContain("body of over TLS");
    expect(s.mailFrom[0]?.session).toMatchObject({
      secure: true,
      transmissionType: "ESMTPS",
      tlsOptions: { version: expect.stringMatching(/^TLSv1\.[23]$/) },
    });
  });

  test("implicit TLS does not offer STARTTLS", async () => {
    const s = await start({ secure: true });
    const client = await RawClient.connectTls(s.port, ca);
    expect((await client.read()).code).toBe(220);
    const r = await client.command("EHLO client.test");
    expect(r.lines).not.toContain("STARTTLS");
    expect((await client.command("STARTTLS")).raw).toMatch(/^5\d\d /);
    client.close();
  });

  test("a client that does not trust the test CA refuses the certificate", async () => {
    const s = await start();
    await expect(
      send(s.port, { tls: { ca: undefined }, connectionTimeout: 5000 }),
    ).rejects.toMatchObject({ message: expect.stringMatching(/unable to verify/) });
    expect(s.received).toHaveLength(0);
    // The client dropped the connection before finishing its handshake: the server says so.
    expect(await reportedErrors(s, 1)).toEqual([HANDSHAKE_CLOSED]);
  });

  test("session.servername is the name the client sent with SNI", async () => {
    const s = await start();
    await send(s.port, { tls: { servername: "localhost" } });
    expect(s.mailFrom[0]?.session.servername).toBe("localhost");
  });

  test("session.servername is undefined when the client connects by IP without SNI", async () => {
    const s = await start();
    await send(s.port);
    expect(s.mailFrom[0]?.session.servername).toBeUndefined();
  });
});

describe("onSecure", () => {
  test("is called (callback style) with the TLS socket and the secured session", async () => {
    const seen: Array<{ encrypted: boolean; protocol: string | null; secure: boolean }> = [];
    const s = await start({
      onSecure(socket, session, callback) {
        seen.push({
          encrypted: socket.encrypted,
          protocol: socket.getProtocol(),
          secure: session.secure,
        });
        callback();
      },
    });
    await send(s.port);
    expect(seen).toEqual([
      { encrypted: true, protocol: expect.stringMatching(/^TLSv1\.[23]$/), secure: true },
    ]);
    expect(s.received).toHaveLength(1);
  });

  test("is awaited (async style) before the greeting, after onConnect, as in smtp-server", async () => {
    const order: string[] = [];
    const s = await start({
      secure: true,
      async onSecure() {
        order.push("onSecure");
      },
      onConnect(_session, callback) {
        order.push("onConnect");
        callback();
      },
    });
    await send(s.port, { secure: true, requireTLS: false });
    expect(order).toEqual(["onConnect", "onSecure"]);
  });

  test.each([
    ["callback", false],
    ["async", true],
  ])(
    "rejecting it (%s style) after STARTTLS: 554 with its message over TLS, then close",
    async (_, isAsync) => {
      const refuse = new Error("no TLS for you");
      const s = await start({
        onSecure: isAsync
          ? async () => {
              throw refuse;
            }
          : (_socket, _session, callback) => callback(refuse),
      });
      const { client } = await ehlo(s.port);
      expect((await client.command("STARTTLS")).code).toBe(220);
      await client.startTls(ca);
      const refusal = await client.read();
      expect([refusal.code, refusal.lines.join(" ")]).toEqual([
        554,
        expect.stringContaining("no TLS for you"),
      ]);
      await client.waitClose();
      await expect(send(s.port)).rejects.toBeInstanceOf(Error);
      expect(s.received).toHaveLength(0);
    },
  );

  test("rejecting it on an implicit-TLS connection: 554 instead of the greeting, and onClose runs", async () => {
    const closed: string[] = [];
    let onClosed!: () => void;
    const firstClose = new Promise<void>((resolve) => {
      onClosed = resolve;
    });
    const s = await start({
      secure: true,
      onSecure: (_socket, _session, callback) =>
        callback(Object.assign(new Error("refused"), { responseCode: 521 })),
      onClose: (session) => {
        closed.push(session.id);
        onClosed();
      },
    });
    const client = await RawClient.connectTls(s.port, ca);
    const refusal = await client.read();
    expect([refusal.code, refusal.lines.join(" ")]).toEqual([
      521,
      expect.stringContaining("refused"),
    ]);
    await client.waitClose();
    await firstClose;
    // Once every connection has ended, onClose has run exactly once.
    await s.server.close();
    expect(closed).toHaveLength(1);
  });
});

describe("client certificates (requestCert, rejectUnauthorized), as tls.Server and smtp-server judge them", () => {
  interface Judged {
    authorized: boolean;
    authorizationError: unknown;
  }

  /** A server asking for a client certificate (verified against the test CA); what onSecure saw. */
  async function startAsking(implicit: boolean, rejectUnauthorized: boolean) {
    const judged: Judged[] = [];
    const s = await start({
      secure: implicit,
      ca,
      requestCert: true,
      rejectUnauthorized,
      onSecure(socket, _session, callback) {
        judged.push({
          authorized: socket.authorized,
          authorizationError: socket.authorizationError,
        });
        callback();
      },
    });
    return { s, judged };
  }

  /** Connects with `client`'s certificate, over implicit TLS or with EHLO and STARTTLS. */
  async function connectWith(port: number, implicit: boolean, client: typeof trustedClient) {
    if (implicit) return RawClient.connectTls(port, ca, "localhost", client);
    const { client: c } = await ehlo(port);
    expect((await c.command("STARTTLS")).code).toBe(220);
    await c.startTls(ca, "localhost", client);
    return c;
  }

  const modes = [
    ["STARTTLS", false],
    ["implicit TLS", true],
  ] as const;

  const letIn = [
    ["a certificate the CA signed is authorized", trustedClient, true, true, null],
    [
      "without rejectUnauthorized a self-signed certificate is not authorized, with the reason",
      selfSignedClient,
      false,
      false,
      "DEPTH_ZERO_SELF_SIGNED_CERT",
    ],
  ] as const;
  test.each(
    modes.flatMap(([mode, implicit]) => letIn.map((row) => [mode, implicit, ...row] as const)),
  )(
    "%s: %s, and the session goes on",
    async (_mode, implicit, _, client, rejectUnauthorized, authorized, authorizationError) => {
      const { s, judged } = await startAsking(implicit, rejectUnauthorized);
      const c = await connectWith(s.port, implicit, client);
      if (implicit) expect((await c.read()).code).toBe(220);
      expect((await c.command("EHLO client.test")).code).toBe(250);
      c.close();
      expect(judged).toEqual([{ authorized, authorizationError }]);
    },
  );

  test.each(modes)(
    "%s: with rejectUnauthorized a self-signed certificate is refused: closed, reported, onSecure not called",
    async (_, implicit) => {
      const { s, judged } = await startAsking(implicit, true);
      const c = await connectWith(s.port, implicit, selfSignedClient);
      await expect(c.read()).rejects.toThrow(/connection closed/);
      expect(await reportedErrors(s, 1)).toEqual([expect.stringMatching(/self[- ]signed/i)]);
      expect(judged).toEqual([]);
    },
  );
});

describe("certificates: updateSecureContext and sniOptions", () => {
  test("updateSecureContext swaps the certificate for new handshakes", async () => {
    const s = await start();
    await expect(send(s.port, {}, "first")).resolves.toMatchObject({ response: /^250/ });

    s.server.updateSecureContext(wrongHost);
    await expect(send(s.port, {}, "second")).rejects.toMatchObject({
      message: expect.stringMatching(/does not match certificate's altnames/),
      cert: expect.objectContaining({ subjectaltname: "DNS:wrong.example" }),
    });

    s.server.updateSecureContext(localhost);
    await expect(send(s.port, {}, "third")).resolves.toMatchObject({ response: /^250/ });
    expect(s.received.map((m) => /Subject: (\w+)/.exec(m.raw)?.[1])).toEqual(["first", "third"]);
    // Only the client that refused the wrong certificate left mid-handshake.
    expect(await reportedErrors(s, 1)).toEqual([HANDSHAKE_CLOSED]);
  });

  test("a connection keeps the certificate it was handshaken with", async () => {
    const s = await start();
    const client = await startTls(s.port);
    s.server.updateSecureContext(wrongHost);
    expect((await client.command("EHLO client.test")).code).toBe(250);
    const peer = (client.socket as TLSSocket).getPeerCertificate();
    expect(peer.subjectaltname).toContain("DNS:localhost");
    client.close();
  });

  test.each([
    ["wrong.example", "DNS:wrong.example"],
    ["localhost", "DNS:localhost"],
  ])("sniOptions serves the certificate for servername %s", async (servername, san) => {
    const s = await start({ secure: true, sniOptions: { "wrong.example": wrongHost } });
    // The client checks the certificate against `servername`: the right one verifies.
    const client = await RawClient.connectTls(s.port, ca, servername);
    expect((client.socket as TLSSocket).authorized).toBe(true);
    expect((client.socket as TLSSocket).getPeerCertificate().subjectaltname).toContain(san);
    expect((await client.read()).code).toBe(220);
    expect((await client.command("EHLO client.test")).code).toBe(250);
    expect((await client.command("MAIL FROM:<a@example.com>")).code).toBe(250);
    expect(s.mailFrom[0]?.session.servername).toBe(servername);
    client.close();
  });

  test("a user's SNICallback (smtp-server's option) chooses the context", async () => {
    const asked: string[] = [];
    const s = await start({
      SNICallback(servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) {
        asked.push(servername);
        cb(null, createSecureContext(servername === "wrong.example" ? wrongHost : localhost));
      },
    });
    const client = await startTls(s.port, "wrong.example");
    expect(asked).toEqual(["wrong.example"]);
    expect((client.socket as TLSSocket).getPeerCertificate().subjectaltname).toBe(
      "DNS:wrong.example",
    );
    // Answered over TLS: the server finished its side of the handshake too.
    expect((await client.command("EHLO client.test")).code).toBe(250);
    client.close();
  });

  test("sniOptions works over STARTTLS too (as a Map)", async () => {
    const s = await start({ sniOptions: new Map([["wrong.example", wrongHost]]) });
    const client = await startTls(s.port, "wrong.example");
    expect((client.socket as TLSSocket).getPeerCertificate().subjectaltname).toBe(
      "DNS:wrong.example",
    );
    // Answered over TLS: the server finished its side of the handshake too.
    expect((await client.command("EHLO client.test")).code).toBe(250);
    client.close();
  });
});

describe("SNI as smtp-server resolves it", () => {
  test("the requested name is looked up lower-cased: OTHER.example finds other.example", async () => {
    const s = await start({ sniOptions: { "Wrong.Example": wrongHost } });
    const client = await startTls(s.port, "WRONG.example");
    expect((client.socket as TLSSocket).getPeerCertificate().subjectaltname).toBe(
      "DNS:wrong.example",
    );
    expect((await client.command("EHLO client.test")).code).toBe(250);
    client.close();
  });

  test("an SNICallback error is reported and the default certificate serves", async () => {
    const s = await start({
      SNICallback(_name: string, cb: (err: Error | null, ctx?: SecureContext) => void) {
        cb(new Error("no context here"));
      },
    } as SMTPServerOptions);
    const client = await startTls(s.port, "localhost");
    expect((client.socket as TLSSocket).getPeerCertificate().subjectaltname).toContain(
      "DNS:localhost",
    );
    expect((await client.command("EHLO client.test")).code).toBe(250);
    client.close();
    expect(await reportedErrors(s, 1)).toEqual(["no context here"]);
  });

  test("updateSecureContext({ sniOptions }) replaces the names for new handshakes", async () => {
    const s = await start({ sniOptions: { "wrong.example": wrongHost } });
    s.server.updateSecureContext({ sniOptions: { localhost: wrongHost } } as SecureContextOptions);
    // localhost now gets the wrong.example certificate: the client refuses it.
    await expect(startTls(s.port, "localhost")).rejects.toThrow(/altnames/);
    // wrong.example is no longer listed: the default (localhost) certificate serves.
    const client = await startTls(s.port, "wrong.example").catch((err: Error) => err);
    expect(client).toBeInstanceOf(Error);
    expect(String(client)).toMatch(/altnames/);
    expect(await reportedErrors(s, 2)).toEqual([HANDSHAKE_CLOSED, HANDSHAKE_CLOSED]);
  });
});

describe("STARTTLS resets the session (RFC 3207 4.2; CVE-2011-0411)", () => {
  test("plaintext pipelined after STARTTLS in the same write is discarded", async () => {
    const s = await start();
    const { client } = await ehlo(s.port);
    client.write("STARTTLS\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<victim@x>\r\n");
    expect((await client.read()).raw).toBe("220 Ready to start TLS\r\n");
    await client.startTls(ca);
    // The first reply over TLS answers the first command sent over TLS.
    expect((await client.command("NOOP")).raw).toBe("250 OK\r\n");
    // No EHLO over TLS yet: the plaintext EHLO was forgotten.
    expect((await client.command("MAIL FROM:<good@example.com>")).raw).toBe(
      "503 Error: send HELO/EHLO first\r\n",
    );
    expect((await client.command("EHLO client.test")).code).toBe(250);
    expect((await client.command("MAIL FROM:<good@example.com>")).code).toBe(250);
    expect(s.mailFrom.map((m) => m.address)).toEqual(["good@example.com"]);
    client.close();
  });

  test("a partial plaintext line after STARTTLS is discarded too", async () => {
    const s = await start();
    const { client } = await ehlo(s.port);
    client.write("STARTTLS\r\nMAIL FROM:<ev");
    expect((await client.read()).code).toBe(220);
    await client.startTls(ca);
    // Were "MAIL FROM:<ev" kept, this line would complete it.
    expect((await client.command("il@x>")).code).toBe(500);
    expect(s.mailFrom).toEqual([]);
    client.close();
  });

  test("a transaction begun before STARTTLS does not survive it", async () => {
    const s = await start();
    const { client } = await ehlo(s.port);
    expect((await client.command("MAIL FROM:<before@example.com>")).code).toBe(250);
    expect((await client.command("STARTTLS")).code).toBe(220);
    await client.startTls(ca);
    expect((await client.command("EHLO client.test")).code).toBe(250);
    expect((await client.command("RCPT TO:<b@example.com>")).raw).toBe(
      "503 Error: need MAIL command\r\n",
    );
    client.close();
  });

  test("EHLO over TLS no longer offers STARTTLS, and a second STARTTLS gets 503", async () => {
    const s = await start();
    const { client, extensions } = await ehlo(s.port);
    expect(extensions).toContain("STARTTLS");
    expect((await client.command("STARTTLS")).code).toBe(220);
    await client.startTls(ca);
    const again = await client.command("EHLO client.test");
    expect(again.lines.slice(1)).not.toContain("STARTTLS");
    expect((await client.command("STARTTLS")).raw).toBe("503 Error: TLS already active\r\n");
    client.close();
  });

  test("STARTTLS with an argument is a syntax error and changes nothing", async () => {
    const s = await start();
    const { client } = await ehlo(s.port);
    expect((await client.command("STARTTLS now")).raw).toBe("501 Error: syntax: STARTTLS\r\n");
    expect((await client.command("MAIL FROM:<a@example.com>")).code).toBe(250);
    client.close();
  });

  test("hideSTARTTLS neither offers nor accepts STARTTLS", async () => {
    const s = await start({ hideSTARTTLS: true });
    const { client, extensions } = await ehlo(s.port);
    expect(extensions).not.toContain("STARTTLS");
    expect((await client.command("STARTTLS")).raw).toMatch(/^5\d\d /);
    client.close();
  });
});

describe("REQUIRETLS (RFC 8689)", () => {
  test("is advertised only over TLS", async () => {
    const s = await start({ hideREQUIRETLS: false });
    const { client, extensions } = await ehlo(s.port);
    expect(extensions).not.toContain("REQUIRETLS");
    expect((await client.command("STARTTLS")).code).toBe(220);
    await client.startTls(ca);
    const r = await client.command("EHLO client.test");
    expect(r.lines.slice(1)).toContain("REQUIRETLS");
    client.close();
  });

  test("MAIL FROM ... REQUIRETLS over TLS sets envelope.requireTLS", async () => {
    const s = await start({ hideREQUIRETLS: false });
    const client = await startTls(s.port);
    expect((await client.command("EHLO client.test")).code).toBe(250);
    expect((await client.command("MAIL FROM:<a@b> REQUIRETLS")).code).toBe(250);
    expect(s.mailFrom).toEqual([expect.objectContaining({ address: "a@b", requireTLS: true })]);
    client.close();
  });

  test("MAIL FROM ... REQUIRETLS over plaintext gets 530", async () => {
    const s = await start({ hideREQUIRETLS: false });
    const { client } = await ehlo(s.port);
    expect((await client.command("MAIL FROM:<a@b> REQUIRETLS")).raw).toBe(
      "530 REQUIRETLS not permitted on non-TLS connections\r\n",
    );
    expect(s.mailFrom).toEqual([]);
    client.close();
  });

  test("hidden (the default): REQUIRETLS over plaintext gets 555, not a 530 that leads to a 555 over TLS", async () => {
    const s = await start();
    const { client } = await ehlo(s.port);
    expect((await client.command("MAIL FROM:<a@b> REQUIRETLS")).raw).toBe(
      "555 Error: Unsupported parameter REQUIRETLS\r\n",
    );
    client.close();
  });

  test("is hidden by default, even over TLS", async () => {
    const s = await start();
    const client = await startTls(s.port);
    const r = await client.command("EHLO client.test");
    expect(r.lines.slice(1)).not.toContain("REQUIRETLS");
    client.close();
  });

  test("nodemailer's requireTLSExtensionEnabled reaches onMailFrom", async () => {
    const s = await start({ hideREQUIRETLS: false });
    await transport(s.port).sendMail({
      from: "sender@example.com",
      to: "rcpt@example.com",
      text: "x",
      requireTLSExtensionEnabled: true,
    });
    expect(s.mailFrom[0]).toMatchObject({ requireTLS: true, session: { secure: true } });
  });
});

describe("broken TLS clients leave the server serving others", () => {
  // Nothing the server does about a broken client may surface as an unhandled error.
  const unhandled: unknown[] = [];
  const record = (err: unknown) => unhandled.push(err);
  beforeEach(() => {
    unhandled.length = 0;
    process.on("uncaughtException", record);
    process.on("unhandledRejection", record);
  });
  afterEach(() => {
    process.off("uncaughtException", record);
    process.off("unhandledRejection", record);
    expect(unhandled).toEqual([]);
  });

  /** A server without an "error" listener: client trouble must not need one. */
  async function startQuiet(options: SMTPServerOptions = {}): Promise<Running> {
    const s = await start(options);
    s.server.removeAllListeners("error");
    return s;
  }

  /** Whatever the broken client did, a well-behaved one right after gets its mail through. */
  async function stillServes(s: Running, implicit: boolean) {
    const info = await send(s.port, implicit ? { secure: true, requireTLS: false } : {}, "after");
    expect(info.response).toMatch(/^250 /);
    expect(s.received.map((m) => m.session.secure)).toEqual([true]);
  }

  const garbage = Buffer.concat([Buffer.from("this is no ClientHello\r\n"), randomBytes(512)]);

  test("garbage instead of a handshake after STARTTLS's 220", async () => {
    const s = await startQuiet();
    const { client } = await ehlo(s.port);
    expect((await client.command("STARTTLS")).code).toBe(220);
    client.write(garbage);
    await client.waitClose();
    await stillServes(s, false);
  });

  test("garbage sent to an implicit-TLS port", async () => {
    const s = await startQuiet({ secure: true });
    const { socket, closed } = rawSocket(s.port);
    socket.write(garbage);
    await closed;
    await stillServes(s, true);
  });

  test.each([
    ["after STARTTLS", false],
    ["on an implicit-TLS port", true],
  ])(
    "garbage on the TCP connection once TLS is up (%s): the server drops the connection at once",
    async (_, implicit) => {
      // A long socketTimeout: only the TLS error can end the connection before the test times out.
      const s = await startQuiet({ secure: implicit, socketTimeout: 60_000 });
      const client = implicit ? await RawClient.connect(s.port) : (await ehlo(s.port)).client;
      if (!implicit) expect((await client.command("STARTTLS")).code).toBe(220);
      const tcp = client.socket;
      await client.startTls(ca);
      if (implicit) expect((await client.read()).code).toBe(220);
      expect((await client.command("EHLO client.test")).code).toBe(250);
      tcp.write(garbage);
      await client.waitClose();
      await stillServes(s, implicit);
    },
  );

  test("a client that disconnects mid-handshake after STARTTLS", async () => {
    const hello = await captureClientHello();
    const s = await startQuiet();
    const { client } = await ehlo(s.port);
    expect((await client.command("STARTTLS")).code).toBe(220);
    client.write(hello.subarray(0, hello.length >> 1));
    client.close();
    await stillServes(s, false);
  });

  test("a client that disconnects mid-handshake on an implicit-TLS port", async () => {
    const hello = await captureClientHello();
    const s = await startQuiet({ secure: true });
    const { socket, closed } = rawSocket(s.port);
    socket.end(hello.subarray(0, 20));
    await closed;
    await stillServes(s, true);
  });

  test("a client that never finishes the handshake does not block others", async () => {
    const hello = await captureClientHello();
    const s = await startQuiet();
    const { client } = await ehlo(s.port);
    expect((await client.command("STARTTLS")).code).toBe(220);
    client.write(hello.subarray(0, hello.length >> 1));
    await stillServes(s, false);
    expect(client.closed).toBe(false);
    client.close();
  });

  test("a stalled handshake is cut at socketTimeout", async () => {
    const hello = await captureClientHello();
    // Long enough for the well-behaved client after it (a TLS handshake and a whole
    // dialog, each step under this idle timer) to get through a stalled loop.
    const s = await startQuiet({ secure: true, socketTimeout: 1000 });
    const { socket, closed } = rawSocket(s.port);
    socket.write(hello.subarray(0, 20));
    await closed;
    await stillServes(s, true);
  });
});

describe("secured (TLS done in front of the server), as smtp-server", () => {
  /** Greeting, EHLO keywords and session.secure from one connection to `port`. */
  async function look(
    port: number,
    seen: boolean[],
  ): Promise<{ greeting: number; ehlo: string[]; secure: boolean }> {
    const c = await RawClient.connect(port);
    const greeting = (await c.read()).code;
    const ehlo = (await c.command("EHLO secured.test")).lines.slice(1);
    await c.command("MAIL FROM:<a@x.test>");
    c.close();
    return { greeting, ehlo: ehlo.filter((l) => l === "STARTTLS"), secure: seen.at(-1)! };
  }

  test.each([
    [
      "secure and secured: plaintext socket, secure session, no STARTTLS",
      { secure: true, secured: true },
    ],
    ["secured alone: changes nothing", { secured: true }],
  ])("%s", async (_name, extra) => {
    const results = [];
    for (const Server of [SMTPServer, Reference]) {
      const seen: boolean[] = [];
      const server = new (Server as typeof SMTPServer)({
        ...localhost,
        ...extra,
        authOptional: true,
        disableReverseLookup: true,
        logger: false,
        onMailFrom(_a: unknown, session: SMTPSession, cb: () => void) {
          seen.push(session.secure);
          cb();
        },
      } as SMTPServerOptions);
      await new Promise<void>((resolve) =>
        (server as unknown as { listen(p: number, h: string, cb: () => void): void }).listen(
          0,
          "127.0.0.1",
          resolve,
        ),
      );
      const port = (server.server.address() as { port: number }).port;
      results.push(await look(port, seen));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    expect(results[0]).toEqual(results[1]);
    expect(results[0]!.secure).toBe("secure" in extra);
  });
});
