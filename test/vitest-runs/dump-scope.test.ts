// dumpOnFailure with the `scope` fixture, run by test/vitest/dump-runs.test.ts: two
// concurrent tests share the file's server, each through its own scope; the one that
// fails leaves its scope's mail only, not the other test's.
import nodemailer from "nodemailer";
import type { InboxScope, TestSmtp } from "smtp-fixture";
import { dumpOnFailure, smtpTest } from "smtp-fixture/vitest";

const DUMPS = process.env.SMTP_FIXTURE_DUMPS;
if (!DUMPS) throw new Error("SMTP_FIXTURE_DUMPS is not set: run this file from dump-runs.test.ts");
dumpOnFailure({ dir: DUMPS });

/** Sends "for <mine>" to the test's scope, then waits for the other test's mail. */
async function exchange(smtp: TestSmtp, scope: InboxScope, mine: string, theirs: string) {
  await nodemailer.createTransport(smtp.transport).sendMail({
    from: "app@example.com",
    to: scope.address(mine.toLowerCase()),
    subject: `for ${mine}`,
    text: mine,
  });
  await smtp.inbox.waitFor({ subject: `for ${theirs}` });
}

smtpTest.concurrent("A fails after both tests' mail is in", async ({ smtp, scope, expect }) => {
  await exchange(smtp, scope, "A", "B");
  expect(scope.messages).toHaveLength(2);
});

smtpTest.concurrent("B passes", async ({ smtp, scope, expect }) => {
  await exchange(smtp, scope, "B", "A");
  expect(scope.messages).toHaveLength(1);
});
