/**
 * smtp-server 3.21 extensions over real sockets: XCLIENT and XFORWARD (dialogs and
 * the session the hooks see, compared with smtp-server itself), PROXY-then-XCLIENT
 * trust, session.disabledCommands, authRequiredMessage, rejectOversized, and the
 * reverse lookup (off by default, bounded when on).
 */
import { promises as dnsPromises } from "node:dns";
import { SMTPServer as ReferenceServer } from "smtp-server";
import { afterEach, describe, expect, test } from "vitest";
import type { SMTPSession } from "../../src/protocol/types.js";
import { type Resolver, reverseLookup } from "../../src/server/reverse-lookup.js";
import { SMTPServer } from "../../src/server/smtp-server.js";
import { RawClient } from "../helpers/raw-client.js";

type Options = NonNullable<ConstructorParameters<typeof SMTPServer>[0]>;

const closers: Array<() => Promise<unknown>> = [];
const clients: RawClient[] = [];
/** 'error' events of our servers: none is expected in this file. */
const serverErrors: Error[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(closers.splice(0).map((close) => close()));
  expect(serverErrors.splice(0)).toEqual([]);
});

/** What onMailFrom saw, with the Maps as plain objects. */
type Snapshot = Record<string, unknown>;

function snapshot(s: SMTPSession): Snapshot {
  return {
    remoteAddress: s.remoteAddress,
    remotePort: s.remotePort,
    clientHostname: s.clientHostname,
    hostNameAppearsAs: s.hostNameAppearsAs,
    transmissionType: s.transmissionType,
    xClient: Object.fromEntries(s.xClient),
    xForward: Object.fromEntries(s.xForward),
  };
}

interface Started {
  port: number;
  seen: Snapshot[];
  sessions: SMTPSession[];
  /** 'connect' events, as "<line being answered> -> <remoteAddress>". */
  connects: string[];
  /** The line `play` is at ("greeting" before the first). */
  at: { line: string };
}

/** Records the server's 'connect' events against the line being answered. */
function watchConnects(server: {
  on(event: "connect", fn: (info: { remoteAddress: string }) => void): unknown;
}): Pick<Started, "connects" | "at"> {
  const watched = { connects: [] as string[], at: { line: "greeting" } };
  server.on("connect", (info) => {
    watched.connects.push(`${watched.at.line} -> ${info.remoteAddress}`);
  });
  return watched;
}

async function start(options: Options = {}): Promise<Started> {
  const seen: Snapshot[] = [];
  const sessions: SMTPSession[] = [];
  const server = new SMTPServer({
    name: "mx.test",
    authOptional: true,
    onConnect(session, cb) {
      sessions.push(session);
      cb();
    },
    onMailFrom(_a, session, cb) {
      seen.push(snapshot(session));
      cb();
    },
    ...options,
  });
  server.on("error", (err) => serverErrors.push(err));
  const watched = watchConnects(server);
  closers.push(() => server.close());
  await server.listen(0, "127.0.0.1");
  return { port: (server.address() as { port: number }).port, seen, sessions, ...watched };
}

async function startReference(options: Record<string, unknown>): Promise<Started> {
  const seen: Snapshot[] = [];
  const server = new ReferenceServer({
    name: "mx.test",
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    onMailFrom(_a: unknown, session: SMTPSession, cb: () => void) {
      const snap = snapshot(session);
      // Deliberate: an unknown XCLIENT PORT leaves smtp-server's remotePort "" (a
      // string); session.remotePort stays a number here (0). The xClient map agrees.
      if (snap.remotePort === "") snap.remotePort = 0;
      seen.push(snap);
      cb();
    },
    ...options,
  } as ConstructorParameters<typeof ReferenceServer>[0]);
  server.on("error", () => undefined);
  const watched = watchConnects(server);
  closers.push(() => new Promise((resolve) => server.close(() => resolve(undefined))));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.server.address() as { port: number }).port,
    seen,
    sessions: [],
    ...watched,
  };
}

async function connect(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  expect((await c.read()).code).toBe(220);
  return c;
}

/** Plays `lines` one at a time; the replies' codes (a multi-line reply counts once). */
async function play(c: RawClient, lines: readonly string[], at?: Started["at"]): Promise<string[]> {
  const out: string[] = [];
  for (const line of lines) {
    if (at) at.line = line;
    const r = await c.command(line);
    out.push(`${line} -> ${r.code}`);
  }
  return out;
}

/** Replaces the client's own (random) port wherever it shows, so two runs compare. */
function portless(x: unknown, port: number): unknown {
  return JSON.parse(JSON.stringify(x), (_k, v) => (v === port ? "<client port>" : v));
}

const XCLIENT_KEYWORD = "XCLIENT NAME ADDR PORT PROTO HELO LOGIN";
const XFORWARD_KEYWORD = "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE";

describe("XCLIENT and XFORWARD dialogs match smtp-server 3.21, session included", () => {
  const DIALOGS: Array<[string, Record<string, unknown>, string[]]> = [
    [
      "XCLIENT rewrites the session, the client greets again",
      { useXClient: true, useXForward: true },
      [
        "EHLO proxy.test",
        "XCLIENT ADDR=10.1.2.3 NAME=relay.example PORT=4321 PROTO=ESMTP HELO=c.example",
        "MAIL FROM:<a@example.com>",
        "EHLO client.test",
        "XCLIENT NAME=again.example",
        "XFORWARD ADDR=10.9.9.9",
        "MAIL FROM:<a@example.com>",
      ],
    ],
    [
      "XCLIENT without ADDR keeps the commands and the EHLO",
      { useXClient: ["127.0.0.1"] },
      [
        "EHLO proxy.test",
        "XCLIENT NAME=[UNAVAILABLE] PORT=[TEMPUNAVAIL] HELO=h+2Dx.example",
        "XCLIENT NAME=relay.example",
        "MAIL FROM:<a@example.com>",
      ],
    ],
    [
      "XFORWARD records the client for the transaction",
      { useXForward: ["::ffff:127.0.0.1"] },
      [
        "EHLO proxy.test",
        "XFORWARD NAME=c.example ADDR=10.1.2.3 PORT=4321 HELO=H.Example IDENT=q1 SOURCE=REMOTE PROTO=SMTP",
        "MAIL FROM:<a@example.com>",
        "RSET",
        "XFORWARD ADDR=IPV6:2001:DB8::1 IDENT=[UNAVAILABLE]",
        "MAIL FROM:<a@example.com>",
      ],
    ],
    [
      "syntax errors change nothing",
      { useXClient: true, useXForward: true },
      [
        "EHLO proxy.test",
        "XCLIENT",
        "XCLIENT FOO=bar",
        "XCLIENT ADDR=10.1.2.3 NAME",
        "XCLIENT ADDR=mail.example",
        "XCLIENT NAME=a+0D+0Ab",
        "XCLIENT NAME=bad_name!",
        "XFORWARD LOGIN=bob",
        "MAIL FROM:<a@example.com>",
        "XCLIENT ADDR=10.1.2.3",
        "RSET",
        "XCLIENT ADDR=10.1.2.3",
      ],
    ],
    [
      "without XCLIENT the client is known at the first MAIL",
      { useXClient: true },
      ["EHLO proxy.test", "MAIL FROM:<a@example.com>", "RSET", "MAIL FROM:<a@example.com>"],
    ],
    [
      "untrusted peers get 550",
      { useXClient: ["10.0.0.1"], useXForward: ["10.0.0.1"] },
      ["EHLO proxy.test", "XCLIENT ADDR=10.1.2.3", "XFORWARD ADDR=10.1.2.3"],
    ],
  ];

  test.each(DIALOGS)("%s", async (_name, options, lines) => {
    const [ours, reference] = await Promise.all([start(options), startReference(options)]);
    const [mine, theirs] = await Promise.all([connect(ours.port), connect(reference.port)]);
    const [myCodes, theirCodes] = await Promise.all([
      play(mine, lines, ours.at),
      play(theirs, lines, reference.at),
    ]);
    expect(myCodes).toEqual(theirCodes);
    expect(portless(ours.seen, mine.socket.localPort!)).toEqual(
      portless(reference.seen, theirs.socket.localPort!),
    );
    // 'connect' at the same moments, with the same client (XCLIENT ADDR, each XFORWARD
    // ADDR, or the first MAIL when XCLIENT/XFORWARD is on; else before the greeting).
    expect(ours.connects).toEqual(reference.connects);
  });

  test("'connect' comes once onConnect has accepted, and never for a client it refused", async () => {
    /** onConnect refusing the first client and accepting the second, logging the order. */
    const refuseFirst = (log: string[]) => {
      let n = 0;
      return {
        onConnect(_session: SMTPSession, cb: (err?: Error) => void) {
          log.push("onConnect");
          cb(n++ === 0 ? Object.assign(new Error("go away"), { responseCode: 554 }) : undefined);
        },
      };
    };
    const [mineLog, theirLog] = [[] as string[], [] as string[]];
    const [ours, reference] = await Promise.all([
      start(refuseFirst(mineLog)),
      startReference(refuseFirst(theirLog)),
    ]);
    for (const [server, log] of [
      [ours, mineLog],
      [reference, theirLog],
    ] as const) {
      for (let i = 0; i < 2; i++) {
        const c = await RawClient.connect(server.port);
        clients.push(c);
        log.push(`${(await c.read()).code}`);
        log.push(`connects: ${server.connects.length}`);
      }
    }
    expect(mineLog).toEqual(["onConnect", "554", "connects: 0", "onConnect", "220", "connects: 1"]);
    expect(mineLog).toEqual(theirLog);
  });

  test("EHLO offers both keywords to a trusted peer exactly as smtp-server does", async () => {
    const options = { useXClient: true, useXForward: true, size: 1000 };
    const [ours, reference] = await Promise.all([start(options), startReference(options)]);
    const [mine, theirs] = await Promise.all([connect(ours.port), connect(reference.port)]);
    const [a, b] = await Promise.all([
      mine.command("EHLO client.test"),
      theirs.command("EHLO client.test"),
    ]);
    expect(a.lines).toEqual(b.lines);
    expect(a.lines.slice(-2)).toEqual([XCLIENT_KEYWORD, XFORWARD_KEYWORD]);
  });
});

describe("XCLIENT LOGIN asks onAuth", () => {
  test("a user from onAuth (callback style) authenticates the relayed client", async () => {
    const { port, seen } = await start({
      useXClient: true,
      onAuth(auth, _session, callback) {
        if (auth.method === "XCLIENT" && auth.username === "alice" && auth.password === null) {
          return callback(null, { user: { name: "alice" } });
        }
        callback(new Error("Invalid username or password"));
      },
    });
    const c = await connect(port);
    expect(
      await play(c, ["XCLIENT ADDR=10.1.2.3 LOGIN=alice", "EHLO c", "MAIL FROM:<a@b.test>"]),
    ).toEqual([
      "XCLIENT ADDR=10.1.2.3 LOGIN=alice -> 220",
      "EHLO c -> 250",
      "MAIL FROM:<a@b.test> -> 250",
    ]);
    expect(seen[0]).toMatchObject({ remoteAddress: "10.1.2.3", transmissionType: "ESMTPA" });
  });

  test("an onAuth error is a 550 with its message, and the connection ends", async () => {
    const { port } = await start({
      useXClient: true,
      onAuth(_auth, _session, callback) {
        callback(new Error("Invalid username or password"));
      },
    });
    const c = await connect(port);
    expect(await c.command("XCLIENT LOGIN=mallory")).toMatchObject({
      code: 550,
      lines: ["Invalid username or password"],
    });
    await c.waitClose();
  });

  test("without onAuth, as in smtp-server, LOGIN passes and the session stays anonymous", async () => {
    const { port, sessions } = await start({ useXClient: true });
    const c = await connect(port);
    expect((await c.command("XCLIENT LOGIN=bob")).code).toBe(220);
    expect(sessions[0]?.user).toBeUndefined();
  });
});

describe("trust after a PROXY header", () => {
  test("XCLIENT trust is judged by the address the PROXY header gave", async () => {
    const { port } = await start({ useProxy: true, useXClient: ["192.0.2.10"] });
    const c = await RawClient.connect(port);
    clients.push(c);
    c.write("PROXY TCP4 192.0.2.10 198.51.100.1 40000 25\r\n");
    expect((await c.read()).code).toBe(220);
    expect((await c.command("EHLO c")).lines).toContain(XCLIENT_KEYWORD);
    expect((await c.command("XCLIENT ADDR=10.1.2.3")).code).toBe(220);
  });

  test("a proxied client that is not in the list gets 550", async () => {
    const { port } = await start({ useProxy: true, useXClient: ["127.0.0.1"] });
    const c = await RawClient.connect(port);
    clients.push(c);
    c.write("PROXY TCP4 192.0.2.99 198.51.100.1 40000 25\r\n");
    expect((await c.read()).code).toBe(220);
    expect((await c.command("EHLO c")).lines).not.toContain(XCLIENT_KEYWORD);
    expect((await c.command("XCLIENT ADDR=10.1.2.3")).code).toBe(550);
  });
});

describe("session.disabledCommands, set in onConnect", () => {
  const onConnect: Options["onConnect"] = (session, callback) => {
    if (session.remoteAddress === "127.0.0.1") session.disabledCommands = [];
    callback();
  };

  test("replaces the server list for that session: EHLO and commands, as in smtp-server", async () => {
    const options = { disabledCommands: ["AUTH", "VRFY"], allowInsecureAuth: true, onConnect };
    const [ours, reference] = await Promise.all([start(options), startReference(options)]);
    const [mine, theirs] = await Promise.all([connect(ours.port), connect(reference.port)]);
    const [a, b] = await Promise.all([mine.command("EHLO c"), theirs.command("EHLO c")]);
    expect(a.lines).toEqual(b.lines);
    expect(a.lines).toContain("AUTH LOGIN PLAIN");
    // The same commands to both: VRFY is allowed again, and AUTH runs (no onAuth:
    // smtp-server's default refuses, and so does ours).
    for (const [line, code] of [
      ["VRFY a@b.test", 252],
      ["AUTH PLAIN AGJvYgBzZWNyZXQ=", 535],
    ] as const) {
      const [x, y] = await Promise.all([mine.command(line), theirs.command(line)]);
      expect([x.code, y.code], line).toEqual([code, code]);
    }
  });

  test("without it, the server list applies (AUTH disabled: not offered, not required)", async () => {
    const { port } = await start({ disabledCommands: ["AUTH"], authOptional: false });
    const c = await connect(port);
    expect((await c.command("EHLO c")).lines).not.toContain("AUTH LOGIN PLAIN");
    expect((await c.command("MAIL FROM:<a@b.test>")).code).toBe(250);
  });

  test("a session can disable more than the server does, STARTTLS included", async () => {
    const { port } = await start({
      onConnect(session, cb) {
        session.disabledCommands = ["starttls", "Noop"];
        cb();
      },
    });
    const c = await connect(port);
    expect((await c.command("EHLO c")).lines).not.toContain("STARTTLS");
    expect((await c.command("NOOP")).code).toBe(502);
    expect((await c.command("STARTTLS")).code).toBe(502);
  });
});

describe("onClose", () => {
  test("may call smtp-server's callback argument (a no-op) without an error", async () => {
    const errors: Error[] = [];
    let closed: () => void = () => undefined;
    const done = new Promise<void>((resolve) => {
      closed = resolve;
    });
    const server = new SMTPServer({
      authOptional: true,
      onClose(_session, callback) {
        callback();
        closed();
      },
    });
    server.on("error", (err) => errors.push(err));
    closers.push(() => server.close());
    await server.listen(0, "127.0.0.1");
    const c = await connect((server.address() as { port: number }).port);
    await c.command("QUIT");
    await done;
    expect(errors).toEqual([]);
  });
});

describe("authRequiredMessage", () => {
  test("is the text of the 530 for MAIL before AUTH", async () => {
    const { port } = await start({
      authOptional: false,
      authRequiredMessage: "Please log in with your mailbox credentials",
    });
    const c = await connect(port);
    await c.command("EHLO c");
    expect(await c.command("MAIL FROM:<a@b.test>")).toMatchObject({
      code: 530,
      lines: ["Please log in with your mailbox credentials"],
    });
  });
});

describe("rejectOversized", () => {
  const BIG = `Subject: big\r\n\r\n${"0123456789".repeat(50)}\r\n`;

  async function sendBig(port: number): Promise<number[]> {
    const c = await connect(port);
    const codes = [];
    for (const line of [
      "EHLO c",
      "MAIL FROM:<a@b.test>",
      "RCPT TO:<c@d.test>",
      "RCPT TO:<e@d.test>",
      "DATA",
    ]) {
      codes.push((await c.command(line)).code);
    }
    c.write(BIG);
    codes.push((await c.command(".")).code);
    return codes;
  }

  test("off (the default, as smtp-server): onData gets every byte, sizeExceeded, and decides", async () => {
    const got: Array<{ bytes: number; byteLength: number; sizeExceeded: boolean }> = [];
    const { port } = await start({
      size: 100,
      onData(stream, _session, callback) {
        let bytes = 0;
        stream.on("data", (chunk: Buffer) => {
          bytes += chunk.length;
        });
        stream.on("end", () => {
          got.push({ bytes, byteLength: stream.byteLength, sizeExceeded: stream.sizeExceeded });
          callback(null, "Kept it anyway");
        });
      },
    });
    expect(await sendBig(port)).toEqual([250, 250, 250, 250, 354, 250]);
    expect(got).toEqual([{ bytes: BIG.length, byteLength: BIG.length, sizeExceeded: true }]);
  });

  test("on: 552 whatever onData answers; LMTP repeats it for every recipient", async () => {
    const { port } = await start({
      size: 100,
      rejectOversized: true,
      lmtp: true,
      onData(stream, _session, callback) {
        stream.resume();
        stream.on("end", () => callback(null, "Fine by me"));
      },
    });
    const c = await connect(port);
    for (const line of [
      "LHLO c",
      "MAIL FROM:<a@b.test>",
      "RCPT TO:<c@d.test>",
      "RCPT TO:<e@d.test>",
      "DATA",
    ]) {
      await c.command(line);
    }
    c.write(`${BIG}.\r\n`);
    const replies = await c.readMany(2);
    expect(replies.map((r) => [r.code, r.lines[0]])).toEqual([
      [552, "Error: message exceeds fixed maximum message size 100"],
      [552, "Error: message exceeds fixed maximum message size 100"],
    ]);
  });

  test("LMTP: a BDAT without LAST that crosses the limit has one reply, BDAT LAST one per recipient", async () => {
    const { port } = await start({
      size: 100,
      rejectOversized: true,
      lmtp: true,
      hideCHUNKING: false,
    });
    const c = await connect(port);
    const envelope = ["MAIL FROM:<a@b.test>", "RCPT TO:<c@d.test>", "RCPT TO:<e@d.test>"];
    for (const line of ["LHLO c", ...envelope]) await c.command(line);
    c.write(`BDAT 150\r\n${"x".repeat(150)}`);
    expect((await c.read()).code).toBe(552);
    // The next command's reply is its own, not the BDAT's second 552.
    expect((await c.command("NOOP")).code).toBe(250);
    for (const line of envelope) await c.command(line);
    c.write(`BDAT 150 LAST\r\n${"x".repeat(150)}`);
    expect((await c.readMany(2)).map((r) => r.code)).toEqual([552, 552]);
    expect((await c.command("NOOP")).code).toBe(250);
  });

  test("a message within the limit is unaffected by the option", async () => {
    const { port } = await start({ size: 100, rejectOversized: true });
    const c = await connect(port);
    for (const line of ["EHLO c", "MAIL FROM:<a@b.test>", "RCPT TO:<c@d.test>", "DATA"]) {
      await c.command(line);
    }
    c.write("Subject: small\r\n\r\nok\r\n");
    expect((await c.command(".")).code).toBe(250);
  });
});

describe("reverse lookup", () => {
  function resolverAnswering(answer: (ip: string) => { err?: Error; names?: string[] } | "never") {
    const asked: string[] = [];
    const resolver: Resolver = {
      reverse(ip, callback) {
        asked.push(ip);
        const a = answer(ip);
        if (a === "never") return;
        setImmediate(() => callback(a.err ?? null, a.names));
      },
    };
    return { resolver, asked };
  }

  test("is off by default: clientHostname is [address] and no resolver is asked", async () => {
    const { resolver, asked } = resolverAnswering(() => ({ names: ["x.example"] }));
    const { port, sessions } = await start({ resolver });
    const c = await connect(port);
    expect((await c.command("EHLO c")).lines[0]).toBe("mx.test Nice to meet you, [127.0.0.1]");
    expect(sessions[0]?.clientHostname).toBe("[127.0.0.1]");
    expect(asked).toEqual([]);
  });

  test("disableReverseLookup: false asks the resolver; the name is lower-cased, the root dot gone", async () => {
    const { resolver, asked } = resolverAnswering(() => ({
      names: ["Mail.Example.COM.", "b.example"],
    }));
    const { port, sessions } = await start({ disableReverseLookup: false, resolver });
    const c = await connect(port);
    expect((await c.command("EHLO c")).lines[0]).toBe("mx.test Nice to meet you, mail.example.com");
    expect(asked).toEqual(["127.0.0.1"]);
    expect(sessions[0]?.clientHostname).toBe("mail.example.com");
  });

  test.each<[string, { err?: Error; names?: string[] }]>([
    ["an error", { err: Object.assign(new Error("queryPtr ENOTFOUND"), { code: "ENOTFOUND" }) }],
    ["no names", { names: [] }],
    ["a PTR record with CR LF in it", { names: ["evil.example\r\n250 forged"] }],
    ["a PTR record with spaces", { names: ["not a host"] }],
  ])("%s falls back to [address]", async (_n, answer) => {
    const { resolver } = resolverAnswering(() => answer);
    const { port, sessions } = await start({ disableReverseLookup: false, resolver });
    await connect(port);
    expect(sessions[0]?.clientHostname).toBe("[127.0.0.1]");
  });

  test("a resolver that never answers delays the greeting by the bound, not more", async () => {
    const { resolver } = resolverAnswering(() => "never");
    const { port, sessions } = await start({ disableReverseLookup: false, resolver });
    const started = Date.now();
    await connect(port);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(1400);
    expect(waited).toBeLessThan(4000);
    expect(sessions[0]?.clientHostname).toBe("[127.0.0.1]");
  });

  test("a promise-style resolver (dns.promises.Resolver) works too", async () => {
    const resolver = {
      reverse: (_ip: string) => Promise.resolve(["promised.example"]),
    } as unknown as Resolver;
    expect(await reverseLookup("192.0.2.1", resolver)).toBe("promised.example");
  });

  test("reverseLookup never rejects: an address dns cannot take is [address] at once", async () => {
    // With a 60 s timeout, an answer that waited for it would fail the test's own limit.
    expect(await reverseLookup("not-an-ip", undefined, 60_000)).toBe("[not-an-ip]");
  });

  test("reverseLookup gives up after its timeout", async () => {
    const never: Resolver = { reverse: () => undefined };
    expect(await reverseLookup("192.0.2.1", never, 20)).toBe("[192.0.2.1]");
  });

  test("rejects a resolver without reverse()", () => {
    expect(() => new SMTPServer({ resolver: {} as Resolver })).toThrow(/reverse\(ip, callback\)/);
  });

  test("a dns.promises.Resolver fits the option's type, and its promise is read", async () => {
    // Only reverse() is replaced (no DNS traffic); the rest is Node's own class.
    const local = new dnsPromises.Resolver();
    local.reverse = (ip: string) =>
      Promise.resolve(ip === "192.0.2.7" ? ["Relay.Example.COM."] : []);
    const r: Resolver = local;
    expect(await reverseLookup("192.0.2.7", r, 5000)).toBe("relay.example.com");
    expect(await reverseLookup("192.0.2.8", r, 5000)).toBe("[192.0.2.8]");
  });
});
