/**
 * Mail from real clients is recorded byte-exact: the sha256 of what each client
 * was given equals the sha256 of `raw`. A missing client skips with its reason;
 * under REQUIRE_REAL_CLIENTS=1 (CI) it fails instead.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestSmtp, type TestSmtp } from "../../src/index.js";
import { requireClient, run } from "../helpers/clients.js";

const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

/** A message with the shapes that break naive servers: dot lines, UTF-8, long-ish lines. */
function message(client: string): string {
  return [
    "From: Sender <sender@client.test>",
    `To: ${client}@example.com`,
    `Subject: byte-exact from ${client}`,
    "Date: Mon, 01 Jan 2024 00:00:00 +0000",
    `Message-ID: <${client}.1@client.test>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    ".leading dot that must be stuffed and unstuffed",
    "..two dots",
    ".",
    "Grüße, ✉ and tabs\there",
    "x".repeat(900),
    "",
  ].join("\r\n");
}

let smtp: TestSmtp;
let dir: string;
beforeAll(async () => {
  smtp = await startTestSmtp();
  dir = mkdtempSync(join(tmpdir(), "smtp-fixture-"));
});
afterAll(() => smtp.close());

async function expectExact(client: string, sent: string): Promise<void> {
  const mail = await smtp.inbox.waitFor(`${client}@example.com`);
  expect(Buffer.from(mail.raw).toString("utf8")).toBe(sent);
  expect(sha256(mail.raw)).toBe(sha256(sent));
}

test("nodemailer (raw message)", async () => {
  const raw = message("nodemailer");
  await nodemailer.createTransport(smtp.transport).sendMail({
    envelope: { from: "sender@client.test", to: ["nodemailer@example.com"] },
    raw,
  });
  await expectExact("nodemailer", raw);
});

const curl = requireClient("curl");
describe.skipIf(curl.skip)(`curl ${curl.skip ?? ""}`, () => {
  test("uploads a file that arrives byte-exact", async () => {
    const raw = message("curl");
    const file = join(dir, "curl.eml");
    writeFileSync(file, raw);
    const r = await run(curl.path!, [
      "-sS",
      `smtp://127.0.0.1:${smtp.port}`,
      "--mail-from",
      "sender@client.test",
      "--mail-rcpt",
      "curl@example.com",
      "--upload-file",
      file,
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    await expectExact("curl", raw);
  });
});

const swaks = requireClient("swaks");
describe.skipIf(swaks.skip)(`swaks ${swaks.skip ?? ""}`, () => {
  test("sends --data from a file that arrives byte-exact", async () => {
    const raw = message("swaks");
    const file = join(dir, "swaks.eml");
    // swaks always ends the data with its own CRLF before the dot: give it the
    // message without its last line end, and it sends exactly `raw`.
    writeFileSync(file, raw.slice(0, -2));
    const r = await run(swaks.path!, [
      "--server",
      "127.0.0.1",
      "--port",
      String(smtp.port),
      "--from",
      "sender@client.test",
      "--to",
      "swaks@example.com",
      "--data",
      `@${file}`,
    ]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await expectExact("swaks", raw);
  });
});

const python = requireClient("python3");
describe.skipIf(python.skip)(`python smtplib ${python.skip ?? ""}`, () => {
  test("smtplib.sendmail arrives byte-exact", async () => {
    const raw = message("python");
    const script = [
      "import smtplib, sys",
      "data = sys.stdin.buffer.read()",
      `with smtplib.SMTP("127.0.0.1", ${smtp.port}) as s:`,
      '    s.sendmail("sender@client.test", ["python@example.com"], data)',
    ].join("\n");
    const r = await run(python.path!, ["-c", script], { input: raw });
    expect(r.code, r.stderr).toBe(0);
    await expectExact("python", raw);
  });
});
