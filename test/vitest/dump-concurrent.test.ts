/**
 * dumpOnFailure with a fresh server per test (`createSmtpTest(..., { scope: "test" })`)
 * and tests running at once: a failed test's dump is its own server's mail, never
 * another test's. The failing tests are `.fails` tests: in `afterEach`, where the dump
 * is written, vitest sees them as failed; it flips them to passed only afterwards.
 * Tests wait for each other with promises, never with timers.
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { afterAll, afterEach, describe, expect, test, vi } from "vitest";
import { startTestSmtp, type TestSmtp } from "../../src/index.js";
import { createSmtpTest, dumpOnFailure } from "../../src/vitest/index.js";

const DIR = await mkdtemp(join(tmpdir(), "smtp-fixture-dumps-"));
const perTest = createSmtpTest({}, { scope: "test" });
const printed = vi.spyOn(console, "error").mockImplementation(() => {});

afterAll(async () => {
  printed.mockRestore();
  await rm(DIR, { recursive: true, force: true });
});

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

/** The one dump folder under `dir` for a test named `name`, and the recipients in it. */
async function dumpOf(dir: string, name: string): Promise<{ folder: string; to: string[] }> {
  const folders = (await readdir(dir)).filter((f) => f.includes(name));
  expect(folders, `dump folders for "${name}"`).toHaveLength(1);
  const folder = join(dir, folders[0]!);
  const emls = (await readdir(folder)).filter((f) => f.endsWith(".eml")).sort();
  const to = await Promise.all(
    emls.map(async (f) => /^To: (.*)\r$/m.exec(await readFile(join(folder, f), "utf8"))?.[1]),
  );
  return { folder, to: to.map(String) };
}

const ownDir = join(DIR, "own");
const aSent = deferred();
const othersReady = deferred();

describe("each test on its own server", () => {
  dumpOnFailure(undefined, ownDir);

  // The groups run one after another; the tests of each at once.
  describe.concurrent("at once", () => {
    perTest.fails("A fails", async ({ smtp }) => {
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

const noneDir = join(DIR, "none");
const dReady = deferred();

describe("a failed test without a server of its own", () => {
  dumpOnFailure(undefined, noneDir);

  // The groups run one after another; the tests of each at once.
  describe.concurrent("at once", () => {
    perTest("D holds its own server", async ({ smtp }) => {
      await send(smtp, "d@example.com");
      dReady.resolve();
      await dumpWritten("C fails without a server").promise;
    });

    test.fails("C fails without a server", async () => {
      await dReady.promise;
      throw new Error("C fails on purpose");
    });
  });
});

const fnDir = join(DIR, "fn");
const seen: { name: string; hasTask: boolean }[] = [];
const servers = new Map<string, TestSmtp>();
const eSent = deferred();
const fSent = deferred();

describe("a function chooses the server from the test's context", () => {
  dumpOnFailure((context) => {
    seen.push({ name: context.task.name, hasTask: context.task.type === "test" });
    return servers.get(context.task.name);
  }, fnDir);

  // The groups run one after another; the tests of each at once.
  describe.concurrent("at once", () => {
    perTest.fails("E fails", async ({ smtp, task }) => {
      servers.set(task.name, smtp);
      await send(smtp, "e@example.com");
      eSent.resolve();
      await fSent.promise;
      throw new Error("E fails on purpose");
    });

    perTest.fails("F fails", async ({ smtp, task }) => {
      servers.set(task.name, smtp);
      await eSent.promise;
      await send(smtp, "f@example.com");
      fSent.resolve();
      throw new Error("F fails on purpose");
    });
  });
});

describe("the dumps", () => {
  const messages = () => printed.mock.calls.map((call) => String(call[0]));

  test("a failed test's dump is its own server's mail, not the newest server's", async () => {
    const a = await dumpOf(ownDir, "A fails");
    expect(a.to).toEqual(["a@example.com"]);
    expect(await readdir(ownDir)).toHaveLength(1);
    expect(messages()).toContain(
      `smtp-fixture: "A fails" failed; 1 message(s) and 1 transcript(s) written to ${a.folder}`,
    );
  });

  test("with no server of its own, and another test's server the newest, nothing is written and the output says why", async () => {
    await expect(readdir(noneDir)).rejects.toMatchObject({ code: "ENOENT" });
    const said = messages().find((m) => m.includes('"C fails without a server"'));
    expect(said).toBe(
      'smtp-fixture: "C fails without a server" failed; no dump written: it has no per-test smtp fixture of its own, ' +
        'and the most recently started server belongs to the test "D holds its own server" ' +
        '(createSmtpTest(..., { scope: "test" })), so its mail is not this test\'s. Use the smtp fixture in this ' +
        "test, or tell dumpOnFailure which server to write: dumpOnFailure(server) or " +
        "dumpOnFailure((context) => server).",
    );
  });

  test("a function passed to dumpOnFailure gets the failed test's context", async () => {
    expect(seen.sort((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: "E fails", hasTask: true },
      { name: "F fails", hasTask: true },
    ]);
    expect((await dumpOf(fnDir, "E fails")).to).toEqual(["e@example.com"]);
    expect((await dumpOf(fnDir, "F fails")).to).toEqual(["f@example.com"]);
  });
});
