// dumpOnFailure with smtpTest's shared server, which is reset after each test: run by
// test/vitest/dump-runs.test.ts, which checks that each failed test's dump holds its
// own mail (the reset comes after the dump, and before the next test).
import nodemailer from "nodemailer";
import type { TestSmtp } from "smtp-fixture";
import { dumpOnFailure, smtpTest } from "smtp-fixture/vitest";
import { expect } from "vitest";

dumpOnFailure({ dir: process.env.SMTP_FIXTURE_DUMPS });

async function send(smtp: TestSmtp, subject: string) {
  const mailer = nodemailer.createTransport(smtp.transport);
  await mailer.sendMail({ from: "app@example.com", to: "fay@example.com", subject, text: "hi" });
  mailer.close();
  return smtp.inbox.waitFor({ subject });
}

smtpTest("fixture first fails after sending", async ({ smtp }) => {
  expect((await send(smtp, "First")).subject).toBe("Expected first");
});

smtpTest("fixture second fails after sending", async ({ smtp }) => {
  expect((await send(smtp, "Second")).subject).toBe("Expected second");
});
