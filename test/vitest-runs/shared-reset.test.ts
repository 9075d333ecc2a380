// smtpTest's shared (file-scoped) server is reset after each test that used it, so a
// test starts with an empty inbox and without the previous test's faults; tests running
// at once share it until the last of them ends. Run by test/vitest/child-runs.test.ts.
import nodemailer from "nodemailer";
import { type InboxScope, reject, type TestSmtp } from "smtp-fixture";
import { smtpTest } from "smtp-fixture/vitest";
import { describe, expect } from "vitest";

function send(smtp: TestSmtp, to: string, subject: string) {
  return nodemailer
    .createTransport(smtp.transport)
    .sendMail({ from: "app@example.com", to, subject, text: "hi" });
}

describe("sequential smtpTest tests", () => {
  smtpTest("the first sends mail and leaves a fault and a capability", async ({ smtp }) => {
    await send(smtp, "alice@example.com", "first");
    await smtp.inbox.waitFor("alice@example.com");
    smtp.use(reject.mail({ code: 451, once: true }));
    smtp.capabilities.set({ PIPELINING: false });
  });

  smtpTest("the next starts with an empty inbox and none of it", async ({ smtp }) => {
    expect(smtp.inbox.messages).toEqual([]);
    expect(smtp.inbox.attempts).toEqual([]);
    expect(smtp.transcripts).toEqual([]);
    expect(smtp).not.toHaveReceived("alice@example.com");
    expect(smtp.listFaults()).toEqual([]);
    expect(smtp.capabilities.has("PIPELINING")).toBe(true);
    // The first test's reject.mail would refuse this.
    await send(smtp, "bob@example.com", "second");
    expect((await smtp.inbox.waitFor("bob@example.com")).subject).toBe("second");
  });
});

describe.concurrent("tests running at once", () => {
  let firstEnded!: () => void;
  const ended = new Promise<void>((resolve) => {
    firstEnded = resolve;
  });

  // The context's onTestFinished: the global one may name another test of those running.
  smtpTest("A ends while B still runs", async ({ smtp, scope, onTestFinished }) => {
    onTestFinished(() => firstEnded());
    await send(smtp, scope.address("a"), "from A");
    await scope.waitFor(scope.address("a"));
    await smtp.inbox.waitFor({ subject: "from B" });
  });

  smtpTest("B still has its mail and its fault after A ended", async ({ smtp, scope, expect }) => {
    smtp.use(reject.rcpt("refused@example.com", 550));
    await send(smtp, scope.address("b"), "from B");
    await ended;
    expect(scope).toHaveReceived({ subject: "from B" }, { count: 1 });
    expect(smtp.inbox.messages).toHaveLength(2);
    expect(smtp.listFaults()).toHaveLength(1);
  });
});

smtpTest("the test after them starts empty again", ({ smtp }) => {
  expect(smtp.inbox.messages).toEqual([]);
  expect(smtp.listFaults()).toEqual([]);
});

describe("the scope fixture", () => {
  let earlier: InboxScope | undefined;

  smtpTest("a test's scope sees its own mail", async ({ smtp, scope }) => {
    earlier = scope;
    await send(smtp, scope.address("carol"), "mine");
    expect((await scope.waitFor(scope.address("carol"))).subject).toBe("mine");
  });

  smtpTest(
    "is let go when its test ends: a file's server does not keep every test's scope",
    async ({ smtp, scope }) => {
      const old = earlier!;
      expect(old).not.toBe(scope);
      // Mail to the ended test's address reaches the inbox, not that scope.
      await send(smtp, old.address("carol"), "later");
      await smtp.inbox.waitFor({ subject: "later" });
      expect(old.messages).toEqual([]);
      expect(smtp.inbox.messages).toHaveLength(1);
    },
  );
});
