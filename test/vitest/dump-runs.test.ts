/**
 * dumpOnFailure with tests that really fail: a real vitest run (3, 4 and 5) of
 * test/vitest-runs/dump-cases.test.ts, then each group's dump folder and what the run
 * printed. Covers a test's own server (closed by then), per-test servers among
 * concurrent tests, a test with no server of its own, a function choosing the server,
 * folder names that would collide, and `test.fails` (dumped only when it passes, so
 * fails).
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { COLLIDING } from "../vitest-runs/dump-names.js";
import { outcomes, runVitest, type VitestRun, vitestVersion } from "./child-vitest.js";

const FILE = "dump-cases.test.ts";

/** Each test's status by its own title (the titles in the file are unique). */
function statuses(child: VitestRun): Record<string, string> {
  const out: Record<string, string> = {};
  for (const file of child.report.testResults) {
    for (const t of file.assertionResults) out[t.title] = t.status;
  }
  return out;
}

/** The one dump folder under `dir` whose name contains `name`, and the recipients in it. */
async function dumpOf(dir: string, name: string): Promise<{ folder: string; to: string[] }> {
  const folders = (await readdir(dir)).filter((f) => f.includes(name));
  expect(folders, `dump folders for "${name}" in ${dir}`).toHaveLength(1);
  const folder = join(dir, folders[0]!);
  return { folder, to: await recipients(folder) };
}

/** The To: of each .eml in a dump folder, in file order. */
async function recipients(folder: string): Promise<string[]> {
  const emls = (await readdir(folder)).filter((f) => f.endsWith(".eml")).sort();
  const to = await Promise.all(
    emls.map(async (f) => /^To: (.*)\r$/m.exec(await readFile(join(folder, f), "utf8"))?.[1]),
  );
  return to.map(String);
}

describe.each(["vitest3", "vitest", "vitest5"] as const)(
  "dumpOnFailure in a real %s run",
  (pkg) => {
    const version = vitestVersion(pkg);

    test.skipIf(version.skip)(
      `each failed test's dump is its own mail; a test.fails test is dumped only when it passes (${version.skip ?? pkg})`,
      async () => {
        const child = await runVitest(version, { files: [FILE] });
        try {
          const printed = `${child.stdout}\n${child.stderr}`;
          const report = `${outcomes(child.report).join("\n")}\n${printed}`;
          expect(child.code, report).toBe(1);
          expect(statuses(child), report).toEqual({
            "the file server has mail of its own": "passed",
            "fails after sending to its own server, closed by then": "failed",
            "A fails": "failed",
            "B passes while A fails, with a newer server open": "passed",
            "D holds its own server": "passed",
            "C fails without a server": "failed",
            "E fails": "failed",
            "F fails": "failed",
            ...Object.fromEntries(COLLIDING.map(([name]) => [name, "failed"])),
            "throws as it should": "passed",
            "does not throw": "failed",
          });
          const dumps = join(child.dir, "dumps");
          expect((await readdir(dumps)).sort()).toEqual([
            "fails",
            "fn",
            "names",
            "own",
            "own-server",
          ]);

          // A server the test started and closed itself: its mail, not the file server's.
          const own = await dumpOf(join(dumps, "own-server"), "closed by then");
          expect(own.to).toEqual(["inner@example.com"]);
          expect(await readdir(join(dumps, "own-server"))).toHaveLength(1);
          expect(printed).toContain(
            `smtp-fixture: "fails after sending to its own server, closed by then" failed; 1 message(s) and 0 transcript(s) written to ${own.folder} (it was closed: its transcripts were released)`,
          );

          // Per-test servers at once: A's dump is A's mail, not the newer server's.
          const a = await dumpOf(join(dumps, "own"), "A fails");
          expect(a.to).toEqual(["a@example.com"]);
          expect(await readdir(join(dumps, "own"))).toHaveLength(1);
          expect(printed).toContain(
            `smtp-fixture: "A fails" failed; 1 message(s) and 1 transcript(s) written to ${a.folder}`,
          );

          // No server of its own, another test's the newest: nothing written, and why.
          expect(printed).toContain(
            'smtp-fixture: "C fails without a server" failed; no dump written: it has no per-test smtp fixture of its own, ' +
              'and the most recently started server belongs to the test "D holds its own server" ' +
              '(createSmtpTest(..., { scope: "test" })), so its mail is not this test\'s. Use the smtp fixture in this ' +
              "test, or tell dumpOnFailure which server to write: dumpOnFailure(server) or " +
              "dumpOnFailure((context) => server).",
          );

          // A function given the failed test's context picks each test's server.
          expect((await dumpOf(join(dumps, "fn"), "E fails")).to).toEqual(["e@example.com"]);
          expect((await dumpOf(join(dumps, "fn"), "F fails")).to).toEqual(["f@example.com"]);

          // Names that would share a folder get one each, holding their own mail.
          expect(await readdir(join(dumps, "names"))).toHaveLength(COLLIDING.length);
          for (const [name, to] of COLLIDING) {
            const line = printed
              .split("\n")
              .find((l) => l.startsWith(`smtp-fixture: "${name}" failed;`));
            const target = /written to (.*)$/.exec(line ?? "")?.[1];
            expect(target, `${name}\n${report}`).toBeDefined();
            expect(await recipients(target!), name).toEqual([to]);
          }

          // test.fails: the one that threw passed (no dump); the one that did not, failed.
          const fails = await dumpOf(join(dumps, "fails"), "does not throw");
          expect(await readdir(join(dumps, "fails"))).toHaveLength(1);
          expect(fails.to).toEqual(["unexpected@example.com"]);
          const error = await readFile(join(fails.folder, "error.txt"), "utf8");
          expect(error).toContain("Expect test to fail");
          expect(printed).not.toContain('"throws as it should" failed');
        } finally {
          await child.cleanup();
        }
      },
    );
  },
);

/** The Subject: of each .eml in a dump folder, in file order. */
async function subjects(folder: string): Promise<string[]> {
  const emls = (await readdir(folder)).filter((f) => f.endsWith(".eml")).sort();
  return Promise.all(
    emls.map(async (f) =>
      String(/^Subject: (.*)\r$/m.exec(await readFile(join(folder, f), "utf8"))?.[1]),
    ),
  );
}

describe.each(["vitest3", "vitest", "vitest5"] as const)(
  "dumpOnFailure and resets in a real %s run",
  (pkg) => {
    const version = vitestVersion(pkg);

    test.skipIf(version.skip)(
      `a reset in an afterEach that runs first, or smtpTest's after each test, leaves each failed test's own mail in its dump (${version.skip ?? pkg})`,
      async () => {
        const child = await runVitest(version, {
          files: ["dump-reset-order.test.ts", "dump-fixture-reset.test.ts"],
        });
        try {
          const printed = `${child.stdout}\n${child.stderr}`;
          const report = `${outcomes(child.report).join("\n")}\n${printed}`;
          expect(child.code, report).toBe(1);
          expect(child.report.numFailedTests, report).toBe(4);
          const dumps = join(child.dir, "dumps");
          const cases = [
            ["dump-reset-order.test.ts - first fails after sending", "First"],
            ["dump-reset-order.test.ts - second fails after sending", "Second"],
            ["dump-fixture-reset.test.ts - fixture first fails after sending", "First"],
            ["dump-fixture-reset.test.ts - fixture second fails after sending", "Second"],
          ] as const;
          expect((await readdir(dumps)).sort()).toEqual(cases.map(([folder]) => folder).sort());
          for (const [folder, subject] of cases) {
            const dir = join(dumps, folder);
            expect(await subjects(dir), folder).toEqual([subject]);
            const files = await readdir(dir);
            expect(
              files.filter((f) => f.startsWith("transcript-")),
              folder,
            ).toHaveLength(1);
            const attempts = JSON.parse(await readFile(join(dir, "attempts.json"), "utf8"));
            expect(attempts, folder).toHaveLength(1);
          }
          // The reset registered after dumpOnFailure ran first: the dump says what it wrote.
          expect(printed).toContain(
            `smtp-fixture: "first fails after sending" failed; 1 message(s) and 1 transcript(s) written to ${join(dumps, cases[0][0])} (what a reset() in an afterEach that ran before this dump cleared, and what arrived since)`,
          );
          // smtpTest's reset comes after the dump: nothing to recover.
          expect(printed).toContain(
            `smtp-fixture: "fixture second fails after sending" failed; 1 message(s) and 1 transcript(s) written to ${join(dumps, cases[3][0])}\n`,
          );
        } finally {
          await child.cleanup();
        }
      },
    );
  },
);

describe("dumpOnFailure with the scope fixture", () => {
  const version = vitestVersion("vitest");

  test("a failed concurrent test's dump is its scope's mail, not the shared server's", async () => {
    const child = await runVitest(version, { files: ["dump-scope.test.ts"] });
    try {
      const printed = `${child.stdout}\n${child.stderr}`;
      expect(child.code, printed).toBe(1);
      expect(statuses(child), printed).toEqual({
        "A fails after both tests' mail is in": "failed",
        "B passes": "passed",
      });
      const dumps = join(child.dir, "dumps");
      const { folder, to } = await dumpOf(dumps, "A fails");
      expect(to).toHaveLength(1);
      expect(to[0]).toMatch(/^a\+/);
      const files = await readdir(folder);
      expect(files.filter((f) => f.startsWith("transcript-"))).toEqual([]);
      expect(files).toContain("error.txt");
      expect(printed).toContain("1 message(s) of its scope written to");
    } finally {
      await child.cleanup();
    }
  });
});

describe("dumpOnFailure under a coloured terminal", () => {
  const version = vitestVersion("vitest");

  test("error.txt is plain text: the terminal's colour codes are left out", async () => {
    const child = await runVitest(version, {
      files: ["dump-colours.test.ts"],
      env: { FORCE_COLOR: "1", NO_COLOR: undefined },
    });
    try {
      const printed = `${child.stdout}\n${child.stderr}`;
      expect(child.code, printed).toBe(1);
      // The run itself is coloured: the codes are there to be left out.
      expect(printed).toContain("\x1b[");
      const dumps = join(child.dir, "dumps");
      const folders = (await readdir(dumps)).sort();
      expect(folders).toEqual([
        expect.stringMatching(
          /^dump-colours\.test\.ts - dïffs the ünïcödé 日本語 objects ~[0-9a-f]{8}$/,
        ),
        "dump-colours.test.ts - fails with a coloured matcher message",
      ]);
      const error = await readFile(join(dumps, folders[1]!, "error.txt"), "utf8");
      expect(error).toContain(
        'Expected smtp to have received a message matching "nobody@example.com"',
      );
      expect(error).not.toContain("\x1b");
      // The assertion's expected/received diff follows its stack, as the runner shows it.
      const diffed = await readFile(join(dumps, folders[0]!, "error.txt"), "utf8");
      expect(diffed).toMatch(
        /- Expected[\s\S]*\+ Received[\s\S]*-\s+"subject": "Welcome!",[\s\S]*\+\s+"subject": "Welcome",/,
      );
      expect(diffed).not.toContain("\x1b");
    } finally {
      await child.cleanup();
    }
  });
});
