/**
 * The PROXY protocol (HAProxy, v1 and v2): the pure parser byte by byte, cut at
 * every offset, then the header on real sockets before the greeting, compared with
 * smtp-server 3.21 where it has the same feature (v1).
 */
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { SMTPServer as ReferenceServer } from "smtp-server";
import { afterEach, describe, expect, test } from "vitest";
import type { SMTPSession } from "../../src/protocol/types.js";
import { PROXY_REJECTION, type ProxyParse, parseProxyHeader } from "../../src/server/proxy.js";
import { SMTPServer } from "../../src/server/smtp-server.js";
import { loadTestCertificates } from "../../src/server/test-certs.js";
import { RawClient } from "../helpers/raw-client.js";

const SIG = Buffer.from("0d0a0d0a000d0a515549540a", "hex");

/** A v2 header: version 2, `command` (0 LOCAL, 1 PROXY), `fam` (family << 4 | transport). */
function v2(command: number, fam: number, block: Buffer, extraLength = 0): Buffer {
  const head = Buffer.alloc(4);
  head[0] = 0x20 | command;
  head[1] = fam;
  head.writeUInt16BE(block.length + extraLength, 2);
  return Buffer.concat([SIG, head, block]);
}

function inet4(src: string, dst: string, sport: number, dport: number): Buffer {
  const b = Buffer.alloc(12);
  Buffer.from(src.split(".").map(Number)).copy(b, 0);
  Buffer.from(dst.split(".").map(Number)).copy(b, 4);
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return b;
}

function inet6(src: string, dst: string, sport: number, dport: number): Buffer {
  const b = Buffer.alloc(36);
  const put = (hex: string, at: number) => Buffer.from(hex, "hex").copy(b, at);
  put(src, 0);
  put(dst, 16);
  b.writeUInt16BE(sport, 32);
  b.writeUInt16BE(dport, 34);
  return b;
}

const ascii = (s: string) => Buffer.from(s, "latin1");
const TLV = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]); // PP2_TYPE_NOOP, "abc"

interface Valid {
  name: string;
  bytes: Buffer;
  expected: Omit<Extract<ProxyParse, { kind: "header" }>["header"], "length">;
}

const VALID: Valid[] = [
  {
    name: "v1 TCP4",
    bytes: ascii("PROXY TCP4 192.0.2.10 198.51.100.1 56324 25\r\n"),
    expected: {
      version: 1,
      source: { address: "192.0.2.10", port: 56324 },
      destination: { address: "198.51.100.1", port: 25 },
    },
  },
  {
    name: "v1 TCP6, addresses in one normal form",
    bytes: ascii("PROXY TCP6 2001:DB8:0:0:0:0:0:1 2001:db8::25 65535 0\r\n"),
    expected: {
      version: 1,
      source: { address: "2001:db8::1", port: 65535 },
      destination: { address: "2001:db8::25", port: 0 },
    },
  },
  {
    name: "v1 TCP6 at its longest (104 bytes)",
    bytes: ascii(`PROXY TCP6 ${"ffff:".repeat(7)}ffff ${"ffff:".repeat(7)}ffff 65535 65535\r\n`),
    expected: {
      version: 1,
      source: { address: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", port: 65535 },
      destination: { address: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", port: 65535 },
    },
  },
  { name: "v1 UNKNOWN", bytes: ascii("PROXY UNKNOWN\r\n"), expected: { version: 1 } },
  {
    name: "v1 UNKNOWN with whatever up to the CRLF (107 bytes)",
    bytes: ascii(`PROXY UNKNOWN ${"x".repeat(91)}\r\n`),
    expected: { version: 1 },
  },
  {
    name: "v2 PROXY TCP over IPv4",
    bytes: v2(1, 0x11, inet4("192.0.2.10", "198.51.100.1", 56324, 25)),
    expected: {
      version: 2,
      source: { address: "192.0.2.10", port: 56324 },
      destination: { address: "198.51.100.1", port: 25 },
    },
  },
  {
    name: "v2 PROXY TCP over IPv6",
    bytes: v2(
      1,
      0x21,
      inet6("20010db8000000000000000000000001", "20010db8000000000000000000000025", 40000, 587),
    ),
    expected: {
      version: 2,
      source: { address: "2001:db8::1", port: 40000 },
      destination: { address: "2001:db8::25", port: 587 },
    },
  },
  {
    name: "v2 PROXY over IPv6 with an IPv4-mapped client, read as IPv4",
    bytes: v2(
      1,
      0x21,
      inet6("00000000000000000000ffffc000020a", "00000000000000000000ffffc6336401", 1, 2),
    ),
    expected: {
      version: 2,
      source: { address: "192.0.2.10", port: 1 },
      destination: { address: "198.51.100.1", port: 2 },
    },
  },
  {
    name: "v2 with TLVs after the addresses (skipped)",
    bytes: Buffer.concat([v2(1, 0x11, inet4("192.0.2.10", "198.51.100.1", 1, 2), TLV.length), TLV]),
    expected: {
      version: 2,
      source: { address: "192.0.2.10", port: 1 },
      destination: { address: "198.51.100.1", port: 2 },
    },
  },
  {
    name: "v2 LOCAL (a health check)",
    bytes: v2(0, 0x00, Buffer.alloc(0)),
    expected: { version: 2 },
  },
  {
    name: "v2 LOCAL ignores an address block",
    bytes: v2(0, 0x11, inet4("192.0.2.10", "198.51.100.1", 1, 2)),
    expected: { version: 2 },
  },
  { name: "v2 PROXY UNSPEC", bytes: v2(1, 0x00, Buffer.alloc(0)), expected: { version: 2 } },
  {
    name: "v2 PROXY over a UNIX socket",
    bytes: v2(1, 0x31, Buffer.alloc(216)),
    expected: { version: 2 },
  },
];

const INVALID: Array<[string, Buffer]> = [
  ["SMTP instead of a header", ascii("EHLO client.test\r\n")],
  ["an empty line, then SMTP", ascii("\r\nEHLO client.test\r\n")],
  ["PROXY without its space", ascii("PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n")],
  ["a lower-case proxy", ascii("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n")],
  ["v1 with a bare LF", ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n")],
  ["v1 with an unknown protocol", ascii("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n")],
  ["v1 with a field missing", ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n")],
  ["v1 with a field too many", ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n")],
  ["v1 with two spaces", ascii("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n")],
  ["v1 TCP4 with IPv6 addresses", ascii("PROXY TCP4 ::1 ::1 1 2\r\n")],
  ["v1 TCP6 with IPv4 addresses", ascii("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n")],
  ["v1 with a host name", ascii("PROXY TCP4 mail.example 5.6.7.8 1 2\r\n")],
  ["v1 with a port over 65535", ascii("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n")],
  ["v1 with a leading zero in a port", ascii("PROXY TCP4 1.2.3.4 5.6.7.8 025 2\r\n")],
  ["v1 with a CR LF smuggled in the address", ascii("PROXY TCP4 1.2.3.4\r\n5.6.7.8 1 2\r\n")],
  ["v1 longer than 107 bytes", ascii(`PROXY UNKNOWN ${"x".repeat(200)}\r\n`)],
  ["a broken v2 signature", Buffer.concat([SIG.subarray(0, 11), ascii("X")])],
  ["v2 with version nibble 1", Buffer.from([...SIG, 0x11, 0x11, 0, 0])],
  ["v2 with command 2", Buffer.from([...SIG, 0x22, 0x11, 0, 0])],
  ["v2 with family 4", Buffer.from([...SIG, 0x21, 0x41, 0, 0])],
  ["v2 with transport 3", Buffer.from([...SIG, 0x21, 0x13, 0, 0])],
  ["v2 IPv4 with a short address block", v2(1, 0x11, Buffer.alloc(11))],
  ["v2 IPv6 with a short address block", v2(1, 0x21, Buffer.alloc(35))],
];

describe("parseProxyHeader, byte by byte", () => {
  test.each(VALID.map((v) => [v.name, v] as const))("%s", (_name, v) => {
    const rest = ascii("EHLO client.test\r\n");
    // Cut at every offset: each prefix asks for more, never decides early.
    for (let k = 0; k < v.bytes.length; k++) {
      expect(parseProxyHeader(v.bytes.subarray(0, k)), `prefix of ${k} bytes`).toEqual({
        kind: "more",
      });
    }
    const header = { ...v.expected, length: v.bytes.length };
    expect(parseProxyHeader(v.bytes)).toEqual({ kind: "header", header });
    // What follows the header is the client's, never part of it.
    expect(parseProxyHeader(Buffer.concat([v.bytes, rest]))).toEqual({ kind: "header", header });
  });

  test.each(INVALID)("%s is refused, and no prefix of it is taken for a header", (_n, bytes) => {
    let decidedAt = -1;
    for (let k = 1; k <= bytes.length; k++) {
      const r = parseProxyHeader(bytes.subarray(0, k));
      expect(r.kind, `prefix of ${k} bytes`).not.toBe("header");
      if (r.kind === "invalid" && decidedAt === -1) decidedAt = k;
      // Once refused, more bytes never make it a header.
      if (decidedAt !== -1) expect(r.kind).toBe("invalid");
    }
    expect(decidedAt).toBeGreaterThan(0);
  });

  test("garbage is refused at its first byte, without waiting for a line end", () => {
    expect(parseProxyHeader(ascii("E")).kind).toBe("invalid");
    expect(parseProxyHeader(ascii("PROXX")).kind).toBe("invalid");
    expect(parseProxyHeader(Buffer.from([0x0d, 0x0a, 0x0d, 0x0b])).kind).toBe("invalid");
  });

  test("a v1 line is bounded: without a line end, 107 bytes are the most it waits for", () => {
    const line = ascii(`PROXY UNKNOWN ${"x".repeat(120)}`);
    expect(parseProxyHeader(line.subarray(0, 106)).kind).toBe("more");
    expect(parseProxyHeader(line.subarray(0, 107))).toEqual({
      kind: "invalid",
      reason: "v1 header longer than 107 bytes",
    });
  });

  test("a v2 header waits for exactly its announced length (at most 16 + 65535 bytes)", () => {
    const block = Buffer.concat([inet4("192.0.2.10", "198.51.100.1", 1, 2), Buffer.alloc(65523)]);
    const bytes = v2(1, 0x11, block);
    expect(bytes.length).toBe(16 + 65535);
    expect(parseProxyHeader(bytes.subarray(0, bytes.length - 1)).kind).toBe("more");
    const r = parseProxyHeader(bytes);
    expect(r.kind === "header" && r.header.length).toBe(65551);
  });

  test("accepts any Uint8Array view, not only a Buffer", () => {
    const bytes = ascii("xxPROXY UNKNOWN\r\n");
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset + 2, bytes.length - 2);
    expect(parseProxyHeader(view)).toEqual({ kind: "header", header: { version: 1, length: 15 } });
  });
});

// ---- on the wire -------------------------------------------------------------------

type Options = NonNullable<ConstructorParameters<typeof SMTPServer>[0]>;

const servers: Array<{ close(): Promise<unknown> }> = [];
const sockets: Socket[] = [];
/** What each of our servers reported through 'error'; none of these tests expects any. */
const reported: Error[][] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  // close() waited for every connection to end: nothing more will be reported.
  const errors = reported.splice(0).flatMap((list) => list.map((e) => e.message));
  expect(errors, "server 'error' events").toEqual([]);
});

/** Collects what `server` reports through 'error', for afterEach to check. */
function collectErrors(server: SMTPServer): void {
  const errors: Error[] = [];
  server.on("error", (err: Error) => errors.push(err));
  reported.push(errors);
}

interface Started {
  port: number;
  sessions: SMTPSession[];
}

interface StartedOwn extends Started {
  /** Sessions onClose was called with. */
  closed: SMTPSession[];
  /** Resolves once every connection has ended (the server is closed). */
  close(): Promise<void>;
}

async function start(options: Options): Promise<StartedOwn> {
  const sessions: SMTPSession[] = [];
  const closed: SMTPSession[] = [];
  const server = new SMTPServer({
    authOptional: true,
    ...options,
    onConnect(session, callback) {
      sessions.push({ ...session });
      callback();
    },
    onClose(session) {
      closed.push(session);
    },
  });
  collectErrors(server);
  servers.push(server);
  await server.listen(0, "127.0.0.1");
  const port = (server.address() as { port: number }).port;
  return { port, sessions, closed, close: () => server.close() };
}

async function startReference(options: Record<string, unknown>): Promise<Started> {
  const sessions: SMTPSession[] = [];
  const server = new ReferenceServer({
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    ...options,
    onConnect(session: SMTPSession, callback: () => void) {
      sessions.push({ ...session });
      callback();
    },
  } as ConstructorParameters<typeof ReferenceServer>[0]);
  server.on("error", () => undefined);
  servers.push({ close: () => new Promise((resolve) => server.close(() => resolve(undefined))) });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.server.address() as { port: number }).port, sessions };
}

/** Everything the server sends until it closes (for refusals that are not SMTP replies). */
async function closeTranscript(port: number, bytes: Buffer): Promise<string> {
  const socket = connect({ port, host: "127.0.0.1" });
  sockets.push(socket);
  socket.on("error", () => undefined);
  let text = "";
  socket.on("data", (d: Buffer) => {
    text += d.toString("latin1");
  });
  await once(socket, "connect");
  socket.end(bytes);
  await once(socket, "close");
  return text;
}

/** Connects, sends the header (in `pieces`, one write each), reads the greeting. */
async function dial(port: number, header: Buffer, pieces = 1): Promise<RawClient> {
  const c = await RawClient.connect(port);
  sockets.push(c.socket);
  const size = Math.ceil(header.length / pieces);
  for (let at = 0; at < header.length; at += size) c.write(header.subarray(at, at + size));
  return c;
}

const V1 = ascii("PROXY TCP4 192.0.2.10 198.51.100.1 56324 25\r\n");
const V2_TCP6 = v2(
  1,
  0x21,
  inet6("20010db8000000000000000000000001", "20010db8000000000000000000000025", 40000, 587),
);

describe("a PROXY header before the greeting (useProxy)", () => {
  test.each([
    ["v1", V1, { remoteAddress: "192.0.2.10", remotePort: 56324, localPort: 25 }],
    ["v2 over IPv6", V2_TCP6, { remoteAddress: "2001:db8::1", remotePort: 40000, localPort: 587 }],
  ])("a %s header gives the session the relayed client's addresses", async (_n, header, want) => {
    const { port, sessions } = await start({ useProxy: true });
    const c = await dial(port, header);
    expect((await c.read()).code).toBe(220);
    expect((await c.command("EHLO client.test")).lines[0]).toBe(
      `localhost Nice to meet you, [${want.remoteAddress}]`,
    );
    expect(sessions[0]).toMatchObject({
      remoteAddress: want.remoteAddress,
      remotePort: want.remotePort,
      localPort: want.localPort,
      clientHostname: `[${want.remoteAddress}]`,
    });
  });

  test("'connect' is emitted once the header is read, with the relayed client's address", async () => {
    const server = new SMTPServer({ authOptional: true, useProxy: true });
    collectErrors(server);
    servers.push(server);
    await server.listen(0, "127.0.0.1");
    const seen: string[] = [];
    server.on("connect", (session: SMTPSession) => seen.push(session.remoteAddress));
    const c = await dial((server.address() as { port: number }).port, V1, V1.length);
    expect((await c.read()).code).toBe(220);
    expect(seen).toEqual(["192.0.2.10"]);
    // A malformed header ends the connection before it is known: no 'connect'.
    expect(
      await closeTranscript(
        (server.address() as { port: number }).port,
        Buffer.from("PROXY nonsense\r\n"),
      ),
    ).toBe("* BAD Invalid PROXY header\r\n");
    expect(seen).toEqual(["192.0.2.10"]);
  });

  test("the header written one byte at a time is read the same", async () => {
    const { port, sessions } = await start({ useProxy: true });
    const c = await dial(port, V1, V1.length);
    expect((await c.read()).code).toBe(220);
    expect(sessions[0]?.remoteAddress).toBe("192.0.2.10");
  });

  test("commands sent with the header in one write are the client's, not lost", async () => {
    const { port } = await start({ useProxy: true });
    const c = await dial(port, Buffer.concat([V1, ascii("EHLO client.test\r\nNOOP\r\n")]));
    expect((await c.readMany(3)).map((r) => r.code)).toEqual([220, 250, 250]);
  });

  test.each([
    ["v1 UNKNOWN", ascii("PROXY UNKNOWN\r\n")],
    ["v2 LOCAL", v2(0, 0x00, Buffer.alloc(0))],
  ])("%s keeps the socket's own addresses", async (_n, header) => {
    const { port, sessions } = await start({ useProxy: true });
    const c = await dial(port, header);
    expect((await c.read()).code).toBe(220);
    expect(sessions[0]).toMatchObject({ remoteAddress: "127.0.0.1", localAddress: "127.0.0.1" });
  });

  test.each([
    ["SMTP instead of a header", ascii("EHLO client.test\r\n")],
    ["a malformed v1 header", ascii("PROXY TCP4 1.2.3.4 5.6.7.8 99999 25\r\n")],
    ["a malformed v2 header", Buffer.from([...SIG, 0x21, 0x11, 0, 4, 1, 2, 3, 4])],
    ["a line that never ends", ascii(`PROXY ${"x".repeat(300)}`)],
  ])(
    "%s: `* BAD Invalid PROXY header`, no greeting, onConnect and onClose never run",
    async (_n, bytes) => {
      const ours = await start({ useProxy: true });
      expect(await closeTranscript(ours.port, bytes)).toBe(PROXY_REJECTION);
      const c = await dial(ours.port, V1);
      expect((await c.read()).code).toBe(220);
      c.socket.destroy();
      await ours.close();
      // Only the connection that reached its session was opened and closed (as in smtp-server).
      expect(ours.sessions).toHaveLength(1);
      expect(ours.closed.map((x) => x.id)).toEqual(ours.sessions.map((x) => x.id));
    },
  );

  test("a client that never sends its header is dropped at the timeout without a reply", async () => {
    const ours = await start({ useProxy: true, socketTimeout: 100 });
    const socket = connect({ port: ours.port, host: "127.0.0.1" });
    sockets.push(socket);
    socket.on("error", () => undefined);
    let text = "";
    socket.on("data", (d: Buffer) => {
      text += d.toString("latin1");
    });
    await once(socket, "close"); // the server's idle timeout (100 ms) is the behaviour under test
    await ours.close();
    expect(text).toBe("");
    expect(ours.closed).toEqual([]);
  });

  test("a client that leaves before its header is complete gets nothing; the server goes on", async () => {
    const { port, sessions } = await start({ useProxy: true });
    expect(await closeTranscript(port, V1.subarray(0, 10))).toBe("");
    const c = await dial(port, V1);
    expect((await c.read()).code).toBe(220);
    expect(sessions).toHaveLength(1);
  });

  test("a source missing from a useProxy list talks SMTP at once: the header is a 500", async () => {
    const { port, sessions } = await start({ useProxy: ["10.9.9.9"] });
    const c = await RawClient.connect(port);
    sockets.push(c.socket);
    expect((await c.read()).code).toBe(220);
    expect((await c.command(V1.toString("latin1").trimEnd())).code).toBe(500);
    expect(sessions[0]?.remoteAddress).toBe("127.0.0.1");
  });

  test("a source in the useProxy list must send the header", async () => {
    const { port, sessions } = await start({ useProxy: ["::ffff:127.0.0.1"] });
    const c = await dial(port, V1);
    expect((await c.read()).code).toBe(220);
    expect(sessions[0]?.remoteAddress).toBe("192.0.2.10");
  });

  test("with implicit TLS the header comes first, then the handshake", async () => {
    const { ca } = loadTestCertificates();
    const { port, sessions } = await start({ useProxy: true, secure: true });
    const raw = connect({ port, host: "127.0.0.1" });
    sockets.push(raw);
    await once(raw, "connect");
    raw.write(V1);
    const secure = tlsConnect({ socket: raw, ca, servername: "localhost" });
    const greeting = await new Promise<string>((resolve, reject) => {
      secure.once("data", (d: Buffer) => resolve(d.toString()));
      secure.once("error", reject);
    });
    expect(greeting).toMatch(/^220 /);
    expect(sessions[0]).toMatchObject({ remoteAddress: "192.0.2.10", secure: true });
    secure.destroy();
  });

  test("rejects a useProxy value that is neither true nor a list of addresses", () => {
    expect(() => new SMTPServer({ useProxy: "10.0.0.1" as unknown as string[] })).toThrow(
      /useProxy must be true or a list of IP addresses/,
    );
  });
});

describe("the same v1 dialogs as smtp-server 3.21", () => {
  /** What a client sees: the header, then (after the greeting) QUIT. */
  async function observe(port: number, first: Buffer): Promise<string> {
    const socket = connect({ port, host: "127.0.0.1" });
    sockets.push(socket);
    socket.on("error", () => undefined);
    let text = "";
    socket.on("data", (d: Buffer) => {
      text += d.toString("latin1");
      // smtp-server refuses early talkers: the rest waits for the greeting.
      if (/^220 [^\r\n]*\r\n$/.test(text))
        socket.write("PROXY TCP4 1.1.1.1 2.2.2.2 1 2\r\nQUIT\r\n");
    });
    await once(socket, "connect");
    if (first.length > 0) socket.write(first);
    await once(socket, "close");
    // The host name in the greeting differs by design (smtp-server: os.hostname()).
    return text.replace(/^220 \S+ /, "220 <name> ");
  }

  test.each([
    ["a valid TCP4 header", { useProxy: true }, V1],
    ["SMTP instead of a header", { useProxy: true }, ascii("EHLO client.test\r\n")],
    ["UNKNOWN", { useProxy: true }, ascii("PROXY UNKNOWN\r\n")],
    ["an untrusted source", { useProxy: ["10.9.9.9"] }, Buffer.alloc(0)],
    ["no header before the timeout", { useProxy: true, socketTimeout: 100 }, Buffer.alloc(0)],
  ])("%s", async (_n, options, first) => {
    const [ours, reference] = await Promise.all([
      start({ ...options, name: "mx.test" }),
      startReference({ ...options, name: "mx.test" }),
    ]);
    const [mine, theirs] = await Promise.all([
      observe(ours.port, first),
      observe(reference.port, first),
    ]);
    expect(mine).toBe(theirs);
    const addresses = (s: SMTPSession[]) => s.map((x) => [x.remoteAddress, x.remotePort]);
    const own = addresses(ours.sessions);
    const ref = addresses(reference.sessions);
    // Ports of real sockets differ between the two servers; the relayed one must not.
    expect(own.map(([a]) => a)).toEqual(ref.map(([a]) => a));
    if (first === V1) expect(own).toEqual(ref);
  });
});
