// dumpOnFailure with tests that really fail, run by test/vitest/dump-runs.test.ts,
// which checks each dump folder and what was printed (a failing test cannot pass in
// the suite itself). Each group dumps into a folder of its own under
// SMTP_FIXTURE_DUMPS. Tests wait for each other with promises, never with timers.
import { join } from "node:path";
import nodemailer from "nodemailer";
import { startTestSmtp, type TestSmtp } from "smtp-fixture";
import { createSmtpTest, dumpOnFailure } from "smtp-fixture/vitest";
import { afterAll, afterEach, beforeAll, describe, test } from "vitest";
import { COLLIDING } from "./dump-names.js";

const DUMPS = process.env.SMTP_FIXTURE_DUMPS;
if (!DUMPS) throw new Error("SMTP_FIXTURE_DUMPS is not set: run this file from dump-runs.test.ts");
const perTest = createSmtpTest({}, { scope: "test" });

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function send(smtp: TestSmtp, to: string): Promise<void> {
  const mailer = nodemailer.createTransport(smtp.transport);
  await mailer.sendMail({ from: "app@example.com", to, subject: `for ${to}`, text: "hi" });
  mailer.close();
  await smtp.inbox.waitFor(to);
}

/** Released by an afterEach that runs after dumpOnFailure's: the test's dump is written. */
const dumped = new Map<string, ReturnType<typeof deferred>>();
const dumpWritten = (name: string) => {
  const d = dumped.get(name) ?? deferred();
  dumped.set(name, d);
  return d;
};
// Registered before dumpOnFailure, so it runs after it (afterEach hooks run in stack order).
afterEach(({ task }) => dumpWritten(task.name).resolve());

describe("a test with a server of its own", () => {
  let fileServer: TestSmtp;
  beforeAll(async () => {
    fileServer = await startTestSmtp();
  });
  afterAll(() => fileServer.close());
  dumpOnFailure({ dir: join(DUMPS, "own-server") });

  test("the file server has mail of its own", async () => {
    await send(fileServer, "file@example.com");
  });

  test("fails after sending to its own server, closed by then", async () => {
    const inner = await startTestSmtp();
    try {
      await send(inner, "inner@example.com");
    } finally {
      await inner.close();
    }
    throw new Error("fails on purpose");
  });
});

const aSent = deferred();
const othersReady = deferred();

describe("each test on its own server", () => {
  dumpOnFailure(undefined, join(DUMPS, "own"));

  describe.concurrent("at once", () => {
    perTest("A fails", async ({ smtp }) => {
      await send(smtp, "a@example.com");
      aSent.resolve();
      await othersReady.promise;
      throw new Error("A fails on purpose");
    });

    perTest("B passes while A fails, with a newer server open", async ({ smtp }) => {
      await aSent.promise;
      await send(smtp, "b@example.com");
      // Started after A's: the most recently started server while A's dump is written.
      const extra = await startTestSmtp();
      try {
        await send(extra, "extra@example.com");
        othersReady.resolve();
        await dumpWritten("A fails").promise;
      } finally {
        await extra.close();
      }
    });
  });
});

const dReady = deferred();

describe("a failed test without a server of its own", () => {
  dumpOnFailure(undefined, join(DUMPS, "none"));

  describe.concurrent("at once", () => {
    perTest("D holds its own server", async ({ smtp }) => {
      await send(smtp, "d@example.com");
      dReady.resolve();
      await dumpWritten("C fails without a server").promise;
    });

    test("C fails without a server", async () => {
      await dReady.promise;
      throw new Error("C fails on purpose");
    });
  });
});

const servers = new Map<string, TestSmtp>();
const eSent = deferred();
const fSent = deferred();

describe("a function chooses the server from the test's context", () => {
  dumpOnFailure(
    (context) => {
      // Only a test's own context names its server (a suite's would find none).
      return context.task.type === "test" ? servers.get(context.task.name) : undefined;
    },
    join(DUMPS, "fn"),
  );

  describe.concurrent("at once", () => {
    perTest("E fails", async ({ smtp, task }) => {
      servers.set(task.name, smtp);
      await send(smtp, "e@example.com");
      eSent.resolve();
      await fSent.promise;
      throw new Error("E fails on purpose");
    });

    perTest("F fails", async ({ smtp, task }) => {
      servers.set(task.name, smtp);
      await eSent.promise;
      await send(smtp, "f@example.com");
      fSent.resolve();
      throw new Error("F fails on purpose");
    });
  });
});

describe("names that would share a folder", () => {
  dumpOnFailure({ dir: join(DUMPS, "names") });
  for (const [name, to] of COLLIDING) {
    perTest(name, async ({ smtp }) => {
      await send(smtp, to);
      throw new Error(`${name} fails on purpose`);
    });
  }
});

describe("test.fails", () => {
  dumpOnFailure({ dir: join(DUMPS, "fails") });

  perTest.fails("throws as it should", async ({ smtp }) => {
    await send(smtp, "expected@example.com");
    throw new Error("fails, as this test expects");
  });

  perTest.fails("does not throw", async ({ smtp }) => {
    await send(smtp, "unexpected@example.com");
  });
});
