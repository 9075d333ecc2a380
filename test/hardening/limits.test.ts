/**
 * Limits a hostile or broken client runs into, each with the reply RFC 5321 asks
 * for: line length (500, or 421 when the line never ends), the unrecognised-command
 * budget (421), maxClients (421), the idle timeout (421), maxRecipients (452), the
 * fixture's size cap (552, nothing stored) and HTTP spoken to an SMTP port (421).
 */
import { once } from "node:events";
import { type AddressInfo, connect as netConnect } from "node:net";
import { Duplex } from "node:stream";
import { connect as tlsConnect } from "node:tls";
import { afterEach, describe, expect, test } from "vitest";
import {
  hang,
  SMTPServer,
  type SMTPServerOptions,
  startTestSmtp,
  type TestSmtp,
} from "../../src/index.js";
import { RawClient } from "../helpers/raw-client.js";
import { ClosedCounter, dialog, portOf, within } from "./support.js";

let server: SMTPServer | undefined;
let smtp: TestSmtp | undefined;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  await smtp?.close();
  server = undefined;
  smtp = undefined;
});

async function start(options: SMTPServerOptions = {}): Promise<number> {
  server = new SMTPServer({ authOptional: true, disabledCommands: ["AUTH"], ...options });
  await server.listen(0, "127.0.0.1");
  return portOf(server);
}

async function greeted(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  expect((await c.read()).code).toBe(220);
  return c;
}

/** Reads every remaining reply until the server closes. */
async function rest(c: RawClient): Promise<number[]> {
  await within(c.waitClose(), 5000, "server close");
  const codes: number[] = [];
  for (;;) {
    try {
      codes.push((await c.read()).code);
    } catch {
      return codes;
    }
  }
}

describe("command line length (maxCommandLength)", () => {
  test("a line over the limit gets 500 and the session continues", async () => {
    const port = await start({ maxCommandLength: 512 });
    const c = await greeted(port);
    expect((await c.command(`NOOP ${"x".repeat(600)}`)).code).toBe(500);
    expect((await c.command("EHLO client.test")).code).toBe(250);
    expect((await c.command("MAIL FROM:<a@x.test>")).code).toBe(250);
    expect((await c.command("QUIT")).code).toBe(221);
  });

  test("a line exactly at the limit (CRLF not counted) is served", async () => {
    const port = await start({ maxCommandLength: 512 });
    const c = await greeted(port);
    const line = `NOOP ${"x".repeat(512 - 5)}`;
    expect(line).toHaveLength(512);
    expect((await c.command(line)).code).toBe(250);
    expect((await c.command(`${line}y`)).code).toBe(500);
  });

  test("a line that never ends (3x the limit, no LF) gets 421 and the connection closes", async () => {
    const port = await start({ maxCommandLength: 512 });
    const r = await dialog(port, [`NOOP ${"x".repeat(3 * 512)}`], { finish: "wait" });
    expect(r.end).toBe("server");
    expect(r.badLines).toEqual([]);
    expect(r.replies.map((x) => x.code)).toEqual([220, 421]);
  });

  test("the same endless line in small reads is cut off too", async () => {
    const port = await start({ maxCommandLength: 512 });
    const chunks = Array.from({ length: 24 }, () => "y".repeat(64)); // 1536 bytes
    const r = await dialog(port, chunks, { finish: "wait", separateReads: true });
    expect(r.end).toBe("server");
    expect(r.replies.map((x) => x.code)).toEqual([220, 421]);
  });
});

describe("unrecognised commands (maxUnrecognizedCommands, default 10)", () => {
  test("the 10th unrecognised command gets 421 and the connection closes", async () => {
    const port = await start();
    const c = await greeted(port);
    c.write(Array.from({ length: 12 }, (_, i) => `BOGUS${i}\r\n`).join(""));
    const codes = await rest(c);
    expect(codes).toEqual([...Array(9).fill(500), 421]);
  });

  test("known commands in between do not reset the budget, and are served", async () => {
    const port = await start({ maxUnrecognizedCommands: 3 });
    const c = await greeted(port);
    expect((await c.command("FOO")).code).toBe(500);
    expect((await c.command("NOOP")).code).toBe(250);
    expect((await c.command("BAR")).code).toBe(500);
    expect((await c.command("NOOP")).code).toBe(250);
    expect((await c.command("BAZ")).code).toBe(421);
    await within(c.waitClose(), 5000, "server close");
  });
});

describe("maxClients", () => {
  test("the client over the limit gets 421 and is closed; a slot frees on disconnect", async () => {
    const closes = new ClosedCounter();
    const port = await start({ maxClients: 2, onClose: closes.onClose });
    const a = await greeted(port);
    await greeted(port);
    const extra = await RawClient.connect(port);
    clients.push(extra);
    const r = await extra.read();
    expect(r.code).toBe(421);
    expect(r.lines[0]).toMatch(/too many/i);
    await within(extra.waitClose(), 5000, "extra client closed");
    // The rejected client never became a connection; freeing one real slot admits a new one.
    a.close();
    await closes.until(1, 5000);
    const next = await greeted(port);
    expect((await next.command("NOOP")).code).toBe(250);
  });
});

/**
 * Sends `lines` (and `more`, unterminated) in one write, and expects 250 to each line.
 * The idle timeout tests send their whole dialog before the idle phase this way: a
 * command still unread when a stalled loop runs the expired timer would get the 421.
 */
async function sendAtOnce(c: RawClient, lines: readonly string[], more = ""): Promise<void> {
  c.write(`${lines.map((l) => `${l}\r\n`).join("")}${more}`);
  for (const line of lines) expect((await c.read()).code, line).toBe(250);
}

/**
 * A fixture with a 200 ms socketTimeout, and a client in a transaction there (MAIL and
 * RCPT accepted); `more` is sent in the same write.
 */
async function stallingFixtureClient(more = ""): Promise<{ fixture: TestSmtp; c: RawClient }> {
  const fixture = await startTestSmtp({ socketTimeout: 200 });
  smtp = fixture;
  const c = await greeted(fixture.port);
  await sendAtOnce(c, ["EHLO client.test", "MAIL FROM:<a@x.test>", "RCPT TO:<b@x.test>"], more);
  return { fixture, c };
}

/** The client, now silent, is sent the timeout's 421 and closed. */
async function timedOut(c: RawClient): Promise<void> {
  expect((await within(c.read(), 5000, "timeout reply")).code).toBe(421);
  await within(c.waitClose(), 5000, "server close");
}

describe("idle timeout (socketTimeout)", () => {
  test("an idle client gets 421 and is closed, within a bound", async () => {
    const port = await start({ socketTimeout: 200 });
    // Timed from before the connection, which the timer cannot start before: a stalled
    // loop may hand the client the greeting and the 421 together.
    const t0 = performance.now();
    const c = await greeted(port);
    const r = await within(c.read(), 5000, "timeout reply");
    const ms = performance.now() - t0;
    expect(r.code).toBe(421);
    expect(ms).toBeGreaterThanOrEqual(150);
    await within(c.waitClose(), 5000, "server close");
  });

  test("a client stalling mid-DATA gets 421 and nothing is stored (fixture)", async () => {
    const { fixture, c } = await stallingFixtureClient(
      "DATA\r\nSubject: stalled\r\n\r\nhalf a messa",
    );
    expect((await c.read()).code).toBe(354);
    await timedOut(c);
    // The message's attempt says what became of it: cut by the timeout, with the 421.
    expect(
      fixture.inbox.attempts.map((a) => [a.stage, a.outcome, a.reason, a.reply?.code]),
    ).toEqual([["DATA_END", "aborted", "timeout", 421]]);
    expect(fixture.inbox.messages).toHaveLength(0);
  });

  test("a client stalling between RCPT and DATA: its envelope is in attempts, ended by the 421", async () => {
    const { fixture, c } = await stallingFixtureClient();
    await timedOut(c);
    const [attempt, ...others] = fixture.inbox.attempts;
    expect(others).toEqual([]);
    expect([attempt?.stage, attempt?.outcome, attempt?.reason, attempt?.reply?.code]).toEqual([
      "RCPT",
      "aborted",
      "timeout",
      421,
    ]);
    expect(attempt?.envelope.rcptTo.map((r) => r.address)).toEqual(["b@x.test"]);
  });

  test.each([
    ["onMailFrom", "MAIL", "MAIL FROM:<a@x.test>", []],
    ["onRcptTo", "RCPT", "RCPT TO:<b@x.test>", ["MAIL FROM:<a@x.test>"]],
  ] as const)(
    "a command whose %s hook never answers, cut by the timeout, is in attempts at its stage",
    async (hook, stage, command, before) => {
      // A hook that never calls back: only the timeout ends the command.
      smtp = await startTestSmtp({ socketTimeout: 200, [hook]: () => {} });
      const c = await greeted(smtp.port);
      await sendAtOnce(c, ["EHLO client.test", ...before], `${command}\r\n`);
      await timedOut(c);
      expect(
        smtp.inbox.attempts.map((a) => [a.stage, a.command, a.outcome, a.reason, a.reply?.code]),
      ).toEqual([[stage, command, "aborted", "timeout", 421]]);
    },
  );

  test("a hang() fault ended by the timeout: its attempt says so, with the 421", async () => {
    smtp = await startTestSmtp({ socketTimeout: 200 });
    smtp.use(hang("MAIL", { once: true }));
    const c = await greeted(smtp.port);
    await sendAtOnce(c, ["EHLO client.test"], "MAIL FROM:<a@x.test>\r\n");
    await timedOut(c);
    expect(smtp.inbox.attempts.map((a) => [a.stage, a.outcome, a.reason, a.reply?.code])).toEqual([
      ["MAIL", "aborted", "fault: hang(MAIL) [once] (timed out)", 421],
    ]);
  });
});

describe("maxRecipients", () => {
  test("the recipient over the limit gets 452; the transaction goes on with the others", async () => {
    smtp = await startTestSmtp({ maxRecipients: 3 });
    const c = await greeted(smtp.port);
    await c.command("EHLO client.test");
    await c.command("MAIL FROM:<a@x.test>");
    for (const n of [1, 2, 3]) expect((await c.command(`RCPT TO:<r${n}@x.test>`)).code).toBe(250);
    const over = await c.command("RCPT TO:<r4@x.test>");
    expect(over.code).toBe(452);
    expect(over.lines[0]).toMatch(/^4\.5\.3 /);
    expect((await c.command("DATA")).code).toBe(354);
    expect((await c.command("Subject: three\r\n\r\nbody\r\n.")).code).toBe(250);
    const mail = await smtp.inbox.waitFor({ subject: "three" });
    expect(mail.envelope.rcptTo.map((r) => r.address)).toEqual([
      "r1@x.test",
      "r2@x.test",
      "r3@x.test",
    ]);
  });
});

describe("message size cap (fixture)", () => {
  test("the fixture advertises its default hard cap (64 MiB)", async () => {
    smtp = await startTestSmtp();
    const c = await greeted(smtp.port);
    const ehlo = await c.command("EHLO client.test");
    expect(ehlo.lines).toContain(`SIZE ${64 * 1024 * 1024}`);
  });

  test("a message over `size` gets 552, nothing is stored, the session continues", async () => {
    smtp = await startTestSmtp({ size: 1000 });
    const c = await greeted(smtp.port);
    await c.command("EHLO client.test");
    await c.command("MAIL FROM:<a@x.test>");
    await c.command("RCPT TO:<b@x.test>");
    expect((await c.command("DATA")).code).toBe(354);
    const big = `Subject: big\r\n\r\n${"0123456789abcdef\r\n".repeat(200)}`; // 3.6 kB
    const r = await c.command(`${big}.`);
    expect(r.code).toBe(552);
    expect(smtp.inbox.attempts.filter((a) => a.outcome === "accepted")).toEqual([]);
    // The session goes on: a small message afterwards is accepted.
    await c.command("MAIL FROM:<a@x.test>");
    await c.command("RCPT TO:<b@x.test>");
    await c.command("DATA");
    expect((await c.command("Subject: small\r\n\r\nok\r\n.")).code).toBe(250);
    await smtp.inbox.waitFor({ subject: "small" });
    expect(smtp.inbox.messages.map((m) => m.subject)).toEqual(["small"]);
  });

  test("MAIL FROM with SIZE= over the cap is refused up front (552)", async () => {
    smtp = await startTestSmtp({ size: 1000 });
    const c = await greeted(smtp.port);
    await c.command("EHLO client.test");
    expect((await c.command("MAIL FROM:<a@x.test> SIZE=5000")).code).toBe(552);
  });

  test("BDAT chunks over the cap get 552 and nothing is stored", async () => {
    smtp = await startTestSmtp({ size: 1000 });
    const c = await greeted(smtp.port);
    const ehlo = await c.command("EHLO client.test");
    expect(ehlo.lines).toContain("CHUNKING");
    await c.command("MAIL FROM:<a@x.test>");
    await c.command("RCPT TO:<b@x.test>");
    const chunk = "x".repeat(800);
    c.write(`BDAT ${chunk.length}\r\n${chunk}`);
    expect((await c.read()).code).toBe(250);
    c.write(`BDAT ${chunk.length} LAST\r\n${chunk}`);
    expect((await c.read()).code).toBe(552);
    expect((await c.command("NOOP")).code).toBe(250);
    expect(smtp.inbox.attempts.filter((a) => a.outcome === "accepted")).toEqual([]);
    expect(smtp.inbox.messages).toHaveLength(0);
  });
});

describe("HTTP spoken to the SMTP port", () => {
  test.each(["GET / HTTP/1.1", "POST /submit HTTP/1.0"])(
    "%s gets 421 and the connection closes",
    async (requestLine) => {
      const port = await start();
      const r = await dialog(
        port,
        [`${requestLine}\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\n\r\n`],
        { finish: "wait" },
      );
      expect(r.end).toBe("server");
      expect(r.replies.map((x) => x.code)).toEqual([220, 421]);
    },
  );
});

describe("TLS spoken to a plaintext SMTP port", () => {
  /** The ClientHello a TLS client sends first, as Node's TLS client writes it. */
  function clientHello(): Promise<Buffer> {
    let written!: (chunk: Buffer) => void;
    const hello = new Promise<Buffer>((resolve) => {
      written = resolve;
    });
    const wire = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        written(chunk);
        callback();
      },
    });
    // The ClientHello may be written before tlsConnect returns.
    const tls = tlsConnect({ socket: wire, servername: "localhost" });
    tls.on("error", () => {});
    return hello.finally(() => tls.destroy());
  }

  test("a ClientHello as the first bytes gets 421 and the connection closes", async () => {
    const port = await start();
    // Sent at once, before the greeting, as a TLS client does.
    const r = await dialog(port, [await clientHello()], { finish: "wait" });
    expect(r.end).toBe("server");
    expect(r.replies.map((x) => x.code)).toEqual([220, 421]);
  });
});

describe("early talkers", () => {
  test('with earlyTalkers: "reject", a client that talks before the greeting gets 421 and is closed', async () => {
    const server = new SMTPServer({
      authOptional: true,
      greetingDelay: 150,
      earlyTalkers: "reject",
    });
    await server.listen(0, "127.0.0.1");
    const { port } = server.server.address() as AddressInfo;
    const c = await RawClient.connect(port);
    c.write("EHLO eager.test\r\n");
    const r = await c.read();
    expect(r.raw).toBe("421 localhost You talk too soon\r\n");
    await c.waitClose();
    const polite = await RawClient.connect(port);
    expect((await polite.read()).code).toBe(220);
    polite.close();
    await server.close();
  });

  test("by default an early talker's commands are read after the greeting", async () => {
    const server = new SMTPServer({ authOptional: true, greetingDelay: 100 });
    await server.listen(0, "127.0.0.1");
    const { port } = server.server.address() as AddressInfo;
    const c = await RawClient.connect(port);
    c.write("EHLO eager.test\r\n");
    expect((await c.read()).code).toBe(220);
    expect((await c.read()).code).toBe(250);
    c.close();
    await server.close();
  });

  test("an invalid earlyTalkers value is a clear error", () => {
    expect(() => new SMTPServer({ earlyTalkers: "drop" as never })).toThrow(
      /earlyTalkers must be one of "accept", "reject"/,
    );
  });
});

describe("a client that pipelines commands and never reads the replies", () => {
  test("the server stops reading at about 1 MiB of unsent replies, and goes on when the client reads", async () => {
    const port = await start();
    const connected = once(server!, "connect");
    const sock = netConnect(port, "127.0.0.1");
    await once(sock, "connect");
    sock.pause(); // reads nothing, for now
    await within(connected, 5000, "'connect'");
    const serverSocket = [...server!.connections][0]!.socket;
    const paused = once(serverSocket, "pause");
    // 100,000 EHLOs: 1.7 MB sent, about 20 MB of replies if nothing held them back.
    const count = 100_000;
    sock.write("EHLO flood.test\r\n".repeat(count));
    await within(paused, 10_000, "the server pauses reading");
    // At most one read's worth of replies (a 64 KiB read of EHLOs) past the bound.
    expect(serverSocket.writableLength).toBeGreaterThan(1024 * 1024);
    expect(serverSocket.writableLength).toBeLessThan(3 * 1024 * 1024);
    // Reading now: every EHLO is answered, in order, none lost to the pause.
    let answered = 0;
    let tail = "";
    const all = new Promise<void>((resolve) => {
      sock.on("data", (d: Buffer) => {
        const text = tail + d.toString("latin1");
        const lines = text.split("\r\n");
        tail = lines.pop()!;
        for (const l of lines) if (l.startsWith("250 ")) answered++;
        if (answered === count) resolve();
      });
    });
    sock.resume();
    await within(all, 30_000, "every EHLO answered");
    expect(answered).toBe(count);
    sock.destroy();
  });
});

describe("after the server has closed a connection", () => {
  test("what a client keeps writing after the 221 is read and dropped, not recorded", async () => {
    let closed!: () => void;
    const serverDone = new Promise<void>((resolve) => {
      closed = resolve;
    });
    smtp = await startTestSmtp({ onClose: () => closed() });
    // allowHalfOpen: the client goes on writing after the server's FIN, as a broken one may.
    const s = netConnect({ port: smtp.port, host: "127.0.0.1", allowHalfOpen: true });
    s.on("error", () => {});
    let replies = "";
    const replied = (code: string) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (replies.includes(code)) resolve();
          else
            s.once("data", (d: Buffer) => {
              replies += d.toString("latin1");
              check();
            });
        };
        check();
      });
    await replied("220 ");
    s.write("QUIT\r\n");
    await replied("221 ");
    const chunk = Buffer.alloc(1 << 20, 0x61);
    for (let i = 0; i < 4; i++) {
      await new Promise<void>((resolve) => s.write(chunk, () => resolve()));
    }
    s.end();
    await serverDone;
    const clientBytes = smtp.transcripts
      .flatMap((t) => t.entries())
      .filter((e) => e.direction === "client")
      .reduce((n, e) => n + e.data.byteLength, 0);
    expect(clientBytes).toBe("QUIT\r\n".length);
    s.destroy();
  });
});
