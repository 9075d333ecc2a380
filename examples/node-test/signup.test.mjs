// The same kind of integration test with node:test and node:assert: smtp-fixture is
// not tied to vitest. Run with `node --test examples/node-test/signup.test.mjs` after `npm run build`.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import nodemailer from "nodemailer";
import { startTestSmtp } from "smtp-fixture";

/** The code under test: sends a welcome mail through the given SMTP settings. */
async function signup(email, smtpOptions) {
  const mailer = nodemailer.createTransport(smtpOptions);
  try {
    await mailer.sendMail({
      from: "noreply@app.test",
      to: email,
      subject: "Welcome",
      text: `Hello ${email}, confirm at https://app.test/confirm?email=${encodeURIComponent(email)}`,
    });
  } finally {
    mailer.close();
  }
}

describe("signup", () => {
  /** @type {import("smtp-fixture").TestSmtp} */
  let smtp;
  before(async () => {
    smtp = await startTestSmtp();
  });
  after(() => smtp.close());
  beforeEach(() => smtp.reset());

  test("sends the welcome mail", async () => {
    await signup("alice@example.com", smtp.transport);
    const mail = await smtp.inbox.waitFor("alice@example.com");
    assert.equal(mail.subject, "Welcome");
    assert.equal(mail.envelope.mailFrom?.address, "noreply@app.test");
    assert.deepEqual(mail.links, ["https://app.test/confirm?email=alice%40example.com"]);
  });

  test("each test starts with an empty inbox", async () => {
    assert.equal(smtp.inbox.messages.length, 0);
    await signup("bob@example.com", smtp.transport);
    await smtp.inbox.waitFor({ to: "bob@example.com", subject: "Welcome" });
    assert.equal(smtp.inbox.messages.length, 1);
  });

  test("waitFor rejects with what did arrive", async () => {
    await signup("carol@example.com", smtp.transport);
    await assert.rejects(smtp.inbox.waitFor("dave@example.com", { timeout: 200 }), {
      name: "WaitForTimeoutError",
      message: /carol@example\.com/,
    });
  });
});
