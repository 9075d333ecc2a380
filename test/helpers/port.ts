import type { SMTPServer } from "../../src/server/smtp-server.js";

/** The TCP port a listening SMTPServer was given (always listen on port 0 in tests). */
export function portOf(server: SMTPServer): number {
  const addr = server.server.address();
  if (!addr || typeof addr === "string") throw new Error("server is not listening on TCP");
  return addr.port;
}
