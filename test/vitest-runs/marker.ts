/**
 * Proof that a server was closed, for the parent test to read after the child run:
 * when the listening socket closes, a marker file is written synchronously. A process
 * that exits with the server still open emits no `close`, so no marker means no close.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TestSmtp } from "smtp-fixture";

export function markWhenClosed(smtp: TestSmtp, name: string): void {
  const dir = process.env.SMTP_FIXTURE_MARKERS;
  if (!dir) throw new Error("SMTP_FIXTURE_MARKERS is not set: run this file from test/vitest/");
  const net = smtp.server.server;
  if (!net.listening) throw new Error(`${name}: the server is not listening`);
  net.once("close", () => {
    writeFileSync(join(dir, `${name}.closed`), `${smtp.port} listening=${net.listening}\n`);
  });
}
