// dumpOnFailure's error.txt under a coloured terminal, run by
// test/vitest/dump-runs.test.ts with FORCE_COLOR=1: the matcher's message is coloured
// on the terminal, the file is plain text; an assertion's diff is in it; a test named
// in other scripts keeps its letters in the folder name.
import { createSmtpTest, dumpOnFailure } from "smtp-fixture/vitest";
import { expect } from "vitest";

const DUMPS = process.env.SMTP_FIXTURE_DUMPS;
if (!DUMPS) throw new Error("SMTP_FIXTURE_DUMPS is not set: run this file from dump-runs.test.ts");
const perTest = createSmtpTest({}, { scope: "test" });
dumpOnFailure({ dir: DUMPS });

perTest("fails with a coloured matcher message", ({ smtp }) => {
  expect(smtp).toHaveReceived("nobody@example.com");
});

perTest("dïffs the ünïcödé 日本語 objects.", ({ smtp }) => {
  expect(smtp.inbox.messages).toEqual([]);
  expect({ subject: "Welcome", to: "alice@example.com" }).toEqual({
    subject: "Welcome!",
    to: "alice@example.com",
  });
});
