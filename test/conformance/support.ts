/**
 * Shared by the conformance tests with system clients: the test certificates'
 * paths, and an SMTPServer that records every message and AUTH attempt.
 * Credentials: user "u", password "p" (XOAUTH2: access token "tok").
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach } from "vitest";
import type { AuthRequest } from "../../src/protocol/sasl.js";
import type { SMTPSession } from "../../src/protocol/types.js";
import type { SMTPServerOptions } from "../../src/server/options.js";
import { SMTPServer } from "../../src/server/smtp-server.js";

export const tlsFile = (name: string) =>
  fileURLToPath(new URL(`../../fixtures/tls/${name}`, import.meta.url));
export const CA_PATH = tlsFile("ca.pem");
export const expired = {
  key: readFileSync(tlsFile("expired-key.pem")),
  cert: readFileSync(tlsFile("expired.pem")),
};
export const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

export interface Received {
  raw: Buffer;
  session: Pick<SMTPSession, "secure" | "servername" | "user">;
}

export interface Running {
  server: SMTPServer;
  port: number;
  received: Received[];
  auths: AuthRequest[];
}

const servers: SMTPServer[] = [];

/** Call once at the top of a test file: servers started with the result close after each test. */
export function recordingServers(): (options?: SMTPServerOptions) => Promise<Running> {
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  return start;
}

function credentialsOk(auth: AuthRequest): boolean {
  if (auth.username !== "u") return false;
  if (auth.method === "CRAM-MD5") return auth.validatePassword?.("p") === true;
  if (auth.method === "XOAUTH2") return auth.accessToken === "tok";
  return auth.password === "p";
}

async function start(options: SMTPServerOptions = {}): Promise<Running> {
  const received: Received[] = [];
  const auths: AuthRequest[] = [];
  const server = new SMTPServer({
    authOptional: true,
    authMethods: ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"],
    onAuth(auth, _session, callback) {
      auths.push(auth);
      if (!credentialsOk(auth)) return callback(new Error("Invalid username or password"));
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
