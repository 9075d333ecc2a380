// The README's Jest set-up, as written: startTestSmtp() in beforeAll, close in
// afterAll. Imports the built package ("smtp-fixture" resolves to dist/ through the
// package's self-reference), so `npm run build` must have run first.
import nodemailer from "nodemailer";
import { reject, startTestSmtp, testSmtp } from "smtp-fixture";

let smtp;

beforeAll(async () => {
  smtp = await startTestSmtp();
});

afterAll(async () => {
  await testSmtp().close();
  // Closed by afterAll, not by the process exit.
  expect(smtp.server.server.listening).toBe(false);
});

afterEach(() => smtp.reset());

test("a message sent with nodemailer is in the inbox, parsed", async () => {
  await nodemailer.createTransport(smtp.transport).sendMail({
    from: "app@example.com",
    to: "bob@example.com",
    subject: "Hello from Jest",
    text: "It arrived.",
  });
  const mail = await smtp.inbox.waitFor("bob@example.com");
  expect(mail.subject).toBe("Hello from Jest");
  expect(mail.text).toBe("It arrived.\n");
  expect(mail.envelope.mailFrom?.address).toBe("app@example.com");
});

test("a fault fails the send with the reply the test asked for", async () => {
  smtp.use(reject.rcpt("bob@example.com", 550, "5.1.1 No such user"));
  const transport = nodemailer.createTransport(smtp.transport);
  const error = await transport
    .sendMail({ from: "app@example.com", to: "bob@example.com", text: "x" })
    .then(
      () => undefined,
      (err) => err,
    );
  expect(error?.responseCode).toBe(550);
  expect(smtp.inbox.messages).toHaveLength(0);
  smtp.resetFaults();
});

test("waitFor rejects with a message that says what did arrive", async () => {
  await nodemailer.createTransport(smtp.transport).sendMail({
    from: "app@example.com",
    to: "carol@example.com",
    text: "for carol",
  });
  await expect(smtp.inbox.waitFor("dave@example.com", { timeout: 200 })).rejects.toThrow(
    /carol@example\.com/,
  );
});
