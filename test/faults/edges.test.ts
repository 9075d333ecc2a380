/**
 * Edges where a test's attempts, report or ack could take in what belongs to another
 * moment: a hang ending after reset(), a pooled connection's later traffic, a later
 * reply cut short, a BDAT after RSET, a delay held at DATA.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { delay, hang, reject, slowDrip, startTestSmtp, type TestSmtp } from "../../src/index.js";
import { rawClient } from "./helpers.js";

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startTestSmtp({ strict: ["command-order"] });
});
afterAll(() => smtp.close());
const fresh = () => {
  smtp.reset();
  smtp.resetFaults();
};

test("a previous test's hang that ends after reset() is not this test's attempt", async () => {
  fresh();
  smtp.use(hang("MAIL", { once: true }));
  const c = await rawClient(smtp);
  c.write("MAIL FROM:<old@x.test>\r\n");
  await smtp.inbox.waitForAttempt({ stage: "MAIL", outcome: "aborted" });
  smtp.reset();
  const mine = smtp.inbox.waitForAttempt({ outcome: "aborted" }, { timeout: 200 }).then(
    () => "resolved",
    (e: Error) => e.name,
  );
  c.close(); // the previous test's client gives up now
  expect(await mine).toBe("WaitForAttemptTimeoutError");
  expect(smtp.inbox.attempts).toEqual([]);
});

describe.each([
  ["", false],
  [" after reset() (a connection open across it)", true],
])("a scope's report on a pooled connection%s", (_name, withReset) => {
  test("shows the lines up to its attempt, its refusal included, and nothing after", async () => {
    fresh();
    const c = await rawClient(smtp);
    for (const l of ["MAIL FROM:<p@x.test>", "RCPT TO:<p@y.test>", "DATA"]) await c.command(l);
    await c.command("Subject: s\r\n\r\nhi\r\n.");
    if (withReset) smtp.reset();
    const scope = smtp.inbox.scope("t");
    const me = scope.address("me");
    smtp.use(reject.rcpt(me, 550, "5.1.1 No such user"));
    await c.command("MAIL FROM:<app@x.test>");
    expect((await c.command(`RCPT TO:<${me}>`)).code).toBe(550);
    await c.command("RSET");
    // Another test's traffic on the same connection, after this scope's attempt.
    await c.command("MAIL FROM:<other@x.test>");
    await c.command("RCPT TO:<someone-else@y.test>");
    await c.command("RSET");
    const error = await scope.waitForAttempt({ code: 421 }, { timeout: 20 }).then(
      () => undefined,
      (e: Error) => e,
    );
    c.close();
    const tail = error!.message.slice(error!.message.indexOf("Last "));
    expect(tail).toContain(`C: RCPT TO:<${me}>`);
    expect(tail).toContain("S: 550 5.1.1 No such user");
    expect(tail).not.toContain("someone-else");
  });
});

test("a 250 written whole stays acknowledged when a later reply's drip is cut", async () => {
  fresh();
  smtp.use(slowDrip("DATA_END", { bytesPerChunk: 4, intervalMs: 5 }));
  const c = await rawClient(smtp);
  const msg = (n: number) =>
    `MAIL FROM:<a@x.test>\r\nRCPT TO:<m${n}@y.test>\r\nDATA\r\nSubject: ${n}\r\n\r\nhi\r\n.\r\n`;
  c.write(msg(1) + msg(2));
  const replies = await c.readMany(6); // message 1's 250 is among them, whole
  expect(replies.filter((r) => r.code === 250 && /queued/.test(r.raw))).toHaveLength(1);
  c.close(); // leaves while message 2's 250 drips
  const m1 = await smtp.inbox.waitFor("m1@y.test");
  expect(m1.acknowledged).toBe(true);
  const m2 = await smtp.inbox.waitFor("m2@y.test");
  expect(m2.acknowledged).toBe(false);
});

test.each([
  ["DATA", "DATA"],
  ["BDAT", "BDAT 4 LAST\r\nabcd"],
])(
  "%s without MAIL after a refused message and RSET is a command-order violation",
  async (_kind, retry) => {
    fresh();
    smtp.use(reject.dataEnd({ once: true }));
    const c = await rawClient(smtp);
    const body =
      "Subject: x\r\nFrom: a@x.test\r\nTo: b@y.test\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@x.test>\r\n\r\nhi\r\n";
    await c.command("MAIL FROM:<a@x.test>");
    await c.command("RCPT TO:<b@y.test>");
    if (retry.startsWith("BDAT")) {
      c.write(`BDAT ${body.length} LAST\r\n${body}`);
      expect((await c.read()).code).toBe(554);
    } else {
      await c.command("DATA");
      expect((await c.command(`${body}.`)).code).toBe(554);
    }
    expect((await c.command("RSET")).code).toBe(250);
    c.write(`${retry}\r\n`.replace("abcd\r\n", "abcd"));
    expect((await c.read()).code).toBe(503);
    await c.command("MAIL FROM:<a@x.test>");
    await c.command("RCPT TO:<b@y.test>");
    await c.command("DATA");
    expect((await c.command(`${body}.`)).code).toBe(250);
    const mail = await smtp.inbox.waitFor("b@y.test").catch((e: Error) => e);
    expect(String(mail)).toContain("command-order");
    c.close();
  },
);

test.each(["RCPT", "DATA"] as const)(
  "a client that leaves during delay.reply(%s): one aborted attempt at that command",
  async (stage) => {
    fresh();
    smtp.use(delay.reply(stage, 300));
    const c = await rawClient(smtp);
    await c.command("MAIL FROM:<a@x.test>");
    if (stage === "RCPT") c.write("RCPT TO:<b@y.test>\r\n");
    else {
      await c.command("RCPT TO:<b@y.test>");
      c.write("DATA\r\n");
    }
    const aborted = smtp.inbox.waitForAttempt({ outcome: "aborted" });
    c.close();
    const a = await aborted;
    expect(a).toMatchObject({
      stage,
      reason: `fault: delay.reply(${stage}, 300) (client gave up)`,
    });
    expect(a.command).toBe(stage === "RCPT" ? "RCPT TO:<b@y.test>" : "DATA");
  },
);

test("a MAIL a delay still held at reset() is the previous test's: how it ends stays out", async () => {
  fresh();
  let held!: () => void;
  const holding = new Promise<void>((resolve) => {
    held = resolve;
  });
  smtp.use(
    delay.reply("MAIL", 50, {
      match: () => {
        held();
        return true;
      },
    }),
  );
  const c = await rawClient(smtp);
  c.write("MAIL FROM:<a@s.test>\r\n");
  await holding;
  smtp.reset();
  expect((await c.read()).code).toBe(250);
  expect((await c.command("QUIT")).code).toBe(221);
  await c.waitClose();
  expect(smtp.inbox.attempts).toEqual([]);
});

test("a message whose transaction was open at reset() is the previous test's: its 250 is sent, the next test's inbox stays empty", async () => {
  fresh();
  let held!: () => void;
  const holding = new Promise<void>((resolve) => {
    held = resolve;
  });
  smtp.use(
    delay.reply("DATA_END", 20, {
      match: () => {
        held();
        return true;
      },
    }),
  );
  const c = await rawClient(smtp);
  c.write("MAIL FROM:<a@s.test>\r\nRCPT TO:<previous-test@y.test>\r\nDATA\r\n");
  expect((await c.readMany(3)).map((r) => r.code)).toEqual([250, 250, 354]);
  c.write("Subject: old\r\n\r\nhi\r\n.\r\n");
  await holding;
  smtp.reset(); // the next test begins while the previous one's 250 is still held
  expect((await c.read()).code).toBe(250);
  // The same connection's next transaction is this test's.
  c.write("MAIL FROM:<a@s.test>\r\nRCPT TO:<this-test@y.test>\r\nDATA\r\n");
  expect((await c.readMany(3)).map((r) => r.code)).toEqual([250, 250, 354]);
  expect((await c.command("Subject: new\r\n\r\nhi\r\n.")).code).toBe(250);
  await smtp.inbox.waitFor("this-test@y.test");
  expect(smtp.inbox.messages.map((m) => m.envelope.rcptTo[0]?.address)).toEqual([
    "this-test@y.test",
  ]);
  expect(smtp.inbox.attempts.map((a) => a.envelope.rcptTo[0]?.address)).toEqual([
    "this-test@y.test",
  ]);
  c.close();
});

test("STARTTLS inside a transaction ends it as the client's reset, even if no handshake follows", async () => {
  await using tls = await startTestSmtp({ tls: true });
  const c = await rawClient(tls);
  await c.command("MAIL FROM:<a@x.test>");
  await c.command("RCPT TO:<b@y.test>");
  expect((await c.command("STARTTLS")).code).toBe(220);
  const ended = await tls.inbox.waitForAttempt({ outcome: "aborted" });
  c.close(); // the handshake never comes
  expect(ended).toMatchObject({ stage: "RCPT", reason: "client reset (STARTTLS)" });
  await c.waitClose();
  expect(tls.inbox.attempts).toEqual([ended]);
});
