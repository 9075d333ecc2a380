import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { disconnect, type Fault, startTestSmtp, type TestSmtp } from "../../src/index.js";
import { RawClient } from "../helpers/raw-client.js";
import {
  expectServesNext,
  faultAttempts,
  lastTranscript,
  rawClient,
  sendFails,
} from "./helpers.js";

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startTestSmtp();
});
afterAll(() => smtp.close());
afterEach(() => smtp.reset());

const MAIL_FROM = "MAIL FROM:<app@sender.test>";
const RCPT_TO = "RCPT TO:<bob@example.com>";
const BODY = "Subject: hi\r\n\r\nbody\r\n.\r\n";

/** Reads what is left and expects the connection to be gone without another byte. */
async function expectClosedSilently(c: RawClient): Promise<void> {
  await c.waitClose();
  await expect(c.read()).rejects.toThrow('connection closed; unparsed: ""');
}

interface EdgeCase {
  stage: string;
  before: readonly string[];
  trigger: string;
}

const edges: EdgeCase[] = [
  { stage: "EHLO", before: [], trigger: "EHLO raw.test\r\n" },
  { stage: "MAIL", before: ["EHLO raw.test"], trigger: `${MAIL_FROM}\r\n` },
  { stage: "RCPT", before: ["EHLO raw.test", MAIL_FROM], trigger: `${RCPT_TO}\r\n` },
  { stage: "DATA", before: ["EHLO raw.test", MAIL_FROM, RCPT_TO], trigger: "DATA\r\n" },
  { stage: "DATA_END", before: ["EHLO raw.test", MAIL_FROM, RCPT_TO, "DATA"], trigger: BODY },
  { stage: "RSET", before: ["EHLO raw.test"], trigger: "RSET\r\n" },
  { stage: "QUIT", before: ["EHLO raw.test"], trigger: "QUIT\r\n" },
];

async function dialog(before: readonly string[]): Promise<RawClient> {
  const c = await RawClient.connect(smtp.port);
  expect((await c.read()).code).toBe(220);
  for (const line of before) expect((await c.command(line)).code).toBeLessThan(400);
  return c;
}

describe("disconnect.before(stage)", () => {
  test("CONNECT: the connection closes before the greeting", async () => {
    const fault = disconnect.before("CONNECT");
    smtp.use(fault);
    const c = await RawClient.connect(smtp.port);
    await expectClosedSilently(c);
    expect(lastTranscript(smtp).text).toContain(`# fault fired: ${fault.name} at CONNECT`);
    smtp.resetFaults();
    await expectServesNext(smtp);
  });

  test.each(edges)(
    "$stage: the command gets no reply at all",
    async ({ stage, before, trigger }) => {
      const fault = disconnect.before(stage as "MAIL");
      smtp.use(fault);
      const c = await dialog(before);
      c.write(trigger);
      await expectClosedSilently(c);
      expect(lastTranscript(smtp).text).toContain(
        `# fault fired: disconnect.before(${stage}) at ${stage}`,
      );
      smtp.resetFaults();
      await expectServesNext(smtp);
    },
  );

  test("DATA_END: the message is not stored and the attempt names the fault", async () => {
    smtp.use(disconnect.before("DATA_END"));
    const c = await dialog(["EHLO raw.test", MAIL_FROM, RCPT_TO, "DATA"]);
    c.write(BODY);
    await expectClosedSilently(c);
    expect(smtp.inbox.messages).toHaveLength(0);
    expect(faultAttempts(smtp)).toEqual([
      expect.objectContaining({ outcome: "aborted", reason: "fault: disconnect.before(DATA_END)" }),
    ]);
  });

  test("nodemailer reports a dropped connection", async () => {
    smtp.use(disconnect.before("RCPT", { once: true }));
    const err = await sendFails(smtp);
    expect(err.code).toBe("ECONNECTION");
    expect(err.message).toBe("Connection closed unexpectedly");
    await expectServesNext(smtp);
  });
});

describe("disconnect.after(stage)", () => {
  test("CONNECT: the greeting arrives, then the connection closes", async () => {
    smtp.use(disconnect.after("CONNECT"));
    const c = await RawClient.connect(smtp.port);
    expect((await c.read()).code).toBe(220);
    await expectClosedSilently(c);
  });

  test("MAIL: the 250 arrives, then the connection closes", async () => {
    smtp.use(disconnect.after("MAIL"));
    const c = await rawClient(smtp);
    expect((await c.command(MAIL_FROM)).raw).toBe("250 2.1.0 Accepted\r\n");
    await expectClosedSilently(c);
    expect(lastTranscript(smtp).text).toContain("# fault fired: disconnect.after(MAIL) at MAIL");
    // The attempt has the reply the client got before the close.
    expect(faultAttempts(smtp).map((a) => [a.stage, a.outcome, a.reply?.code, a.reason])).toEqual([
      ["MAIL", "aborted", 250, "fault: disconnect.after(MAIL)"],
    ]);
    smtp.resetFaults();
    await expectServesNext(smtp);
  });

  test("DATA_END: the message is stored and acknowledged, then the connection closes", async () => {
    smtp.use(disconnect.after("DATA_END"));
    const c = await dialog(["EHLO raw.test", MAIL_FROM, RCPT_TO, "DATA"]);
    c.write(BODY);
    expect((await c.read()).code).toBe(250);
    await expectClosedSilently(c);
    const mail = await smtp.inbox.waitFor("bob@example.com");
    expect(mail.acknowledged).toBe(true);
    // The message's attempt names the fault that closed the connection after its 250.
    expect(smtp.inbox.attempts.map((a) => [a.stage, a.outcome, a.reason, a.messageId])).toEqual([
      ["DATA_END", "accepted", "fault: disconnect.after(DATA_END)", mail.id],
    ]);
  });
});

describe("disconnect.during(DATA, { afterBytes })", () => {
  const big = `Subject: big\r\n\r\n${"x".repeat(2000)}\r\n.\r\n`;

  test("reads that many bytes of the message, then closes without a reply", async () => {
    const fault = disconnect.during("DATA", { afterBytes: 1024 });
    smtp.use(fault);
    const c = await dialog(["EHLO raw.test", MAIL_FROM, RCPT_TO, "DATA"]);
    c.write(big);
    await expectClosedSilently(c);
    expect(smtp.inbox.messages).toHaveLength(0);
    const { connection, text } = lastTranscript(smtp);
    expect(text).toContain(`# fault fired: ${fault.name} at DATA_BODY`);
    expect(faultAttempts(smtp)).toEqual([
      expect.objectContaining({
        connection,
        outcome: "aborted",
        reason: 'fault: disconnect.during("DATA", { afterBytes: 1024 })',
      }),
    ]);
    smtp.resetFaults();
    await expectServesNext(smtp);
  });

  test("sends a reply first when given a code", async () => {
    smtp.use(disconnect.during("DATA", { afterBytes: 10, code: 421, message: "4.4.2 Timeout" }));
    const c = await dialog(["EHLO raw.test", MAIL_FROM, RCPT_TO, "DATA"]);
    c.write(big);
    expect((await c.read()).raw).toBe("421 4.4.2 Timeout\r\n");
    await expectClosedSilently(c);
    // At the message's end, as the cut without a code is (README: "their attempts are
    // at DATA_END"), so waitForAttempt({ stage: "DATA_END" }) finds either.
    expect(faultAttempts(smtp)).toEqual([
      expect.objectContaining({
        stage: "DATA_END",
        outcome: "rejected",
        reply: expect.objectContaining({ code: 421 }),
      }),
    ]);
    await expect(smtp.inbox.waitForAttempt({ stage: "DATA_END" })).resolves.toMatchObject({
      reason: expect.stringMatching(/^fault: disconnect\.during/),
    });
  });

  test("cuts BDAT data across chunks", async () => {
    smtp.use(disconnect.during("DATA", { afterBytes: 15 }));
    const c = await dialog(["EHLO raw.test", MAIL_FROM, RCPT_TO]);
    c.write("BDAT 10\r\n0123456789");
    expect((await c.read()).raw).toBe("250 2.0.0 10 octets received\r\n");
    c.write("BDAT 10 LAST\r\n0123456789");
    await expectClosedSilently(c);
    expect(smtp.inbox.messages).toHaveLength(0);
  });

  test("a message shorter than afterBytes is delivered", async () => {
    smtp.use(disconnect.during("DATA", { afterBytes: 100_000 }));
    const c = await dialog(["EHLO raw.test", MAIL_FROM, RCPT_TO, "DATA"]);
    c.write(BODY);
    expect((await c.read()).code).toBe(250);
    c.close();
    await smtp.inbox.waitFor("bob@example.com");
  });

  test("a once cut that a short message never reached is still there for the next one", async () => {
    const fault = disconnect.during("DATA", { afterBytes: 1024, once: true });
    smtp.use(fault);
    const short = await dialog(["EHLO raw.test", MAIL_FROM, RCPT_TO, "DATA"]);
    short.write(BODY);
    expect((await short.read()).code).toBe(250);
    await smtp.inbox.waitFor("bob@example.com");
    expect(smtp.listFaults()).toEqual([expect.objectContaining({ remaining: 1 })]);
    expect(lastTranscript(smtp).text).toContain(
      `# fault returned: ${fault.name}: the data ended before 1024 bytes, so it did not cut`,
    );
    short.close();
    const long = await dialog(["EHLO raw.test", MAIL_FROM, RCPT_TO, "DATA"]);
    long.write(big);
    await expectClosedSilently(long);
    expect(smtp.inbox.messages).toHaveLength(1);
    expect(smtp.listFaults()).toEqual([expect.objectContaining({ remaining: 0 })]);
  });

  test("a cut armed for a transaction the client abandons is given back too", async () => {
    let closed!: () => void;
    const gone = new Promise<void>((resolve) => {
      closed = resolve;
    });
    await using own = await startTestSmtp({ onClose: () => closed() });
    own.use(disconnect.during("DATA", { afterBytes: 1024, once: true }));
    const c = await RawClient.connect(own.port);
    await c.read();
    for (const line of ["EHLO raw.test", MAIL_FROM, RCPT_TO, "DATA"]) await c.command(line);
    c.write("Subject: gone\r\n\r\nhalf a message");
    c.close();
    await gone; // onClose runs once the server has let the connection go
    expect(own.listFaults()).toEqual([expect.objectContaining({ remaining: 1 })]);
  });

  test("nodemailer sees the connection drop mid-message", async () => {
    smtp.use(disconnect.during("DATA", { afterBytes: 1024, once: true }));
    const err = await sendFails(smtp, { text: "y".repeat(10_000) });
    expect(err.code).toBe("ECONNECTION");
    expect(smtp.inbox.messages).toHaveLength(0);
    await expectServesNext(smtp);
  });
});

describe("stage names", () => {
  test.each<[string, Fault]>([
    ["greeting", disconnect.before("greeting" as "CONNECT")],
    ["data_end", disconnect.after("data_end")],
    ["dataEnd", disconnect.after("dataEnd" as "DATA_END")],
  ])("%s is accepted, case-insensitive", (_name, fault) => {
    expect(fault.stages.length).toBe(1);
  });
});
