/**
 * Runs a real, separate vitest (3, 4 or 5) on fixture files, the way a user's project
 * would: the files import the BUILT package ("smtp-fixture" resolves to dist/ through
 * the package's self-reference), so `npm run build` must have run first.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type RunResult, run } from "../helpers/clients.js";

export const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const RUNS = join(REPO, "test/vitest-runs");
export const RUN_CONFIG = join(RUNS, "vitest.config.mjs");

export type VitestPackage = "vitest" | "vitest3" | "vitest5";

/**
 * vitest 3 and 5 are installed by `npm run setup:runners` (from test/runners/<name>)
 * into node_modules/.runners/<name>, so they never shadow the project's own vitest 4
 * and node binaries. vitest 5 needs Node >= 22.12; its runner brings one (npm:node@22).
 */
const RUNNERS = join(REPO, "node_modules/.runners");
const RUNNER_DIR: Record<VitestPackage, string> = {
  vitest: REPO,
  vitest3: join(RUNNERS, "vitest3"),
  vitest5: join(RUNNERS, "vitest5"),
};
const NODE22 = join(RUNNERS, "vitest5/node_modules/node/bin/node");

export interface VitestVersion {
  pkg: VitestPackage;
  /** The node binary to run it with. */
  node: string;
  /** Why it cannot run here, if it cannot. */
  skip?: string;
}

function nodeAtLeast(major: number, minor: number): boolean {
  const [a = 0, b = 0] = process.versions.node.split(".").map(Number);
  return a > major || (a === major && b >= minor);
}

/** Where each vitest is and which node runs it. */
export function vitestVersion(pkg: VitestPackage): VitestVersion {
  const bin = vitestBin(pkg);
  if (!existsSync(bin)) {
    return missing(pkg, `${pkg} is not installed (run \`npm run setup:runners\`)`);
  }
  if (pkg !== "vitest5" || nodeAtLeast(22, 12)) return { pkg, node: process.execPath };
  if (existsSync(NODE22)) return { pkg, node: NODE22 };
  return missing(
    pkg,
    "vitest 5 needs Node >= 22.12 (its runner, `npm run setup:runners`, brings one)",
  );
}

/** A runner that cannot run here: a visible skip, or an error where CI must have it. */
function missing(pkg: VitestPackage, why: string): VitestVersion {
  if (process.env.REQUIRE_REAL_CLIENTS === "1") throw new Error(`${why}; CI must install it`);
  // Shown in the run's output (vitest's reporter folds skipped titles into a count).
  console.warn(`smtp-fixture tests: skipped: ${why}`);
  return { pkg, node: process.execPath, skip: why };
}

/** The folder whose node_modules holds that vitest (the repo itself for vitest 4). */
export function runnerDir(pkg: VitestPackage): string {
  return RUNNER_DIR[pkg];
}

function vitestBin(pkg: VitestPackage): string {
  return join(RUNNER_DIR[pkg], "node_modules/vitest/vitest.mjs");
}

/** The parts of vitest's JSON report (jest-compatible, the same in vitest 3, 4, 5) used here. */
export interface JsonReport {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  testResults: {
    name: string;
    status: string;
    assertionResults: { title: string; fullName: string; status: string }[];
  }[];
}

export interface VitestRun extends RunResult {
  report: JsonReport;
  /** The vitest version from the `RUN vX.Y.Z` banner. */
  version: string | undefined;
  /** Files the run's fixtures wrote into SMTP_FIXTURE_MARKERS. */
  markers: string[];
  /** A scratch directory of this run (SMTP_FIXTURE_DUMPS is `<dir>/dumps`). */
  dir: string;
  /** Removes `dir`. */
  cleanup(): Promise<void>;
}

export interface VitestRunOptions {
  /** Directory with the test files (default test/vitest-runs). */
  root?: string;
  /** File name filters; all files of `root` when empty. */
  files?: readonly string[];
  /** Added to the child's environment; `undefined` removes a variable (e.g. NO_COLOR). */
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
}

/**
 * Runs `vitest run` of the given version in a child process (no shell) with a JSON
 * report. The child gets a clean environment: no VITEST_* variables of this run and
 * no SMTP_* address left over from tests of this worker.
 */
export async function runVitest(
  version: VitestVersion,
  options: VitestRunOptions = {},
): Promise<VitestRun> {
  const dir = await mkdtemp(join(tmpdir(), "smtp-fixture-vitest-"));
  const markerDir = join(dir, "markers");
  await mkdir(markerDir);
  const reportFile = join(dir, "report.json");
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(VITEST|SMTP_(HOST|PORT|URL)$|FORCE_COLOR$)/.test(key)) continue;
    env[key] = value;
  }
  Object.assign(env, {
    NO_COLOR: "1",
    SMTP_FIXTURE_MARKERS: markerDir,
    SMTP_FIXTURE_DUMPS: join(dir, "dumps"),
    SMTP_FIXTURE_RUN: version.pkg,
    ...options.env,
  });
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key];
  const args = [
    vitestBin(version.pkg),
    "run",
    "--root",
    options.root ?? RUNS,
    "--config",
    RUN_CONFIG,
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${reportFile}`,
    ...(options.files ?? []),
  ];
  const result = await run(version.node, args, { env, timeoutMs: options.timeoutMs ?? 60_000 });
  const output = `exit ${result.code}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`;
  let report: JsonReport;
  try {
    report = JSON.parse(await readFile(reportFile, "utf8")) as JsonReport;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`the child vitest wrote no JSON report (${String(error)})\n${output}`);
  }
  return {
    ...result,
    report,
    version: /\bRUN\s+v(\d+\.\d+\.\d+)/.exec(result.stdout)?.[1],
    markers: (await readdir(markerDir)).sort(),
    dir,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** `file > test: status` lines, for readable assertion failures. */
export function outcomes(report: JsonReport): string[] {
  return report.testResults.flatMap((file) =>
    file.assertionResults.map(
      (t) => `${file.name.slice(file.name.lastIndexOf("/") + 1)} > ${t.fullName}: ${t.status}`,
    ),
  );
}

/** Passed-test count per file name. */
export function passedPerFile(report: JsonReport): Record<string, number> {
  const out: Record<string, number> = {};
  for (const file of report.testResults) {
    const name = file.name.slice(file.name.lastIndexOf("/") + 1);
    out[name] = file.assertionResults.filter((t) => t.status === "passed").length;
  }
  return out;
}
