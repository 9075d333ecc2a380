/**
 * A fault that only paces a stage (a delay, a slow drip) does not hide the older
 * faults at that stage: they still decide it, after the delay. "The newest fault
 * wins" is about faults that answer.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import {
  closeAfterMessages,
  delay,
  greylist,
  rateLimit,
  reject,
  slowDrip,
  startTestSmtp,
  type TestSmtp,
  tlsFailure,
} from "../../src/index.js";
import { RawClient } from "../helpers/raw-client.js";
import { rawClient, send } from "./helpers.js";

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startTestSmtp();
});
afterEach(() => smtp.reset());
afterAll(() => smtp.close());

test("a newer delay at RCPT delays the greylisting, it does not switch it off", async () => {
  smtp.use(greylist());
  smtp.use(delay.reply("RCPT", 10));
  const first = await send(smtp, { to: "grey@example.com" });
  expect(first.ok).toBe(false);
  expect(!first.ok && first.error.responseCode).toBe(451);
  expect((await send(smtp, { to: "grey@example.com" })).ok).toBe(true);
  // Both fired each time: the delay (delayed), then greylisting's verdict.
  const reasons = smtp.inbox.attempts.map((a) => `${a.outcome} ${a.reason.split("(")[0]}`);
  expect(reasons).toEqual([
    "delayed fault: delay.reply",
    "rejected fault: greylist",
    "delayed fault: delay.reply",
    "accepted ok",
  ]);
});

test("rateLimit under a newer delay still counts every MAIL", async () => {
  smtp.use(rateLimit({ max: 1, perMs: 60_000 }));
  smtp.use(delay.reply("MAIL", 5));
  expect((await send(smtp, { to: "one@example.com" })).ok).toBe(true);
  const second = await send(smtp, { to: "two@example.com" });
  expect(!second.ok && second.error.responseCode).toBe(451);
});

test("closeAfterMessages under a newer delay at MAIL still closes", async () => {
  smtp.use(closeAfterMessages(1));
  smtp.use(delay.reply("MAIL", 5));
  const c = await rawClient(smtp);
  c.write("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
  expect((await c.readMany(3)).map((r) => r.code)).toEqual([250, 250, 354]);
  expect((await c.command("x\r\n.")).code).toBe(250);
  expect((await c.command("MAIL FROM:<a@x.test>")).code).toBe(421);
  await c.waitClose();
});

test("one scope's delay does not hide another scope's fault for a message to both", async () => {
  const a = smtp.inbox.scope("a");
  const b = smtp.inbox.scope("b");
  smtp.use(reject.dataEnd({ scope: b, code: 554 }));
  smtp.use(delay.reply("DATA_END", 5, { scope: a }));
  const out = await send(smtp, { to: [a.address("u"), b.address("u")] });
  expect(!out.ok && out.error.responseCode).toBe(554);
});

test("a newer slow drip paces the older fault's refusal", async () => {
  smtp.use(reject.mail({ code: 451 }));
  smtp.use(slowDrip("MAIL", { bytesPerChunk: 4, intervalMs: 1 }));
  const c = await rawClient(smtp);
  expect((await c.command("MAIL FROM:<a@x.test>")).code).toBe(451);
  const pieces = smtp.transcripts
    .at(-1)!
    .entries()
    .filter((e) => e.direction === "server")
    .map((e) => Buffer.from(e.data).toString());
  expect(pieces.filter((p) => p.length > 0 && p.length <= 4).join("")).toMatch(/^451 /);
  c.close();
});

test("a fault that answers still wins over older ones", async () => {
  smtp.use(reject.rcpt({ code: 550 }));
  smtp.use(reject.rcpt({ code: 452 }));
  const out = await send(smtp, { to: "x@example.com" });
  expect(!out.ok && out.error.responseCode).toBe(452);
});

/** A delay at RCPT whose match tells when it starts holding the command (an event, not a sleep). */
function heldDelay(ms: number) {
  let held!: () => void;
  const started = new Promise<void>((resolve) => {
    held = resolve;
  });
  const fault = delay.reply("RCPT", ms, {
    match: () => {
      held();
      return true;
    },
  });
  return { fault, started };
}

const delayedCount = () => smtp.inbox.attempts.filter((a) => a.outcome === "delayed").length;

test("a use() while a delay holds the command does not run the delay again", async () => {
  smtp.use(reject.rcpt({ code: 550 }));
  const held = heldDelay(50);
  smtp.use(held.fault);
  const c = await rawClient(smtp);
  await c.command("MAIL FROM:<a@x.test>");
  c.write("RCPT TO:<b@y.test>\r\n");
  await held.started;
  smtp.use(reject.mail({ code: 451, match: "nobody@elsewhere.test" })); // another test's
  expect((await c.read()).code).toBe(550);
  expect(delayedCount()).toBe(1);
  c.close();
});

test("another scope's resetFaults() while a delay holds the command: the older fault still decides", async () => {
  const other = smtp.inbox.scope("other");
  smtp.use(reject.rcpt({ code: 550 }));
  const held = heldDelay(50);
  smtp.use(held.fault);
  smtp.use(reject.rcpt({ scope: other, code: 452 }));
  const c = await rawClient(smtp);
  await c.command("MAIL FROM:<a@x.test>");
  c.write("RCPT TO:<b@y.test>\r\n");
  await held.started;
  other.resetFaults();
  expect((await c.read()).code).toBe(550);
  c.close();
});

test("of two slow drips, the newest pace is the one used", async () => {
  smtp.use(slowDrip("MAIL", { bytesPerChunk: 2, intervalMs: 1 }));
  smtp.use(slowDrip("MAIL", { bytesPerChunk: 10, intervalMs: 1 }));
  const c = await rawClient(smtp);
  await c.command("MAIL FROM:<a@x.test>");
  const writes = smtp.transcripts
    .at(-1)!
    .entries()
    .filter((e) => e.direction === "server" && e.data.length > 0);
  // "250 2.1.0 Accepted\r\n": 20 bytes in two writes of 10 (the older pace: ten of 2).
  expect(writes.slice(-2).map((e) => e.data.length)).toEqual([10, 10]);
  expect(Buffer.from(writes.at(-3)!.data).toString()).toMatch(/^250-/);
  c.close();
});

test.each([
  ["MAIL", "RSET", "client reset (RSET)"],
  ["MAIL", "QUIT", "client quit (QUIT)"],
  ["RCPT", "RSET", "client reset (RSET)"],
] as const)(
  "a delayed %s does not hide how the transaction ended (%s)",
  async (stage, end, reason) => {
    smtp.use(delay.reply(stage, 1));
    const c = await rawClient(smtp);
    await c.command("MAIL FROM:<a@x.test>");
    await c.command("RCPT TO:<b@y.test>");
    await c.command(end);
    const aborted = await smtp.inbox.waitForAttempt({ outcome: "aborted" });
    expect(aborted.reason).toBe(reason);
    c.close();
  },
);

test("a delay at MAIL, then the client gives up during a delay at RCPT: that is the attempt", async () => {
  const held = heldDelay(2000);
  smtp.use(held.fault, delay.reply("MAIL", 1));
  const c = await rawClient(smtp);
  await c.command("MAIL FROM:<a@x.test>");
  c.write("RCPT TO:<b@y.test>\r\n");
  await held.started;
  c.close();
  const aborted = await smtp.inbox.waitForAttempt({ outcome: "aborted" });
  expect(aborted.reason).toMatch(/^fault: delay\.reply\(RCPT, 2000\).* \(client gave up\)$/);
});

test("a slow drip over tlsFailure drips the 220", async () => {
  await using tls = await startTestSmtp({ tls: true });
  tls.use(tlsFailure({ mode: "close" }));
  tls.use(slowDrip("STARTTLS", { bytesPerChunk: 2, intervalMs: 1 }));
  const c = await RawClient.connect(tls.port);
  await c.read();
  await c.command("EHLO x");
  expect((await c.command("STARTTLS")).code).toBe(220);
  const writes = tls.transcripts
    .at(-1)!
    .entries()
    .filter((e) => e.direction === "server" && e.data.length > 0);
  expect(writes.at(-1)!.data.length).toBe(2);
  c.close();
});
