// The `test.extend` fixtures of smtp-fixture/vitest: `smtpTest` (one server per file)
// and `createSmtpTest(options, { scope: "test" })` (a fresh server per test).
import nodemailer from "nodemailer";
import { testSmtp } from "smtp-fixture";
import { createSmtpTest, smtpTest } from "smtp-fixture/vitest";
import { describe, expect } from "vitest";
import { markWhenClosed } from "./marker.js";

const run = process.env.SMTP_FIXTURE_RUN ?? "run";

describe("smtpTest: one server per file", () => {
  const ports = new Set<number>();

  smtpTest("gets a started server", async ({ smtp }) => {
    ports.add(smtp.port);
    expect(smtp.server.server.listening).toBe(true);
    expect(process.env.SMTP_PORT).toBe(String(smtp.port));
    expect(testSmtp()).toBe(smtp);
    markWhenClosed(smtp, `fixture-file-${run}`);
    await nodemailer.createTransport(smtp.transport).sendMail({
      from: "app@example.com",
      to: "carol@example.com",
      subject: "Fixture",
      text: "Confirm at https://app.test/confirm?id=7",
      headers: { "X-Campaign": "spring" },
      attachments: [{ filename: "terms.txt", content: "be nice" }],
    });
    const mail = await smtp.inbox.waitFor("carol@example.com");
    expect(smtp).toHaveReceived({ to: "carol@example.com", subject: "Fixture" }, { count: 1 });
    expect(mail).toHaveHeader("X-Campaign", "spring");
    expect(mail).toContainLink("https://app.test/confirm?id=7");
    expect(mail).toHaveAttachment({ filename: "terms.txt", content: "be nice" });
  });

  smtpTest("the next test of the file gets the same server, reset", ({ smtp }) => {
    expect([...ports]).toEqual([smtp.port]);
    expect(smtp.inbox.messages).toHaveLength(0);
    expect(smtp).not.toHaveReceived("carol@example.com");
  });
});

describe("createSmtpTest(options, { scope: 'test' }): a server per test", () => {
  const test = createSmtpTest({ timeout: 3000 }, { scope: "test" });
  const ports: number[] = [];

  test("first", ({ smtp }) => {
    ports.push(smtp.port);
    markWhenClosed(smtp, `fixture-test1-${run}`);
  });

  test("second", ({ smtp }) => {
    ports.push(smtp.port);
    expect(ports[0]).not.toBe(smtp.port);
    expect(smtp.inbox.messages).toHaveLength(0);
    markWhenClosed(smtp, `fixture-test2-${run}`);
  });
});
