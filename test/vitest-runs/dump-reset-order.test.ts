// dumpOnFailure declared before the afterEach that resets the server: vitest runs
// afterEach hooks last-registered first, so the reset runs before the dump. Run by
// test/vitest/dump-runs.test.ts, which checks that each failed test's dump still holds
// its own mail (and not the previous test's).
import nodemailer from "nodemailer";
import { startTestSmtp, testSmtp } from "smtp-fixture";
import { dumpOnFailure } from "smtp-fixture/vitest";
import { afterEach, beforeAll, expect, test } from "vitest";

beforeAll(startTestSmtp);
dumpOnFailure({ dir: process.env.SMTP_FIXTURE_DUMPS });
afterEach(() => testSmtp().reset());

async function send(subject: string) {
  const mailer = nodemailer.createTransport(testSmtp().transport);
  await mailer.sendMail({ from: "app@example.com", to: "erin@example.com", subject, text: "hi" });
  mailer.close();
  return testSmtp().inbox.waitFor({ subject });
}

test("first fails after sending", async () => {
  expect((await send("First")).subject).toBe("Expected first");
});

test("second fails after sending", async () => {
  expect((await send("Second")).subject).toBe("Expected second");
});
