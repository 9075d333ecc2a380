import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { delay, hang, slowDrip, startTestSmtp, type TestSmtp } from "../../src/index.js";
import type { TranscriptEntry } from "../../src/server/transcript.js";
import { RawClient } from "../helpers/raw-client.js";
import {
  expectServesNext,
  faultAttempts,
  firing,
  lastTranscript,
  rawClient,
  send,
  sendFails,
} from "./helpers.js";

let smtp: TestSmtp;
/** Resolves when the server has finished with a connection (onClose ran). */
let closed: Array<() => void> = [];
const nextClose = () => new Promise<void>((resolve) => closed.push(resolve));
/** Waits close by close until `done()` holds (a connection of an earlier test may close first). */
async function closesUntil(done: () => boolean): Promise<void> {
  while (!done()) await nextClose();
}

beforeAll(async () => {
  smtp = await startTestSmtp({
    onClose() {
      for (const fn of closed.splice(0)) fn();
    },
  });
});
afterAll(() => smtp.close());
afterEach(() => {
  smtp.reset();
  closed = [];
});

const text = (e: TranscriptEntry) => Buffer.from(e.data).toString("utf8");

describe("delay.reply(stage, ms)", () => {
  // The delay is the behaviour under test: a short real wait, measured on the transcript.
  test("the stage's reply comes at least ms later", async () => {
    smtp.use(delay.reply("RCPT", 60));
    const c = await rawClient(smtp);
    expect((await c.command("MAIL FROM:<app@sender.test>")).code).toBe(250);
    expect((await c.command("RCPT TO:<bob@example.com>")).raw).toBe("250 2.1.5 Accepted\r\n");
    c.close();
    const entries = smtp.transcripts.at(-1)!.entries();
    const at = (dir: "client" | "server", prefix: string) =>
      entries.find((e) => e.direction === dir && text(e).startsWith(prefix))!.at;
    expect(at("server", "250 2.1.5") - at("client", "RCPT")).toBeGreaterThanOrEqual(58);
    expect(lastTranscript(smtp).text).toContain("# fault fired: delay.reply(RCPT, 60) at RCPT");
  });

  // Shown by order, not by a time bound (a stalled runner can stretch any reply): the
  // MAIL's reply is out while the RCPT's, pipelined behind it, is still held.
  test("the others do not wait: the MAIL is answered while the RCPT is held", async () => {
    const held = firing(delay.reply("RCPT", 60_000));
    smtp.use(held.fault);
    const c = await rawClient(smtp);
    c.write("MAIL FROM:<app@sender.test>\r\nRCPT TO:<bob@example.com>\r\n");
    await held.fired;
    expect((await c.read()).raw).toBe("250 2.1.0 Accepted\r\n");
    const { text } = lastTranscript(smtp);
    expect(text).toContain("# fault fired: delay.reply(RCPT, 60000) at RCPT");
    expect(text).toContain("S: 250 2.1.0 Accepted");
    expect(text).not.toContain("S: 250 2.1.5");
    c.close();
    await closesUntil(() => faultAttempts(smtp).some((a) => a.reason.endsWith("(client gave up)")));
  });

  test("nodemailer waits and the message is delivered", async () => {
    smtp.use(delay.reply("DATA_END", 60));
    const started = performance.now();
    const out = await send(smtp);
    expect(out.ok).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(58);
    await smtp.inbox.waitFor("bob@example.com");
  });

  test("a client timeout shorter than the delay fails the send", async () => {
    smtp.use(delay.reply("MAIL", 400, { once: true }));
    const err = await sendFails(smtp, {}, { socketTimeout: 100 });
    expect(err.code).toBe("ETIMEDOUT");
    await expectServesNext(smtp);
  });
});

describe("slowDrip(stage, { bytesPerChunk, intervalMs })", () => {
  test("writes the reply a few bytes at a time, spaced out", async () => {
    const fault = slowDrip("CONNECT", { bytesPerChunk: 5, intervalMs: 10 });
    expect(fault.name).toBe('slowDrip("CONNECT", { bytesPerChunk: 5, intervalMs: 10 })');
    smtp.use(fault);
    const c = await RawClient.connect(smtp.port);
    expect((await c.read()).raw).toBe("220 localhost ESMTP\r\n");
    expect((await c.command("EHLO raw.test")).code).toBe(250);
    c.close();
    const pieces = smtp.transcripts
      .at(-1)!
      .entries()
      .filter((e) => e.direction === "server" && e.data.length > 0);
    const greeting = pieces.slice(0, 5);
    expect(greeting.map(text)).toEqual(["220 l", "ocalh", "ost E", "SMTP\r", "\n"]);
    for (let i = 1; i < greeting.length; i++) {
      expect(greeting[i]!.at - greeting[i - 1]!.at).toBeGreaterThanOrEqual(8);
    }
    // Only the greeting dripped: the EHLO reply went out in one write.
    expect(text(pieces[5]!)).toMatch(/^250-localhost/);
  });

  test("delay.drip is the same, and nodemailer reassembles a dripped reply", async () => {
    smtp.use(delay.drip("EHLO", { bytesPerChunk: 16, intervalMs: 1 }));
    const out = await send(smtp);
    expect(out.ok).toBe(true);
    await smtp.inbox.waitFor("bob@example.com");
  });

  test("STARTTLS: the 220 trickles out in full, then the handshake and the mail go through", async () => {
    await using tls = await startTestSmtp({ tls: true });
    tls.use(slowDrip("STARTTLS", { bytesPerChunk: 4, intervalMs: 1 }));
    const out = await send(tls);
    expect(out.ok).toBe(true);
    const mail = await tls.inbox.waitFor("bob@example.com");
    expect(mail.session.secure).toBe(true);
    const pieces = tls.transcripts
      .at(-1)!
      .entries()
      .filter((e) => e.direction === "server")
      .map(text);
    // Only the drip writes pieces this short; together they are the whole 220 line.
    const dripped = pieces.filter((p) => p.length > 0 && p.length <= 4);
    expect(dripped.length).toBeGreaterThan(3);
    expect(dripped.join(""), pieces.join("|")).toBe("220 2.0.0 Ready to start TLS\r\n");
  });

  test("DATA_END: a client that leaves before the 250 is whole was not told: kept, unacknowledged", async () => {
    smtp.use(slowDrip("DATA_END", { bytesPerChunk: 1, intervalMs: 20 }));
    const c = await rawClient(smtp);
    c.write("MAIL FROM:<a@x.test>\r\nRCPT TO:<cut@example.com>\r\nDATA\r\n");
    await c.readMany(3);
    const firstByte = new Promise((resolve) => c.socket.once("data", resolve));
    c.write("Subject: cut\r\n\r\nbody\r\n.\r\n");
    await firstByte;
    // Read while the 250 drips: the accepted attempt is not there yet (made plain now,
    // it would keep a reason that is not its last).
    expect(smtp.inbox.attempts.map((a) => a.outcome)).toEqual(["delayed"]);
    expect(smtp.inbox.messages).toHaveLength(0);
    c.socket.destroy();
    const mail = await smtp.inbox.waitFor("cut@example.com");
    expect(mail.acknowledged).toBe(false);
    expect(Buffer.from(mail.raw).toString()).toBe("Subject: cut\r\n\r\nbody\r\n");
    const attempt = smtp.inbox.attempts.find((a) => a.messageId === mail.id);
    expect(attempt).toMatchObject({ outcome: "accepted", stage: "DATA_END" });
    expect(attempt?.reason).toBe("250 cut short (client disconnected)");
  });

  test("DATA_END: a 250 that trickles out whole is acknowledged", async () => {
    smtp.use(slowDrip("DATA_END", { bytesPerChunk: 8, intervalMs: 1 }));
    expect((await send(smtp, { to: "whole@example.com" })).ok).toBe(true);
    const mail = await smtp.inbox.waitFor("whole@example.com");
    expect(mail.acknowledged).toBe(true);
    expect(smtp.inbox.attempts.find((a) => a.messageId === mail.id)?.reason).toBe("ok");
  });

  test("QUIT: the 221 trickles out completely before the connection closes", async () => {
    smtp.use(slowDrip("QUIT", { bytesPerChunk: 2, intervalMs: 1 }));
    const c = await rawClient(smtp);
    expect((await c.command("QUIT")).raw).toBe("221 2.0.0 Bye\r\n");
    await c.waitClose();
  });
});

describe("hang(stage)", () => {
  test("the server stops answering until the client gives up, then serves others", async () => {
    const hung = firing(hang("MAIL", { once: true }));
    smtp.use(hung.fault);
    const c = await rawClient(smtp, false);
    c.write("EHLO raw.test\r\nMAIL FROM:<app@sender.test>\r\n");
    await hung.fired;
    expect((await c.read()).code).toBe(250);
    // The client gives up on the MAIL the server holds.
    const gaveUp = () => faultAttempts(smtp).some((a) => a.reason.endsWith("(client gave up)"));
    c.close();
    await closesUntil(gaveUp);
    const { text } = lastTranscript(smtp);
    expect(text).toContain("# fault fired: hang(MAIL) [once] at MAIL");
    // Answered: the greeting and the EHLO; never the MAIL.
    expect(text.match(/^S: \d{3} .*$/gm)).toEqual(["S: 220 localhost ESMTP", "S: 250 CHUNKING"]);
    await expectServesNext(smtp);
  });

  test("the attempt is there while the server hangs, and says how the hang ended", async () => {
    const hung = firing(hang("RCPT", { once: true }));
    smtp.use(hung.fault);
    const c = await rawClient(smtp);
    expect((await c.command("MAIL FROM:<app@sender.test>")).code).toBe(250);
    c.write("RCPT TO:<bob@example.com>\r\n");
    await hung.fired;
    // This test's fault only: an earlier test's delayed client may still be talking.
    const hangs = () => faultAttempts(smtp).filter((a) => a.reason.includes("hang(RCPT)"));
    expect(hangs()).toEqual([
      expect.objectContaining({
        stage: "RCPT",
        command: "RCPT TO:<bob@example.com>",
        outcome: "aborted",
        reason: "fault: hang(RCPT) [once]",
        reply: undefined,
      }),
    ]);
    const gone = nextClose();
    c.close();
    await gone;
    expect(hangs().map((a) => [a.reason, a.reply])).toEqual([
      ["fault: hang(RCPT) [once] (client gave up)", undefined],
    ]);
  });

  test("CONNECT: no greeting ever comes", async () => {
    smtp.use(hang("CONNECT", { once: true }));
    const gone = nextClose();
    const err = await sendFails(smtp, {}, { greetingTimeout: 150 });
    expect(err.code).toBe("ETIMEDOUT");
    expect(err.message).toMatch(/Greeting never received/);
    await gone; // the next test waits for a close of its own
  });

  test("during DATA: reads afterBytes of the message, then holds until the client gives up", async () => {
    const hung = firing(hang.during("DATA", { afterBytes: 1024, once: true }));
    const { fault } = hung;
    smtp.use(fault);
    const c = await rawClient(smtp);
    c.write("MAIL FROM:<app@sender.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n");
    expect((await c.readMany(3)).map((r) => r.code)).toEqual([250, 250, 354]);
    c.write(`Subject: long\r\n\r\n${"y".repeat(10_000)}\r\n.\r\n`);
    await hung.fired;
    // The client gives up on the message the server stopped reading.
    c.close();
    await closesUntil(() => faultAttempts(smtp).some((a) => a.reason.endsWith("(client gave up)")));
    expect(smtp.inbox.messages).toHaveLength(0);
    const { connection, text } = lastTranscript(smtp);
    expect(text).toContain(`# fault fired: ${fault.name} at DATA_BODY`);
    const [attempt, ...others] = faultAttempts(smtp);
    expect(others).toEqual([]);
    expect([attempt?.connection, attempt?.stage, attempt?.outcome]).toEqual([
      connection,
      "DATA_END",
      "aborted",
    ]);
    expect(attempt?.reason).toBe(`fault: ${fault.name} (client gave up)`);
    await expectServesNext(smtp);
  });

  test("during DATA: a message shorter than afterBytes is delivered, the fault keeps its turn", async () => {
    smtp.use(hang.during("DATA", { afterBytes: 100_000, once: true }));
    await send(smtp);
    await smtp.inbox.waitFor("bob@example.com");
    expect(smtp.listFaults()).toEqual([expect.objectContaining({ remaining: 1 })]);
  });

  test("during another stage is refused with what to use instead", () => {
    expect(() => hang.during("MAIL" as "DATA", { afterBytes: 1 })).toThrow(
      /hang\.during\(\): only the message data .* use hang\("MAIL"\)/,
    );
    expect(() => hang.during("DATA", { afterBytes: -1 })).toThrow(
      /afterBytes must be a whole number/,
    );
  });

  test("DATA_END: the message is not stored and the attempt names the fault", async () => {
    const hung = firing(hang("DATA_END"));
    smtp.use(hung.fault);
    const c = await rawClient(smtp);
    c.write("MAIL FROM:<app@sender.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n");
    expect((await c.readMany(3)).map((r) => r.code)).toEqual([250, 250, 354]);
    c.write("Subject: hung\r\n\r\nbody\r\n.\r\n");
    await hung.fired;
    // The client gives up on the end of data the server holds.
    c.close();
    // The attempt is there from the moment the fault fired; how the hang ended is
    // added when the hung connection closes (before its onClose). The previous test's
    // nodemailer connection may close first, so wait for that ending.
    const gaveUp = () => faultAttempts(smtp).some((a) => a.reason.endsWith("(client gave up)"));
    await closesUntil(gaveUp);
    expect(smtp.inbox.messages).toHaveLength(0);
    expect(faultAttempts(smtp)).toEqual([
      expect.objectContaining({
        connection: lastTranscript(smtp).connection,
        stage: "DATA_END",
        outcome: "aborted",
        reason: "fault: hang(DATA_END) (client gave up)",
        reply: undefined,
      }),
    ]);
  });
});
