import nodemailer from "nodemailer";
import { afterEach, describe, expect, test } from "vitest";
import { SMTPServer } from "../../src/server/smtp-server.js";
import { RawClient } from "../helpers/raw-client.js";

let server: SMTPServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(options: ConstructorParameters<typeof SMTPServer>[0] = {}) {
  server = new SMTPServer({ authOptional: true, ...options });
  await server.listen(0, "127.0.0.1");
  const addr = server.server.address();
  if (!addr || typeof addr === "string") throw new Error("no address");
  return addr.port;
}

describe("SMTPServer basics", () => {
  test("greets and answers a lock-step dialog", async () => {
    const port = await start();
    const c = await RawClient.connect(port);
    expect((await c.read()).raw).toBe("220 localhost ESMTP\r\n");
    const ehlo = await c.command("EHLO client.test");
    expect(ehlo.code).toBe(250);
    expect(ehlo.lines[0]).toBe("localhost Nice to meet you, [127.0.0.1]");
    expect((await c.command("MAIL FROM:<a@example.com>")).raw).toBe("250 Accepted\r\n");
    expect((await c.command("RCPT TO:<b@example.com>")).raw).toBe("250 Accepted\r\n");
    expect((await c.command("DATA")).code).toBe(354);
    expect((await c.command("Subject: x\r\n\r\nhello\r\n.")).code).toBe(250);
    expect((await c.command("QUIT")).raw).toBe("221 Bye\r\n");
    await c.waitClose();
  });

  test("receives a message from nodemailer through onData", async () => {
    const bodies: string[] = [];
    const port = await start({
      async onData(stream, _session) {
        const parts: Buffer[] = [];
        for await (const chunk of stream) parts.push(chunk as Buffer);
        bodies.push(Buffer.concat(parts).toString());
      },
    });
    const t = nodemailer.createTransport({
      host: "127.0.0.1",
      port,
      secure: false,
      ignoreTLS: true,
    });
    const info = await t.sendMail({
      from: "a@example.com",
      to: "b@example.com",
      subject: "Hi",
      text: "Hello",
    });
    expect(info.response).toMatch(/^250/);
    expect(bodies).toHaveLength(1);
    expect(bodies[0]).toContain("Subject: Hi");
  });
});
