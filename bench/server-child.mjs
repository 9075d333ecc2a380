/**
 * A server under test in its own process (started by run.mjs with
 * child_process.fork and --expose-gc), so the client's work does not share its
 * core and its memory can be measured alone.
 *
 * argv[2]: the server kind. Messages from the parent (each answered with its id):
 *   { cmd: "reset" }           forget what was received so far (the fixture: smtp.reset())
 *   { cmd: "mark" }            gc, record the base memory, start sampling peak RSS
 *   { cmd: "stats", expect, gc } what the server received (waits for the fixture to
 *                              publish `expect` messages), memory base/after/peak
 *   { cmd: "close" }           close the server (the parent then disconnects: exit)
 */
import { startServer } from "./servers.mjs";

const SAMPLE_MS = 2;

const kind = process.argv[2];
const handle = await startServer(kind);
const collect = () => {
  globalThis.gc?.();
  globalThis.gc?.();
};

let base;
let peakRss = 0;
let sampler;
const sample = () => {
  const rss = process.memoryUsage.rss();
  if (rss > peakRss) peakRss = rss;
};

const commands = {
  reset() {
    handle.reset();
    return {};
  },
  mark() {
    collect();
    base = process.memoryUsage();
    peakRss = base.rss;
    clearInterval(sampler);
    sampler = setInterval(sample, SAMPLE_MS);
    return { base };
  },
  async stats({ expect = 0, gc = false }) {
    const received = await handle.stats(expect);
    sample();
    clearInterval(sampler);
    sampler = undefined;
    let after;
    if (gc) {
      collect();
      after = process.memoryUsage();
    }
    return { ...received, base, after, peakRss };
  },
  async close() {
    clearInterval(sampler);
    await handle.close();
    return {}; // the parent then disconnects, which ends this process
  },
};

process.on("message", async (msg) => {
  try {
    const result = await commands[msg.cmd](msg);
    process.send({ id: msg.id, ok: true, result });
  } catch (err) {
    process.send({ id: msg.id, ok: false, error: String(err?.stack ?? err) });
  }
});
process.on("disconnect", () => process.exit(0));
process.send({ ready: true, port: handle.port });
