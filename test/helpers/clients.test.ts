import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { findClient, RunError, requireClient, run } from "./clients.js";

const bin = mkdtempSync(join(tmpdir(), "smtp-fixture-clients-"));
const empty = mkdtempSync(join(tmpdir(), "smtp-fixture-empty-"));
afterAll(() => {
  rmSync(bin, { recursive: true, force: true });
  rmSync(empty, { recursive: true, force: true });
});

writeFileSync(join(bin, "swaks"), "#!/bin/sh\necho fake swaks\n");
chmodSync(join(bin, "swaks"), 0o755);
writeFileSync(join(bin, "msmtp"), "not executable\n");
chmodSync(join(bin, "msmtp"), 0o644);

describe("findClient", () => {
  test("returns the absolute path of an executable in the searched directories", () => {
    expect(findClient("swaks", { dirs: [empty, bin] })).toBe(join(bin, "swaks"));
  });

  test("ignores a file of that name that is not executable", () => {
    expect(findClient("msmtp", { dirs: [bin] })).toBeUndefined();
  });

  test("searches PATH from the given environment and skips relative entries", () => {
    const env = { PATH: ["relative/dir", "", empty, bin].join(":") };
    expect(findClient("swaks", { env })).toBe(join(bin, "swaks"));
    expect(findClient("curl", { env })).toBeUndefined();
  });
});

describe("requireClient", () => {
  test("returns the path of an installed client", () => {
    expect(requireClient("swaks", { dirs: [bin], env: {} })).toEqual({
      path: join(bin, "swaks"),
    });
  });

  test("returns a visible skip reason naming the package when a client is missing locally", () => {
    const check = requireClient("smtp-source", { dirs: [empty], env: {} });
    expect(check.path).toBeUndefined();
    expect(check.skip).toMatch(/smtp-source is not installed \(Debian package "postfix"\)/);
  });

  test("throws when a client is missing and REQUIRE_REAL_CLIENTS=1", () => {
    const env = { REQUIRE_REAL_CLIENTS: "1" };
    expect(() => requireClient("msmtp", { dirs: [empty], env })).toThrow(
      /msmtp is not installed \(Debian package "msmtp"\).*CI must install it/,
    );
  });

  test("does not throw for a missing client when REQUIRE_REAL_CLIENTS is another value", () => {
    const env = { REQUIRE_REAL_CLIENTS: "0" };
    expect(requireClient("curl", { dirs: [empty], env }).skip).toContain("curl");
  });
});

const python = requireClient("python3");

describe.skipIf(python.skip)(`run (python3) ${python.skip ?? ""}`, () => {
  const py = python.path ?? "python3";

  test("resolves with exit code 0 and the collected stdout", async () => {
    const result = await run(py, ["-c", "print('hello')"]);
    expect(result).toMatchObject({ code: 0, signal: null, stdout: "hello\n", stderr: "" });
  });

  test("resolves (does not reject) with a non-zero exit code and stderr", async () => {
    const result = await run(py, ["-c", "import sys; sys.stderr.write('bad'); sys.exit(3)"]);
    expect(result).toMatchObject({ code: 3, stdout: "", stderr: "bad" });
  });

  test.each([
    ["a string", "line 1\r\nline 2\r\n"],
    ["a Buffer", Buffer.from("caf\u00e9\r\n", "utf8")],
  ])("writes %s to stdin and closes it", async (_kind, input) => {
    const script = "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read())";
    const result = await run(py, ["-c", script], { input });
    expect(result.stdout).toBe(input.toString());
  });

  test("closes stdin at once when there is no input", async () => {
    const result = await run(py, ["-c", "import sys; print(len(sys.stdin.read()))"]);
    expect(result.stdout).toBe("0\n");
  });

  test("passes the given environment", async () => {
    const env = { ...process.env, SMTP_FIXTURE_PROBE: "42" };
    const result = await run(py, ["-c", "import os; print(os.environ['SMTP_FIXTURE_PROBE'])"], {
      env,
    });
    expect(result.stdout).toBe("42\n");
  });

  test("kills a process that outlives timeoutMs and rejects with its output so far", async () => {
    const script = "import signal; print('started', flush=True); signal.pause()";
    const error = await run(py, ["-c", script], { timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RunError);
    const runError = error as RunError;
    expect(runError.message).toMatch(/timed out after 2000 ms and was killed/);
    expect(runError.stdout).toBe("started\n");
    expect(runError.message).toContain("started");
  });
});

test("rejects with a RunError when the command does not exist", async () => {
  const missing = join(empty, "no-such-client");
  await expect(run(missing, [])).rejects.toThrow(RunError);
  await expect(run(missing, [])).rejects.toThrow(/no-such-client.*ENOENT/);
});
