/**
 * Where the time of one pipelined connection goes, layer by layer: the same client
 * and 1 KiB messages against servers that each add one layer to the one before.
 *
 *   null          bench/null-server.mjs, the floor
 *   engine        SMTPServer without onData: parsing, replies, no message stream
 *   onData-now    SMTPServer with an onData that calls back at once without reading
 *                 (the server drains the stream): the stream's cost, no reading
 *   onData-read   SMTPServer with an onData that reads the stream to its end (the
 *                 benchmark's "SMTPServer")
 *   fixture       startTestSmtp(): recording, transcripts, inbox
 *
 *   npm run build && node bench/ablation.mjs [--rounds 3] [--quick]
 *
 * Every run is a process of its own; rounds interleave the variants so that a
 * noisy moment of the machine is shared. Each run warms up for 1 s, then times 3
 * windows of 20,000 messages, each after a reset, a gc() and 250 ms of traffic (as
 * the benchmark does), and keeps the median window. Prints each variant's median
 * over the rounds and its ratio to the null server.
 */
import { fork } from "node:child_process";
import { parseArgs } from "node:util";
import { sendFor, sendMessages, session } from "./client.mjs";
import { makeMessage, wire } from "./messages.mjs";
import { startServer, startSMTPServer } from "./servers.mjs";
import { median } from "./stats.mjs";

/** Each layer behind bench/servers.mjs's handle (`port`, `stats(expect)`, `reset()`). */
const LAYERS = {
  null: () => startServer("null"),
  engine: () => startSMTPServer(() => undefined),
  "onData-now": () =>
    startSMTPServer((counts) => (_stream, _session, callback) => {
      counts.messages++;
      callback();
    }),
  "onData-read": () => startServer("SMTPServer"),
  fixture: () => startServer("fixture"),
};
const VARIANTS = Object.keys(LAYERS);

/**
 * One run, in this (child) process: the median msg/s of its windows. Every reply
 * is checked by the client; a server that counts must have taken every message.
 */
async function run({ variant, warmupMs, settleMs, windows, messages }) {
  const w = wire(makeMessage(1024));
  const server = await LAYERS[variant]();
  const conn = await session(server.port);
  /** Traffic for `ms`, then waits until the server has taken it (the fixture publishes after its 250). */
  const trafficFor = async (ms) => {
    const sent = await sendFor(conn, w, "pipelined", ms);
    await server.stats(sent);
    return sent;
  };
  await trafficFor(warmupMs);
  const rates = [];
  for (let i = 0; i < windows; i++) {
    // As in the benchmark: reset, collect the garbage so far, then traffic on for a
    // moment (a forced full GC leaves the process cold for a few thousand messages),
    // then time.
    server.reset();
    globalThis.gc?.();
    const settled = await trafficFor(settleMs);
    const t0 = performance.now();
    await sendMessages(conn, w, messages, "pipelined", () => {});
    rates.push((messages / (performance.now() - t0)) * 1000);
    // The engine alone keeps no count: the client checked its 250s.
    const expected = settled + messages;
    const received = (await server.stats(expected)).messages;
    if (variant !== "engine" && received !== expected) {
      throw new Error(`${variant} took ${received} of ${expected} messages`);
    }
  }
  return median(rates);
}

if (process.send) {
  process.once("message", async (job) => {
    try {
      process.send({ rate: await run(job) });
      process.exit(0);
    } catch (err) {
      console.error(err);
      process.exit(1);
    }
  });
} else {
  const { values } = parseArgs({
    options: { rounds: { type: "string", default: "3" }, quick: { type: "boolean" } },
  });
  const rounds = values.quick ? 1 : Math.max(1, Number(values.rounds) || 1);
  const job = values.quick
    ? { warmupMs: 100, settleMs: 20, windows: 1, messages: 300 }
    : { warmupMs: 1000, settleMs: 250, windows: 3, messages: 20_000 };
  const rates = Object.fromEntries(VARIANTS.map((v) => [v, []]));
  for (let r = 0; r < rounds; r++) {
    for (const variant of VARIANTS) {
      const child = fork(new URL(import.meta.url), [], { execArgv: ["--expose-gc"] });
      const answer = new Promise((resolve, reject) => {
        child.once("message", resolve);
        child.once("exit", (code) => reject(new Error(`${variant} run exited with ${code}`)));
      });
      child.send({ variant, ...job });
      rates[variant].push((await answer).rate);
    }
  }
  const floor = median(rates.null);
  console.log("| variant | msg/s (median) | / null | runs |\n|---|---:|---:|---|");
  for (const v of VARIANTS) {
    const m = median(rates[v]);
    const runs = rates[v].map((x) => Math.round(x)).join(", ");
    console.log(
      `| ${v} | ${Math.round(m).toLocaleString("en-US")} | ${(m / floor).toFixed(2)} | ${runs} |`,
    );
  }
}
