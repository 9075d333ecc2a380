/**
 * A complete vitest integration test of a small app that sends mail (./app.ts),
 * written as a user of the published package would write it.
 */
import { SMTPError } from "smtp-fixture";
import { createSmtpTest, dumpOnFailure } from "smtp-fixture/vitest";
import { describe, expect } from "vitest";
import { App } from "./app.js";

// A fresh SMTP server for every test, closed after it.
const test = createSmtpTest({}, { scope: "test" });
// When a test fails, its mail and SMTP transcripts land in smtp-failures/.
dumpOnFailure();

describe("signup", () => {
  test("sends the welcome mail", async ({ smtp }) => {
    const app = new App({ smtp: smtp.transport, baseUrl: "https://app.test" });
    const user = await app.signup("alice@example.com", "Alice");

    const mail = await smtp.inbox.waitFor("alice@example.com");
    expect(mail.subject).toBe("Welcome, Alice!");
    expect(mail.envelope.mailFrom?.address).toBe("noreply@app.test");
    expect(mail.from).toEqual({ name: "Example App", address: "noreply@app.test" });
    expect(mail.to).toEqual([{ name: "Alice", address: "alice@example.com" }]);
    expect(mail).toHaveHeader("X-Mail-Kind", "welcome");
    expect(mail).toContainLink(`https://app.test/confirm?user=${user.id}`);
    expect(mail).toHaveAttachment({ filename: "terms.txt", contentType: "text/plain" });
    app.close();
  });

  test("blind-copies the audit address without a Bcc header", async ({ smtp }) => {
    const app = new App({ smtp: smtp.transport, baseUrl: "https://app.test" });
    await app.signup("bob@example.com", "Bob");

    const mail = await smtp.inbox.waitFor("bob@example.com");
    expect(mail.bcc).toEqual([{ address: "audit@app.test" }]);
    expect(mail).not.toHaveHeader("Bcc");
    expect(smtp).toHaveReceived({ bcc: "audit@app.test" }, { count: 1 });
    app.close();
  });
});

// A server whose onRcptTo hook (callback or async style, as in smtp-server) refuses a user.
const refusing = createSmtpTest(
  {
    async onRcptTo(address) {
      if (address.address === "gone@example.com") {
        throw new SMTPError(550, "No such user", "5.1.1");
      }
    },
  },
  { scope: "test" },
);

describe("signup to an address the server refuses", () => {
  refusing("fails, and only the audit copy is delivered", async ({ smtp }) => {
    const app = new App({ smtp: smtp.transport, baseUrl: "https://app.test" });
    await expect(app.signup("gone@example.com", "Gone")).rejects.toThrow(
      "the mail server refused gone@example.com",
    );
    expect(app.users.size).toBe(0);
    await smtp.inbox.waitFor("audit@app.test");
    expect(smtp).toHaveReceived("audit@app.test", { count: 1 });
    expect(smtp).not.toHaveReceived("gone@example.com");
    app.close();
  });
});
