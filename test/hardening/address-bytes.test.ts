/**
 * Address bytes that are not UTF-8 are refused: decoded, they would be stored as
 * U+FFFD, an address the client never sent (and \xE9 and \xE8 the same one).
 */
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { startTestSmtp, type TestSmtp } from "../../src/index.js";
import { RawClient } from "../helpers/raw-client.js";

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startTestSmtp();
});
afterEach(() => smtp.reset());
afterAll(() => smtp.close());

async function client(): Promise<RawClient> {
  const c = await RawClient.connect(smtp.port);
  await c.read();
  expect((await c.command("EHLO bytes.test")).code).toBe(250);
  return c;
}

const latin1 = (s: string) => Buffer.from(s, "latin1");

test("a sender with a byte that is not UTF-8 gets 501 5.1.7", async () => {
  const c = await client();
  c.write(latin1("MAIL FROM:<\xe9@b.example>\r\n"));
  expect((await c.read()).raw).toBe("501 5.1.7 Error: Bad sender address syntax\r\n");
  c.close();
});

test("a recipient with bytes that are not UTF-8 gets 501 5.1.3; nothing is stored", async () => {
  const c = await client();
  expect((await c.command("MAIL FROM:<a@b.example>")).code).toBe(250);
  c.write(latin1("RCPT TO:<\xff\xfe@b.example>\r\n"));
  expect((await c.read()).raw).toBe("501 5.1.3 Error: Bad recipient address syntax\r\n");
  expect((await c.command("DATA")).code).toBe(503);
  expect(smtp.inbox.attempts.map((a) => [a.stage, a.reply?.code])).toEqual([["RCPT", 501]]);
  c.close();
});

test("a UTF-8 address (SMTPUTF8) is stored as sent", async () => {
  const c = await client();
  c.write(
    Buffer.from("MAIL FROM:<josé@b.example> SMTPUTF8\r\nRCPT TO:<zoë@b.example>\r\nDATA\r\n"),
  );
  expect((await c.readMany(3)).map((r) => r.code)).toEqual([250, 250, 354]);
  expect((await c.command("Subject: hi\r\n\r\nhi\r\n.")).code).toBe(250);
  const mail = await smtp.inbox.waitFor("zoë@b.example");
  expect(mail.envelope.mailFrom).toMatchObject({ address: "josé@b.example" });
  c.close();
});
