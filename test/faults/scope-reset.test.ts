/**
 * `scope.resetFaults()`: takes away only the faults installed for that scope, so
 * concurrent tests sharing a server do not remove each other's faults the way
 * `smtp.resetFaults()` in `afterEach` does.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  greylist,
  type InboxScope,
  reject,
  startTestSmtp,
  type TestSmtp,
  withScope,
} from "../../src/index.js";
import { send, sendFails } from "./helpers.js";

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startTestSmtp();
});
afterAll(() => smtp.close());

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe.concurrent("concurrent tests, each resetting its own scope's faults", () => {
  const aInstalled = deferred();
  const bReset = deferred();
  let a: InboxScope | undefined;

  test("A: its scoped fault survives B's reset", async ({ onTestFinished }) => {
    const mine = smtp.inbox.scope("A");
    a = mine;
    onTestFinished(() => {
      mine.resetFaults();
    });
    smtp.use(reject.rcpt({ scope: mine, code: 550, message: "5.1.1 A says no" }));
    aInstalled.resolve();
    // B finishes (and resets its faults) while A is still under way.
    await bReset.promise;
    const err = await sendFails(smtp, { to: mine.address("x") });
    expect(err.response).toBe("550 5.1.1 A says no");
  });

  test("B: a quick test that resets its scope when it ends", async ({ onTestFinished }) => {
    const mine = smtp.inbox.scope("B");
    onTestFinished(() => {
      try {
        mine.resetFaults();
        expect(smtp.listFaults().map((f) => f.name)).toEqual(["reject.rcpt(550 5.1.1) [scope A]"]);
      } finally {
        bReset.resolve();
      }
    });
    await aInstalled.promise;
    smtp.use(withScope(mine, greylist()));
    expect((await send(smtp, { to: mine.address("y") })).ok).toBe(false); // greylisted
    expect((await send(smtp, { to: mine.address("y") })).ok).toBe(true); // the retry
  });

  test("C: an unscoped test on the same server is not touched by either", async () => {
    await bReset.promise;
    expect((await send(smtp, { to: "c@example.com" })).ok).toBe(true);
    expect(a?.owns("c@example.com")).toBe(false);
  });
});

describe("scope.resetFaults()", () => {
  test("removes that scope's faults only, spent or not; others, unscoped and the baseline stay", async () => {
    const base = await startTestSmtp({ faults: [reject.rcpt("base@example.com", 550)] });
    try {
      const one = base.inbox.scope("one");
      const two = base.inbox.scope("two");
      base.use(
        reject.rcpt({ scope: one, code: 450 }),
        withScope(one, reject.dataEnd({ once: true })),
        reject.rcpt({ scope: two, code: 550 }),
        reject.rcpt("unscoped@example.com", 551),
      );
      expect((await sendFails(base, { to: one.address("u") })).responseCode).toBe(450);
      one.resetFaults();
      one.resetFaults(); // again: nothing left to remove
      expect(base.listFaults().map((f) => f.name)).toEqual([
        "reject.rcpt(550 5.1.1) [scope two]",
        'reject.rcpt("unscoped@example.com", 551 5.1.6)',
        'reject.rcpt("base@example.com", 550 5.1.1)',
      ]);
      expect((await send(base, { to: one.address("u") })).ok).toBe(true);
      expect((await sendFails(base, { to: two.address("u") })).responseCode).toBe(550);
      expect((await sendFails(base, { to: "unscoped@example.com" })).responseCode).toBe(551);
      expect((await sendFails(base, { to: "base@example.com" })).responseCode).toBe(550);
      // smtp.resetFaults() still takes everything back to the baseline.
      base.resetFaults();
      expect(base.listFaults().map((f) => f.name)).toEqual([
        'reject.rcpt("base@example.com", 550 5.1.1)',
      ]);
    } finally {
      await base.close();
    }
  });

  test("a scope that installed nothing removes nothing", () => {
    smtp.use(reject.rcpt("idle@example.com"));
    smtp.inbox.scope("idle").resetFaults();
    expect(smtp.listFaults()).toHaveLength(1);
    smtp.resetFaults();
  });
});
