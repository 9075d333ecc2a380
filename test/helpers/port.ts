import { createServer } from "node:net";
import type { SMTPServer } from "../../src/server/smtp-server.js";

/** The TCP port a listening SMTPServer was given (always listen on port 0 in tests). */
export function portOf(server: SMTPServer): number {
  const addr = server.server.address();
  if (!addr || typeof addr === "string") throw new Error("server is not listening on TCP");
  return addr.port;
}

/**
 * Why `host` (an IPv6 loopback form) cannot be listened on here, or `undefined`
 * when it can: for a visible `test.skipIf(reason)` on a host without IPv6. Any
 * other listen failure is thrown, not turned into a skip.
 */
export async function ipv6Missing(host: string): Promise<string | undefined> {
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once("error", reject);
      probe.listen(0, host, resolve);
    });
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EAFNOSUPPORT" || code === "EADDRNOTAVAIL") {
      return `skipped: this host cannot listen on ${host} (${code}: no IPv6)`;
    }
    throw err;
  } finally {
    if (probe.listening) await new Promise((resolve) => probe.close(resolve));
  }
}
