/**
 * curl's SMTP client against SMTPServer: smtp:// (plain and STARTTLS with --ssl-reqd),
 * smtps://, and AUTH (--user, --login-options AUTH=..., --oauth2-bearer). curl uploads
 * the file as is, so the received bytes must hash the same as the input. The
 * certificate is always verified against the test CA, for the name "localhost".
 * Skipped with the reason when curl is not installed (an error in CI).
 */
import { describe, expect, test } from "vitest";
import { requireClient, run } from "../helpers/clients.js";
import { CA_PATH, expired, recordingServers, sha256 } from "./support.js";

const curl = requireClient("curl");

const start = recordingServers();

/** Lines that need dot-stuffing and a header we look for; CRLF throughout, as curl sends it. */
const INPUT = [
  "From: sender@example.com",
  "To: rcpt@example.com",
  "Subject: curl conformance",
  "X-Conformance: curl-5b1e",
  "",
  "Hello from curl.",
  ".a line that starts with a dot",
  ".",
  "..two dots",
  "last line",
  "",
].join("\r\n");

/** curl to `scheme://localhost:PORT`, with localhost pinned to 127.0.0.1. */
function curlRun(scheme: "smtp" | "smtps", port: number, extra: string[] = []) {
  const args = [
    "--silent",
    "--show-error",
    "--max-time",
    "10",
    "--url",
    `${scheme}://localhost:${port}`,
    "--resolve",
    `localhost:${port}:127.0.0.1`,
    "--cacert",
    CA_PATH,
    "--mail-from",
    "sender@example.com",
    "--mail-rcpt",
    "rcpt@example.com",
    "--upload-file",
    "-",
    ...extra,
  ];
  return run(curl.path ?? "curl", args, { input: INPUT });
}

/** The bytes the server received are exactly the bytes curl read from stdin. */
function expectExactCopy(raw: Buffer | undefined) {
  expect(raw).toBeDefined();
  const text = raw!.toString("utf8");
  expect(text).toContain("\r\nX-Conformance: curl-5b1e\r\n");
  expect(text).toContain("\r\n\r\nHello from curl.\r\n.a line that starts with a dot\r\n.\r\n");
  expect(sha256(raw!)).toBe(sha256(INPUT));
}

describe.skipIf(curl.skip !== undefined)(
  `curl conformance${curl.skip ? ` (${curl.skip})` : ""}`,
  () => {
    test("smtp:// without TLS delivers the file unchanged", async () => {
      const s = await start();
      const r = await curlRun("smtp", s.port);
      expect(r.code, r.stderr).toBe(0);
      expect(s.received).toHaveLength(1);
      expectExactCopy(s.received[0]?.raw);
      expect(s.received[0]?.session.secure).toBe(false);
    });

    test("smtp:// with --ssl-reqd upgrades with STARTTLS and verifies localhost", async () => {
      const s = await start();
      const r = await curlRun("smtp", s.port, ["--ssl-reqd"]);
      expect(r.code, r.stderr).toBe(0);
      expectExactCopy(s.received[0]?.raw);
      expect(s.received[0]?.session).toMatchObject({ secure: true, servername: "localhost" });
    });

    test("smtps:// speaks TLS from the first byte", async () => {
      const s = await start({ secure: true });
      const r = await curlRun("smtps", s.port);
      expect(r.code, r.stderr).toBe(0);
      expectExactCopy(s.received[0]?.raw);
      expect(s.received[0]?.session).toMatchObject({ secure: true, servername: "localhost" });
    });

    test.each(["PLAIN", "LOGIN", "CRAM-MD5"])(
      "--user u:p with AUTH=%s over STARTTLS",
      async (method) => {
        const s = await start({ authOptional: false });
        const r = await curlRun("smtp", s.port, [
          "--ssl-reqd",
          "--user",
          "u:p",
          "--login-options",
          `AUTH=${method}`,
        ]);
        expect(r.code, r.stderr).toBe(0);
        expect(s.auths.map((a) => [a.method, a.username])).toEqual([[method, "u"]]);
        expect(s.received[0]?.session).toMatchObject({ secure: true, user: "u" });
        expectExactCopy(s.received[0]?.raw);
      },
    );

    test("--oauth2-bearer authenticates with XOAUTH2 over smtps://", async () => {
      const s = await start({ secure: true, authMethods: ["XOAUTH2"], authOptional: false });
      const r = await curlRun("smtps", s.port, ["--user", "u", "--oauth2-bearer", "tok"]);
      expect(r.code, r.stderr).toBe(0);
      expect(s.auths.map((a) => [a.method, a.username, a.accessToken])).toEqual([
        ["XOAUTH2", "u", "tok"],
      ]);
      expectExactCopy(s.received[0]?.raw);
    });

    test("a wrong password is refused (535) and nothing is delivered", async () => {
      const s = await start({ authOptional: false });
      const r = await curlRun("smtp", s.port, ["--ssl-reqd", "--user", "u:wrong"]);
      expect(r.code).toBe(67); // CURLE_LOGIN_DENIED
      expect(r.stderr).toMatch(/535|denied/i);
      expect(s.received).toEqual([]);
    });

    test("--ssl-reqd refuses a certificate that has expired", async () => {
      const s = await start();
      s.server.updateSecureContext(expired);
      const r = await curlRun("smtp", s.port, ["--ssl-reqd"]);
      expect(r.code).toBe(60); // CURLE_PEER_FAILED_VERIFICATION
      expect(r.stderr).toMatch(/expired/i);
      expect(s.received).toEqual([]);
    });
  },
);
