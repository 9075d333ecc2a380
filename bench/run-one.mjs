/**
 * One run of one scenario against one server, in a process of its own (forked by
 * run.mjs for every run): no server shares compiled code, inline caches or garbage
 * with another, as none would in a real test process. The request arrives over IPC
 * (`{ scenario, kind, cfg }`); the answer is `{ ok, result }` or `{ ok: false, error }`.
 */
import { SCENARIOS } from "./scenarios.mjs";

process.once("message", async ({ scenario, kind, cfg }) => {
  let answer;
  try {
    const s = SCENARIOS.find((x) => x.id === scenario);
    if (!s) throw new Error(`unknown scenario ${scenario}`);
    answer = { ok: true, result: await s.run(kind, cfg) };
  } catch (err) {
    answer = { ok: false, error: String(err?.stack ?? err) };
  }
  // Servers and sockets are closed by the scenario; exit without waiting for stray timers.
  process.send(answer, () => process.exit(0));
});
