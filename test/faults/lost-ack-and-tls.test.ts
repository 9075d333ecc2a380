import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { dropAfterData, startTestSmtp, type TestSmtp, tlsFailure } from "../../src/index.js";
import { RawClient } from "../helpers/raw-client.js";
import { expectServesNext, lastTranscript, send, sendFails } from "./helpers.js";

describe("dropAfterData()", () => {
  let smtp: TestSmtp;
  beforeAll(async () => {
    smtp = await startTestSmtp();
  });
  afterAll(() => smtp.close());
  afterEach(() => smtp.reset());

  test("stores the message but closes instead of sending the 250", async () => {
    smtp.use(dropAfterData());
    const c = await RawClient.connect(smtp.port);
    await c.read();
    for (const line of [
      "EHLO raw.test",
      "MAIL FROM:<app@sender.test>",
      "RCPT TO:<bob@example.com>",
    ]) {
      expect((await c.command(line)).code).toBe(250);
    }
    expect((await c.command("DATA")).code).toBe(354);
    c.write("Subject: lost ack\r\n\r\nbody\r\n.\r\n");
    await c.waitClose();
    await expect(c.read()).rejects.toThrow('connection closed; unparsed: ""');
    const mail = await smtp.inbox.waitFor("bob@example.com");
    expect(mail.subject).toBe("lost ack");
    expect(mail.acknowledged).toBe(false);
    expect(smtp.inbox.attempts.at(-1)).toMatchObject({
      outcome: "accepted",
      reason: "fault: dropAfterData(): 250 not sent",
    });
    expect(lastTranscript(smtp).text).toContain("# fault fired: dropAfterData() at DATA_END");
  });

  test("nodemailer sees a failure although the message arrived", async () => {
    smtp.use(dropAfterData({ once: true }));
    const err = await sendFails(smtp);
    expect(err.code).toBe("ECONNECTION");
    expect(smtp.inbox.messages).toHaveLength(1);
    await expectServesNext(smtp);
  });
});

describe("tlsFailure()", () => {
  let smtp: TestSmtp;
  beforeAll(async () => {
    smtp = await startTestSmtp({ tls: true });
  });
  afterAll(() => smtp.close());
  afterEach(() => smtp.reset());

  test("answers STARTTLS with 220, then a handshake_failure alert", async () => {
    smtp.use(tlsFailure());
    const c = await RawClient.connect(smtp.port);
    await c.read();
    await c.command("EHLO raw.test");
    expect((await c.command("STARTTLS")).raw).toBe("220 2.0.0 Ready to start TLS\r\n");
    const ca = Buffer.from(String(smtp.transport.tls?.ca));
    await expect(c.startTls(ca)).rejects.toThrow(/alert handshake failure/);
    const { text } = lastTranscript(smtp);
    expect(text).toContain('# fault fired: tlsFailure({ mode: "alert" }) at STARTTLS');
    expect(text).toContain("# ClientHello answered with a TLS handshake_failure alert");
  });

  test("its attempt has the 220 the client got before the handshake failed", async () => {
    let closed!: () => void;
    const serverDone = new Promise<void>((resolve) => {
      closed = resolve;
    });
    await using own = await startTestSmtp({ tls: true, onClose: () => closed() });
    own.use(tlsFailure());
    const c = await RawClient.connect(own.port);
    await c.read();
    await c.command("EHLO raw.test");
    await c.command("MAIL FROM:<a@x.test>");
    expect((await c.command("STARTTLS")).code).toBe(220);
    await expect(c.startTls(Buffer.from(String(own.transport.tls?.ca)))).rejects.toThrow();
    await serverDone;
    expect(own.inbox.attempts.map((a) => [a.stage, a.outcome, a.reply?.code, a.reason])).toEqual([
      ["STARTTLS", "aborted", 220, 'fault: tlsFailure({ mode: "alert" })'],
    ]);
  });

  test.each([
    ["alert", "ESOCKET", /alert handshake failure/],
    ["close", "ESOCKET", /disconnected before secure TLS connection was established/],
    ["refuse", "ETLS", /454 4\.7\.0 TLS not available due to temporary reason/],
  ] as const)(
    "mode %s: nodemailer fails with %s, the next client is served",
    async (mode, code, message) => {
      smtp.use(tlsFailure({ mode, once: true }));
      const err = await sendFails(smtp);
      expect(err.code).toBe(code);
      expect(err.message).toMatch(message);
      await expectServesNext(smtp);
    },
  );

  test("a client that does not require TLS carries on in plaintext after a refusal", async () => {
    smtp.use(tlsFailure({ mode: "refuse" }));
    const out = await send(smtp, {}, { requireTLS: false, opportunisticTLS: true });
    expect(out.ok).toBe(true);
  });
});
