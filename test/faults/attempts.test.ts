import nodemailer from "nodemailer";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import {
  delay,
  disconnect,
  dropAfterData,
  type Fault,
  startTestSmtp,
  type TestSmtp,
} from "../../src/index.js";
import { RawClient } from "../helpers/raw-client.js";

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startTestSmtp();
});
afterEach(() => smtp.reset());
afterAll(() => smtp.close());

/** EHLO, MAIL and RCPT, the last answered or not. */
async function upToRcpt(fault: Fault): Promise<RawClient> {
  smtp.use(fault);
  const c = await RawClient.connect(smtp.port);
  await c.read();
  await c.command("EHLO x");
  await c.command("MAIL FROM:<a@x.test>");
  c.write("RCPT TO:<b@example.com>\r\n");
  return c;
}

test.each([
  ["a disconnect before the reply", disconnect.before("RCPT"), "aborted", undefined],
  // The client got the RCPT's 250, then the connection closed.
  ["a disconnect right after the reply", disconnect.after("RCPT"), "aborted", 250],
  ["a delayed reply", delay.reply("RCPT", 1), "delayed", undefined],
])("%s is recorded in attempts with the fault's name", async (_name, fault, outcome, code) => {
  const c = await upToRcpt(fault);
  if (outcome === "aborted") await c.waitClose();
  else expect((await c.read()).code).toBe(250);
  const attempt = smtp.inbox.attempts.find((a) => a.reason.startsWith("fault:"));
  expect(attempt).toMatchObject({ stage: "RCPT", outcome });
  expect(attempt?.reply?.code).toBe(code);
  expect(attempt?.reason).toContain(fault.name);
  c.close();
});

test("a dropped 250 is recorded as accepted, naming the fault", async () => {
  smtp.use(dropAfterData());
  const c = await RawClient.connect(smtp.port);
  await c.read();
  c.write("EHLO x\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<lost@example.com>\r\nDATA\r\n");
  await c.readMany(4);
  c.write("Subject: lost\r\n\r\nx\r\n.\r\n");
  await c.waitClose();
  const mail = await smtp.inbox.waitFor("lost@example.com");
  expect(mail.acknowledged).toBe(false);
  const attempt = smtp.inbox.attempts.find((a) => a.messageId === mail.id);
  expect(attempt?.reason).toMatch(/^fault: dropAfterData\(\): 250 not sent$/);
});

test("a message over the size limit is recorded as refused for its size, not by a hook", async () => {
  await using small = await startTestSmtp({ size: 1000 });
  const sent = nodemailer
    .createTransport(small.transport)
    .sendMail({ from: "a@x.test", to: "big@example.com", text: "x".repeat(5000) });
  await expect(sent).rejects.toMatchObject({ responseCode: 552 });
  expect(small.inbox.attempts).toEqual([
    expect.objectContaining({
      stage: "DATA_END",
      outcome: "rejected",
      reply: expect.objectContaining({ code: 552 }),
      reason: "size",
    }),
  ]);
  expect(small.inbox.messages).toEqual([]);
});
