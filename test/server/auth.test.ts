/**
 * SMTP AUTH (RFC 4954) over real sockets: nodemailer with every SASL mechanism over
 * STARTTLS and implicit TLS (verified against the test CA), onAuth in both styles,
 * and the raw dialog rules (538, 535, 501 cancel, initial responses, 421 budget,
 * masked transcripts).
 */
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import nodemailer, { type SMTPTransportOptions } from "nodemailer";
import { afterEach, describe, expect, test } from "vitest";
import { SMTPError } from "../../src/protocol/errors.js";
import type { AuthRequest } from "../../src/protocol/sasl.js";
import type { SMTPSession } from "../../src/protocol/types.js";
import type { Connection } from "../../src/server/connection.js";
import type { SMTPServerOptions } from "../../src/server/options.js";
import { INTERNALS, SMTPServer } from "../../src/server/smtp-server.js";
import { RawClient } from "../helpers/raw-client.js";

const ca = readFileSync(new URL("../../fixtures/tls/ca.pem", import.meta.url));

const USER = "alice@example.com";
const PASS = "s3cret-Pa55word!";
const TOKEN = "ya29.secret-access-token";
const ALL_METHODS = ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"] as const;
type Method = (typeof ALL_METHODS)[number];

const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");
const unb64 = (s: string): string => Buffer.from(s, "base64").toString("utf8");
const plainToken = (user = USER, pass = PASS, authzid = "") => b64(`${authzid}\0${user}\0${pass}`);
const xoauth2Token = (token = TOKEN, user = USER) =>
  b64(`user=${user}\x01auth=Bearer ${token}\x01\x01`);

/** Whether `auth` carries the right secret, judged the way an application would. */
function valid(auth: AuthRequest): boolean {
  if (auth.username !== USER) return false;
  switch (auth.method) {
    case "PLAIN":
    case "LOGIN":
      return auth.password === PASS;
    case "CRAM-MD5":
      return auth.validatePassword?.(PASS) === true;
    case "XOAUTH2":
      return auth.accessToken === TOKEN;
    case "XCLIENT":
      return false;
  }
}

/** smtp-server's two onAuth styles: `callback(err, { user })` and an async function. */
const onAuthStyles = {
  callback: (seen: AuthRequest[]): NonNullable<SMTPServerOptions["onAuth"]> =>
    function onAuth(auth, _session, callback) {
      seen.push(auth);
      if (!valid(auth)) return callback(new Error("Invalid username or password"));
      callback(null, { user: { name: auth.username } });
    },
  async: (seen: AuthRequest[]): NonNullable<SMTPServerOptions["onAuth"]> =>
    async function onAuth(auth) {
      seen.push(auth);
      if (!valid(auth)) throw new Error("Invalid username or password");
      return { user: { name: auth.username } };
    },
};
type Style = keyof typeof onAuthStyles;

interface Running {
  server: SMTPServer;
  port: number;
  seen: AuthRequest[];
  bodies: string[];
  sessions: Array<Pick<SMTPSession, "user" | "secure" | "transmissionType">>;
  connections: Connection[];
}

const servers: SMTPServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(options: SMTPServerOptions = {}, style: Style = "callback"): Promise<Running> {
  const seen: AuthRequest[] = [];
  const bodies: string[] = [];
  const sessions: Running["sessions"] = [];
  const connections: Connection[] = [];
  const server = new SMTPServer({
    authMethods: [...ALL_METHODS],
    onAuth: onAuthStyles[style](seen),
    onMailFrom(_address, session, callback) {
      const { user, secure, transmissionType } = session;
      sessions.push({ user, secure, transmissionType });
      callback();
    },
    async onData(stream) {
      const parts: Buffer[] = [];
      for await (const chunk of stream) parts.push(chunk as Buffer);
      bodies.push(Buffer.concat(parts).toString("utf8"));
    },
    ...options,
    [INTERNALS]: { transcripts: true, connectionOpened: (c) => connections.push(c) },
  });
  servers.push(server);
  await server.listen(0, "127.0.0.1");
  const addr = server.server.address();
  if (!addr || typeof addr === "string") throw new Error("no address");
  return { server, port: addr.port, seen, bodies, sessions, connections };
}

/** nodemailer's auth options for each mechanism. */
function clientAuth(method: Method, pass = PASS, token = TOKEN): SMTPTransportOptions {
  if (method === "XOAUTH2") return { auth: { type: "OAuth2", user: USER, accessToken: token } };
  return { auth: { user: USER, pass }, authMethod: method };
}

function send(port: number, options: SMTPTransportOptions) {
  const { tls, ...rest } = options;
  return nodemailer
    .createTransport({ host: "127.0.0.1", port, secure: false, tls: { ca, ...tls }, ...rest })
    .sendMail({ from: USER, to: "rcpt@example.com", subject: "auth", text: "authenticated" });
}

const overTls = {
  STARTTLS: { server: {}, client: { requireTLS: true } },
  "implicit TLS": { server: { secure: true }, client: { secure: true } },
} as const satisfies Record<string, { server: SMTPServerOptions; client: SMTPTransportOptions }>;

/** Connects, reads the greeting and says EHLO (plaintext). */
async function ehlo(port: number): Promise<{ client: RawClient; extensions: string[] }> {
  const client = await RawClient.connect(port);
  expect((await client.read()).code).toBe(220);
  const r = await client.command("EHLO client.test");
  expect(r.code).toBe(250);
  return { client, extensions: r.lines.slice(1) };
}

describe("nodemailer authenticates with every mechanism, the certificate verified", () => {
  const cases = (Object.keys(overTls) as Array<keyof typeof overTls>).flatMap((channel) =>
    ALL_METHODS.flatMap((method) =>
      (["callback", "async"] as const).map((style) => [channel, method, style] as const),
    ),
  );

  test.each(cases)("over %s with %s and a %s-style onAuth", async (channel, method, style) => {
    const { server, client } = overTls[channel];
    const s = await start(server, style);
    const info = await send(s.port, { ...client, ...clientAuth(method) });
    expect(info.response).toMatch(/^250 /);
    expect(s.bodies).toHaveLength(1);
    expect(s.bodies[0]).toContain("authenticated");
    expect(s.sessions).toEqual([
      { user: { name: USER }, secure: true, transmissionType: "ESMTPSA" },
    ]);
    expect(s.seen.map((a) => [a.method, a.username])).toEqual([[method, USER]]);
  });

  test.each(ALL_METHODS)("wrong credentials with %s get 535", async (method) => {
    const s = await start();
    const err = await send(s.port, {
      requireTLS: true,
      ...clientAuth(method, "wrong-password", "wrong-token"),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "EAUTH", responseCode: 535 });
    expect(s.bodies).toEqual([]);
  });

  test("AUTH over plaintext without allowInsecureAuth gets 538", async () => {
    const s = await start();
    const err = await send(s.port, { ignoreTLS: true, ...clientAuth("PLAIN") }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ responseCode: 538 });
    expect(s.seen).toEqual([]);
  });

  test("AUTH over plaintext works with allowInsecureAuth", async () => {
    const s = await start({ allowInsecureAuth: true });
    await send(s.port, { ignoreTLS: true, ...clientAuth("LOGIN") });
    expect(s.sessions).toEqual([
      { user: { name: USER }, secure: false, transmissionType: "ESMTPA" },
    ]);
  });

  test("a client that does not authenticate gets 530 at MAIL FROM", async () => {
    const s = await start();
    const err = await send(s.port, { requireTLS: true }).catch((e: unknown) => e);
    expect(err).toMatchObject({ responseCode: 530 });
  });

  test("authOptional lets an unauthenticated client send", async () => {
    const s = await start({ authOptional: true });
    await send(s.port, { requireTLS: true });
    expect(s.sessions).toEqual([{ user: undefined, secure: true, transmissionType: "ESMTPS" }]);
  });
});

describe("the auth object onAuth receives (smtp-server's shapes)", () => {
  test.each([
    ["PLAIN", `AUTH PLAIN ${plainToken()}`, [], { password: PASS, authzid: "", authcid: USER }],
    ["LOGIN", "AUTH LOGIN", [b64(USER), b64(PASS)], { password: PASS }],
    ["XOAUTH2", `AUTH XOAUTH2 ${xoauth2Token()}`, [], { accessToken: TOKEN }],
  ] as const)("%s: method, username and its secret", async (method, command, lines, fields) => {
    const s = await start({ allowInsecureAuth: true });
    const { client } = await ehlo(s.port);
    let r = await client.command(command);
    for (const line of lines) r = await client.command(line);
    expect(r.raw).toBe("235 Authentication successful\r\n");
    expect(s.seen[0]).toMatchObject({ method, username: USER, ...fields });
    client.close();
  });

  test("PLAIN with an authorization identity passes authzid and authcid", async () => {
    const s = await start({ allowInsecureAuth: true });
    const { client } = await ehlo(s.port);
    await client.command(`AUTH PLAIN ${plainToken(USER, PASS, "admin")}`);
    expect(s.seen[0]).toMatchObject({ username: USER, authzid: "admin", authcid: USER });
    client.close();
  });

  test("CRAM-MD5: the challenge, the client's digest and validatePassword, no password", async () => {
    const s = await start({ allowInsecureAuth: true });
    const { client } = await ehlo(s.port);
    const challenge = await client.command("AUTH CRAM-MD5");
    expect(challenge.code).toBe(334);
    const text = unb64(challenge.lines[0] ?? "");
    expect(text).toMatch(/^<[0-9a-f]+\.\d+@localhost>$/);
    const digest = createHmac("md5", PASS).update(text).digest("hex");
    expect((await client.command(b64(`${USER} ${digest}`))).code).toBe(235);
    const auth = s.seen[0];
    expect(auth).toMatchObject({
      method: "CRAM-MD5",
      username: USER,
      challenge: text,
      challengeResponse: digest,
    });
    expect(auth?.password).toBeUndefined();
    expect(auth?.validatePassword?.(PASS)).toBe(true);
    expect(auth?.validatePassword?.("not it")).toBe(false);
    client.close();
  });
});

describe("AUTH dialog (raw)", () => {
  async function authed(options: SMTPServerOptions = {}) {
    const s = await start({ allowInsecureAuth: true, ...options });
    const { client, extensions } = await ehlo(s.port);
    return { s, client, extensions };
  }

  test("EHLO advertises the configured mechanisms, and no longer after AUTH", async () => {
    const { client, extensions } = await authed();
    expect(extensions).toContain("AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2");
    expect((await client.command(`AUTH PLAIN ${plainToken()}`)).code).toBe(235);
    const again = await client.command("EHLO client.test");
    expect(again.lines.some((l) => l.startsWith("AUTH"))).toBe(false);
    client.close();
  });

  test.each([
    ["PLAIN", ["AUTH PLAIN"]],
    ["LOGIN at the username prompt", ["AUTH LOGIN"]],
    ["LOGIN at the password prompt", ["AUTH LOGIN", b64(USER)]],
    ["CRAM-MD5", ["AUTH CRAM-MD5"]],
    ["XOAUTH2", ["AUTH XOAUTH2"]],
  ])("`*` cancels %s with 501, and AUTH can start over", async (_, lines) => {
    const { s, client } = await authed();
    for (const line of lines) expect((await client.command(line)).code).toBe(334);
    expect((await client.command("*")).raw).toBe("501 Authentication aborted\r\n");
    expect(s.seen).toEqual([]);
    expect((await client.command("NOOP")).code).toBe(250);
    expect((await client.command(`AUTH PLAIN ${plainToken()}`)).code).toBe(235);
    client.close();
  });

  test("a SASL response over the line limit ends the exchange: the next line is a command again", async () => {
    const { s, client } = await authed();
    expect((await client.command("AUTH LOGIN")).code).toBe(334);
    expect((await client.command("A".repeat(20_000))).code).toBe(500);
    // Not taken for the user name (334) or the password (535).
    expect((await client.command("NOOP")).code).toBe(250);
    expect((await client.command("NOOP")).code).toBe(250);
    expect(s.seen).toEqual([]);
    expect((await client.command(`AUTH PLAIN ${plainToken()}`)).code).toBe(235);
    client.close();
  });

  test.each([
    ["PLAIN with an initial response", [`AUTH PLAIN ${plainToken()}`], []],
    ["PLAIN after an empty challenge", ["AUTH PLAIN", plainToken()], ["334 "]],
    ["lower-case mechanism", [`auth plain ${plainToken()}`], []],
    [
      "LOGIN with the user name as initial response",
      [`AUTH LOGIN ${b64(USER)}`, b64(PASS)],
      ["334 UGFzc3dvcmQ6"],
    ],
    [
      "LOGIN step by step",
      ["AUTH LOGIN", b64(USER), b64(PASS)],
      ["334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6"],
    ],
    ["XOAUTH2 with an initial response", [`AUTH XOAUTH2 ${xoauth2Token()}`], []],
    ["XOAUTH2 after an empty challenge", ["AUTH XOAUTH2", xoauth2Token()], ["334 "]],
  ])("%s succeeds with 235", async (_, lines, challenges) => {
    const { client } = await authed();
    const replies: string[] = [];
    for (const line of lines) replies.push((await client.command(line)).raw.replace(/\r\n$/, ""));
    expect(replies).toEqual([...challenges, "235 Authentication successful"]);
    client.close();
  });

  test.each([
    ["an unknown mechanism", "AUTH FOO", "504 Error: Unrecognized authentication type"],
    ["CRAM-MD5 with an initial response", "AUTH CRAM-MD5 abc", "501 Error: syntax: AUTH CRAM-MD5"],
    [
      "PLAIN with two words",
      `AUTH PLAIN ${plainToken()} extra`,
      "501 Error: syntax: AUTH PLAIN token",
    ],
    ["PLAIN with a token that is not base64", "AUTH PLAIN %%%", "501 Error: invalid userdata"],
    ["PLAIN with the empty response `=`", "AUTH PLAIN =", "501 Error: invalid userdata"],
  ])("%s: %s", async (_, command, reply) => {
    const { s, client } = await authed();
    expect((await client.command(command)).raw).toBe(`${reply}\r\n`);
    expect(s.seen).toEqual([]);
    client.close();
  });

  test("a mechanism not in authMethods gets 504", async () => {
    const { client, extensions } = await authed({ authMethods: ["PLAIN", "LOGIN"] });
    expect(extensions).toContain("AUTH PLAIN LOGIN");
    expect((await client.command("AUTH CRAM-MD5")).code).toBe(504);
    client.close();
  });

  test("wrong credentials get 535 with onAuth's message", async () => {
    const { client } = await authed();
    expect((await client.command(`AUTH PLAIN ${plainToken(USER, "nope")}`)).raw).toBe(
      "535 Invalid username or password\r\n",
    );
    client.close();
  });

  test("onAuth calling back without a user gets 535", async () => {
    const { client } = await authed({ onAuth: (_auth, _session, cb) => cb(null, {}) });
    expect((await client.command(`AUTH PLAIN ${plainToken()}`)).raw).toBe(
      "535 Error: Authentication credentials invalid\r\n",
    );
    client.close();
  });

  test.each([
    [454, "4.7.0 Temporary authentication failure"],
    [534, "5.7.9 Authentication mechanism is too weak"],
  ])("onAuth rejecting with %i sends that reply", async (code, message) => {
    const { client } = await authed({
      onAuth: async () => {
        throw new SMTPError(code, message);
      },
    });
    // The enhanced code at the start of the message is sent as written (ENHANCEDSTATUSCODES off).
    expect((await client.command(`AUTH PLAIN ${plainToken()}`)).raw).toBe(`${code} ${message}\r\n`);
    client.close();
  });

  test("XOAUTH2 failure details go out as a 334 challenge, then 535", async () => {
    const details = { status: "401", schemes: "bearer", scope: "https://mail.google.com/" };
    const { client } = await authed({
      onAuth: (_auth, _session, cb) => cb(null, { data: details }),
    });
    const challenge = await client.command(`AUTH XOAUTH2 ${xoauth2Token()}`);
    expect(challenge.code).toBe(334);
    expect(JSON.parse(unb64(challenge.lines[0] ?? ""))).toEqual(details);
    expect((await client.command("")).code).toBe(535);
    client.close();
  });

  test("a second AUTH after success gets 503", async () => {
    const { client } = await authed();
    expect((await client.command(`AUTH PLAIN ${plainToken()}`)).code).toBe(235);
    expect((await client.command(`AUTH PLAIN ${plainToken()}`)).raw).toBe(
      "503 Error: No identity changes permitted\r\n",
    );
    client.close();
  });

  test("AUTH inside a mail transaction gets 503", async () => {
    const { client } = await authed({ authOptional: true });
    expect((await client.command("MAIL FROM:<a@example.com>")).code).toBe(250);
    expect((await client.command(`AUTH PLAIN ${plainToken()}`)).raw).toBe(
      "503 Error: Mail transaction in progress\r\n",
    );
    client.close();
  });

  test("AUTH before EHLO gets 503", async () => {
    const s = await start({ allowInsecureAuth: true });
    const client = await RawClient.connect(s.port);
    await client.read();
    expect((await client.command(`AUTH PLAIN ${plainToken()}`)).code).toBe(503);
    client.close();
  });

  test("MAIL before AUTH gets 530", async () => {
    const { client } = await authed();
    expect((await client.command("MAIL FROM:<a@example.com>")).raw).toBe(
      "530 Error: authentication Required\r\n",
    );
    client.close();
  });

  test("too many unauthenticated commands get 421 and the connection closes", async () => {
    const { client } = await authed({ maxAllowedUnauthenticatedCommands: 4 });
    // EHLO was the first; AUTH attempts do not count.
    expect((await client.command("NOOP")).code).toBe(250);
    expect((await client.command(`AUTH PLAIN ${plainToken(USER, "nope")}`)).code).toBe(535);
    expect((await client.command("NOOP")).code).toBe(250);
    expect((await client.command("NOOP")).raw).toBe(
      "421 Error: too many unauthenticated commands\r\n",
    );
    await client.waitClose();
  });

  test("the unauthenticated-command budget ends with a successful AUTH", async () => {
    const { client } = await authed({ maxAllowedUnauthenticatedCommands: 3 });
    expect((await client.command(`AUTH PLAIN ${plainToken()}`)).code).toBe(235);
    for (let i = 0; i < 5; i++) expect((await client.command("NOOP")).code).toBe(250);
    client.close();
  });

  test("STARTTLS resets the session before onSecure, as smtp-server does (RFC 3207 4.2)", async () => {
    const seen: Array<Partial<SMTPSession>> = [];
    const upgraded: unknown[] = [];
    const { client } = await authed({
      onSecure(_socket, session, callback) {
        const { user, hostNameAppearsAs, openingCommand, transmissionType, secure } = session;
        seen.push({ user, hostNameAppearsAs, openingCommand, transmissionType, secure });
        callback();
      },
      logger: {
        info: (entry) => {
          if (entry.tnx === "starttls") upgraded.push(entry.user);
        },
      },
    });
    expect((await client.command(`AUTH PLAIN ${plainToken()}`)).code).toBe(235);
    expect((await client.command("STARTTLS")).code).toBe(220);
    await client.startTls(ca);
    // Reading over TLS resumes only once onSecure has called back.
    expect((await client.command("NOOP")).code).toBe(250);
    // No EHLO over TLS yet: SMTP, as before the first EHLO (README: no SMTPS).
    expect(seen).toEqual([
      {
        user: undefined,
        hostNameAppearsAs: "",
        openingCommand: "",
        transmissionType: "SMTP",
        secure: true,
      },
    ]);
    // The "Connection upgraded to TLS" entry no longer names the plaintext identity.
    expect(upgraded).toEqual([undefined]);
    client.close();
  });

  test("STARTTLS forgets an identity from the plaintext part (RFC 3207 4.2)", async () => {
    const { client } = await authed();
    expect((await client.command(`AUTH PLAIN ${plainToken()}`)).code).toBe(235);
    expect((await client.command("STARTTLS")).code).toBe(220);
    await client.startTls(ca);
    const ehloTls = await client.command("EHLO client.test");
    expect(ehloTls.lines).toContain("AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2");
    expect((await client.command("MAIL FROM:<a@example.com>")).code).toBe(530);
    expect((await client.command(`AUTH PLAIN ${plainToken()}`)).code).toBe(235);
    client.close();
  });
});

describe("credentials never reach the transcript", () => {
  /** Every client line answering a 334 challenge, and every AUTH argument, reads `***`. */
  function expectMasked(transcript: string, secrets: readonly string[]) {
    for (const secret of secrets) expect(transcript).not.toContain(secret);
    const lines = transcript.split("\n");
    expect(lines.some((l) => /^C: AUTH /i.test(l))).toBe(true);
    lines.forEach((line, i) => {
      if (/^C: AUTH \S+ /i.test(line)) expect(line).toMatch(/^C: AUTH \S+ \*\*\*$/i);
      if (line.startsWith("S: 334")) expect(lines[i + 1]).toBe("C: ***");
    });
  }

  const secrets = [PASS, TOKEN, b64(PASS), plainToken(), xoauth2Token(), b64(USER)];

  test.each(ALL_METHODS)("nodemailer with %s over STARTTLS", async (method) => {
    const s = await start();
    await send(s.port, { requireTLS: true, ...clientAuth(method) });
    const transcript = s.connections[0]?.transcript?.toString() ?? "";
    expect(transcript).toContain("***");
    expect(transcript).toContain("S: 235 Authentication successful");
    expectMasked(transcript, secrets);
  });

  test("a raw dialog with every initial-response and challenge form", async () => {
    const s = await start({ allowInsecureAuth: true, maxAllowedUnauthenticatedCommands: false });
    const { client } = await ehlo(s.port);
    // [client line, reply code, whether the line carries a credential]
    const dialog: Array<[string, number, boolean]> = [
      [`AUTH PLAIN ${plainToken(USER, "wrong-1")}`, 535, true],
      ["AUTH PLAIN", 334, false],
      [plainToken(USER, "wrong-2"), 535, true],
      ["AUTH LOGIN", 334, false],
      [b64(USER), 334, true],
      [b64("wrong-3"), 535, true],
      [`AUTH LOGIN ${b64(USER)}`, 334, true],
      ["*", 501, true],
      [`AUTH XOAUTH2 ${xoauth2Token("wrong-4")}`, 535, true],
    ];
    for (const [line, code] of dialog) expect((await client.command(line)).code).toBe(code);
    // AUTH pipelined with the next command in one write: only the AUTH payload is masked.
    const pipelined = `AUTH PLAIN ${plainToken(USER, "wrong-5")}`;
    client.write(`${pipelined}\r\nNOOP\r\n`);
    expect((await client.readMany(2)).map((r) => r.code)).toEqual([535, 250]);
    expect((await client.command(`AUTH PLAIN ${plainToken()}`)).code).toBe(235);
    expect((await client.command("QUIT")).code).toBe(221);
    await client.waitClose();

    const transcript = s.connections[0]?.transcript?.toString() ?? "";
    const secretLines = [
      ...dialog.filter(([, , secret]) => secret).map(([line]) => line),
      pipelined,
    ];
    const tokens = secretLines.map((l) => l.replace(/^AUTH \S+ /, "")).filter((t) => t !== "*");
    expectMasked(transcript, [...secrets, ...tokens]);
    expect(transcript).toContain("C: NOOP");
    // One mask per credential line, plus the successful AUTH at the end.
    expect(transcript.match(/\*\*\*/g)).toHaveLength(secretLines.length + 1);
  });
});

describe("onAuth refusing with its own text", () => {
  test("a response without a user but with message and responseCode is sent as the reply", async () => {
    const server = new SMTPServer({
      allowInsecureAuth: true,
      onAuth(_auth, _session, cb) {
        cb(null, { message: "Account locked", responseCode: 534 });
      },
    });
    await server.listen(0, "127.0.0.1");
    const { port } = server.server.address() as AddressInfo;
    const c = await RawClient.connect(port);
    await c.read();
    await c.command("EHLO x");
    const r = await c.command(`AUTH PLAIN ${Buffer.from("\0u\0p").toString("base64")}`);
    expect(r.raw).toBe("534 Account locked\r\n");
    c.close();
    await server.close();
  });
});
