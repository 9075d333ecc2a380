/** The examples in examples/faults/, run against the faults they demonstrate. */
import nodemailer from "nodemailer";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { isTransient, sendWithRetry } from "../../examples/faults/retry.js";
import { dropAfterData, greylist, reject, startTestSmtp, type TestSmtp } from "../../src/index.js";

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startTestSmtp();
});
afterAll(() => smtp.close());
afterEach(() => smtp.reset());

const mail = { from: "app@sender.test", to: "alice@example.com", subject: "Welcome", text: "Hi" };
const transport = () => nodemailer.createTransport(smtp.transport);

describe("nodemailer against greylisting", () => {
  test("nodemailer alone rejects with the 451 and does not retry", async () => {
    smtp.use(greylist());
    await expect(transport().sendMail(mail)).rejects.toMatchObject({
      code: "EENVELOPE",
      responseCode: 451,
      response: "451 4.7.1 Greylisted, please try again later",
    });
    expect(smtp.inbox.messages).toHaveLength(0);
  });

  test("the app retries and the second try is accepted", async () => {
    smtp.use(greylist());
    const result = await sendWithRetry(transport(), mail);
    expect(result.tries).toBe(2);
    expect(result.errors.map((e) => (e as { responseCode?: number }).responseCode)).toEqual([451]);
    const received = await smtp.inbox.waitFor("alice@example.com");
    expect(received.subject).toBe("Welcome");
    expect(smtp.inbox.attempts.map((a) => [a.stage, a.outcome, a.reply?.code])).toEqual([
      // nodemailer pipelines DATA after the RCPT; its 503 is the refusal's consequence.
      ["RCPT", "rejected", 451],
      ["DATA_END", "accepted", 250],
    ]);
  });

  test("a permanent refusal is not retried", async () => {
    smtp.use(reject.rcpt("alice@example.com", 550, "5.1.1 No such user"));
    await expect(sendWithRetry(transport(), mail)).rejects.toMatchObject({ responseCode: 550 });
    expect(smtp.inbox.attempts.filter((a) => a.stage === "RCPT")).toHaveLength(1);
  });
});

describe("nodemailer against a lost acknowledgement", () => {
  test("nodemailer reports a dropped connection although the message arrived", async () => {
    smtp.use(dropAfterData({ once: true }));
    await expect(transport().sendMail(mail)).rejects.toMatchObject({ code: "ECONNECTION" });
    const stored = await smtp.inbox.waitFor("alice@example.com");
    expect(stored.acknowledged).toBe(false);
  });

  test("the app retries and the test sees the duplicate", async () => {
    smtp.use(dropAfterData({ once: true }));
    const result = await sendWithRetry(transport(), mail);
    expect(result.tries).toBe(2);
    const copies = await smtp.inbox.waitFor("alice@example.com", { count: 2 });
    expect(copies.map((m) => m.acknowledged)).toEqual([false, true]);
    expect(copies[0]?.messageId).toBe(copies[1]?.messageId);
    expect(copies[0]?.messageId).toBe(result.info.messageId);
  });
});

test("isTransient: 4xx and network failures are, 5xx are not", () => {
  expect(isTransient({ responseCode: 451 })).toBe(true);
  expect(isTransient({ responseCode: 550 })).toBe(false);
  expect(isTransient({ code: "ECONNECTION" })).toBe(true);
  expect(isTransient({ code: "EAUTH" })).toBe(false);
});
