/**
 * curl's SMTP client against SMTPServer: smtp:// (plain and STARTTLS with --ssl-reqd),
 * smtps://, and AUTH (--user, --login-options AUTH=..., --oauth2-bearer). curl uploads
 * the file as is, so the received bytes must hash the same as the input. The
 * certificate is always verified against the test CA, for the name "localhost".
 * Skipped with the reason when curl is not installed (an error in CI).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, test } from "vitest";
import type { AuthRequest } from "../../src/protocol/sasl.js";
import type { SMTPSession } from "../../src/protocol/types.js";
import type { SMTPServerOptions } from "../../src/server/options.js";
import { SMTPServer } from "../../src/server/smtp-server.js";
import { requireClient, run } from "../helpers/clients.js";

const curl = requireClient("curl");

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
  session: Pick<SMTPSession, "secure" | "servername" | "user">;
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

/** A server that accepts user "u" with password "p" (XOAUTH2: token "tok"). */
async function start(options: SMTPServerOptions = {}): Promise<Running> {
  const received: Received[] = [];
  const auths: AuthRequest[] = [];
  const server = new SMTPServer({
    authOptional: true,
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
      const { secure, servername, user } = session;
      received.push({ raw: Buffer.concat(parts), session: { secure, servername, user } });
    },
    ...options,
  });
  servers.push(server);
  await server.listen(0, "127.0.0.1");
  const addr = server.server.address();
  if (!addr || typeof addr === "string") throw new Error("no address");
  return { server, port: addr.port, received, auths };
}

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
