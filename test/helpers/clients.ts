/**
 * Helpers for conformance tests that drive real SMTP clients (swaks, curl,
 * msmtp, Postfix's smtp-source, Python's smtplib).
 *
 * Locally a missing client skips its tests with a visible reason; in CI
 * (`REQUIRE_REAL_CLIENTS=1`, set by .ci/run) it is an error, so a broken install
 * step cannot turn the conformance suite into silent skips.
 */
import { spawn } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";

export type ClientName = "swaks" | "curl" | "msmtp" | "smtp-source" | "python3";

/** The Debian package that provides each client (what .ci/run installs). */
export const CLIENT_PACKAGES: Readonly<Record<ClientName, string>> = Object.freeze({
  swaks: "swaks",
  curl: "curl",
  msmtp: "msmtp",
  "smtp-source": "postfix",
  python3: "python3",
});

/** Directories searched after PATH: Postfix installs smtp-source in sbin, often not on a user's PATH. */
const EXTRA_DIRS: Readonly<Partial<Record<ClientName, readonly string[]>>> = {
  "smtp-source": ["/usr/sbin", "/usr/local/sbin"],
};

/** Injectable lookup inputs (tests); by default PATH and the environment of this process. */
export interface ClientLookup {
  /** Directories to search, in order; replaces PATH and the extra sbin directories. */
  dirs?: readonly string[];
  env?: NodeJS.ProcessEnv;
}

function searchDirs(name: ClientName, lookup: ClientLookup): readonly string[] {
  if (lookup.dirs !== undefined) return lookup.dirs;
  const pathDirs = ((lookup.env ?? process.env).PATH ?? "").split(delimiter);
  return [...pathDirs, ...(EXTRA_DIRS[name] ?? [])];
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Absolute path of the client's executable, or undefined when it is not installed. */
export function findClient(name: ClientName, lookup: ClientLookup = {}): string | undefined {
  for (const dir of searchDirs(name, lookup)) {
    if (dir === "" || !isAbsolute(dir)) continue;
    const file = join(dir, name);
    if (isExecutableFile(file)) return file;
  }
  return undefined;
}

/**
 * `{ path }` when installed. When missing: throws under REQUIRE_REAL_CLIENTS=1,
 * otherwise `{ skip }` with the reason, for `describe.skipIf(client.skip)(...)`.
 */
export type ClientCheck = { path: string; skip?: undefined } | { skip: string; path?: undefined };

export function requireClient(name: ClientName, lookup: ClientLookup = {}): ClientCheck {
  const path = findClient(name, lookup);
  if (path !== undefined) return { path };
  const pkg = CLIENT_PACKAGES[name];
  const where = `${name} is not installed (Debian package "${pkg}")`;
  if ((lookup.env ?? process.env).REQUIRE_REAL_CLIENTS === "1") {
    throw new Error(
      `${where}, but REQUIRE_REAL_CLIENTS=1 demands every real client: CI must install it (.ci/run: apt-get install ${pkg}).`,
    );
  }
  const skip = `skipped: ${where}; run "apt-get install ${pkg}" to test against it`;
  // Shown in the run's output (vitest's reporter folds skipped titles into a count).
  if (lookup.env === undefined) console.warn(`smtp-fixture tests: ${skip}`);
  return { skip };
}

// ---------------------------------------------------------------------------
// Running a client

/** Default limit for one client run; a client that hangs is killed, never waited on. */
export const DEFAULT_RUN_TIMEOUT_MS = 15_000;

export interface RunOptions {
  /** Written to stdin, which is then closed (stdin is closed at once without it). */
  input?: string | Buffer;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  /** Exit code, or null when a signal ended the process. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Rejection of run(): the process timed out (and was killed) or could not start. */
export class RunError extends Error {
  override readonly name = "RunError";
  constructor(
    message: string,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`${message}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`);
  }
}

/** Runs `cmd` directly (no shell), collecting its output; kills it after `timeoutMs`. */
export function run(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS;
  const shown = [cmd, ...args].join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: "pipe" });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString("utf8");
    let settled = false;
    const fail = (message: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new RunError(message, text(out), text(err)));
    };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      // Settle on exit, not close: a grandchild may still hold the pipes open.
      child.once("exit", () => {
        child.stdout.destroy();
        child.stderr.destroy();
        fail(`${shown} timed out after ${timeoutMs} ms and was killed`);
      });
    }, timeoutMs);
    child.on("error", (error) => fail(`${shown} failed: ${error.message}`));
    child.on("close", (code, signal) => {
      if (settled || child.killed) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code, signal, stdout: text(out), stderr: text(err) });
    });
    child.stdin.on("error", () => {}); // EPIPE when the client exits without reading stdin
    child.stdin.end(opts.input);
  });
}
