/**
 * dumpOnFailure's folder names: readable, and never shared by two tests (which would
 * let one failure's dump overwrite another's), checked on made-up tasks (real failing
 * tests with such names: dump-runs.test.ts); and dumpOnFailure's argument checks.
 */
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, type TestContext, test } from "vitest";
import { dumpFolderName } from "../../src/vitest/dump.js";
import { dumpOnFailure } from "../../src/vitest/index.js";

interface FakeTask {
  name: string;
  type: "test" | "suite";
  suite?: FakeTask;
  file?: FakeTask & { filepath: string; projectName?: string };
  tasks?: FakeTask[];
  result?: { retryCount?: number };
}

/** A file task (`name` relative to the root) holding tests named `tests` ("a > b": in describe "a"). */
function file(name: string, tests: string[], projectName?: string) {
  const f: FakeTask & { filepath: string; projectName?: string } = {
    name,
    type: "suite",
    filepath: `/project/${name}`,
    tasks: [],
    ...(projectName ? { projectName } : {}),
  };
  f.file = f;
  for (const full of tests) {
    const parts = full.split(" > ");
    let parent: FakeTask = f;
    for (const suiteName of parts.slice(0, -1)) {
      let suite = parent.tasks!.find((t) => t.type === "suite" && t.name === suiteName);
      if (!suite) {
        suite = { name: suiteName, type: "suite", suite: parent, file: f, tasks: [] };
        parent.tasks!.push(suite);
      }
      parent = suite;
    }
    parent.tasks!.push({ name: parts.at(-1)!, type: "test", suite: parent, file: f });
  }
  return f;
}

/** The tests of a fake file, in order. */
function testsOf(f: FakeTask): FakeTask[] {
  return (f.tasks ?? []).flatMap((t) => (t.type === "test" ? [t] : testsOf(t)));
}

const folder = (task: FakeTask) => dumpFolderName(task as unknown as TestContext["task"]);
const folders = (f: FakeTask) => testsOf(f).map(folder);
const HASH = / ~[0-9a-f]{8}$/;

describe("dumpFolderName", () => {
  test("a test file at the root and a plain test name give `<file> - <test>`, as before", () => {
    expect(folders(file("signup.test.ts", ["sends the welcome mail"]))).toEqual([
      "signup.test.ts - sends the welcome mail",
    ]);
  });

  test("letters of any script stay, cut to bytes a file system takes; no trailing dot", async () => {
    const names = folders(
      file("i18n.test.ts", [
        "größe prüfen 日本語",
        "𝒜".repeat(130),
        "送信する".repeat(40),
        "ends with a dot.",
      ]),
    );
    const [unicode, astral, japanese, dotted] = names;
    expect(unicode).toBe("i18n.test.ts - größe prüfen 日本語");
    // Cut at a character boundary: whole 4-byte characters, none split.
    expect(astral!.replace(HASH, "")).toBe(`i18n.test.ts - ${"𝒜".repeat(46)}`);
    expect(japanese).toMatch(HASH);
    expect(dotted).toMatch(/^i18n\.test\.ts - ends with a dot ~[0-9a-f]{8}$/);
    // Every one is a folder the file system makes (255 bytes a name at most).
    const dir = await mkdtemp(join(tmpdir(), "dump-names-"));
    try {
      for (const name of names) await mkdir(join(dir, name!));
      expect((await readdir(dir)).sort()).toEqual([...names].sort());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("names that differ only in replaced characters get different folders", () => {
    const names = folders(
      file("signup.test.ts", ["rejects user/admin", "rejects user:admin", "rejects user_admin"]),
    );
    expect(new Set(names).size).toBe(3);
    expect(names[0]).toMatch(/^signup\.test\.ts - rejects user_admin ~[0-9a-f]{8}$/);
    expect(names[1]).toMatch(/^signup\.test\.ts - rejects user_admin ~[0-9a-f]{8}$/);
    // Nothing replaced: no hash, and still not the same as the other two.
    expect(names[2]).toBe("signup.test.ts - rejects user_admin");
  });

  test("same-named files in different folders get different folders", () => {
    const a = folder(testsOf(file("test/a/mail.test.ts", ["sends"]))[0]!);
    const b = folder(testsOf(file("test/b/mail.test.ts", ["sends"]))[0]!);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^mail\.test\.ts - sends ~[0-9a-f]{8}$/);
    expect(b).toMatch(/^mail\.test\.ts - sends ~[0-9a-f]{8}$/);
    // The same file name in two vitest projects, too.
    const p1 = folder(testsOf(file("mail.test.ts", ["sends"], "node"))[0]!);
    const p2 = folder(testsOf(file("mail.test.ts", ["sends"], "edge"))[0]!);
    expect(p1).not.toBe(p2);
  });

  test("names equal in their first 200 bytes get different folders, still short", () => {
    const long = `sends ${"a very long name ".repeat(20)}`;
    const names = folders(file("m.test.ts", [`${long}one`, `${long}two`]));
    expect(names[0]).not.toBe(names[1]);
    for (const name of names) {
      expect(name).toMatch(HASH);
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(210);
      expect(name.startsWith("m.test.ts - sends a very long name")).toBe(true);
    }
  });

  test("names that differ only in letter case, and exact namesakes, get different folders", () => {
    const cased = folders(file("m.test.ts", ["Sends mail", "sends mail"]));
    // On a case-insensitive file system these would be one folder.
    expect(cased[0]!.toLowerCase()).not.toBe(cased[1]!.toLowerCase());
    const twins = folders(file("m.test.ts", ["same", "same", "other"]));
    expect(new Set(twins).size).toBe(3);
    expect(twins[0]).toMatch(/^m\.test\.ts - same ~/);
    expect(twins[2]).toBe("m.test.ts - other");
  });

  test("describes are part of the name; a retry gets a folder of its own; names are stable", () => {
    const f = file("m.test.ts", ["signup > sends mail"]);
    const t = testsOf(f)[0]!;
    const first = folder(t);
    expect(first).toMatch(/^m\.test\.ts - signup _ sends mail ~[0-9a-f]{8}$/);
    expect(folder(t)).toBe(first);
    t.result = { retryCount: 1 };
    const retry = folder(t);
    expect(retry).toMatch(/^m\.test\.ts - signup _ sends mail \(retry 1\) ~[0-9a-f]{8}$/);
    expect(retry).not.toBe(first);
  });
});

describe("dumpOnFailure's arguments", () => {
  // Each throws before it registers anything, so calling it inside a test is safe.
  test.each([
    [[{ dri: "out" }], 'dumpOnFailure: unknown option "dri"; valid options: smtp, dir'],
    [[{ dir: "" }], 'dumpOnFailure: dir must be a non-empty string, got ""'],
    [[{ dir: 5 }], "dumpOnFailure: dir must be a non-empty string, got 5"],
    [[undefined, ""], 'dumpOnFailure: dir must be a non-empty string, got ""'],
    [
      [{ dir: "a" }, "b"],
      "dumpOnFailure: give the folder once, as { dir } or as the second argument, not both",
    ],
    [
      ["out"],
      'dumpOnFailure: the first argument is the server; for the folder, dumpOnFailure({ dir: "out" })',
    ],
    [
      ["out", "dir"],
      'dumpOnFailure: the server must be a TestSmtp (from startTestSmtp), a scope (smtp.inbox.scope()) or (context) => either, got "out"',
    ],
    [
      [{ smtp: 5 }],
      "dumpOnFailure: the server must be a TestSmtp (from startTestSmtp), a scope (smtp.inbox.scope()) or (context) => either, got 5",
    ],
  ])("%j is a TypeError that says what to pass", (args, message) => {
    const call = dumpOnFailure as (...a: unknown[]) => void;
    expect(() => call(...args)).toThrow(TypeError);
    expect(() => call(...args)).toThrow(message);
  });
});
