/**
 * `npm run bench`: four servers side by side (this project's SMTPServer, the full
 * fixture, nodemailer's smtp-server, a null server) through the same raw client,
 * scenario by scenario, median of 5 runs, each in a fresh process. Prints a
 * table with the ratios to smtp-server and to the null server, checks the issue's
 * targets, and writes JSON to bench/results/<timestamp>.json (or --json <path>).
 *
 *   node bench/run.mjs [--quick] [--json <path>] [--runs N] [--only a,b] [--servers a,b]
 *
 * --quick is the CI smoke run: a few hundred messages per scenario, one run.
 * Exit code 1 when any run failed or any server did not receive what was sent.
 */
import { fork } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { evaluateTargets, FIGURES, renderTable, renderTargets } from "./report.mjs";
import { SCENARIOS } from "./scenarios.mjs";
import { KINDS } from "./servers.mjs";
import { median } from "./stats.mjs";

const MiB = 1024 * 1024;

const FULL = {
  runs: 5,
  startupWarmup: 20,
  startupCycles: 300,
  greetingWarmup: 5,
  greetings: 200,
  greetingsSlow: 20,
  /** One connection: send for this long before measuring (steady state, as the 50 connections). */
  oneConnectionWarmupMs: 1000,
  /** After the warm-up's garbage is collected: traffic again before the window (see scenarios.mjs). */
  oneConnectionSettleMs: 250,
  /** Windows per one-connection run; the run's rate is their median. */
  oneConnectionWindows: 3,
  pipelined: 20_000,
  lockstep: 5000,
  concurrency: 50,
  warmupMs: 1000,
  windowMs: 3000,
  cpmWarmupMs: 500,
  cpmWindowMs: 2000,
  bigBytes: 50 * MiB,
  stored: 100_000,
  storedWarmup: 10_000,
  storedConnections: 10,
  waitForWarmup: 200,
  waitFor: 2000,
  scenarioTimeoutMs: 180_000,
};

const QUICK = {
  ...FULL,
  runs: 1,
  startupWarmup: 2,
  startupCycles: 20,
  greetingWarmup: 1,
  greetings: 20,
  greetingsSlow: 3,
  oneConnectionWarmupMs: 100,
  oneConnectionSettleMs: 20,
  oneConnectionWindows: 1,
  pipelined: 300,
  lockstep: 200,
  warmupMs: 200,
  windowMs: 300,
  cpmWarmupMs: 200,
  cpmWindowMs: 300,
  bigBytes: 5 * MiB,
  stored: 500,
  storedWarmup: 100,
  storedConnections: 2,
  waitForWarmup: 20,
  waitFor: 200,
  scenarioTimeoutMs: 60_000,
};

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    json: { type: "string" },
    runs: { type: "string" },
    only: { type: "string" },
    servers: { type: "string" },
  },
});

const cfg = { ...(flags.quick ? QUICK : FULL) };
if (flags.runs !== undefined) cfg.runs = Math.max(1, Number.parseInt(flags.runs, 10) || 1);
const list = (s) => (s ? s.split(",").map((x) => x.trim()) : undefined);
const onlyScenarios = list(flags.only);
const onlyServers = list(flags.servers);
for (const s of onlyScenarios ?? []) {
  if (!SCENARIOS.some((x) => x.id === s))
    fail(`unknown scenario ${s}; use ${SCENARIOS.map((x) => x.id)}`);
}
for (const k of onlyServers ?? [])
  if (!KINDS.includes(k)) fail(`unknown server ${k}; use ${KINDS}`);

function fail(message) {
  console.error(`bench: ${message}`);
  process.exit(2);
}

const log = (text) => process.stderr.write(`${text}\n`);

const RUN_ONE = new URL("./run-one.mjs", import.meta.url);

/**
 * One run in a fresh process (bench/run-one.mjs): each server is measured with its
 * own compiled code and heap, never warmed or polluted by another server's run.
 */
function runIsolated(scenario, kind) {
  return new Promise((resolve, reject) => {
    const child = fork(RUN_ONE, [], {
      execArgv: ["--expose-gc"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${scenario} timed out after ${cfg.scenarioTimeoutMs} ms`));
    }, cfg.scenarioTimeoutMs);
    child.once("message", (answer) => {
      clearTimeout(timer);
      if (answer.ok) resolve(answer.result);
      else reject(new Error(answer.error));
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${scenario} run exited (code ${code}, signal ${signal}) before reporting`));
    });
    child.send({ scenario, kind, cfg });
  });
}

function brief(values) {
  return Object.entries(values)
    .map(([k, v]) => `${k}=${v >= 100 ? Math.round(v) : Number(v.toPrecision(3))}`)
    .join(" ");
}

const startedAt = performance.now();
const results = {};
for (const scenario of SCENARIOS) {
  if (onlyScenarios && !onlyScenarios.includes(scenario.id)) continue;
  const kinds = scenario.servers.filter((k) => !onlyServers || onlyServers.includes(k));
  if (kinds.length === 0) continue;
  log(`\n# ${scenario.title}`);
  const byKind = Object.fromEntries(kinds.map((k) => [k, { runs: [] }]));
  for (let r = 1; r <= cfg.runs; r++) {
    for (const kind of kinds) {
      const t0 = performance.now();
      let run;
      try {
        run = await runIsolated(scenario.id, kind);
      } catch (err) {
        run = { error: String(err?.stack ?? err), verify: { ok: false } };
      }
      run.seconds = (performance.now() - t0) / 1000;
      byKind[kind].runs.push(run);
      const status = run.error
        ? `FAILED: ${run.error.split("\n")[0]}`
        : `${brief(run.values)}${run.verify.ok ? "" : `  NOT VERIFIED ${JSON.stringify(run.verify)}`}`;
      log(`  ${kind.padEnd(11)} run ${r}/${cfg.runs}  ${status}  (${run.seconds.toFixed(1)} s)`);
    }
  }
  for (const entry of Object.values(byKind)) {
    const good = entry.runs.filter((r) => !r.error);
    const keys = new Set(good.flatMap((r) => Object.keys(r.values)));
    entry.median = Object.fromEntries(
      [...keys].map((k) => [k, median(good.map((r) => r.values[k]))]),
    );
    entry.verified = entry.runs.length > 0 && entry.runs.every((r) => !r.error && r.verify.ok);
  }
  results[scenario.id] = byKind;
}
const seconds = (performance.now() - startedAt) / 1000;

const get = (figure, kind) => {
  const [scenario, key] = figure.split(".");
  return results[scenario]?.[kind]?.median?.[key];
};
const table = renderTable(get);
const targets = evaluateTargets(get);
const verified = Object.values(results).every((byKind) =>
  Object.values(byKind).every((e) => e.verified),
);

console.log(`\n${table}\n`);
console.log(
  `Targets (${flags.quick ? "quick run: sizes too small to judge" : `median of ${cfg.runs} runs`}):`,
);
console.log(renderTargets(targets));
const verdict = verified
  ? "All scenarios verified: every server received what was sent."
  : "VERIFICATION FAILED: a run failed or a server did not receive what was sent (see the runs above).";
console.log(`\n${verdict} ${seconds.toFixed(0)} s in all.`);

const here = dirname(fileURLToPath(import.meta.url));
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const jsonPath = flags.json ?? join(here, "results", `${stamp}.json`);
mkdirSync(dirname(jsonPath), { recursive: true });
const report = {
  meta: {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    totalMemoryMiB: Math.round(totalmem() / MiB),
    quick: flags.quick,
    seconds,
  },
  config: cfg,
  verified,
  scenarios: Object.fromEntries(
    SCENARIOS.filter((s) => results[s.id]).map((s) => [
      s.id,
      { title: s.title, servers: results[s.id] },
    ]),
  ),
  figures: FIGURES.map((f) => ({
    ...f,
    values: Object.fromEntries(KINDS.map((k) => [k, get(f.id, k) ?? null])),
  })),
  targets,
  table,
};
writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
console.log(`JSON: ${jsonPath}`);
process.exit(verified ? 0 : 1);
