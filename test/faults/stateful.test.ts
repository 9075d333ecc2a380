import nodemailer from "nodemailer";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import {
  closeAfterMessages,
  type FaultContext,
  failTimes,
  greylist,
  partialRecipients,
  rateLimit,
  reject,
  startTestSmtp,
  type TestSmtp,
} from "../../src/index.js";
import {
  commandCodes,
  expectServesNext,
  faultAttempts,
  ONE_MESSAGE_THEN_MAIL,
  rawClient,
  send,
  sendFails,
} from "./helpers.js";

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startTestSmtp();
});
afterAll(() => smtp.close());
afterEach(() => smtp.reset());

describe("greylist()", () => {
  test("refuses the first attempt with 451 4.7.1 and accepts the retry", async () => {
    smtp.use(greylist());
    const err = await sendFails(smtp);
    expect(err).toMatchObject({ code: "EENVELOPE", responseCode: 451 });
    expect(err.response).toBe("451 4.7.1 Greylisted, please try again later");
    expect((await send(smtp)).ok).toBe(true);
    await smtp.inbox.waitFor("bob@example.com");
    expect(smtp.inbox.messages).toHaveLength(1);
    expect(faultAttempts(smtp)).toEqual([
      expect.objectContaining({ stage: "RCPT", reason: "fault: greylist()" }),
    ]);
  });

  test("keys on the (client, sender, recipient) triplet", async () => {
    smtp.use(greylist());
    expect((await send(smtp)).ok).toBe(false);
    expect((await send(smtp)).ok).toBe(true);
    // Another recipient, or another sender, is a new triplet: greylisted once more.
    expect((await send(smtp, { to: "carol@example.com" })).ok).toBe(false);
    expect((await send(smtp, { from: "other@sender.test" })).ok).toBe(false);
    expect((await send(smtp)).ok).toBe(true);
  });

  test("refuses a retry that comes before minDelayMs", async () => {
    let now = 1000; // a test clock: time moves when the test says so
    smtp.use(greylist({ minDelayMs: 50, clock: () => now }));
    expect((await sendFails(smtp)).responseCode).toBe(451);
    now += 49;
    expect((await sendFails(smtp)).responseCode).toBe(451); // too early
    now += 1;
    expect((await send(smtp)).ok).toBe(true);
  });

  test("resetFaults() forgets the triplets of a baseline greylist", async () => {
    const grey = await startTestSmtp({ faults: [greylist()] });
    try {
      expect((await send(grey)).ok).toBe(false);
      expect((await send(grey)).ok).toBe(true);
      grey.resetFaults();
      expect((await send(grey)).ok).toBe(false);
    } finally {
      await grey.close();
    }
  });
});

describe("failTimes(n, fault)", () => {
  test("fails n times, then lets everything through", async () => {
    smtp.use(failTimes(2, reject.mail(451, "4.3.0 Busy")));
    expect((await sendFails(smtp)).responseCode).toBe(451);
    expect((await sendFails(smtp)).responseCode).toBe(451);
    expect((await send(smtp)).ok).toBe(true);
    expect(smtp.listFaults()).toEqual([
      { name: "failTimes(2, reject.mail(451 4.3.0))", stages: ["MAIL"], remaining: 0 },
    ]);
  });

  test("takes a rejection's options with a stage", async () => {
    smtp.use(failTimes(1, { stage: "RCPT", code: 450 }));
    const err = await sendFails(smtp);
    expect(err.response).toBe("450 4.2.1 Mailbox unavailable");
    expect((await send(smtp)).ok).toBe(true);
  });
});

describe("closeAfterMessages(k)", () => {
  test("the MAIL after k messages on a connection gets 421 and the connection closes", async () => {
    smtp.use(closeAfterMessages(2));
    const c = await rawClient(smtp);
    for (let i = 0; i < 2; i++) {
      expect((await c.command("MAIL FROM:<app@sender.test>")).code).toBe(250);
      expect((await c.command("RCPT TO:<bob@example.com>")).code).toBe(250);
      expect((await c.command("DATA")).code).toBe(354);
      expect((await c.command(`Subject: ${i}\r\n\r\nbody\r\n.`)).code).toBe(250);
    }
    expect((await c.command("MAIL FROM:<app@sender.test>")).raw).toBe(
      "421 4.7.0 Too many messages on this connection, closing it\r\n",
    );
    await c.waitClose();
    // A new connection counts from zero.
    await expectServesNext(smtp);
    expect(smtp.inbox.messages).toHaveLength(3);
  });

  test.each([
    ["the sender's address", "app@sender.test"],
    ["a RegExp", /sender\.test$/],
    ["a predicate", (ctx: FaultContext) => ctx.address === "app@sender.test"],
  ])(
    "a match (%s) picks the MAIL that is refused; every message on the connection counts",
    async (_n, match) => {
      smtp.use(closeAfterMessages(1, { match }));
      const c = await rawClient(smtp);
      const dialog = [
        "MAIL FROM:<app@sender.test>",
        "RCPT TO:<bob@example.com>",
        "DATA",
        "Subject: 1\r\n\r\nbody\r\n.",
        "MAIL FROM:<other@elsewhere.test>", // not matched: goes through
        "RSET",
        "MAIL FROM:<app@sender.test>",
      ];
      const codes: number[] = [];
      for (const line of dialog) codes.push((await c.command(line)).code);
      expect(codes).toEqual([250, 250, 354, 250, 250, 250, 421]);
      await c.waitClose();
    },
  );

  test.each([
    ["when it decides before the refusing fault", true],
    ["when the refusing fault decides first", false],
  ])("a message refused at the end of its data counts %s", async (_name, first) => {
    const refuse = reject.dataEnd(451, { once: true });
    if (first) smtp.use(closeAfterMessages(1), refuse);
    else smtp.use(refuse, closeAfterMessages(1));
    const c = await rawClient(smtp);
    const codes = await commandCodes(c, ONE_MESSAGE_THEN_MAIL);
    expect(codes).toEqual([250, 250, 354, 451, 421]);
    await c.waitClose();
  });

  test("a nodemailer pool takes the 421 and sends the message on a fresh connection", async () => {
    smtp.use(closeAfterMessages(1));
    const pool = nodemailer.createTransport({ ...smtp.transport, pool: true, maxConnections: 1 });
    try {
      await pool.sendMail({ from: "a@sender.test", to: "one@example.com", text: "1" });
      const second = await pool.sendMail({
        from: "a@sender.test",
        to: "two@example.com",
        text: "2",
      });
      expect(second.accepted).toEqual(["two@example.com"]);
    } finally {
      pool.close();
    }
    const [one, two] = [
      await smtp.inbox.waitFor("one@example.com"),
      await smtp.inbox.waitFor("two@example.com"),
    ];
    const refused = faultAttempts(smtp)[0];
    expect(refused).toMatchObject({ stage: "MAIL", reply: { code: 421 } });
    expect(refused?.connection).toBe(one.session.connection);
    expect(two.session.connection).toBe(one.session.connection + 1);
  });
});

describe("rateLimit({ max, perMs })", () => {
  test("refuses messages over the limit in the window", async () => {
    smtp.use(rateLimit({ max: 2, perMs: 60_000 }));
    expect((await send(smtp)).ok).toBe(true);
    expect((await send(smtp)).ok).toBe(true);
    const err = await sendFails(smtp);
    expect(err.response).toBe("451 4.7.1 Rate limit exceeded, try again later");
  });

  test("per sender keeps one sender's limit from blocking another", async () => {
    smtp.use(rateLimit({ max: 1, perMs: 60_000, per: "sender" }));
    expect((await send(smtp, { from: "a@sender.test" })).ok).toBe(true);
    expect((await send(smtp, { from: "a@sender.test" })).ok).toBe(false);
    expect((await send(smtp, { from: "b@sender.test" })).ok).toBe(true);
  });

  test("lets messages through again once the window has room", async () => {
    let now = 1000;
    smtp.use(rateLimit({ max: 1, perMs: 40, clock: () => now }));
    expect((await send(smtp)).ok).toBe(true);
    now += 39;
    expect((await send(smtp)).ok).toBe(false);
    now += 1;
    expect((await send(smtp)).ok).toBe(true);
  });
});

describe("partialRecipients(map)", () => {
  test("refuses some recipients (450 and 550) and delivers to the rest", async () => {
    smtp.use(partialRecipients({ "a@x.test": 450, "B@x.test": 550 }));
    const out = await send(smtp, { to: ["a@x.test", "b@x.test", "c@x.test"] });
    if (!out.ok) throw out.error;
    expect(out.info.accepted).toEqual(["c@x.test"]);
    expect(out.info.rejected).toEqual(["a@x.test", "b@x.test"]);
    expect(out.info.rejectedErrors?.map((e) => (e as { response?: string }).response)).toEqual([
      "450 4.2.1 Mailbox temporarily unavailable",
      "550 5.1.1 No such user",
    ]);
    const mail = await smtp.inbox.waitFor("c@x.test");
    expect(mail.envelope.rcptTo.map((r) => r.address)).toEqual(["c@x.test"]);
    expect(faultAttempts(smtp).map((a) => a.reply?.code)).toEqual([450, 550]);
  });

  test("takes full reply options per recipient", async () => {
    smtp.use(partialRecipients({ "a@x.test": { code: 552, message: "5.2.2 Mailbox full" } }));
    const err = await sendFails(smtp, { to: "a@x.test" });
    expect(err.response).toBe("552 5.2.2 Mailbox full");
  });
});
