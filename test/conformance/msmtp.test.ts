/**
 * msmtp (a sendmail replacement) against SMTPServer: STARTTLS and implicit TLS with
 * --tls-trust-file pointing at the test CA, and AUTH PLAIN/LOGIN/CRAM-MD5/XOAUTH2.
 * A message with complete headers and CRLF line ends goes through unchanged.
 * Skipped with the reason when msmtp is not installed (an error in CI).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, test } from "vitest";
import type { AuthRequest } from "../../src/protocol/sasl.js";
import type { SMTPServerOptions } from "../../src/server/options.js";
import { SMTPServer } from "../../src/server/smtp-server.js";
import { requireClient, run } from "../helpers/clients.js";

const msmtp = requireClient("msmtp");

const tlsFile = (name: string) =>
  fileURLToPath(new URL(`../../fixtures/tls/${name}`, import.meta.url));
const CA_PATH = tlsFile("ca.pem");
const expired = {
  key: readFileSync(tlsFile("expired-key.pem")),
  cert: readFileSync(tlsFile("expired.pem")),
};
const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

interface Received {
  raw: Buffer;
  secure: boolean;
  user: unknown;
}

interface Running {
  server: SMTPServer;
  port: number;
  received: Received[];
  auths: AuthRequest[];
}

const servers: SMTPServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A server that requires AUTH: user "u", password "p" (XOAUTH2: token "tok"). */
async function start(options: SMTPServerOptions = {}): Promise<Running> {
  const received: Received[] = [];
  const auths: AuthRequest[] = [];
  const server = new SMTPServer({
    authMethods: ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"],
    onAuth(auth, _session, callback) {
      auths.push(auth);
      const ok =
        auth.username === "u" &&
        (auth.method === "CRAM-MD5"
          ? auth.validatePassword?.("p") === true
          : auth.method === "XOAUTH2"
            ? auth.accessToken === "tok"
            : auth.password === "p");
      if (!ok) return callback(new Error("Invalid username or password"));
      callback(null, { user: auth.username });
    },
    async onData(stream, session) {
      const parts: Buffer[] = [];
      for await (const chunk of stream) parts.push(chunk as Buffer);
      received.push({ raw: Buffer.concat(parts), secure: session.secure, user: session.user });
    },
    ...options,
  });
  servers.push(server);
  await server.listen(0, "127.0.0.1");
  const addr = server.server.address();
  if (!addr || typeof addr === "string") throw new Error("no address");
  return { server, port: addr.port, received, auths };
}

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
      expect(s.received[0]).toMatchObject({ secure: true, user: "u" });
      expectExactCopy(s.received[0]?.raw);
    });

    test("sends over implicit TLS (--tls-starttls=off)", async () => {
      const s = await start({ secure: true });
      const r = await msmtpRun(s.port, { implicit: true });
      expect(r.code, r.stderr).toBe(0);
      expect(s.received[0]).toMatchObject({ secure: true, user: "u" });
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
