/**
 * Faults with LMTP and AUTH: a refusal at the end of the data is one reply per
 * recipient (RFC 2033 4.2) and one attempt; a fault at AUTH never puts the
 * credentials into `attempts`.
 */
import nodemailer from "nodemailer";
import { describe, expect, test } from "vitest";
import { delay, disconnect, failTimes, reject, startTestSmtp } from "../../src/index.js";
import { RawClient } from "../helpers/raw-client.js";

/** LHLO, MAIL, two RCPTs, DATA, then the body pipelined with a NOOP. */
async function lmtpTwoRecipients(port: number, body = "hi"): Promise<RawClient> {
  const c = await RawClient.connect(port);
  await c.read();
  await c.command("LHLO x");
  await c.command("MAIL FROM:<s@x.test>");
  await c.command("RCPT TO:<a@x.test>");
  await c.command("RCPT TO:<b@x.test>");
  await c.command("DATA");
  c.write(`Subject: x\r\n\r\n${body}\r\n.\r\nNOOP\r\n`);
  return c;
}

test.each([
  ["reject.dataEnd(550)", () => reject.dataEnd(550), 550],
  ["failTimes(1) at DATA_END", () => failTimes(1, { stage: "DATA_END", code: 452 }), 452],
])(
  "LMTP, %s: one refusal per recipient, then the NOOP's reply; one attempt",
  async (_n, make, code) => {
    await using smtp = await startTestSmtp({ lmtp: true });
    smtp.use(make());
    const c = await lmtpTwoRecipients(smtp.port);
    expect((await c.readMany(3)).map((r) => r.code)).toEqual([code, code, 250]);
    c.close();
    expect(smtp.inbox.attempts.map((a) => [a.stage, a.reply?.code])).toEqual([["DATA_END", code]]);
  },
);

test("LMTP, a message over the size limit: one 552 per recipient, one attempt", async () => {
  await using smtp = await startTestSmtp({ lmtp: true, size: 100 });
  const c = await lmtpTwoRecipients(smtp.port, "x".repeat(300));
  expect((await c.readMany(3)).map((r) => r.code)).toEqual([552, 552, 250]);
  c.close();
  expect(smtp.inbox.attempts.filter((a) => a.stage === "DATA_END")).toHaveLength(1);
});

test("nodemailer's LMTP transport gets each recipient's refusal, not a timeout", async () => {
  await using smtp = await startTestSmtp({ lmtp: true });
  smtp.use(reject.dataEnd(550, "5.7.1 nope"));
  const info = await nodemailer
    .createTransport({ ...smtp.transport, socketTimeout: 2000 })
    .sendMail({ from: "s@x.test", to: ["a@x.test", "b@x.test"], text: "x" });
  // LMTP: the refusals are per recipient, reported in the result, not thrown.
  expect(info.rejected).toEqual(["a@x.test", "b@x.test"]);
  expect(info.accepted).toEqual([]);
});

const CREDENTIALS = Buffer.from("\0app\0s3cret").toString("base64");

test.each([
  ["reject.auth(454)", () => reject.auth(454)],
  ["delay.reply(AUTH)", () => delay.reply("AUTH", 1)],
  ["disconnect.before(AUTH)", () => disconnect.before("AUTH")],
])(
  "a fault at AUTH (%s): the attempt's command has the mechanism, not the credentials",
  async (_n, make) => {
    await using smtp = await startTestSmtp({ auth: { users: { app: "s3cret" } } });
    smtp.use(make());
    await nodemailer
      .createTransport(smtp.transport)
      .sendMail({ from: "s@x.test", to: "a@x.test", text: "x" })
      .catch(() => {});
    const attempt = await smtp.inbox.waitForAttempt({ stage: "AUTH" });
    expect(attempt.command).toBe("AUTH PLAIN");
    expect(JSON.stringify(smtp.inbox.attempts)).not.toContain(CREDENTIALS);
  },
);

describe("a refused login's attempt names its mechanism, and says it failed", () => {
  test.each([
    ["PLAIN", "auth failed"],
    ["LOGIN", "auth failed"],
    ["CRAM-MD5", "auth failed"],
    ["XOAUTH2", "auth failed"],
  ])("a wrong secret with %s: command AUTH <mechanism>, reason %s", async (method, reason) => {
    await using smtp = await startTestSmtp({ auth: { users: { app: "s3cret" } } });
    await nodemailer
      .createTransport({
        ...smtp.transport,
        authMethod: method,
        auth:
          method === "XOAUTH2"
            ? { type: "OAuth2", user: "app", accessToken: "wrong" }
            : { user: "app", pass: "wrong" },
      })
      .sendMail({ from: "s@x.test", to: "a@x.test", text: "x" })
      .catch(() => {});
    const attempt = await smtp.inbox.waitForAttempt({ stage: "AUTH" });
    expect(attempt).toMatchObject({ command: `AUTH ${method}`, reason });
  });

  test("an initial response where the mechanism goes is not recorded", async () => {
    await using smtp = await startTestSmtp({ auth: { users: { app: "s3cret" } } });
    const c = await RawClient.connect(smtp.port);
    await c.read();
    await c.command("EHLO x");
    expect((await c.command(`AUTH ${CREDENTIALS}`)).code).toBe(504);
    const attempt = await smtp.inbox.waitForAttempt({ stage: "AUTH" });
    expect(attempt.command).toBe("AUTH");
    c.close();
  });

  test("nor when a fault answers that AUTH line", async () => {
    await using smtp = await startTestSmtp({ auth: { users: { app: "s3cret" } } });
    smtp.use(reject.auth(454));
    const c = await RawClient.connect(smtp.port);
    await c.read();
    await c.command("EHLO x");
    expect((await c.command(`AUTH ${CREDENTIALS}`)).code).toBe(454);
    const attempt = await smtp.inbox.waitForAttempt({ stage: "AUTH" });
    expect(attempt.command).toBe("AUTH");
    c.close();
  });
});

/** LHLO, then MAIL, the same recipient twice (differing in case), DATA, the body and QUIT, pipelined. */
async function lmtpRepeatedRecipient(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  await c.read();
  await c.command("LHLO x");
  c.write(
    "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<A@X.test>\r\nDATA\r\n" +
      "Subject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n",
  );
  return c;
}

test("LMTP, the same recipient in two RCPTs: two replies after the data, one message", async () => {
  await using smtp = await startTestSmtp({ lmtp: true });
  const c = await lmtpRepeatedRecipient(smtp.port);
  expect((await c.readMany(7)).map((r) => r.code)).toEqual([250, 250, 250, 354, 250, 250, 221]);
  c.close();
  const received = await smtp.inbox.waitFor("a@x.test");
  expect(received.envelope.rcptTo.map((r) => r.address)).toEqual(["A@X.test"]);
  expect(smtp.inbox.messages).toHaveLength(1);
});

test("LMTP, reject.dataEnd with a repeated recipient: a refusal per RCPT, one attempt", async () => {
  await using smtp = await startTestSmtp({ lmtp: true });
  smtp.use(reject.dataEnd(550));
  const c = await lmtpRepeatedRecipient(smtp.port);
  expect((await c.readMany(7)).map((r) => r.code)).toEqual([250, 250, 250, 354, 550, 550, 221]);
  c.close();
  expect(smtp.inbox.attempts.map((a) => [a.stage, a.reply?.code])).toEqual([["DATA_END", 550]]);
});
