import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { type Fault, reject, startTestSmtp, type TestSmtp } from "../../src/index.js";
import { RawClient } from "../helpers/raw-client.js";
import { expectServesNext, faultAttempts, lastTranscript, send, sendFails } from "./helpers.js";

let smtp: TestSmtp;
beforeAll(async () => {
  // TLS and AUTH on, so STARTTLS and AUTH are stages a client can reach.
  smtp = await startTestSmtp({ tls: true, auth: "any" });
});
afterAll(() => smtp.close());
afterEach(() => smtp.reset());

interface StageCase {
  stage: string;
  fault: Fault;
  /** Commands that must succeed first (after the greeting). */
  before: readonly string[];
  /** What trips the fault, as written (CRLF included); undefined for the greeting. */
  trigger?: string;
  /** The reply exactly as the client reads it. */
  expected: string;
  /** The connection ends after the reply. */
  closes: boolean;
  /** A command that must still work afterwards (the dialog goes on). */
  next?: string;
}

const EHLO = "EHLO raw.test";
const MAIL_FROM = "MAIL FROM:<app@sender.test>";
const RCPT_TO = "RCPT TO:<bob@example.com>";

const cases: StageCase[] = [
  {
    stage: "CONNECT",
    fault: reject.connect(),
    before: [],
    expected: "554 5.3.2 No SMTP service here\r\n",
    closes: true,
  },
  {
    stage: "EHLO",
    fault: reject.ehlo(),
    before: [],
    trigger: `${EHLO}\r\n`,
    expected: "550 5.7.1 Client host rejected\r\n",
    closes: false,
    next: "HELP",
  },
  {
    stage: "HELO",
    fault: reject.ehlo("raw.test", 421, "4.7.0 Go away"),
    before: [],
    trigger: "HELO raw.test\r\n",
    expected: "421 4.7.0 Go away\r\n",
    closes: true,
  },
  {
    stage: "STARTTLS",
    fault: reject.starttls(),
    before: [EHLO],
    trigger: "STARTTLS\r\n",
    expected: "454 4.7.0 TLS not available due to temporary reason\r\n",
    closes: false,
    next: "NOOP",
  },
  {
    stage: "AUTH",
    fault: reject.auth(),
    before: [EHLO],
    trigger: "AUTH PLAIN AHVzZXIAcGFzcw==\r\n",
    expected: "535 5.7.8 Authentication credentials invalid\r\n",
    closes: false,
    next: "NOOP",
  },
  {
    stage: "MAIL",
    fault: reject.mail({ code: 451 }),
    before: [EHLO],
    trigger: `${MAIL_FROM}\r\n`,
    expected: "451 4.3.0 Local error in processing\r\n",
    closes: false,
    next: "NOOP",
  },
  {
    stage: "RCPT",
    fault: reject.rcpt("bob@example.com", 550, "5.1.1 No such user"),
    before: [EHLO, MAIL_FROM],
    trigger: "RCPT TO:<Bob@Example.COM>\r\n",
    expected: "550 5.1.1 No such user\r\n",
    closes: false,
    next: "RCPT TO:<carol@example.com>",
  },
  {
    stage: "DATA",
    fault: reject.data(554, "5.7.1 Not today"),
    before: [EHLO, MAIL_FROM, RCPT_TO],
    trigger: "DATA\r\n",
    expected: "554 5.7.1 Not today\r\n",
    closes: false,
    next: "RSET",
  },
  {
    stage: "BDAT",
    fault: reject.bdat(552, "5.3.4 Too big for today"),
    before: [EHLO, MAIL_FROM, RCPT_TO],
    // The chunk follows the command: it is read and dropped, never taken for commands.
    trigger: "BDAT 6 LAST\r\nNOOP\r\n",
    expected: "552 5.3.4 Too big for today\r\n",
    closes: false,
    next: "NOOP",
  },
  {
    stage: "DATA_END",
    fault: reject.dataEnd({
      code: 550,
      lines: ["5.7.1 Message refused", "see https://postmaster.example.com"],
    }),
    before: [EHLO, MAIL_FROM, RCPT_TO, "DATA"],
    trigger: "Subject: hi\r\n\r\nbody\r\n.\r\n",
    expected: "550-5.7.1 Message refused\r\n550 5.7.1 see https://postmaster.example.com\r\n",
    closes: false,
    next: MAIL_FROM,
  },
  {
    stage: "RSET",
    fault: reject.rset(),
    before: [EHLO],
    trigger: "RSET\r\n",
    expected: "451 4.3.0 Local error in processing\r\n",
    closes: false,
    next: "NOOP",
  },
  {
    stage: "QUIT",
    fault: reject.quit(),
    before: [EHLO],
    trigger: "QUIT\r\n",
    expected: "451 4.3.0 Local error in processing\r\n",
    closes: false,
    next: "NOOP",
  },
];

describe("reject.<stage>() as a raw client sees it", () => {
  test.each(cases)("$stage: the client reads exactly the injected reply", async (c) => {
    smtp.use(c.fault);
    const client = await RawClient.connect(smtp.port);
    if (c.trigger !== undefined) {
      expect((await client.read()).code).toBe(220);
      for (const line of c.before) expect((await client.command(line)).code).toBeLessThan(400);
      client.write(c.trigger);
    }
    expect((await client.read()).raw).toBe(c.expected);
    if (c.closes) await client.waitClose();
    else {
      expect((await client.command(c.next ?? "NOOP")).code).toBeLessThan(300);
      client.close();
    }
    smtp.resetFaults();
    const { connection, text } = lastTranscript(smtp);
    expect(text).toContain(`# fault fired: ${c.fault.name} at ${c.stage}`);
    expect(faultAttempts(smtp)).toEqual([
      expect.objectContaining({
        connection,
        reason: `fault: ${c.fault.name}`,
        outcome: "rejected",
      }),
    ]);
    await expectServesNext(smtp);
  });
});

describe("reject.<stage>() as nodemailer sees it", () => {
  test("a rejected recipient comes back in info.rejected while the others are delivered", async () => {
    smtp.use(reject.rcpt("bob@example.com", 550, "5.1.1 No such user"));
    const out = await send(smtp, { to: ["bob@example.com", "carol@example.com"] });
    if (!out.ok) throw out.error;
    expect(out.info.accepted).toEqual(["carol@example.com"]);
    expect(out.info.rejected).toEqual(["bob@example.com"]);
    expect(out.info.rejectedErrors?.[0]?.message).toContain("550 5.1.1 No such user");
    const mail = await smtp.inbox.waitFor("carol@example.com");
    expect(mail.envelope.rcptTo.map((r) => r.address)).toEqual(["carol@example.com"]);
    expect(smtp.inbox.attempts.find((a) => a.stage === "RCPT")).toMatchObject({
      outcome: "rejected",
      reply: { code: 550, enhanced: "5.1.1", text: "No such user" },
      reason: 'fault: reject.rcpt("bob@example.com", 550 5.1.1)',
    });
  });

  test("an attempt's reply has the enhanced code the client got, a default one included", async () => {
    smtp.use(reject.mail({ code: 451, once: true }));
    const err = await sendFails(smtp);
    expect(err.response).toBe("451 4.3.0 Local error in processing");
    expect(smtp.inbox.attempts.find((a) => a.stage === "MAIL")).toMatchObject({
      outcome: "rejected",
      reply: { code: 451, enhanced: "4.3.0", text: "Local error in processing" },
    });
  });

  test("without ENHANCEDSTATUSCODES an attempt's reply has no enhanced code, as on the wire", async () => {
    await using plain = await startTestSmtp({ profile: "minimal" });
    plain.use(reject.mail({ code: 451, once: true }));
    const err = await sendFails(plain);
    expect(err.response).toBe("451 Local error in processing");
    const attempt = plain.inbox.attempts.find((a) => a.stage === "MAIL");
    expect(attempt?.reply).toEqual({
      code: 451,
      enhanced: undefined,
      text: "Local error in processing",
    });
  });

  test("a refused greeting fails the send with the code and text", async () => {
    smtp.use(reject.connect(554, "5.3.2 Maintenance"));
    const err = await sendFails(smtp);
    expect(err.code).toBe("EPROTOCOL");
    expect(err.responseCode).toBe(554);
    expect(err.response).toBe("554 5.3.2 Maintenance");
    smtp.resetFaults();
    await expectServesNext(smtp);
  });

  test("a rejected MAIL FROM fails the send as an envelope error", async () => {
    smtp.use(reject.mail("app@sender.test", 451, "4.7.0 Try again later"));
    const err = await sendFails(smtp);
    expect(err).toMatchObject({ code: "EENVELOPE", responseCode: 451, command: "MAIL FROM" });
    expect(err.response).toBe("451 4.7.0 Try again later");
    // Only that sender is refused: another one still gets through.
    expect((await send(smtp, { from: "other@sender.test", to: "x@example.com" })).ok).toBe(true);
  });

  test("a rejection after the data fails the send as a message error and stores nothing", async () => {
    smtp.use(reject.dataEnd(554, "5.6.0 Content rejected", { once: true }));
    const err = await sendFails(smtp);
    expect(err).toMatchObject({ code: "EMESSAGE", responseCode: 554 });
    expect(err.response).toBe("554 5.6.0 Content rejected");
    expect(smtp.inbox.messages).toHaveLength(0);
    await expectServesNext(smtp);
    expect(smtp.inbox.messages).toHaveLength(1);
  });

  test("a multi-line message becomes a multi-line reply", async () => {
    smtp.use(reject.data({ code: 451, message: "4.3.0 Line one\nLine two" }));
    const err = await sendFails(smtp);
    expect(err.response).toBe("451-4.3.0 Line one\n451 4.3.0 Line two");
  });

  test("without a code each stage answers its usual refusal", () => {
    expect(reject.rcpt().name).toBe("reject.rcpt(550 5.1.1)");
    expect(reject.mail().name).toBe("reject.mail(550 5.7.1)");
    expect(reject.dataEnd().name).toBe("reject.dataEnd(554 5.6.0)");
    expect(reject.at("rcpt", { code: 450 }).name).toBe("reject.at(RCPT, 450 4.2.1)");
  });

  test.each([
    [
      "reject.mail(550, text)",
      reject.mail(550, "Sender blocked"),
      "MAIL",
      "550 5.7.1 Sender blocked",
    ],
    ["reject.mail(553)", reject.mail(553), "MAIL", "553 5.7.1 Mailbox name not allowed"],
    ["reject.mail(451)", reject.mail(451), "MAIL", "451 4.3.0 Local error in processing"],
    ["reject.ehlo(550, text)", reject.ehlo(550, "nope"), "EHLO", "550 5.7.1 nope"],
    ["reject.data(550)", reject.data(550), "DATA", "550 5.5.0 Mailbox unavailable"],
    [
      "reject.dataEnd(550, text)",
      reject.dataEnd(550, "Spam detected"),
      "DATA_END",
      "550 5.6.0 Spam detected",
    ],
    ["reject.rcpt(552)", reject.rcpt(552), "RCPT", "552 5.2.2 Exceeded storage allocation"],
    ["reject.rcpt(550, text)", reject.rcpt(550, "Gone"), "RCPT", "550 5.1.1 Gone"],
    ["reject.auth(538)", reject.auth(538), "AUTH", "538 5.7.11 Rejected"],
    ["reject.auth(550)", reject.auth(550), "AUTH", "550 5.7.8 Mailbox unavailable"],
    ["reject.auth(454, text)", reject.auth(454, "Try later"), "AUTH", "454 4.7.0 Try later"],
    ["reject.auth(535, text)", reject.auth(535, "Bad login"), "AUTH", "535 5.7.8 Bad login"],
    [
      "reject.mail(550, '5.1.8 text')",
      reject.mail(550, "5.1.8 Bad sender domain"),
      "MAIL",
      "550 5.1.8 Bad sender domain",
    ],
  ])(
    "%s: without an enhanced code it takes the stage's (same class), not a mailbox code",
    async (_name, fault, stage, expected) => {
      smtp.use(fault);
      const c = await RawClient.connect(smtp.port);
      await c.read();
      const dialog = [EHLO, MAIL_FROM, "RCPT TO:<bob@example.com>", "DATA", "hi\r\n."];
      if (stage === "AUTH")
        dialog.splice(1, 0, `AUTH PLAIN ${Buffer.from("\0u\0p").toString("base64")}`);
      const at = { EHLO: 0, AUTH: 1, MAIL: 1, RCPT: 2, DATA: 3, DATA_END: 4 }[stage]!;
      for (const line of dialog.slice(0, at)) await c.command(line);
      const r = await c.command(dialog[at]!);
      expect(`${r.code} ${r.lines.at(-1)}`).toBe(expected);
      c.close();
    },
  );

  test("a 421 closes the connection after the reply", async () => {
    smtp.use(reject.rcpt(421, "4.4.2 Closing"));
    const client = await RawClient.connect(smtp.port);
    await client.read();
    await client.command("EHLO raw.test");
    await client.command(MAIL_FROM);
    expect((await client.command(RCPT_TO)).raw).toBe("421 4.4.2 Closing\r\n");
    await client.waitClose();
  });

  test("disconnect: true closes after any rejection; false keeps a 421 open", async () => {
    smtp.use(reject.mail({ code: 550, disconnect: true }));
    const a = await RawClient.connect(smtp.port);
    await a.read();
    await a.command("EHLO raw.test");
    expect((await a.command(MAIL_FROM)).code).toBe(550);
    await a.waitClose();
    smtp.resetFaults();
    smtp.use(reject.mail({ code: 421, disconnect: false }));
    const b = await RawClient.connect(smtp.port);
    await b.read();
    await b.command("EHLO raw.test");
    expect((await b.command(MAIL_FROM)).code).toBe(421);
    expect((await b.command("NOOP")).code).toBe(250);
    b.close();
  });

  test("a DATA-stage fault sees the start of the data: DATA, or only the first BDAT", async () => {
    const seen: string[] = [];
    smtp.use(
      reject.data((ctx) => {
        seen.push(ctx.command);
        return false;
      }),
    );
    const c = await RawClient.connect(smtp.port);
    await c.read();
    for (const line of ["EHLO raw.test", MAIL_FROM, RCPT_TO]) await c.command(line);
    c.write("BDAT 3\r\nabc");
    expect((await c.read()).code).toBe(250);
    c.write("BDAT 3 LAST\r\ndef");
    expect((await c.read()).code).toBe(250);
    c.close();
    expect(seen).toEqual(["BDAT 3"]);
  });
});

describe("with XCLIENT on", () => {
  test("a MAIL answered by a fault still tells who the client is ('connect', as smtp-server at MAIL)", async () => {
    const relay = await startTestSmtp({ useXClient: true, faults: [reject.mail()] });
    try {
      const connects: string[] = [];
      relay.server.on("connect", (session: { remoteAddress: string }) => {
        connects.push(session.remoteAddress);
      });
      const c = await RawClient.connect(relay.port);
      await c.read();
      await c.command("EHLO raw.test");
      expect(connects).toEqual([]);
      expect((await c.command(MAIL_FROM)).code).toBe(550);
      expect(connects).toEqual(["127.0.0.1"]);
      // Once per connection, as without the fault.
      expect((await c.command(MAIL_FROM)).code).toBe(550);
      expect(connects).toEqual(["127.0.0.1"]);
      c.close();
    } finally {
      await relay.close();
    }
  });
});

test("a command out of order gets its 503, not a fault's reply (the fault is not used up)", async () => {
  smtp.use(reject.rcpt({ code: 451, once: true }), reject.data({ code: 452, once: true }));
  const c = await RawClient.connect(smtp.port);
  await c.read();
  await c.command(EHLO);
  expect((await c.command(RCPT_TO)).raw).toBe("503 5.5.1 Error: need MAIL command\r\n");
  expect((await c.command("DATA")).raw).toBe("503 5.5.1 Error: need MAIL command\r\n");
  expect((await c.command(MAIL_FROM)).code).toBe(250);
  expect((await c.command(MAIL_FROM)).raw).toBe("503 5.5.1 Error: nested MAIL command\r\n");
  // In order, each fault fires (once).
  expect((await c.command(RCPT_TO)).code).toBe(451);
  expect((await c.command(RCPT_TO)).code).toBe(250);
  expect((await c.command("DATA")).code).toBe(452);
  c.close();
  expect(faultAttempts(smtp).map((a) => a.stage)).toEqual(["RCPT", "DATA"]);
});

describe("a refused BDAT fails its transaction (RFC 3030 2)", () => {
  /** Pipelines `wire` after EHLO/MAIL/RCPT and returns the replies to it, then QUIT's. */
  async function pipelined(wire: string, replies: number): Promise<string[]> {
    const c = await RawClient.connect(smtp.port);
    await c.read();
    c.write(`${EHLO}\r\n${MAIL_FROM}\r\n${RCPT_TO}\r\n${wire}QUIT\r\n`);
    const all = await c.readMany(3 + replies + 1);
    await c.waitClose();
    return all.slice(3).map((r) => r.raw.trimEnd());
  }

  test("chunks already pipelined after the refused one are dropped, never stored as a message", async () => {
    smtp.use(reject.bdat((ctx) => ctx.command === "BDAT 6"));
    const replies = await pipelined("BDAT 5\r\nHELLOBDAT 6\r\n-LOST-BDAT 4 LAST\r\nEND!", 3);
    expect(replies).toEqual([
      "250 2.0.0 5 octets received",
      "554 5.5.0 Transaction failed",
      "503 5.5.1 Error: need MAIL command",
      "221 2.0.0 Bye",
    ]);
    expect(smtp.inbox.messages).toEqual([]);
  });

  test("a fault at the data start refuses the message once: the BDAT pipelined behind it gets 503, fires nothing, counts for no times", async () => {
    smtp.use(reject.data({ code: 451, times: 2 }));
    const twoChunks = "BDAT 5\r\nHELLOBDAT 4 LAST\r\nEND!";
    for (const to of ["one@example.com", "two@example.com"]) {
      const c = await RawClient.connect(smtp.port);
      await c.read();
      c.write(`${EHLO}\r\n${MAIL_FROM}\r\nRCPT TO:<${to}>\r\n${twoChunks}QUIT\r\n`);
      const replies = (await c.readMany(6)).slice(3).map((r) => r.raw.trimEnd());
      await c.waitClose();
      expect(replies, to).toEqual([
        "451 4.3.0 Local error in processing",
        "503 5.5.1 Error: need MAIL command",
        "221 2.0.0 Bye",
      ]);
    }
    // One attempt per refused message, each the first BDAT's; both messages refused.
    expect(smtp.inbox.messages).toEqual([]);
    expect(faultAttempts(smtp).map((a) => [a.command, a.envelope.rcptTo[0]?.address])).toEqual([
      ["BDAT 5", "one@example.com"],
      ["BDAT 5", "two@example.com"],
    ]);
  });

  test("after a refused BDAT, another command ends its run: a BDAT after that is the client's bug again", async () => {
    await using strict = await startTestSmtp({ strict: true, hideCHUNKING: false });
    strict.use(reject.bdat({ once: true }));
    const c = await RawClient.connect(strict.port);
    await c.read();
    c.write(`${EHLO}\r\n${MAIL_FROM}\r\n${RCPT_TO}\r\nBDAT 3\r\nabc`);
    const replies = await c.readMany(4);
    expect(replies.at(-1)!.code).toBe(554);
    // Out of order, answered without reaching the faults: it still ends the run.
    expect((await c.command(RCPT_TO)).code).toBe(503);
    c.write("BDAT 2 LAST\r\nhi");
    expect((await c.read()).code).toBe(503);
    c.close();
    expect(
      strict.inbox.attempts.map((a) => `${a.stage} ${a.command} ${a.reply?.code} ${a.reason}`),
    ).toEqual([
      "BDAT BDAT 3 554 fault: reject.bdat(554 5.5.0) [once]",
      "RCPT RCPT TO:<bob@example.com> 503 sequence",
      "BDAT BDAT 2 LAST 503 sequence",
    ]);
  });

  test("a refused BDAT LAST ends the transaction: the next MAIL starts a new message of its own", async () => {
    smtp.use(
      reject.bdat((ctx) => / LAST$/i.test(ctx.command), 452, "4.3.1 try later", { once: true }),
    );
    const replies = await pipelined(
      `BDAT 5\r\nHELLOBDAT 4 LAST\r\nEND!${MAIL_FROM}\r\n${RCPT_TO}\r\nBDAT 3 LAST\r\nNEW`,
      5,
    );
    expect(replies).toEqual([
      "250 2.0.0 5 octets received",
      "452 4.3.1 try later",
      "250 2.1.0 Accepted",
      "250 2.1.5 Accepted",
      "250 2.6.0 OK: message queued",
      "221 2.0.0 Bye",
    ]);
    const [only, ...rest] = smtp.inbox.messages;
    expect(rest).toEqual([]);
    expect(Buffer.from(only!.raw).toString()).toBe("NEW");
  });
});
