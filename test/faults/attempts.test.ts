import nodemailer from "nodemailer";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import {
  type AttemptRecord,
  delay,
  disconnect,
  dropAfterData,
  type Fault,
  hang,
  reject,
  startTestSmtp,
  type TestSmtp,
} from "../../src/index.js";
import { RawClient } from "../helpers/raw-client.js";
import { firing } from "./helpers.js";

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startTestSmtp();
});
afterEach(() => smtp.reset());
afterAll(() => smtp.close());

/** EHLO, MAIL and RCPT, the last answered or not. */
async function upToRcpt(fault: Fault): Promise<RawClient> {
  smtp.use(fault);
  const c = await RawClient.connect(smtp.port);
  await c.read();
  await c.command("EHLO x");
  await c.command("MAIL FROM:<a@x.test>");
  c.write("RCPT TO:<b@example.com>\r\n");
  return c;
}

test.each([
  ["a disconnect before the reply", disconnect.before("RCPT"), "aborted", undefined],
  // The client got the RCPT's 250, then the connection closed.
  ["a disconnect right after the reply", disconnect.after("RCPT"), "aborted", 250],
  ["a delayed reply", delay.reply("RCPT", 1), "delayed", undefined],
])("%s is recorded in attempts with the fault's name", async (_name, fault, outcome, code) => {
  const c = await upToRcpt(fault);
  if (outcome === "aborted") await c.waitClose();
  else expect((await c.read()).code).toBe(250);
  const attempt = smtp.inbox.attempts.find((a) => a.reason.startsWith("fault:"));
  expect(attempt).toMatchObject({ stage: "RCPT", outcome });
  expect(attempt?.reply?.code).toBe(code);
  expect(attempt?.reason).toContain(fault.name);
  c.close();
});

test("a dropped 250 is recorded as accepted, naming the fault", async () => {
  smtp.use(dropAfterData());
  const c = await RawClient.connect(smtp.port);
  await c.read();
  c.write("EHLO x\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<lost@example.com>\r\nDATA\r\n");
  await c.readMany(4);
  c.write("Subject: lost\r\n\r\nx\r\n.\r\n");
  await c.waitClose();
  const mail = await smtp.inbox.waitFor("lost@example.com");
  expect(mail.acknowledged).toBe(false);
  // So a dump's message .json shows the lost ack too.
  expect(mail.toJSON().acknowledged).toBe(false);
  const attempt = smtp.inbox.attempts.find((a) => a.messageId === mail.id);
  expect(attempt?.reason).toMatch(/^fault: dropAfterData\(\): 250 not sent$/);
});

test("a message over the size limit is recorded as refused for its size, not by a hook", async () => {
  await using small = await startTestSmtp({ size: 1000 });
  const sent = nodemailer
    .createTransport(small.transport)
    .sendMail({ from: "a@x.test", to: "big@example.com", text: "x".repeat(5000) });
  await expect(sent).rejects.toMatchObject({ responseCode: 552 });
  expect(small.inbox.attempts).toEqual([
    expect.objectContaining({
      stage: "DATA_END",
      outcome: "rejected",
      reply: expect.objectContaining({ code: 552 }),
      reason: "size",
    }),
  ]);
  expect(small.inbox.messages).toEqual([]);
});

/** MAIL and RCPT accepted on a fresh connection; BDAT offered. */
async function inEnvelope(): Promise<RawClient> {
  smtp.capabilities.set({ CHUNKING: true });
  const c = await RawClient.connect(smtp.port);
  await c.read();
  await c.command("EHLO x");
  expect((await c.command("MAIL FROM:<a@x.test>")).code).toBe(250);
  expect((await c.command("RCPT TO:<b@example.com>")).code).toBe(250);
  return c;
}

const summary = (a: AttemptRecord) => ({
  stage: a.stage,
  outcome: a.outcome,
  code: a.reply?.code,
  reason: a.reason,
  from: a.envelope.mailFrom ? a.envelope.mailFrom.address : a.envelope.mailFrom,
  to: a.envelope.rcptTo.map((r) => r.address),
});

test.each([
  ["reject.dataEnd after DATA", reject.dataEnd(451), ["DATA", "body\r\n."], "DATA_END"],
  ["reject.dataEnd after BDAT LAST", reject.dataEnd(451), ["BDAT 6 LAST\r\nbody"], "DATA_END"],
  ["reject.bdat on the first chunk", reject.bdat(451), ["BDAT 6 LAST\r\nbody"], "BDAT"],
])(
  "%s: the refusal is recorded once, with the transaction's envelope",
  async (_name, fault, lines, stage) => {
    smtp.use(fault);
    const c = await inEnvelope();
    for (const line of lines.slice(0, -1)) await c.command(line);
    expect((await c.command(lines.at(-1)!)).code).toBe(451);
    expect(smtp.inbox.attempts.map(summary)).toEqual([
      {
        stage,
        outcome: "rejected",
        code: 451,
        reason: expect.stringMatching(/^fault: reject\./),
        from: "a@x.test",
        to: ["b@example.com"],
      },
    ]);
    c.close();
  },
);

test.each([
  [
    'a bare LF with bareLf: "reject"',
    { bareLf: "reject" as const },
    ["DATA", "Subject: x\r\n\r\nbare\nlf\r\n."],
    550,
    "bare LF",
  ],
  ["BDAT over size", { size: 10 }, ["BDAT 14 LAST\r\n0123456789ab"], 552, "size"],
])(
  "%s is one refused attempt, not an abort as well",
  async (_name, options, lines, code, reason) => {
    await using own = await startTestSmtp({ ...options, hideCHUNKING: false } as never);
    const c = await RawClient.connect(own.port);
    await c.read();
    await c.command("EHLO x");
    await c.command("MAIL FROM:<a@x.test>");
    await c.command("RCPT TO:<b@example.com>");
    for (const line of lines.slice(0, -1)) await c.command(line);
    expect((await c.command(lines.at(-1)!)).code).toBe(code);
    expect(own.inbox.attempts.map(summary)).toEqual([
      {
        stage: "DATA_END",
        outcome: "rejected",
        code,
        reason,
        from: "a@x.test",
        to: ["b@example.com"],
      },
    ]);
    c.close();
  },
);

test("the 503s that follow a refused MAIL or refused recipients are not attempts of their own", async () => {
  smtp.use(reject.mail("no@x.test", 550), reject.rcpt("gone@example.com", 550));
  const c = await RawClient.connect(smtp.port);
  await c.read();
  await c.command("EHLO x");
  // RFC 2920 pipelining: the client sends the group before it knows the MAIL's fate.
  // A RCPT with wrong parameters there is answered 503 too: the MAIL came first.
  c.write(
    "MAIL FROM:<no@x.test>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com> NOTIFY=NEVER,SUCCESS\r\nDATA\r\n",
  );
  expect((await c.readMany(4)).map((r) => r.code)).toEqual([550, 503, 503, 503]);
  c.write("MAIL FROM:<a@x.test>\r\nRCPT TO:<gone@example.com>\r\nDATA\r\n");
  expect((await c.readMany(3)).map((r) => r.code)).toEqual([250, 550, 503]);
  expect((await c.command("RSET")).code).toBe(250);
  // A DATA without any MAIL first is the client's own bug: that one is recorded.
  expect((await c.command("DATA")).code).toBe(503);
  expect(smtp.inbox.attempts.map((a) => [a.stage, a.reply?.code, a.reason])).toEqual([
    ["MAIL", 550, expect.stringMatching(/^fault: reject\.mail/)],
    ["RCPT", 550, expect.stringMatching(/^fault: reject\.rcpt/)],
    ["DATA", 503, "sequence"],
  ]);
  c.close();
});

test.each([
  ["QUIT", (c: RawClient) => c.command("QUIT"), "client quit (QUIT)", undefined],
  ["RSET", (c: RawClient) => c.command("RSET"), "client reset (RSET)", undefined],
  ["EHLO again", (c: RawClient) => c.command("EHLO again.test"), "client reset (EHLO)", undefined],
  ["closing the socket", async (c: RawClient) => c.close(), "client disconnected", undefined],
  [
    "one unrecognized command too many",
    (c: RawClient) => c.command("FOO"),
    "too many unrecognized commands",
    421,
  ],
])(
  "an envelope the client leaves by %s is an aborted attempt saying so",
  async (_name, leave, reason, code) => {
    let closed!: () => void;
    const serverDone = new Promise<void>((resolve) => {
      closed = resolve;
    });
    await using own = await startTestSmtp({ maxUnrecognizedCommands: 1, onClose: () => closed() });
    const c = await RawClient.connect(own.port);
    await c.read();
    await c.command("EHLO x");
    await c.command("MAIL FROM:<a@x.test>");
    await c.command("RCPT TO:<b@example.com>");
    await leave(c);
    c.close();
    await serverDone; // the server has seen the connection end
    expect(own.inbox.attempts.map(summary)).toEqual([
      { stage: "RCPT", outcome: "aborted", code, reason, from: "a@x.test", to: ["b@example.com"] },
    ]);
  },
);

test("BDAT chunks the client abandons with RSET are an aborted message", async () => {
  const c = await inEnvelope();
  expect((await c.command("BDAT 4\r\nha")).code).toBe(250); // "ha" and the CRLF: 4 bytes
  expect((await c.command("RSET")).code).toBe(250);
  expect(smtp.inbox.attempts.map(summary)).toEqual([
    {
      stage: "DATA_END",
      outcome: "aborted",
      code: undefined,
      reason: "client reset (RSET)",
      from: "a@x.test",
      to: ["b@example.com"],
    },
  ]);
  c.close();
});

test("a transaction whose refusal is recorded is not recorded again when the client leaves it", async () => {
  smtp.use(reject.rcpt(550));
  const c = await RawClient.connect(smtp.port);
  await c.read();
  await c.command("EHLO x");
  await c.command("MAIL FROM:<a@x.test>");
  expect((await c.command("RCPT TO:<b@example.com>")).code).toBe(550);
  expect((await c.command("QUIT")).code).toBe(221);
  expect(smtp.inbox.attempts.map((a) => [a.stage, a.outcome])).toEqual([["RCPT", "rejected"]]);
  c.close();
});

test("a transaction open at reset() is the previous test's: its end is not in the next test's attempts", async () => {
  let closed!: () => void;
  const serverDone = new Promise<void>((resolve) => {
    closed = resolve;
  });
  await using own = await startTestSmtp({ onClose: () => closed() });
  const c = await RawClient.connect(own.port);
  await c.read();
  await c.command("EHLO x");
  await c.command("MAIL FROM:<a@x.test>");
  await c.command("RCPT TO:<b@example.com>");
  own.reset(); // the next test begins; the old client leaves mid-transaction
  c.close();
  await serverDone;
  expect(own.inbox.attempts).toEqual([]);
});

test("disconnect.after(DATA) is one attempt, with the 354 the client got", async () => {
  let closed!: () => void;
  const serverDone = new Promise<void>((resolve) => {
    closed = resolve;
  });
  await using own = await startTestSmtp({ onClose: () => closed() });
  own.use(disconnect.after("DATA"));
  const c = await RawClient.connect(own.port);
  await c.read();
  c.write("EHLO x\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
  expect((await c.readMany(4)).map((r) => r.code)).toEqual([250, 250, 250, 354]);
  await serverDone;
  expect(own.inbox.attempts.map(summary)).toEqual([
    {
      stage: "DATA",
      outcome: "aborted",
      code: 354,
      reason: "fault: disconnect.after(DATA)",
      from: "a@x.test",
      to: ["b@example.com"],
    },
  ]);
  c.close();
});

test("hang(DATA_END) ended by close(): the message's attempt says so, with the 421", async () => {
  const own = await startTestSmtp({ closeTimeout: 60_000 });
  const hung = firing(hang("DATA_END"));
  own.use(hung.fault);
  const c = await RawClient.connect(own.port);
  await c.read();
  c.write("EHLO x\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
  await c.readMany(4);
  c.write("Subject: x\r\n\r\nbody\r\n.\r\n");
  await hung.fired;
  await own.close();
  expect(own.inbox.attempts.map(summary)).toEqual([
    {
      stage: "DATA_END",
      outcome: "aborted",
      code: 421,
      reason: "fault: hang(DATA_END) (server closed)",
      from: "a@x.test",
      to: ["b@example.com"],
    },
  ]);
  c.close();
});

test("a message whose client leaves while a fault holds its 250 is one aborted attempt, naming the fault", async () => {
  let closed!: () => void;
  const serverDone = new Promise<void>((resolve) => {
    closed = resolve;
  });
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let holding!: () => void;
  const applied = new Promise<void>((resolve) => {
    holding = resolve;
  });
  await using own = await startTestSmtp({ onClose: () => closed() });
  // A delay whose end the test decides: the fault answers once `release()` is called.
  own.use({
    name: "held 250",
    stages: ["DATA_END"],
    times: 1,
    matches: () => true,
    apply: () => {
      holding();
      return held.then(() => ({}));
    },
  });
  const c = await RawClient.connect(own.port);
  await c.read();
  c.write("EHLO x\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
  await c.readMany(4);
  c.write("Subject: x\r\n\r\nbody\r\n.\r\n");
  await applied;
  c.close();
  await serverDone;
  release();
  // The directive's promise chain is microtasks only: it has run before the next macrotask.
  await new Promise<void>((resolve) => setImmediate(resolve));
  expect(own.inbox.messages).toEqual([]);
  // The message ended when its client left, named after the fault that held it; the
  // fault's answer, after the client had gone, is not an attempt of its own.
  expect(own.inbox.attempts.map((a) => [a.stage, a.outcome, a.reason])).toEqual([
    ["DATA_END", "aborted", "fault: held 250 (client gave up)"],
  ]);
});

test("a refused login is an attempt: the likeliest reason no message came", async () => {
  await using own = await startTestSmtp({ auth: { users: { app: "secret" } } });
  const sent = nodemailer
    .createTransport({ ...own.transport, auth: { user: "app", pass: "wrong" } })
    .sendMail({ from: "a@x.test", to: "b@example.com", text: "x" });
  await expect(sent).rejects.toMatchObject({ responseCode: 535 });
  expect(own.inbox.attempts.map((a) => [a.stage, a.outcome, a.reply?.code, a.command])).toEqual([
    ["AUTH", "rejected", 535, "AUTH PLAIN"],
  ]);
});

test("a client that does not log in is one attempt, refused for the missing login, not for command order", async () => {
  await using own = await startTestSmtp({ auth: { users: { app: "s3cret" } } });
  // The app's transport without its credentials: nodemailer pipelines RCPT and DATA
  // after the MAIL, and all three get the 530.
  const sent = nodemailer
    .createTransport({ ...own.transport, auth: undefined })
    .sendMail({ from: "a@x.test", to: "b@example.com", text: "x" });
  await expect(sent).rejects.toMatchObject({ responseCode: 530 });
  expect(
    own.inbox.attempts.map((a) => [a.stage, a.outcome, a.reply?.code, a.reply?.text, a.reason]),
  ).toEqual([["MAIL", "rejected", 530, "Error: authentication Required", "auth required"]]);
  const report = await own.inbox.waitFor("b@example.com", { timeout: 10 }).then(
    () => expect.unreachable("nothing was sent"),
    (e: Error) => e.message.split("\n"),
  );
  expect(
    report.slice(report.indexOf("Failed attempts:"), report.indexOf("Failed attempts:") + 2),
  ).toEqual([
    "Failed attempts:",
    "  - connection 1: MAIL FROM:<a@x.test> was rejected: 530 5.7.0 Error: authentication Required (auth required: the client did not log in; smtp.transport has the credentials)",
  ]);
});

test("the 421 at the unauthenticated-command limit is recorded for it, after the MAIL refused for the login", async () => {
  await using own = await startTestSmtp({
    auth: { users: { app: "s3cret" } },
    maxAllowedUnauthenticatedCommands: 3,
  });
  const c = await RawClient.connect(own.port);
  await c.read();
  await c.command("EHLO x");
  c.write("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.com>\r\n");
  expect((await c.readMany(2)).map((r) => r.code)).toEqual([530, 421]);
  await c.waitClose();
  expect(own.inbox.attempts.map((a) => [a.stage, a.reply?.code, a.reason])).toEqual([
    ["MAIL", 530, "auth required"],
    ["RCPT", 421, "too many unauthenticated commands"],
  ]);
});

test("hang(BDAT) ended by the timeout: its attempt says so, with the 421", async () => {
  let closed!: () => void;
  const serverDone = new Promise<void>((resolve) => {
    closed = resolve;
  });
  await using own = await startTestSmtp({
    hideCHUNKING: false,
    socketTimeout: 200,
    onClose: () => closed(),
  } as never);
  own.use(hang("BDAT"));
  const c = await RawClient.connect(own.port);
  await c.read();
  c.write("EHLO x\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.com>\r\nBDAT 4 LAST\r\nab\r\n");
  expect((await c.readMany(4)).map((r) => r.code)).toEqual([250, 250, 250, 421]);
  await serverDone;
  expect(own.inbox.attempts.map((a) => [a.stage, a.outcome, a.reply?.code, a.reason])).toEqual([
    ["BDAT", "aborted", 421, "fault: hang(BDAT) (timed out)"],
  ]);
  c.close();
});

test.each([
  ["a chunk", "BDAT 4\r\nab", 250, 0],
  ["the LAST chunk: the message is stored", "BDAT 4 LAST\r\nab", 250, 1],
])(
  "disconnect.after(BDAT) on %s closes after the chunk's reply, which its attempt has",
  async (_name, chunk, code, stored) => {
    let closed!: () => void;
    const serverDone = new Promise<void>((resolve) => {
      closed = resolve;
    });
    await using own = await startTestSmtp({
      hideCHUNKING: false,
      onClose: () => closed(),
    } as never);
    own.use(disconnect.after("BDAT"));
    const c = await RawClient.connect(own.port);
    await c.read();
    c.write("EHLO x\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.com>\r\n");
    await c.readMany(3);
    expect((await c.command(chunk)).code).toBe(code);
    await c.waitClose();
    await serverDone;
    expect(own.inbox.messages).toHaveLength(stored);
    expect(
      own.inbox.attempts
        .filter((a) => a.stage === "BDAT")
        .map((a) => [a.outcome, a.reply?.code, a.reason]),
    ).toEqual([["aborted", code, "fault: disconnect.after(BDAT)"]]);
  },
);

test.each([
  ["a delayed MAIL", () => delay.reply("MAIL", 60_000), "MAIL", ["MAIL FROM:<a@x.test>"]],
  [
    "a delayed RCPT",
    () => delay.reply("RCPT", 60_000),
    "RCPT",
    ["MAIL FROM:<a@x.test>", "RCPT TO:<b@example.com>"],
  ],
  [
    "a refusal held by its delayMs",
    () => reject.rcpt({ code: 550, delayMs: 60_000 }),
    "RCPT",
    ["MAIL FROM:<a@x.test>", "RCPT TO:<b@example.com>"],
  ],
])(
  "%s the client does not wait out: one attempt, at that command, naming the fault",
  async (_name, make, stage, lines) => {
    const fault = make();
    const command = lines.at(-1);
    let answered!: Promise<unknown>;
    const watched = firing({
      ...fault,
      apply(ctx) {
        const d = fault.apply(ctx);
        answered = Promise.resolve(d);
        return d;
      },
    });
    await using own = await startTestSmtp({ faults: [watched.fault] });
    // A client that gives up on the held command: it leaves once the server holds it
    // (the fault has fired), without waiting for the reply. A delay far longer than
    // the test, so only the client's leaving can end it.
    const c = await RawClient.connect(own.port);
    expect((await c.read()).code).toBe(220);
    expect((await c.command("EHLO x")).code).toBe(250);
    for (const line of lines.slice(0, -1)) expect((await c.command(line)).code).toBe(250);
    c.write(`${command}\r\n`);
    await watched.fired;
    c.close();
    const attempt = await own.inbox.waitForAttempt({ outcome: "aborted" });
    expect(attempt).toMatchObject({
      stage,
      command,
      reason: `fault: ${fault.name} (client gave up)`,
    });
    // The fault answers after the client has gone (its wait ends with the
    // connection): that is not an attempt of its own.
    await answered;
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(own.inbox.attempts).toEqual([attempt]);
  },
);

test.each([
  ["the greeting (a client's greetingTimeout)", "CONNECT" as const, [] as string[], ""],
  ["EHLO", "EHLO" as const, ["EHLO late.test"], "EHLO late.test"],
  ["RSET", "RSET" as const, ["EHLO x", "RSET"], "RSET"],
])(
  "a delay at %s that the client gave up on is an aborted attempt naming the fault",
  async (_name, stage, lines, command) => {
    let closed!: () => void;
    const serverDone = new Promise<void>((resolve) => {
      closed = resolve;
    });
    await using own = await startTestSmtp({
      faults: [delay.reply(stage, 60_000)],
      onClose: () => closed(),
    });
    const c = await RawClient.connect(own.port);
    if (lines.length > 0) {
      expect((await c.read()).code).toBe(220);
      for (const line of lines.slice(0, -1)) await c.command(line);
    }
    // The held command, and the client gone before its reply (in the same read).
    c.write(lines.length > 0 ? `${lines.at(-1)}\r\n` : "");
    c.close();
    await serverDone;
    expect(own.inbox.attempts.map((a) => [a.stage, a.outcome, a.command, a.reason])).toEqual([
      [stage, "aborted", command, `fault: delay.reply(${stage}, 60000) (client gave up)`],
    ]);
  },
);
