/**
 * SMTP smuggling (CVE-2023-51764/51765/51766 class): only <CRLF>.<CRLF> ends the
 * data. Every look-alike below is data, so a second transaction hidden behind it
 * is stored as text of the first message and never runs as commands. With
 * `bareLf: "reject"` (Postfix's smtpd_forbid_bare_newline) a message with a bare
 * LF gets 550 and is not stored.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestSmtp, type TestSmtp } from "../../src/index.js";
import { RawClient, type RawReply } from "../helpers/raw-client.js";

/** A whole second transaction: what an attacker hopes the server will run. */
const SMUGGLED =
  "MAIL FROM:<attacker@evil.test>\r\n" +
  "RCPT TO:<victim@example.test>\r\n" +
  "DATA\r\n" +
  "From: attacker@evil.test\r\n" +
  "Subject: smuggled\r\n" +
  "\r\n" +
  "smuggled body";

const HEAD = "From: sender@client.test\r\nSubject: carrier\r\n\r\nhello";

interface Variant {
  name: string;
  /** The data before SMUGGLED; the message then ends with the real <CRLF>.<CRLF>. */
  before: string;
}

const VARIANTS: readonly Variant[] = [
  { name: "\\n.\\n", before: `${HEAD}\n.\n` },
  { name: "\\n.\\r\\n", before: `${HEAD}\n.\r\n` },
  { name: "\\r\\n.\\n", before: `${HEAD}\r\n.\n` },
  { name: "\\r.\\r", before: `${HEAD}\r.\r` },
  { name: "\\r.\\r\\n", before: `${HEAD}\r.\r\n` },
  { name: ".\\n as the very first data line", before: ".\n" },
  { name: ".\\r (CR without LF) as the very first data line", before: ".\r" },
  { name: "NUL before the dot: \\r\\n\\0.\\r\\n", before: `${HEAD}\r\n\0.\r\n` },
  { name: "NUL after the dot: \\r\\n.\\0\\r\\n", before: `${HEAD}\r\n.\0\r\n` },
  { name: "NUL inside the CRLFs: \\r\\0\\n.\\r\\0\\n", before: `${HEAD}\r\0\n.\r\0\n` },
  { name: "\\n.\\n with the terminator split over NULs", before: `${HEAD}\0\n.\n\0` },
];

/** A bare LF: an LF not preceded by CR. */
const hasBareLf = (s: string) => /(^|[^\r])\n/.test(s);

/** Sends one message carrying the variant; returns every reply of the connection. */
async function sendVariant(smtp: TestSmtp, v: Variant): Promise<RawReply[]> {
  const c = await RawClient.connect(smtp.port);
  const replies: RawReply[] = [await c.read()];
  for (const cmd of [
    "EHLO client.test",
    "MAIL FROM:<sender@client.test>",
    "RCPT TO:<rcpt@x.test>",
  ]) {
    replies.push(await c.command(cmd));
  }
  replies.push(await c.command("DATA"));
  c.write(`${v.before}${SMUGGLED}\r\n.\r\n`);
  replies.push(await c.read());
  c.write("QUIT\r\n");
  await c.waitClose();
  // Whatever else the server sent (smuggled commands answered) is read here.
  for (;;) {
    try {
      replies.push(await c.read());
    } catch {
      break;
    }
  }
  return replies;
}

function acceptedAttempts(smtp: TestSmtp): number {
  return smtp.inbox.attempts.filter((a) => a.outcome === "accepted").length;
}

describe("SMTP smuggling: look-alike end-of-data sequences are data (bareLf: accept)", () => {
  let smtp: TestSmtp;
  beforeAll(async () => {
    smtp = await startTestSmtp({ socketTimeout: 5000 });
  });
  afterAll(() => smtp?.close());

  test.each(VARIANTS)(
    "$name: one message, the smuggled transaction stored as its text",
    async (v) => {
      smtp.inbox.clear();
      const replies = await sendVariant(smtp, v);
      expect(replies.map((r) => r.code)).toEqual([220, 250, 250, 250, 354, 250, 221]);
      // Exactly one accepted transaction (recorded synchronously with its 250) ...
      expect(acceptedAttempts(smtp)).toBe(1);
      const [mail] = await smtp.inbox.waitFor({}, { count: 1 });
      expect(smtp.inbox.messages).toHaveLength(1);
      // ... whose envelope is the real one, and whose bytes carry the smuggled text.
      expect(mail!.envelope.rcptTo.map((r) => r.address)).toEqual(["rcpt@x.test"]);
      const raw = Buffer.from(mail!.raw).toString("latin1");
      expect(raw).toContain(SMUGGLED);
      expect(raw.endsWith(`${SMUGGLED}\r\n`)).toBe(true);
      expect(smtp.inbox.find({ to: "victim@example.test" })).toBeUndefined();
    },
  );
});

describe("SMTP smuggling with bareLf: reject (smtpd_forbid_bare_newline)", () => {
  let smtp: TestSmtp;
  beforeAll(async () => {
    smtp = await startTestSmtp({ bareLf: "reject", socketTimeout: 5000 });
  });
  afterAll(() => smtp?.close());

  const withBareLf = VARIANTS.filter((v) => hasBareLf(v.before));
  const withoutBareLf = VARIANTS.filter((v) => !hasBareLf(v.before));

  test("the variant table has both kinds", () => {
    expect(withBareLf.length).toBeGreaterThanOrEqual(4);
    expect(withoutBareLf.length).toBeGreaterThanOrEqual(4);
  });

  test.each(withBareLf)("$name: 550 after the data, nothing stored", async (v) => {
    smtp.inbox.clear();
    const replies = await sendVariant(smtp, v);
    expect(replies.map((r) => r.code)).toEqual([220, 250, 250, 250, 354, 550, 221]);
    // The connection is closed and its every reply read: an accepted message would
    // have been recorded as an attempt with its 250, synchronously.
    expect(acceptedAttempts(smtp)).toBe(0);
    expect(smtp.inbox.messages).toHaveLength(0);
  });

  test.each(withoutBareLf)(
    "$name (no bare LF): still one message with the smuggled text",
    async (v) => {
      smtp.inbox.clear();
      const replies = await sendVariant(smtp, v);
      expect(replies.map((r) => r.code)).toEqual([220, 250, 250, 250, 354, 250, 221]);
      expect(acceptedAttempts(smtp)).toBe(1);
      const [mail] = await smtp.inbox.waitFor({}, { count: 1 });
      expect(Buffer.from(mail!.raw).toString("latin1")).toContain(SMUGGLED);
    },
  );

  test("a clean message (CRLF only) is still accepted", async () => {
    smtp.inbox.clear();
    const replies = await sendVariant(smtp, { name: "clean", before: `${HEAD}\r\n` });
    expect(replies.map((r) => r.code)).toEqual([220, 250, 250, 250, 354, 250, 221]);
    await smtp.inbox.waitFor({}, { count: 1 });
  });
});
