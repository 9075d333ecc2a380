/**
 * The benchmark harness still works: `node bench/run.mjs --quick` runs every
 * scenario against every server, and each server received exactly what the client
 * sent. Correctness of the harness only: no timing is asserted (CI machines vary).
 * The bench imports dist/, which `npm test` builds first.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type RunResult, run } from "../helpers/clients.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ALL = ["SMTPServer", "fixture", "smtp-server", "null"];
const EXPECTED: Record<string, string[]> = {
  startup: ALL,
  greeting: ALL,
  pipelined: ALL,
  lockstep: ALL,
  conns50: ALL,
  connPerMessage: ALL,
  big: ALL,
  stored: ["fixture"],
  waitFor: ["fixture"],
};

interface Run {
  error?: string;
  values: Record<string, number>;
  verify: { ok: boolean; expected: Record<string, number>; received: Record<string, number> };
  info?: Record<string, number>;
}
interface Report {
  meta: { quick: boolean };
  config: Record<string, number>;
  verified: boolean;
  scenarios: Record<string, { servers: Record<string, { verified: boolean; runs: Run[] }> }>;
  figures: { id: string; values: Record<string, number | null> }[];
  targets: { met: boolean | null }[];
  table: string;
}

describe("npm run bench -- --quick", () => {
  const dir = mkdtempSync(join(tmpdir(), "smtp-fixture-bench-"));
  const jsonPath = join(dir, "quick.json");
  let result: RunResult;
  let report: Report;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, "dist/index.js"))) {
      throw new Error(
        "dist/ is missing: the bench runs the build output; run `npm run build` first",
      );
    }
    result = await run(
      process.execPath,
      [join(ROOT, "bench/run.mjs"), "--quick", "--json", jsonPath],
      {
        timeoutMs: 120_000,
      },
    );
    if (existsSync(jsonPath)) report = JSON.parse(readFileSync(jsonPath, "utf8")) as Report;
  }, 130_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("exits with code 0 and prints the table and the targets", () => {
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("| figure");
    expect(result.stdout).toContain("Targets");
    expect(result.stdout).toContain("All scenarios verified");
  });

  test("writes JSON marked as a quick run, with every server verified", () => {
    expect(report.meta.quick).toBe(true);
    expect(report.verified).toBe(true);
    expect(report.table).toContain("smtp-server");
    expect(report.targets.length).toBeGreaterThan(0);
  });

  test.each(Object.entries(EXPECTED))(
    "scenario %s ran on each of its servers, which received what was sent",
    (scenario, servers) => {
      const entry = report.scenarios[scenario];
      expect(entry, `scenario ${scenario} missing from the JSON`).toBeDefined();
      expect(Object.keys(entry!.servers).sort()).toEqual([...servers].sort());
      for (const server of servers) {
        const s = entry!.servers[server]!;
        expect(s.verified, `${scenario}/${server}`).toBe(true);
        expect(s.runs.length).toBeGreaterThanOrEqual(1);
        for (const r of s.runs) {
          expect(r.error).toBeUndefined();
          expect(r.verify.received).toEqual(r.verify.expected);
          for (const count of Object.values(r.verify.expected)) expect(count).toBeGreaterThan(0);
          for (const v of Object.values(r.values)) expect(Number.isFinite(v)).toBe(true);
        }
      }
    },
  );

  test("counts the configured number of messages where the count is fixed", () => {
    const c = report.config;
    const run = (scenario: string, server: string) =>
      report.scenarios[scenario]!.servers[server]!.runs[0]!;
    const expected = (scenario: string, server: string) => run(scenario, server).verify.expected;
    for (const server of ALL) {
      // One connection warms up, then per window resets, collects, sends for a moment
      // and times the window: the count is those moments' and the windows'.
      for (const [scenario, count] of [
        ["pipelined", c.pipelined!],
        ["lockstep", c.lockstep!],
      ] as const) {
        const info = run(scenario, server).info ?? {};
        expect(info.warmupMessages ?? 0).toBeGreaterThan(0);
        expect(info.settleMessages ?? 0).toBeGreaterThan(0);
        expect(info.windows).toBe(c.oneConnectionWindows);
        expect(expected(scenario, server).messages).toBe(
          (info.settleMessages ?? 0) + count * (info.windows ?? 0),
        );
      }
      expect(expected("big", server)).toEqual({ messages: 1, bytes: c.bigBytes });
    }
    expect(expected("stored", "fixture").messages).toBe(c.stored);
    expect(expected("waitFor", "fixture").messages).toBe(c.waitFor! + c.waitForWarmup!);
  });

  test("judges every issue target, the fixture's 85% on each throughput figure", () => {
    const judged = (report.targets as { text?: string; subject?: string }[]).map(
      (t) => `${t.text} [${t.subject}]`,
    );
    for (const figure of [
      "1 conn pipelined",
      "1 conn lock-step",
      "50 conns",
      "conn per message",
      "50 MiB",
    ]) {
      expect(judged).toContain(`fixture throughput >= 85% of SMTPServer's (${figure}) [fixture]`);
    }
    expect(judged).toContain("1 conn pipelined >= 80% of the null server [SMTPServer]");
    expect(judged).toContain("100k messages stored at <= 1.5x their bytes [fixture]");
    expect(judged).toContain("250-to-waitFor p99 < 1 ms [fixture]");
  });

  test("has a figure for every server in every scenario that server ran", () => {
    expect(report.figures.length).toBeGreaterThan(0);
    const scenarios = new Set(report.figures.map((f) => f.id.split(".")[0]!));
    expect([...scenarios].sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const f of report.figures) {
      const scenario = f.id.split(".")[0]!;
      for (const server of EXPECTED[scenario]!) {
        expect(f.values[server], `${f.id} for ${server}`).toEqual(expect.any(Number));
      }
    }
  });
});

describe("node bench/socketless.mjs", () => {
  test.each(["SMTPServer", "bare", "fixture"])(
    "drives %s through its accept path and counts every message",
    async (kind) => {
      const r = await run(process.execPath, [join(ROOT, "bench/socketless.mjs"), kind, "300"], {
        timeoutMs: 30_000,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^${kind}: 300 messages in \\d+ ms`));
    },
  );
});

describe("node bench/ablation.mjs --quick", () => {
  test("runs every layer, each taking every message, and prints its ratio to null", async () => {
    const r = await run(process.execPath, [join(ROOT, "bench/ablation.mjs"), "--quick"], {
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).toBe(0);
    for (const variant of ["null", "engine", "onData-now", "onData-read", "fixture"]) {
      expect(r.stdout).toMatch(
        new RegExp(`^\\| ${variant} \\| [\\d,]+ \\| \\d+\\.\\d\\d \\|`, "m"),
      );
    }
  });
});
