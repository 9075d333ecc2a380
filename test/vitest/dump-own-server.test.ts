/**
 * dumpOnFailure for a test that started (and, with `await using`, closed) a server of
 * its own: the dump is that server's mail, not the file server's. The failing test
 * is a `.fails` test: in `afterEach`, where the dump is written, it has failed.
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { startTestSmtp, type TestSmtp } from "../../src/index.js";
import { dumpOnFailure } from "../../src/vitest/index.js";

const DIR = await mkdtemp(join(tmpdir(), "smtp-fixture-dump-own-"));
const printed = vi.spyOn(console, "error").mockImplementation(() => {});
let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startTestSmtp();
});
afterAll(async () => {
  printed.mockRestore();
  await smtp.close();
  await rm(DIR, { recursive: true, force: true });
});

async function send(server: TestSmtp, to: string): Promise<void> {
  const mailer = nodemailer.createTransport(server.transport);
  await mailer.sendMail({ from: "app@example.com", to, subject: "hi", text: "hi" });
  mailer.close();
  await server.inbox.waitFor(to);
}

describe("a test with a server of its own", () => {
  dumpOnFailure({ dir: DIR });

  test("the file server has mail of its own", async () => {
    await send(smtp, "file@example.com");
  });

  test.fails("fails after sending to its own server, closed by then", async () => {
    await using inner = await startTestSmtp();
    await send(inner, "inner@example.com");
    throw new Error("fails on purpose");
  });
});

test("the dump holds the test's own server's mail, and says its transcripts went with it", async () => {
  const [folder, ...others] = await readdir(DIR);
  expect(others).toEqual([]);
  const files = await readdir(join(DIR, folder!));
  const emls = files.filter((f) => f.endsWith(".eml"));
  expect(emls).toHaveLength(1);
  expect(await readFile(join(DIR, folder!, emls[0]!), "utf8")).toContain("To: inner@example.com");
  const line = printed.mock.calls.map((c) => String(c[0])).find((m) => m.includes("written to"));
  expect(line).toContain("(it was closed: its transcripts were released)");
});
