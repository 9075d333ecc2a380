/** dumpOnFailure: a failed test leaves its mail and transcripts on disk. */
import { createHash } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { stripVTControlCharacters } from "node:util";
import { afterEach, beforeEach, type TestContext } from "vitest";
import { currentSmtp, isOpen, onReset, startCount, startedSince } from "../fixture/current.js";
import { describeValue } from "../fixture/describe-value.js";
import { isPlainObject } from "../fixture/faults/fault.js";
import { dumpLog } from "../fixture/inbox-dump.js";
import type { Inbox, InboxScope, TestSmtp } from "../index.js";
import { ownerOf, scopeOf, serverOf } from "./owners.js";

/** The server `dumpOnFailure` writes: a TestSmtp, or a function of the failed test's context. */
export type DumpServer =
  | TestSmtp
  | InboxScope
  | ((context: TestContext) => TestSmtp | InboxScope | undefined);

/**
 * Registers an `afterEach` that, when the test failed, writes the inbox
 * (`inbox.dump()`: every message as `.eml` + `.json`, and `attempts.json`), every
 * connection transcript (`transcript-N.txt`) and the test's errors (`error.txt`) to `<dir>/<file> - <test name>/` (with
 * ` ~<hash>` appended when that name alone could be another test's: see
 * `dumpFolderName`), and prints the path.
 *
 * `smtp` is the server, or a function that gets the failed test's context and
 * returns it. By default: the test's own server when it used a per-test fixture
 * (`createSmtpTest(options, { scope: "test" })`), even with concurrent tests each on a
 * server of their own; otherwise the latest one the test started (not concurrent),
 * closed or not; otherwise the most recently started one (`testSmtp()`, which
 * is what `beforeAll(startTestSmtp)` and a file- or worker-scoped fixture made). When
 * that one is another test's per-test server, nothing is written, and the output says
 * why. Call it at the top of a file or in a `describe`. Add `dir` to .gitignore.
 *
 * An `afterEach` that resets the server and runs before this one (vitest runs
 * `afterEach` hooks last-registered first: one registered after this call) does not
 * empty the dump: what `reset()` cleared after the test failed is written, with what
 * arrived since.
 */
export function dumpOnFailure(options?: DumpOptions): void;
export function dumpOnFailure(smtp?: DumpServer, dir?: string): void;
export function dumpOnFailure(first?: DumpServer | DumpOptions, second?: string): void {
  const { smtp, dir } = dumpArguments(first, second);
  onReset(keepWhatResetClears);
  // vitest reads a hook's first parameter as fixture names: it must be a pattern.
  beforeEach(({ task }: TestContext) => {
    startsBefore.set(task, startCount());
    running.set(task, (running.get(task) ?? 0) + 1);
  });
  afterEach(async ({ task }: TestContext) => {
    const left = (running.get(task) ?? 1) - 1;
    if (left === 0) running.delete(task);
    else running.set(task, left);
    if (!hasFailed(task)) return;
    const { server, skipped } = serverFor(task, smtp);
    if (skipped) {
      console.error(`smtp-fixture: "${task.name}" failed; no dump written: ${skipped}`);
    }
    if (!server) return;
    const target = resolve(dir, dumpFolderName(task));
    if (isScope(server)) {
      await dumpScope(task, server, target);
      return;
    }
    await dumpServer(task, server, target);
  });
}

/** Writes the server's mail, transcripts and the test's errors to `target`, and says so. */
async function dumpServer(task: Task, server: TestSmtp, target: string): Promise<void> {
  const cleared = clearedAfterFailure.get(task)?.get(server);
  const messages = [...(cleared?.messages ?? []), ...server.inbox.messages];
  // A pooled connection open across the reset is listed again after it, from the
  // reset on: its whole conversation is the one listed before.
  const transcripts = new Map<number, TestSmtp["transcripts"][number]>();
  for (const t of [...(cleared?.transcripts ?? []), ...server.transcripts]) {
    if (!transcripts.has(t.connection)) transcripts.set(t.connection, t);
  }
  try {
    await rm(target, { recursive: true, force: true });
    await mkdir(target, { recursive: true });
    if (cleared) {
      await dumpLog(
        { messages, attempts: [...cleared.attempts, ...server.inbox.attempts] },
        target,
      );
    } else {
      await server.inbox.dump(target);
    }
    await writeFile(join(target, "error.txt"), errorText(task));
    await Promise.all(
      [...transcripts.values()].map((t) =>
        writeFile(join(target, `transcript-${t.connection}.txt`), t.toString()),
      ),
    );
  } catch (error) {
    // The test has failed already; a failed dump is reported, not added to its errors.
    console.error(`smtp-fixture: could not write the failure dump to ${target}:`, error);
    return;
  }
  const released = isOpen(server) ? "" : " (it was closed: its transcripts were released)";
  const reset = cleared
    ? " (what a reset() in an afterEach that ran before this dump cleared, and what arrived since)"
    : "";
  console.error(
    `smtp-fixture: "${task.name}" failed; ${messages.length} message(s) and ` +
      `${transcripts.size} transcript(s) written to ${target}${released}${reset}`,
  );
}

/** What a reset() cleared: references to what the server held, not copies. */
interface Cleared {
  messages: Inbox["messages"];
  attempts: Inbox["attempts"];
  transcripts: TestSmtp["transcripts"];
}

/** Tests between dumpOnFailure's beforeEach and afterEach (a count: nested calls add one each). */
const running = new Map<Task, number>();
/** Per failed test and server: what the first reset() after the failure cleared. */
const clearedAfterFailure = new WeakMap<Task, Map<TestSmtp, Cleared>>();

/**
 * Called by every `reset()` before it clears anything. For each test that has failed
 * and whose dump is still to be written (an `afterEach` running before dumpOnFailure's),
 * keeps what the server holds: its messages array (reset() replaces it, so this one
 * stays as it is), its attempts list and its transcripts' references. Nothing is kept
 * while no failed test waits for its dump.
 */
function keepWhatResetClears(smtp: TestSmtp): void {
  for (const task of running.keys()) {
    if (!hasFailed(task)) continue;
    let kept = clearedAfterFailure.get(task);
    if (!kept) {
      kept = new Map();
      clearedAfterFailure.set(task, kept);
    }
    // The first reset after the failure cleared the test's mail; a later one clears less.
    if (kept.has(smtp)) continue;
    kept.set(smtp, {
      messages: smtp.inbox.messages,
      attempts: smtp.inbox.attempts,
      transcripts: [...smtp.transcripts],
    });
  }
}

type Task = TestContext["task"];

/** A scope (`smtp.inbox.scope()`), told from a server by shape (no `inbox`). */
function isScope(x: TestSmtp | InboxScope): x is InboxScope {
  return !("inbox" in x) && typeof (x as InboxScope).owns === "function";
}

/**
 * A concurrent test's scope: its messages (each `.json` with its own transcript
 * window) and attempts, and the errors; not the connections' whole transcripts,
 * which hold the other tests' mail.
 */
async function dumpScope(task: Task, scope: InboxScope, target: string): Promise<void> {
  try {
    await rm(target, { recursive: true, force: true });
    await mkdir(target, { recursive: true });
    await scope.dump(target);
    await writeFile(join(target, "error.txt"), errorText(task));
  } catch (error) {
    console.error(`smtp-fixture: could not write the failure dump to ${target}:`, error);
    return;
  }
  console.error(
    `smtp-fixture: "${task.name}" failed; ${scope.messages.length} message(s) of its scope ` +
      `written to ${target} (whole transcripts left out: they hold other tests' mail)`,
  );
}

/** How many servers had started when each test began (see `startedSince`). */
const startsBefore = new WeakMap<Task, number>();

/** `dumpOnFailure({ dir, smtp })`: the same as `dumpOnFailure(smtp, dir)`. */
export interface DumpOptions {
  /** The server, or `(context) => server`; by default the test's own or the latest started. */
  smtp?: DumpServer | undefined;
  /** Where the dumps go (default `smtp-failures`, relative to the working directory). */
  dir?: string | undefined;
}

const DUMP_KEYS = ["smtp", "dir"];

/** The server and folder from either form, or a TypeError that says what to pass. */
function dumpArguments(
  first: DumpServer | DumpOptions | undefined,
  second: string | undefined,
): { smtp: DumpServer | undefined; dir: string } {
  const given = first as unknown;
  let smtp: DumpServer | undefined;
  let dir: unknown = second;
  if (isPlainObject(given)) {
    const unknown = Object.keys(given).filter((k) => !DUMP_KEYS.includes(k));
    if (unknown.length > 0) {
      throw new TypeError(
        `dumpOnFailure: unknown option ${unknown.map((k) => JSON.stringify(k)).join(", ")}; valid options: ${DUMP_KEYS.join(", ")}`,
      );
    }
    if (second !== undefined) {
      throw new TypeError(
        "dumpOnFailure: give the folder once, as { dir } or as the second argument, not both",
      );
    }
    smtp = (given as DumpOptions).smtp;
    dir = (given as DumpOptions).dir;
  } else {
    smtp = first as DumpServer | undefined;
  }
  if (typeof given === "string" && second === undefined) {
    throw new TypeError(
      `dumpOnFailure: the first argument is the server; for the folder, dumpOnFailure({ dir: ${JSON.stringify(given)} })`,
    );
  }
  // By shape, not instanceof: a server from another copy of the package is one too.
  const server = smtp as Partial<TestSmtp> | undefined;
  const isServer =
    typeof server === "object" &&
    server !== null &&
    ("inbox" in server || isScope(server as TestSmtp | InboxScope));
  if (smtp !== undefined && typeof smtp !== "function" && !isServer) {
    throw new TypeError(
      `dumpOnFailure: the server must be a TestSmtp (from startTestSmtp), a scope (smtp.inbox.scope()) or (context) => either, got ${describeValue(smtp)}`,
    );
  }
  if (dir !== undefined && (typeof dir !== "string" || dir === "")) {
    throw new TypeError(`dumpOnFailure: dir must be a non-empty string, got ${describeValue(dir)}`);
  }
  return { smtp, dir: (dir as string | undefined) ?? "smtp-failures" };
}

/**
 * Whether the test failed, as its report will say. vitest turns a `test.fails` test's
 * result over after the `afterEach` hooks: here one that threw (as it should) still
 * reads "fail" and passes, and one that did not throw reads "pass" and fails.
 */
function hasFailed(task: Task): boolean {
  const state = task.result?.state;
  return task.fails === true ? state === "pass" : state === "fail";
}

/** Why the test failed, as vitest reported it: each error's stack (or message). */
function errorText(task: Task): string {
  if (task.fails === true) {
    return `${task.name}\n\nExpect test to fail: it is a test.fails test, and it passed.\n`;
  }
  const errors = task.result?.errors ?? [];
  // An assertion's expected/received diff, as the runner prints it, after its stack.
  const text = errors.map((e) => {
    const head = e.stack || `${e.name ?? "Error"}: ${e.message}`;
    return typeof e.diff === "string" && e.diff !== "" ? `${head}\n\n${e.diff}` : head;
  });
  // Plain text for an editor or a CI artifact: without the terminal's colour codes.
  return stripVTControlCharacters(`${task.name}\n\n${text.join("\n\n")}\n`);
}

/** The server to dump for `task`, or why there is none that is surely its own. */
function serverFor(
  task: Task,
  smtp: DumpServer | undefined,
): { server?: TestSmtp | InboxScope | undefined; skipped?: string } {
  if (typeof smtp === "function") return { server: smtp(task.context) };
  if (smtp) return { server: smtp };
  const own = serverOf(task);
  if (own) return { server: own };
  // A test that took the `scope` fixture shares its server: its own view, not the server.
  const view = scopeOf(task);
  if (view) return { server: view };
  // A server the test started itself (`await using s = await startTestSmtp()`), closed
  // by now: its mail, not the file's. Among tests running at once it could be another's.
  const started = task.concurrent ? undefined : startedSince(startsBefore.get(task) ?? Infinity);
  if (started) return { server: started };
  const current = currentSmtp();
  const owner = current && ownerOf(current);
  if (!current || !owner || owner === task) return { server: current };
  return {
    skipped:
      `it has no per-test smtp fixture of its own, and the most recently started server ` +
      `belongs to the test "${owner.name}" (createSmtpTest(..., { scope: "test" })), so its ` +
      `mail is not this test's. Use the smtp fixture in this test, or tell dumpOnFailure ` +
      `which server to write: dumpOnFailure(server) or dumpOnFailure((context) => server).`,
  };
}

interface NamedTask {
  name: string;
  type?: string;
  suite?: NamedTask | undefined;
  tasks?: NamedTask[];
  file?: (NamedTask & { filepath?: string; projectName?: string }) | undefined;
  result?: { retryCount?: number } | undefined;
}

/**
 * A folder name's length before its ` ~hash`, in UTF-8 bytes: file systems allow 255
 * bytes a name, and a Japanese character is 3 of them, an emoji 4.
 */
const MAX_NAME_BYTES = 200;

/** `text` cut to at most `max` UTF-8 bytes, at a character boundary (no pair split). */
function cutToBytes(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  let bytes = 0;
  let out = "";
  for (const ch of text) {
    bytes += Buffer.byteLength(ch);
    if (bytes > max) break;
    out += ch;
  }
  return out;
}

/**
 * @internal The folder a failed test's dump goes to: `<file> - <describe> > <test>`
 * (with ` (retry N)` on a retry), its characters other than letters and digits (any
 * script) and `_ .,()+=@-` replaced by `_`, cut to 200 UTF-8 bytes (at a character
 * boundary), without a trailing dot or space. Unless that name is the test's whole identity (the
 * test file at the root, nothing replaced or cut, no test of the same file with the
 * same name in any letter case, no vitest project name), ` ~` and 8 hex digits of a
 * hash of the file's full path and the test's full name are appended, so no two tests
 * share a folder and overwrite each other's dump.
 */
export function dumpFolderName(task: Task): string {
  const t = task as unknown as NamedTask;
  const file = t.file;
  const names = namesOf(t);
  const retry = t.result?.retryCount ? ` (retry ${t.result.retryCount})` : "";
  const fileName = file ? basename(file.filepath ?? file.name) : undefined;
  const raw = `${fileName ? `${fileName} - ` : ""}${names.join(" > ")}${retry}`;
  // Letters and digits of any script are kept (a test named in German or Japanese
  // stays readable); no trailing dot or space (Windows drops them).
  const clean = cutToBytes(
    raw
      .replace(/[^\p{L}\p{M}\p{N}_ .,()+=@-]+/gu, "_")
      .replace(/\s+/g, " ")
      .trim(),
    MAX_NAME_BYTES,
  ).replace(/[. ]+$/, "");
  const readable = clean === "" ? "test" : clean;
  const namesakes = file ? sameNamed(file, names) : [t];
  const whole =
    readable === raw &&
    !!file &&
    file.name === fileName &&
    !file.projectName &&
    namesakes.length === 1;
  if (whole) return readable;
  const identity = [file?.projectName ?? "", file?.filepath ?? file?.name ?? "", ...names];
  // Tests of one file with the same full name: their position tells them apart.
  if (namesakes.length > 1) identity.push(String(namesakes.indexOf(t)));
  const hash = createHash("sha256").update(identity.join("\0")).update(retry).digest("hex");
  return `${readable} ~${hash.slice(0, 8)}`;
}

/** The names of the describes around the test (outermost first), then the test's. */
function namesOf(t: NamedTask): string[] {
  const names = [t.name];
  for (let s = t.suite; s && s !== t.file && s.type === "suite"; s = s.suite) {
    if (s.name) names.unshift(s.name);
  }
  return names;
}

/** The tests of `file` whose full name equals `names` ignoring letter case, in order. */
function sameNamed(file: NamedTask, names: string[]): NamedTask[] {
  const want = names.join("\0").toLowerCase();
  const out: NamedTask[] = [];
  const walk = (tasks: NamedTask[] | undefined) => {
    for (const task of tasks ?? []) {
      if (task.tasks) walk(task.tasks);
      else if (namesOf(task).join("\0").toLowerCase() === want) out.push(task);
    }
  };
  walk(file.tasks);
  return out;
}
