// dumpOnFailure: the second test fails on purpose; the parent test checks that only
// it left a dump, written before the afterEach that resets the server.
import nodemailer from "nodemailer";
import { startTestSmtp, testSmtp } from "smtp-fixture";
import { dumpOnFailure } from "smtp-fixture/vitest";
import { afterEach, beforeAll, expect, test } from "vitest";

beforeAll(startTestSmtp);
// Registered before dumpOnFailure, so it runs after it (afterEach hooks run in stack order).
afterEach(() => testSmtp().reset());
dumpOnFailure(undefined, process.env.SMTP_FIXTURE_DUMPS);

async function send(subject: string) {
  await nodemailer.createTransport(testSmtp().transport).sendMail({
    from: "app@example.com",
    to: "dana@example.com",
    subject,
    text: "hello",
  });
  return testSmtp().inbox.waitFor({ subject });
}

test("passes and leaves no dump", async () => {
  const mail = await send("Fine");
  expect(mail.subject).toBe("Fine");
});

test("fails on purpose", async () => {
  const mail = await send("Actual subject");
  expect(mail.subject).toBe("Expected subject");
});
