/**
 * One server, one scenario, in-process, for `node --cpu-prof`:
 *
 *   node --cpu-prof --cpu-prof-dir=bench/results bench/profile.mjs fixture pipelined 50000
 *   node bench/cpuprofile-top.mjs bench/results/<file>.cpuprofile
 *
 * Scenarios: pipelined | lockstep (1 connection, 1 KiB messages), big (one message
 * of `count` MiB). The client runs in the same process, as in the benchmark, so it
 * shows in the profile (bench/client.mjs) next to the server.
 */
import { performance } from "node:perf_hooks";
import { E_ENVELOPE, E_OK, sendMessages, session } from "./client.mjs";
import { makeMessage, wire } from "./messages.mjs";
import { KINDS, startServer } from "./servers.mjs";

const [kind = "fixture", scenario = "pipelined", countArg] = process.argv.slice(2);
if (!KINDS.includes(kind)) throw new Error(`unknown server ${kind}; use ${KINDS}`);

const server = await startServer(kind);
const conn = await session(server.port);
const t0 = performance.now();
let what;
if (scenario === "big") {
  const mib = Number(countArg ?? 50);
  const w = wire(makeMessage(mib * 1024 * 1024));
  await conn.request(w.envelope, E_ENVELOPE);
  await conn.request(w.body, E_OK);
  await server.stats(1);
  what = `one ${mib} MiB message`;
} else {
  const count = Number(countArg ?? 50_000);
  await sendMessages(conn, wire(makeMessage(1024)), count, scenario, () => {});
  await server.stats(count);
  what = `${count} messages, ${scenario}`;
}
const ms = performance.now() - t0;
await conn.quit();
await server.close();
console.log(`${kind}: ${what} in ${ms.toFixed(0)} ms`);
