// `beforeAll(startTestSmtp)` exactly as written in the docs: no afterAll, no options.
import nodemailer from "nodemailer";
import { inbox, startTestSmtp, testSmtp } from "smtp-fixture";
import { afterAll, beforeAll, expect, test } from "vitest";
import { markWhenClosed } from "./marker.js";

// The parent run clears SMTP_* from the environment, so these come from the hook.
const inherited = process.env.SMTP_PORT;
let port: number | undefined;

// Registered before the beforeAll: the server must still be up here, since the hook's
// teardown runs after the file's afterAll hooks.
afterAll(() => {
  expect(testSmtp().port).toBe(port);
  expect(testSmtp().server.server.listening).toBe(true);
});

beforeAll(startTestSmtp);

test("the address is published in process.env", () => {
  const smtp = testSmtp();
  port = smtp.port;
  expect(inherited).toBeUndefined();
  expect(process.env.SMTP_HOST).toBe("127.0.0.1");
  expect(process.env.SMTP_PORT).toBe(String(smtp.port));
  expect(process.env.SMTP_URL).toBe(`smtp://127.0.0.1:${smtp.port}`);
  expect(smtp.port).toBeGreaterThan(0);
  markWhenClosed(smtp, `hook-${process.env.SMTP_FIXTURE_RUN ?? "run"}`);
});

test("a test reaches it through the env and the live inbox export", async () => {
  const mailer = nodemailer.createTransport({
    host: process.env.SMTP_HOST,
    port: Number(process.env.SMTP_PORT),
    secure: false,
    ignoreTLS: true,
  });
  await mailer.sendMail({
    from: "app@example.com",
    to: "alice@example.com",
    subject: "Via the env",
    text: "hello",
  });
  const mail = await inbox.waitFor("alice@example.com");
  expect(mail.subject).toBe("Via the env");
  expect(testSmtp().inbox.messages).toHaveLength(1);
});

test("and through testSmtp().transport", async () => {
  await nodemailer.createTransport(testSmtp().transport).sendMail({
    from: "app@example.com",
    to: "bob@example.com",
    subject: "Via transport",
    text: "hello",
  });
  const mail = await testSmtp().inbox.waitFor({ to: "bob@example.com" });
  expect(mail.subject).toBe("Via transport");
  expect(inbox.messages).toHaveLength(2);
});
