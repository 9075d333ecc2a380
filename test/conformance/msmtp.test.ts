/**
 * msmtp (a sendmail replacement) against SMTPServer: STARTTLS and implicit TLS with
 * --tls-trust-file pointing at the test CA, and AUTH PLAIN/LOGIN/CRAM-MD5/XOAUTH2.
 * A message with complete headers and CRLF line ends goes through unchanged.
 * Skipped with the reason when msmtp is not installed (an error in CI).
 */
import { describe, expect, test } from "vitest";
import { requireClient, run } from "../helpers/clients.js";
import { CA_PATH, expired, recordingServers, sha256 } from "./support.js";

const msmtp = requireClient("msmtp");

const start = recordingServers();

/** Complete headers (so msmtp adds none), CRLF line ends, lines that need dot-stuffing. */
const INPUT = [
  "From: sender@example.com",
  "To: rcpt@example.com",
  "Date: Tue, 01 Jan 2030 00:00:00 +0000",
  "Message-ID: <msmtp-conformance@example.com>",
  "Subject: msmtp conformance",
  "X-Conformance: msmtp-91c4",
  "",
  "Hello from msmtp.",
  ".a line that starts with a dot",
  "last line",
  "",
].join("\r\n");

function msmtpRun(
  port: number,
  {
    implicit = false,
    auth = "plain",
    secret = "p",
  }: { implicit?: boolean; auth?: string; secret?: string } = {},
) {
  const args = [
    "--host=127.0.0.1",
    `--port=${port}`,
    "--from=sender@example.com",
    "--domain=client.test",
    "--timeout=10",
    "--tls=on",
    `--tls-starttls=${implicit ? "off" : "on"}`,
    `--tls-trust-file=${CA_PATH}`,
    `--auth=${auth}`,
    "--user=u",
    `--passwordeval=echo ${secret}`,
    "rcpt@example.com",
  ];
  return run(msmtp.path ?? "msmtp", args, { input: INPUT });
}

function expectExactCopy(raw: Buffer | undefined) {
  expect(raw).toBeDefined();
  const text = raw!.toString("utf8");
  expect(text).toContain("\r\nX-Conformance: msmtp-91c4\r\n");
  expect(text).toContain("\r\n\r\nHello from msmtp.\r\n.a line that starts with a dot\r\n");
  expect(sha256(raw!)).toBe(sha256(INPUT));
}

describe.skipIf(msmtp.skip !== undefined)(
  `msmtp conformance${msmtp.skip ? ` (${msmtp.skip})` : ""}`,
  () => {
    test("sends over STARTTLS with AUTH PLAIN, the message unchanged", async () => {
      const s = await start();
      const r = await msmtpRun(s.port);
      expect(r.code, r.stderr).toBe(0);
      expect(s.received).toHaveLength(1);
      expect(s.received[0]?.session).toMatchObject({ secure: true, user: "u" });
      expectExactCopy(s.received[0]?.raw);
    });

    test("sends over implicit TLS (--tls-starttls=off)", async () => {
      const s = await start({ secure: true });
      const r = await msmtpRun(s.port, { implicit: true });
      expect(r.code, r.stderr).toBe(0);
      expect(s.received[0]?.session).toMatchObject({ secure: true, user: "u" });
      expectExactCopy(s.received[0]?.raw);
    });

    test.each([
      ["plain", "PLAIN", "p"],
      ["login", "LOGIN", "p"],
      ["cram-md5", "CRAM-MD5", "p"],
      ["xoauth2", "XOAUTH2", "tok"],
    ])("--auth=%s authenticates with %s", async (auth, method, secret) => {
      const s = await start();
      const r = await msmtpRun(s.port, { auth, secret });
      expect(r.code, r.stderr).toBe(0);
      expect(s.auths.map((a) => [a.method, a.username])).toEqual([[method, "u"]]);
      expectExactCopy(s.received[0]?.raw);
    });

    test("a wrong password is refused and nothing is delivered", async () => {
      const s = await start();
      const r = await msmtpRun(s.port, { secret: "wrong" });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("535 Invalid username or password");
      expect(s.received).toEqual([]);
    });

    test("refuses a certificate that has expired", async () => {
      const s = await start();
      s.server.updateSecureContext(expired);
      const r = await msmtpRun(s.port);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/expired/i);
      expect(s.received).toEqual([]);
    });
  },
);
