/**
 * The README's main job, `npm run demo` (examples/demo.mjs): it starts the fixture,
 * sends real mail through it, shows what arrived, and a refusal on purpose. Run as
 * the user runs it, a node process against the built package (`npm test` builds
 * before vitest runs).
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";

const DEMO = fileURLToPath(new URL("../../examples/demo.mjs", import.meta.url));

test("npm run demo sends real mail and shows what arrived", async () => {
  const { code, stdout, stderr } = await new Promise<{
    code: number | null;
    stdout: string;
    stderr: string;
  }>((resolve) => {
    execFile(process.execPath, [DEMO], { timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
  expect(stderr).toBe("");
  expect(code).toBe(0);
  expect(stdout).toMatch(
    /^smtp-fixture listening on smtp:\/\/127\.0\.0\.1:\d+ \(STARTTLS, AUTH required\)/,
  );
  expect(stdout).toContain("first message: Welcome -> alice@example.com");
  expect(stdout).toContain("Grüße aus Köln ✉");
  expect(stdout).toContain("bcc:      audit@example.com");
  expect(stdout).toMatch(/session: {2}EHLO .*, TLSv1\.3, AUTH app via PLAIN/);
  expect(stdout).toMatch(/attached: report\.csv \(text\/csv, 14 bytes/);
  expect(stdout).toContain("C: AUTH PLAIN ***");
  expect(stdout).toContain("refused on purpose: RCPT TO:<mallory@example.com> -> 550 No such user");
});
