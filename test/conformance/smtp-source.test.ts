/**
 * Postfix's smtp-source (the load generator Postfix itself is tested with) against
 * the fixture: many parallel sessions, many messages, each recorded exactly once
 * with the size smtp-source generated. Also the connection-reusing mode (-d) with
 * numbered recipients (-r, -N), and LMTP (-L) against SMTPServer({ lmtp: true }).
 *
 * smtp-source's flags (smtp-source(1)): -s sessions in parallel, -m messages in
 * total, -l payload length, -f/-t sender and recipient, -d reuse the connection,
 * -r recipients per message, -N number the recipients, -L speak LMTP, -S subject.
 * It has no pipelining mode ("BUGS: No SMTP command pipelining support").
 *
 * Sizes: the payload is `-l` bytes of 80-column lines ("1XXX...", "2XXX...") with
 * the CRLFs between lines counted in `-l`, followed by one CRLF; so the body (after
 * the header/body blank line) is `-l + 2` bytes.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SMTPServer, startTestSmtp, type TestSmtp } from "../../src/index.js";
import { requireClient, run } from "../helpers/clients.js";

const client = requireClient("smtp-source");

function bodyOf(raw: Uint8Array): string {
  const text = Buffer.from(raw).toString("latin1");
  const at = text.indexOf("\r\n\r\n");
  return at === -1 ? "" : text.slice(at + 4);
}

describe.skipIf(client.skip)(`Postfix smtp-source ${client.skip ?? ""}`.trim(), () => {
  const bin = client.path!;
  let smtp: TestSmtp;
  beforeAll(async () => {
    smtp = await startTestSmtp();
  });
  afterAll(() => smtp?.close());

  test("-s 5 -m 50 -l 1024: exactly 50 messages, each with the generated size", async () => {
    smtp.inbox.clear();
    const r = await run(
      bin,
      ["-s", "5", "-m", "50", "-l", "1024", "-f", "from@x", "-t", "to@y", `127.0.0.1:${smtp.port}`],
      {
        timeoutMs: 30_000,
      },
    );
    expect(r, r.stderr).toMatchObject({ code: 0, signal: null });
    // smtp-source has seen every 250 before it exits; accepted attempts are recorded with them.
    const accepted = smtp.inbox.attempts.filter((a) => a.outcome === "accepted");
    expect(accepted).toHaveLength(50);
    const messages = await smtp.inbox.waitFor({ to: "to@y" }, { count: 50, timeout: 10_000 });
    expect(smtp.inbox.messages).toHaveLength(50);
    for (const m of messages) {
      expect(m.envelope.mailFrom).toMatchObject({ address: "from@x" });
      expect(m.envelope.rcptTo.map((x) => x.address)).toEqual(["to@y"]);
      expect(m.size).toBe(m.raw.length);
      const body = bodyOf(m.raw);
      expect(body).toHaveLength(1024 + 2);
      expect(body).toMatch(/^([0-9X]+\r\n)+$/);
      expect(body.split("\r\n").every((line) => line.length <= 78)).toBe(true);
    }
    // Without -d every message has a connection of its own.
    expect(new Set(messages.map((m) => m.session.connection)).size).toBe(50);
  });

  test("-d -s 2 -m 20 -r 3 -N: connections reused, 3 numbered recipients per message", async () => {
    smtp.inbox.clear();
    const r = await run(
      bin,
      [
        "-d",
        "-s",
        "2",
        "-m",
        "20",
        "-r",
        "3",
        "-N",
        "-l",
        "300",
        "-f",
        "from@x",
        "-t",
        "to@y",
        "-S",
        "reuse",
        `127.0.0.1:${smtp.port}`,
      ],
      { timeoutMs: 30_000 },
    );
    expect(r, r.stderr).toMatchObject({ code: 0, signal: null });
    const messages = await smtp.inbox.waitFor({ subject: "reuse" }, { count: 20, timeout: 10_000 });
    expect(smtp.inbox.messages).toHaveLength(20);
    const connections = new Set(messages.map((m) => m.session.connection));
    expect(connections.size).toBeLessThanOrEqual(2);
    const recipients = messages.flatMap((m) => m.envelope.rcptTo.map((x) => x.address));
    expect(recipients).toHaveLength(60);
    expect(new Set(recipients).size).toBe(60);
    for (const rcpt of recipients) expect(rcpt).toMatch(/^\d+to@y$/);
    for (const m of messages) expect(bodyOf(m.raw)).toHaveLength(300 + 2);
  });

  test("-L against SMTPServer({ lmtp: true }): one LMTP reply per recipient, every message delivered", async () => {
    const bodies: number[] = [];
    const server = new SMTPServer({
      lmtp: true,
      disabledCommands: ["AUTH"],
      onData(stream, session, callback) {
        let n = 0;
        stream.on("data", (chunk: Buffer) => {
          n += chunk.length;
        });
        stream.on("end", () => {
          bodies.push(n);
          callback(
            null,
            session.envelope.rcptTo.map((x) => `delivered to ${x.address}`),
          );
        });
      },
    });
    await server.listen(0, "127.0.0.1");
    try {
      const addr = server.server.address();
      if (!addr || typeof addr === "string") throw new Error("no address");
      const r = await run(
        bin,
        [
          "-L",
          "-s",
          "3",
          "-m",
          "12",
          "-r",
          "2",
          "-l",
          "200",
          "-f",
          "from@x",
          "-t",
          "to@y",
          `127.0.0.1:${addr.port}`,
        ],
        {
          timeoutMs: 30_000,
        },
      );
      // smtp-source aborts on any reply it did not expect (without -A), so exit 0
      // means every LHLO/MAIL/RCPT/DATA and every per-recipient reply was right.
      expect(r, r.stderr).toMatchObject({ code: 0, signal: null });
      expect(bodies).toHaveLength(12);
    } finally {
      await server.close();
    }
  });
});
