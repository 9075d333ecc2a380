/**
 * Scoped message counters: closeAfterMessages and rateLimit act at MAIL, where only
 * the sender is known, and an application's sender is not a scope address. Scoped,
 * they count the messages to the scope's addresses and refuse the next one at its
 * first RCPT to one of them, so they fire in an ordinary test.
 */
import nodemailer from "nodemailer";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import {
  closeAfterMessages,
  type InboxScope,
  rateLimit,
  startTestSmtp,
  type TestSmtp,
  withScope,
} from "../../src/index.js";
import { faultAttempts, rawClient, send } from "./helpers.js";

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startTestSmtp();
});
afterAll(() => smtp.close());
afterEach(() => smtp.reset());

/** One message on a raw connection; returns the RCPT replies' codes and the final one. */
async function message(
  c: Awaited<ReturnType<typeof rawClient>>,
  to: string[],
): Promise<{ rcpt: number[]; end?: number }> {
  expect((await c.command("MAIL FROM:<noreply@app.test>")).code).toBe(250);
  const rcpt: number[] = [];
  for (const address of to) {
    const r = await c.command(`RCPT TO:<${address}>`);
    rcpt.push(r.code);
    if (r.code === 421) return { rcpt };
  }
  if (!rcpt.includes(250)) {
    expect((await c.command("RSET")).code).toBe(250);
    return { rcpt };
  }
  expect((await c.command("DATA")).code).toBe(354);
  return { rcpt, end: (await c.command("Subject: s\r\n\r\nbody\r\n.")).code };
}

describe.each([
  ["closeAfterMessages(1, { scope })", (s: InboxScope) => closeAfterMessages(1, { scope: s })],
  [
    "withScope(scope, closeAfterMessages(1))",
    (s: InboxScope) => withScope(s, closeAfterMessages(1)),
  ],
])("%s", (_name, make) => {
  test("counts the scope's messages and refuses the next one at its RCPT, with 421", async () => {
    const mine = smtp.inbox.scope("mine");
    const fault = make(mine);
    expect(fault.stages).toEqual(["RCPT", "DATA_END"]);
    smtp.use(fault);
    const c = await rawClient(smtp);
    expect(await message(c, [mine.address("a")])).toEqual({ rcpt: [250], end: 250 });
    // Not the scope's: neither counted nor refused.
    expect(await message(c, ["other@example.com"])).toEqual({ rcpt: [250], end: 250 });
    expect(await message(c, ["other@example.com", mine.address("b")])).toEqual({
      rcpt: [250, 421],
    });
    await c.waitClose();
    expect(faultAttempts(smtp)).toMatchObject([
      {
        stage: "RCPT",
        reply: { code: 421, enhanced: "4.7.0" },
        reason: "fault: closeAfterMessages(1) [scope mine]",
      },
    ]);
    // A new connection counts from zero.
    const next = await rawClient(smtp);
    expect(await message(next, [mine.address("c")])).toEqual({ rcpt: [250], end: 250 });
    next.close();
  });
});

test("unscoped, closeAfterMessages still refuses at MAIL", () => {
  expect(closeAfterMessages(1).stages).toEqual(["MAIL", "DATA_END"]);
});

describe("rateLimit({ scope })", () => {
  test("limits the scope's messages, sent from an ordinary sender", async () => {
    const mine = smtp.inbox.scope("rl");
    const theirs = smtp.inbox.scope("other");
    smtp.use(rateLimit({ max: 1, perMs: 60_000, scope: mine }));
    expect((await send(smtp, { from: "noreply@app.test", to: mine.address("a") })).ok).toBe(true);
    // Another scope's mail is neither counted nor limited.
    expect((await send(smtp, { from: "noreply@app.test", to: theirs.address("a") })).ok).toBe(true);
    const out = await send(smtp, { from: "noreply@app.test", to: mine.address("b") });
    expect(out.ok).toBe(false);
    if (!out.ok) expect(out.error.response).toBe("451 4.7.1 Rate limit exceeded, try again later");
    expect(faultAttempts(smtp)).toMatchObject([
      { stage: "RCPT", reason: "fault: rateLimit({ max: 1, perMs: 60000 }) [scope rl]" },
    ]);
  });

  test("counts a message once, whatever its number of scope recipients", async () => {
    const mine = smtp.inbox.scope("many");
    smtp.use(withScope(mine, rateLimit({ max: 1, perMs: 60_000 })));
    const c = await rawClient(smtp);
    expect(await message(c, [mine.address("a"), mine.address("b")])).toEqual({
      rcpt: [250, 250],
      end: 250,
    });
    // Over the limit: every scope recipient of the message gets the same answer.
    expect(await message(c, [mine.address("a"), "x@example.com", mine.address("b")])).toEqual({
      rcpt: [451, 250, 451],
      end: 250,
    });
    c.close();
    const pool = nodemailer.createTransport({ ...smtp.transport, pool: true, maxConnections: 1 });
    try {
      await expect(
        pool.sendMail({ from: "noreply@app.test", to: mine.address("c"), text: "x" }),
      ).rejects.toMatchObject({ responseCode: 451 });
    } finally {
      pool.close();
    }
  });

  test("scoped at another stage, it counts there as before", () => {
    const mine = smtp.inbox.scope("st");
    expect(rateLimit({ max: 1, perMs: 10, scope: mine, stage: "DATA_END" }).stages).toEqual([
      "DATA_END",
    ]);
    expect(rateLimit({ max: 1, perMs: 10 }).stages).toEqual(["MAIL"]);
  });
});
