/**
 * LMTP (RFC 2033) against Python's smtplib.LMTP. The server is an
 * `SMTPServer({ lmtp: true })` whose onData answers per recipient with an array
 * (smtp-server's LMTP form: `callback(null, [text | Error, ...])`, one entry per
 * accepted recipient, in RCPT order; an Error's responseCode is its reply code).
 *
 * smtplib.LMTP speaks LHLO but, like smtplib.SMTP, reads only the first reply
 * after the data; the script reads the other per-recipient replies itself with
 * getreply(), so every reply is checked in order. The script prints its view as
 * JSON and the test asserts on that.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SMTPError, SMTPServer } from "../../src/index.js";
import { requireClient, run } from "../helpers/clients.js";

const python = requireClient("python3");

const SCRIPT = String.raw`
import json, smtplib, sys

port = int(sys.argv[1])
msg = "From: sender@x.test\r\nSubject: lmtp {n}\r\n\r\nhello over LMTP\r\n"
out = {}

def pair(reply):
    return [reply[0], reply[1].decode()]

with smtplib.LMTP("127.0.0.1", port) as s:
    # 1. A recipient refused at RCPT: sendmail returns it in the refused dict. The
    #    two accepted recipients get one reply each after the data; sendmail reads
    #    the first, getreply() the second.
    refused = s.sendmail("sender@x.test", ["ok1@x.test", "bad@x.test", "ok2@x.test"], msg.format(n=1))
    out["refused"] = {k: pair(v) for k, v in refused.items()}
    out["after_refused"] = [pair(s.getreply())]
    out["lhlo"] = s.does_esmtp and s.ehlo_resp is not None
    out["noop1"] = pair(s.noop())

    # 2. All recipients accepted at RCPT, one fails after the data (per-recipient
    #    verdict): the replies come in RCPT order.
    s.mail("sender@x.test")
    out["rcpts"] = [pair(s.rcpt(r)) for r in ["ok3@x.test", "full@x.test", "ok4@x.test"]]
    first = s.data(msg.format(n=2))
    out["per_recipient"] = [pair(first)] + [pair(s.getreply()) for _ in range(2)]
    out["noop2"] = pair(s.noop())

    # 3. The first recipient fails after the data: sendmail raises SMTPDataError.
    #    Before raising it sends RSET and reads one reply, which in LMTP is still
    #    ok5's delivery reply; the RSET's own reply is read here to resynchronise.
    try:
        s.sendmail("sender@x.test", ["full@x.test", "ok5@x.test"], msg.format(n=3))
        out["raised"] = None
    except smtplib.SMTPDataError as e:
        out["raised"] = [e.smtp_code, e.smtp_error.decode()]
    out["rset"] = pair(s.getreply())

print(json.dumps(out))
`;

describe.skipIf(python.skip)(`Python smtplib.LMTP ${python.skip ?? ""}`.trim(), () => {
  let server: SMTPServer;
  let port = 0;
  const delivered: Array<{ subject: string; recipients: string[] }> = [];
  const commands: string[] = [];

  beforeAll(async () => {
    server = new SMTPServer({
      lmtp: true,
      disabledCommands: ["AUTH"],
      onConnect(session, callback) {
        commands.push(`connect ${session.remoteAddress}`);
        callback();
      },
      onRcptTo(address, _session, callback) {
        if (address.address.startsWith("bad")) {
          return callback(new SMTPError(550, "no such user here", "5.1.1"));
        }
        callback();
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          const recipients = session.envelope.rcptTo.map((r) => r.address);
          delivered.push({ subject: /^Subject: (.*)$/m.exec(text)?.[1]?.trim() ?? "", recipients });
          commands.push(`opening ${session.openingCommand}`);
          callback(
            null,
            recipients.map((r) =>
              r.startsWith("full")
                ? Object.assign(new Error("mailbox full"), { responseCode: 552 })
                : `delivered to ${r}`,
            ),
          );
        });
      },
    });
    await server.listen(0, "127.0.0.1");
    const addr = server.server.address();
    if (!addr || typeof addr === "string") throw new Error("no address");
    port = addr.port;
  });
  afterAll(() => server?.close());

  test("per-recipient results reach Python: refused dict, replies in RCPT order, SMTPDataError", async () => {
    const r = await run(python.path!, ["-c", SCRIPT, String(port)], { timeoutMs: 15_000 });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toEqual({
      refused: { "bad@x.test": [550, "no such user here"] },
      after_refused: [[250, "delivered to ok2@x.test"]],
      lhlo: true,
      noop1: [250, "OK"],
      rcpts: [
        [250, "Accepted"],
        [250, "Accepted"],
        [250, "Accepted"],
      ],
      per_recipient: [
        [250, "delivered to ok3@x.test"],
        [552, "mailbox full"],
        [250, "delivered to ok4@x.test"],
      ],
      noop2: [250, "OK"],
      raised: [552, "mailbox full"],
      rset: [250, "Flushed"],
    });
    // The server saw an LMTP session (LHLO) and three messages with the accepted recipients.
    expect(commands).toContain("opening LHLO");
    expect(delivered).toEqual([
      { subject: "lmtp 1", recipients: ["ok1@x.test", "ok2@x.test"] },
      { subject: "lmtp 2", recipients: ["ok3@x.test", "full@x.test", "ok4@x.test"] },
      { subject: "lmtp 3", recipients: ["full@x.test", "ok5@x.test"] },
    ]);
  });
});
