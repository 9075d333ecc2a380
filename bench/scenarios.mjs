/**
 * The scenarios. Each `run(kind, cfg)` starts a fresh server, drives it with the
 * raw client, and returns `{ values, verify, info? }`: the figures of this run,
 * and what the client sent against what the server says it received.
 */
import { performance } from "node:perf_hooks";
import { forkServer } from "./child.mjs";
import {
  Conn,
  connectionPerMessage,
  E_ENVELOPE,
  E_OK,
  flood,
  sendFor,
  sendMessages,
  session,
} from "./client.mjs";
import { makeMessage, wire } from "./messages.mjs";
import { cycles, KINDS, startServer } from "./servers.mjs";
import { median, percentile, sleep } from "./stats.mjs";

const MiB = 1024 * 1024;
const KiB = 1024;

const msg1k = makeMessage(KiB);
const w1k = wire(msg1k);

/** expected/received: objects with the same keys; ok when every key matches. */
function verification(expected, received) {
  const ok = Object.keys(expected).every((k) => expected[k] === received[k]);
  return { expected, received, ok };
}

async function withServer(kind, body) {
  const handle = await startServer(kind);
  try {
    return await body(handle);
  } finally {
    await handle.close();
  }
}

async function withChild(kind, body) {
  const child = await forkServer(kind);
  try {
    return await body(child);
  } finally {
    await child.close();
  }
}

// ---------------------------------------------------------------------------

async function startup(kind, cfg) {
  const cycle = cycles[kind];
  for (let i = 0; i < cfg.startupWarmup; i++) await cycle();
  const times = [];
  let listened = 0;
  for (let i = 0; i < cfg.startupCycles; i++) {
    const t0 = performance.now();
    const port = await cycle();
    times.push(performance.now() - t0);
    if (port > 0) listened++;
  }
  return {
    values: { ms: median(times) },
    verify: verification({ cycles: cfg.startupCycles }, { cycles: listened }),
  };
}

async function greeting(kind, cfg) {
  // smtp-server waits 100 ms before each greeting: fewer samples, same median.
  const n = kind === "smtp-server" ? cfg.greetingsSlow : cfg.greetings;
  const warmup = kind === "smtp-server" ? 1 : cfg.greetingWarmup;
  return withServer(kind, async (server) => {
    const times = [];
    for (let i = 0; i < warmup + n; i++) {
      const conn = await Conn.open(server.port);
      if (i >= warmup) times.push(conn.firstAt - conn.startedAt);
      await conn.quit();
    }
    const received = await server.stats();
    return {
      values: { p50: median(times), p99: percentile(times, 99) },
      verify: verification(
        { greetings: warmup + n, connections: warmup + n },
        { greetings: times.length + warmup, connections: received.connections },
      ),
    };
  });
}

function oneConnection(mode) {
  return async (kind, cfg) => {
    const count = mode === "pipelined" ? cfg.pipelined : cfg.lockstep;
    const windows = cfg.oneConnectionWindows;
    return withServer(kind, async (server) => {
      const conn = await session(server.port);
      // Warm up for a fixed time, as the 50-connection scenario does: the figure is
      // the steady state, not how soon each server's code is compiled.
      const warmup = await sendFor(conn, w1k, mode, cfg.oneConnectionWarmupMs);
      await server.stats(warmup);
      // Several windows, each the median's candidate: a burst of the machine's noise
      // that hits one window does not make the run's figure.
      const rates = [];
      const latencies = new Float64Array(count * windows);
      let settled = 0;
      const got = { messages: 0, bytes: 0 };
      for (let k = 0; k < windows; k++) {
        // Reset as a suite does between tests (the fixture empties its inbox).
        server.reset();
        // The garbage so far is the benchmark's, not the window's (run-one.mjs has gc).
        globalThis.gc?.();
        // A forced full collection leaves the process cold: right after it, an
        // allocating server runs its next few thousand messages up to a third slower
        // (SMTPServer's first 2,500 at about 30k msg/s against 46k after). No server
        // in use has a forced GC before its traffic, so traffic runs on for a moment
        // before the window opens. No reset after it: that would leave the fixture's
        // stored messages as garbage for the window to collect. The fixture's inbox
        // holds those few thousand messages when the window opens.
        const settle = await sendFor(conn, w1k, mode, cfg.oneConnectionSettleMs);
        await server.stats(settle);
        settled += settle;
        const base = k * count;
        const t0 = performance.now();
        await sendMessages(conn, w1k, count, mode, (i, ms) => {
          latencies[base + i] = ms;
        });
        // The fixture publishes after the 250: the time includes storing every message.
        const received = await server.stats(settle + count);
        rates.push((count / (performance.now() - t0)) * 1000);
        // Counted since the reset: this window's settle traffic and its messages.
        got.messages += received.messages;
        got.bytes += received.bytes;
      }
      await conn.quit();
      const sent = settled + count * windows;
      return {
        values: {
          rate: median(rates),
          p50: percentile(latencies, 50),
          p99: percentile(latencies, 99),
        },
        verify: verification({ messages: sent, bytes: sent * w1k.size }, got),
        info: { warmupMessages: warmup, settleMessages: settled, windows },
      };
    });
  };
}

/**
 * Runs a client load against a server in a child; measures the rate in a window
 * after a warm-up. `timing(cfg)` gives `{ warmupMs, windowMs }`.
 */
function windowed(load, timing, connectionsChecked) {
  return async (kind, cfg) =>
    withChild(kind, async (child) => {
      const { warmupMs, windowMs } = timing(cfg);
      const counter = { messages: 0 };
      const { done, stop } = load(child.port, w1k, cfg.concurrency, counter);
      let failure;
      done.catch((err) => {
        failure = err;
      });
      await sleep(warmupMs);
      const c0 = counter.messages;
      const t0 = performance.now();
      await sleep(windowMs);
      const c1 = counter.messages;
      const t1 = performance.now();
      stop();
      const sent = await done;
      if (failure) throw failure;
      const received = await child.request("stats", { expect: sent });
      const expected = { messages: sent, bytes: sent * w1k.size };
      const got = { messages: received.messages, bytes: received.bytes };
      if (connectionsChecked) {
        expected.connections = sent;
        got.connections = received.connections;
      }
      return {
        values: { rate: ((c1 - c0) / (t1 - t0)) * 1000 },
        verify: verification(expected, got),
        info: { messages: sent, windowMessages: c1 - c0 },
      };
    });
}

async function bigMessage(kind, cfg) {
  const size = cfg.bigBytes;
  const w = wire(makeMessage(size));
  return withChild(kind, async (child) => {
    const conn = await session(child.port);
    await child.request("mark");
    await conn.request(w.envelope, E_ENVELOPE);
    await conn.request(w.body, E_OK);
    const seconds = (conn.firstAt - conn.sentAt) / 1000;
    await conn.quit();
    const r = await child.request("stats", { expect: 1 });
    return {
      values: {
        mibps: size / MiB / seconds,
        rssGrowth: (r.peakRss - r.base.rss) / MiB,
        sizeMiB: size / MiB,
      },
      verify: verification({ messages: 1, bytes: size }, { messages: r.messages, bytes: r.bytes }),
    };
  });
}

async function stored(kind, cfg) {
  const n = cfg.stored;
  const conns = cfg.storedConnections;
  return withChild(kind, async (child) => {
    const load = (count) =>
      Promise.all(
        Array.from({ length: conns }, async (_, c) => {
          const share = Math.floor(count / conns) + (c < count % conns ? 1 : 0);
          const conn = await session(child.port);
          await sendMessages(conn, w1k, share, "pipelined", () => {});
          await conn.quit();
        }),
      );
    // Warm up, then reset as a suite does between tests: the base then holds what
    // any busy process has (compiled code, a grown young generation, socket
    // buffers), and the growth measured is what storing the messages costs.
    await load(cfg.storedWarmup);
    await child.request("stats", { expect: cfg.storedWarmup });
    await child.request("reset");
    await child.request("mark");
    const t0 = performance.now();
    await load(n);
    const r = await child.request("stats", { expect: n, gc: true });
    const seconds = (performance.now() - t0) / 1000;
    const rss = r.after.rss - r.base.rss;
    const heap = r.after.heapUsed + r.after.external - (r.base.heapUsed + r.base.external);
    return {
      values: {
        rssPerMessage: rss / n,
        ratio: rss / (n * w1k.size),
        heapPerMessage: heap / n,
      },
      verify: verification(
        { messages: n, bytes: n * w1k.size },
        { messages: r.messages, bytes: r.bytes },
      ),
      info: { seconds, storedBytes: n * w1k.size, rssGrowth: rss },
    };
  });
}

async function waitForLatency(kind, cfg) {
  const total = cfg.waitForWarmup + cfg.waitFor;
  const wires = Array.from({ length: total }, (_, i) => wire(msg1k, `u${i}@bench.test`));
  return withServer(kind, async (server) => {
    const conn = await session(server.port);
    const times = [];
    for (let i = 0; i < total; i++) {
      const rcpt = `u${i}@bench.test`;
      await conn.request(wires[i].envelope, E_ENVELOPE);
      const ms = await new Promise((resolve, reject) => {
        conn.send(
          wires[i].body,
          E_OK,
          (c) => {
            // What a test does after sendMail() resolves: wait for the message.
            const at250 = c.firstAt;
            server.inbox
              .waitFor(rcpt, { timeout: 5000 })
              .then(() => resolve(performance.now() - at250), reject);
          },
          reject,
        );
      });
      if (i >= cfg.waitForWarmup) times.push(ms);
    }
    await conn.quit();
    const received = await server.stats(total);
    return {
      values: { p50: median(times), p99: percentile(times, 99) },
      verify: verification(
        { messages: total, bytes: total * w1k.size },
        { messages: received.messages, bytes: received.bytes },
      ),
    };
  });
}

// ---------------------------------------------------------------------------

export const SCENARIOS = [
  {
    id: "startup",
    title: "start-up cycle (create + listen + close, in-process)",
    servers: KINDS,
    run: startup,
  },
  { id: "greeting", title: "greeting latency (connect -> 220)", servers: KINDS, run: greeting },
  {
    id: "pipelined",
    title: "1 connection, pipelined, 1 KiB, in-process",
    servers: KINDS,
    run: oneConnection("pipelined"),
  },
  {
    id: "lockstep",
    title: "1 connection, lock-step, 1 KiB, in-process",
    servers: KINDS,
    run: oneConnection("lockstep"),
  },
  {
    id: "conns50",
    title: "50 persistent connections, server in a child process",
    servers: KINDS,
    run: windowed(flood, (cfg) => ({ warmupMs: cfg.warmupMs, windowMs: cfg.windowMs }), false),
  },
  {
    id: "connPerMessage",
    title: "new connection per message, 50 concurrent, server in a child process",
    servers: KINDS,
    // Shorter: every message takes an ephemeral port (about 28k on Linux).
    run: windowed(
      connectionPerMessage,
      (cfg) => ({ warmupMs: cfg.cpmWarmupMs, windowMs: cfg.cpmWindowMs }),
      true,
    ),
  },
  {
    id: "big",
    title: "one 50 MiB message, server in a child process",
    servers: KINDS,
    run: bigMessage,
  },
  {
    id: "stored",
    title: "100,000 stored 1 KiB messages (fixture, child process, after gc)",
    servers: ["fixture"],
    run: stored,
  },
  {
    id: "waitFor",
    title: "250-to-waitFor latency (fixture, in-process)",
    servers: ["fixture"],
    run: waitForLatency,
  },
];
