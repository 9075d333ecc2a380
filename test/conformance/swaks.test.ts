/**
 * swaks (the Swiss Army Knife for SMTP) against SMTPServer: plain, STARTTLS, implicit
 * TLS, and AUTH PLAIN/LOGIN/CRAM-MD5, always verifying the certificate against the
 * test CA. Skipped with the reason when swaks is not installed (an error in CI).
 */
import { describe, expect, test } from "vitest";
import { requireClient, run } from "../helpers/clients.js";
import { CA_PATH, expired, recordingServers, sha256 } from "./support.js";

const swaks = requireClient("swaks");

const start = recordingServers();

const BODY = "Hello from swaks.\nSecond line.";
const HEADER = "X-Conformance: swaks-7f3a";

function swaksRun(port: number, extra: string[], input?: string) {
  const args = [
    "--server",
    "127.0.0.1",
    "--port",
    String(port),
    "--from",
    "sender@example.com",
    "--to",
    "rcpt@example.com",
    "--helo",
    "client.test",
    "--timeout",
    "10",
    ...extra,
  ];
  return run(swaks.path ?? "swaks", args, input === undefined ? {} : { input });
}

const STARTTLS = ["--tls", "--tls-verify", "--tls-ca-path", CA_PATH];
const IMPLICIT = ["--tlsc", "--tls-verify", "--tls-ca-path", CA_PATH];
const MESSAGE = ["--header", HEADER, "--body", BODY];

/** swaks' own message: its X-Mailer header, the header we added and the body, intact. */
function expectSwaksMessage(raw: Buffer) {
  const text = raw.toString("utf8");
  expect(text).toMatch(/^X-Mailer: swaks v\S+ jetmore\.org\/john\/code\/swaks\/\r$/m);
  expect(text).toContain(`\r\n${HEADER}\r\n\r\n`);
  expect(text).toContain("\r\n\r\nHello from swaks.\r\nSecond line.\r\n");
  expect(text).toMatch(/^To: rcpt@example\.com\r$/m);
}

describe.skipIf(swaks.skip !== undefined)(
  `swaks conformance${swaks.skip ? ` (${swaks.skip})` : ""}`,
  () => {
    test("sends a plain message", async () => {
      const s = await start();
      const r = await swaksRun(s.port, MESSAGE);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(s.received).toHaveLength(1);
      expectSwaksMessage(s.received[0]!.raw);
      expect(s.received[0]?.session.secure).toBe(false);
    });

    test("sends over STARTTLS (--tls) with the certificate verified", async () => {
      const s = await start();
      const r = await swaksRun(s.port, [...STARTTLS, ...MESSAGE]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain("TLS started");
      expectSwaksMessage(s.received[0]!.raw);
      expect(s.received[0]?.session.secure).toBe(true);
    });

    test("sends over implicit TLS (--tlsc) with the certificate verified", async () => {
      const s = await start({ secure: true });
      const r = await swaksRun(s.port, [...IMPLICIT, ...MESSAGE]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expectSwaksMessage(s.received[0]!.raw);
      expect(s.received[0]?.session.secure).toBe(true);
    });

    test.each(["PLAIN", "LOGIN", "CRAM-MD5"])("authenticates with --auth %s", async (method) => {
      const s = await start({ authOptional: false });
      const auth = ["--auth", method, "--auth-user", "u", "--auth-password", "p"];
      const r = await swaksRun(s.port, [...STARTTLS, ...auth, ...MESSAGE]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain("235 Authentication successful");
      expect(s.auths.map((a) => [a.method, a.username])).toEqual([[method, "u"]]);
      expect(s.received).toHaveLength(1);
      expect(s.received[0]?.session).toMatchObject({ secure: true, user: "u" });
      expectSwaksMessage(s.received[0]!.raw);
    });

    test("authenticates over implicit TLS too", async () => {
      const s = await start({ secure: true, authOptional: false });
      const auth = ["--auth", "CRAM-MD5", "--auth-user", "u", "--auth-password", "p"];
      const r = await swaksRun(s.port, [...IMPLICIT, ...auth, ...MESSAGE]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(s.received[0]?.session).toMatchObject({ secure: true, user: "u" });
    });

    test("a wrong password fails with 535 and nothing is delivered", async () => {
      const s = await start({ authOptional: false });
      const auth = ["--auth", "PLAIN", "--auth-user", "u", "--auth-password", "wrong"];
      const r = await swaksRun(s.port, [...STARTTLS, ...auth, ...MESSAGE]);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toContain("535 Invalid username or password");
      expect(s.received).toEqual([]);
    });

    test("--data - passes the message through, ending it with its own CRLF", async () => {
      const s = await start();
      // No trailing line break: swaks adds CRLF before the terminating dot.
      const input = [
        "From: sender@example.com",
        "To: rcpt@example.com",
        "Subject: exact bytes",
        HEADER,
        "",
        "line one",
        ".a line that starts with a dot",
        "last line",
      ].join("\r\n");
      const r = await swaksRun(s.port, [...STARTTLS, "--data", "-"], input);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const raw = s.received[0]!.raw;
      expect(raw.toString("utf8")).toContain(`\r\n${HEADER}\r\n`);
      expect(raw.toString("utf8")).toContain("\r\n.a line that starts with a dot\r\n");
      expect(sha256(raw)).toBe(sha256(`${input}\r\n`));
    });

    test("--tls-verify refuses a certificate that has expired", async () => {
      const s = await start();
      s.server.updateSecureContext(expired);
      const r = await swaksRun(s.port, [...STARTTLS, ...MESSAGE]);
      expect(r.code).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(/certificate verify failed/);
      expect(s.received).toEqual([]);
    });
  },
);
