/**
 * Soak: many messages over 50 concurrent raw connections, with client faults mixed
 * in (RSET mid-transaction, disconnect mid-DATA, disconnect right after the final
 * dot without reading the reply, disconnect between messages). Afterwards:
 *  - every message that got 250 is in the inbox exactly once, byte-identical
 *    (sha256 of the bytes sent === sha256 of `raw`);
 *  - nothing else is (aborted and reset transactions are absent; a message whose
 *    reply the client never read may be present once, byte-identical, or absent);
 *  - after `inbox.clear()` and `close()`, open file descriptors are back at the
 *    start level and the heap (after full GCs) is back near its start.
 *
 * Default 2,000 messages; SOAK_SCALE multiplies (SOAK_SCALE=5 is the full
 * 10,000 over 50 connections). SOAK_SEED picks the traffic (default 20240601).
 */
import { createHash } from "node:crypto";
import { afterAll, expect, test } from "vitest";
import { startTestSmtp, type TestSmtp } from "../../src/index.js";
import { RawClient } from "../helpers/raw-client.js";
import {
  ClosedCounter,
  CrashWatch,
  dotStuff,
  envCount,
  gcFunction,
  openFds,
  prng,
  settledHeap,
  within,
} from "./support.js";

const SCALE = envCount("SOAK_SCALE", 1);
const MESSAGES = Math.round(2000 * SCALE);
const CONNECTIONS = 50;
const SEED = Math.round(envCount("SOAK_SEED", 20240601));
const TIMEOUT = 60_000 * Math.max(1, SCALE);

const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

type Outcome = "acked" | "uncertain" | "aborted" | "reset" | "refused";

interface Sent {
  id: string;
  raw: string;
  outcome: Outcome;
  reply?: string;
}

/** A message with an id header, random length, dot lines, UTF-8 and long lines. */
function makeMessage(id: string, rnd: () => number): string {
  const lines = [
    `X-Soak-Id: ${id}`,
    "From: soak@client.test",
    "To: sink@server.test",
    `Subject: soak ${id}`,
    "",
  ];
  const n = 2 + Math.floor(rnd() * 60);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.08) lines.push(".");
    else if (r < 0.16) lines.push(`.leading dot ${i}`);
    else if (r < 0.2) lines.push("");
    else if (r < 0.24) lines.push(`Grüße ✉ ${i}`);
    else lines.push("x".repeat(Math.floor(rnd() * 200)) + String(i));
  }
  return `${lines.join("\r\n")}\r\n`;
}

let smtp: TestSmtp | undefined;
afterAll(() => smtp?.close());

test(`soak: ${MESSAGES} messages over ${CONNECTIONS} connections with client faults (seed ${SEED})`, {
  timeout: TIMEOUT,
}, async (ctx) => {
  const gc = gcFunction();
  const watch = new CrashWatch().start();
  // Warm up once (lazy fds, JIT, module state), then take the baselines.
  const warm = await startTestSmtp();
  const w = await RawClient.connect(warm.port);
  await w.read();
  await w.command("QUIT");
  await w.waitClose();
  await warm.close();
  const fdStart = openFds();
  const heapStart = gc ? await settledHeap(gc) : undefined;

  // The traffic and its checks run in their own scope, so nothing the test
  // itself kept (what was sent, the clients, the messages) is alive afterwards.
  const { bytesSent, summary } = await traffic();
  console.info(summary);
  // Resources: clear() and close() give back what the traffic took.
  smtp!.inbox.clear();
  await within(smtp!.close(), 10_000, "close()");
  expect(watch.errors, watch.describe()).toEqual([]);
  watch.stop();
  const fdEnd = openFds();
  if (fdStart !== undefined) expect(fdEnd, "open fds after close() (start level)").toBe(fdStart);

  if (!gc || heapStart === undefined) {
    ctx.annotate("heap check skipped: no gc available (run node with --expose-gc)");
    return;
  }
  const heapAfterClose = await settledHeap(gc);
  // What a leak of the traffic would retain is at least its bytes; allow noise.
  const allowance = 2e6 + 0.2 * bytesSent;
  const grown = heapAfterClose - heapStart;
  let afterReset = "";
  if (grown > allowance) {
    smtp!.reset();
    afterReset = `; after smtp.reset() as well: +${(((await settledHeap(gc)) - heapStart) / 1e6).toFixed(1)} MB`;
  }
  expect(
    grown,
    `heap growth after inbox.clear() and close(): +${(grown / 1e6).toFixed(1)} MB for ${(bytesSent / 1e6).toFixed(1)} MB of traffic (allowed ${(allowance / 1e6).toFixed(1)} MB)${afterReset}`,
  ).toBeLessThanOrEqual(allowance);
});

/** Runs the traffic against a new fixture (left in `smtp`) and checks what it stored. */
async function traffic(): Promise<{ bytesSent: number; summary: string }> {
  const closes = new ClosedCounter();
  const server = await startTestSmtp({ socketTimeout: 20_000, onClose: closes.onClose });
  smtp = server;
  closes.watch(server.server);
  const port = server.port;
  const sent: Sent[] = [];
  const unexpected: string[] = [];
  const allClients: RawClient[] = [];
  let next = 0;
  let bytesSent = 0;

  const open = async (): Promise<RawClient> => {
    const c = await RawClient.connect(port);
    allClients.push(c);
    const greeting = await c.read();
    const ehlo = await c.command("EHLO soak.test");
    if (greeting.code !== 220 || ehlo.code !== 250) unexpected.push(`${greeting.raw}${ehlo.raw}`);
    return c;
  };

  const worker = async (k: number): Promise<void> => {
    const rnd = prng(SEED + k);
    let c = await open();
    for (;;) {
      const n = next++;
      if (n >= MESSAGES) break;
      const id = `${k}.${n}`;
      const raw = makeMessage(id, rnd);
      const entry: Sent = { id, raw, outcome: "refused" };
      sent.push(entry);
      const fault = rnd();
      c.write(`MAIL FROM:<w${k}@client.test>\r\nRCPT TO:<sink@server.test>\r\n`);
      const [mail, rcpt] = await c.readMany(2);
      if (mail!.code !== 250 || rcpt!.code !== 250)
        unexpected.push(`${id}: ${mail!.raw}${rcpt!.raw}`);
      if (fault < 0.05) {
        // RSET mid-transaction: nothing may be stored; the session goes on.
        entry.outcome = "reset";
        const r = await c.command("RSET");
        if (r.code !== 250) unexpected.push(`${id}: RSET ${r.raw}`);
        continue;
      }
      const data = await c.command("DATA");
      if (data.code !== 354) {
        unexpected.push(`${id}: DATA ${data.raw}`);
        continue;
      }
      const wire = `${dotStuff(raw)}.\r\n`;
      if (fault < 0.1) {
        // Disconnect mid-DATA: the transaction is aborted, nothing stored.
        entry.outcome = "aborted";
        c.write(wire.slice(0, Math.floor(rnd() * (wire.length - 3))));
        c.close();
        c = await open();
        continue;
      }
      bytesSent += wire.length;
      if (fault < 0.13) {
        // The whole message, then gone before the reply: stored once or not at all.
        entry.outcome = "uncertain";
        c.write(wire);
        c.close();
        c = await open();
        continue;
      }
      c.write(wire);
      const end = await c.read();
      entry.reply = end.raw;
      if (end.code === 250) entry.outcome = "acked";
      else unexpected.push(`${id}: end of data ${end.raw}`);
      if (fault < 0.16) {
        // A client that vanishes between messages (no QUIT).
        c.close();
        c = await open();
      }
    }
    const bye = await c.command("QUIT");
    if (bye.code !== 221) unexpected.push(`QUIT ${bye.raw}`);
    await c.waitClose();
  };

  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, k) => worker(k)));
  await Promise.all(allClients.map((c) => within(c.waitClose(), 10_000, "client socket closed")));
  await closes.allClosed(10_000);
  const trafficMs = performance.now() - t0;

  expect(unexpected, "replies a well-behaved client should never see").toEqual([]);
  const acked = sent.filter((s) => s.outcome === "acked");
  const uncertain = new Map(sent.filter((s) => s.outcome === "uncertain").map((s) => [s.id, s]));
  const byId = new Map(sent.map((s) => [s.id, s]));

  // Every accepted transaction is recorded synchronously as an attempt; the inbox
  // then receives exactly that many messages.
  const accepted = server.inbox.attempts.filter((a) => a.outcome === "accepted").length;
  await server.inbox.waitFor(() => true, { count: accepted, timeout: 30_000 });
  const messages = server.inbox.messages;
  expect(messages).toHaveLength(accepted);

  const seen = new Map<string, number>();
  const problems: string[] = [];
  for (const m of messages) {
    const text = Buffer.from(m.raw).toString("latin1");
    const id = /^X-Soak-Id: (\S+)\r\n/.exec(text)?.[1];
    if (id === undefined) {
      problems.push(`a message without an id: ${JSON.stringify(text.slice(0, 80))}`);
      continue;
    }
    seen.set(id, (seen.get(id) ?? 0) + 1);
    const s = byId.get(id);
    if (!s) problems.push(`${id}: never sent`);
    else if (s.outcome !== "acked" && s.outcome !== "uncertain")
      problems.push(`${id}: stored, but ${s.outcome}`);
    else if (sha256(m.raw) !== sha256(Buffer.from(s.raw))) problems.push(`${id}: bytes differ`);
  }
  for (const [id, count] of seen) if (count > 1) problems.push(`${id}: stored ${count} times`);
  for (const s of acked)
    if (!seen.has(s.id)) problems.push(`${s.id}: acknowledged (${s.reply?.trim()}) but not stored`);
  expect(problems.slice(0, 20), `${problems.length} problem(s)`).toEqual([]);
  const uncertainStored = [...uncertain.keys()].filter((id) => seen.has(id)).length;
  expect(messages.length).toBe(acked.length + uncertainStored);
  expect(acked.length).toBeGreaterThan(MESSAGES * 0.7);
  const summary =
    `soak: ${MESSAGES} messages (${acked.length} acked, ${uncertain.size} uncertain, ${uncertainStored} of them stored) ` +
    `in ${Math.round(trafficMs)} ms, ${(bytesSent / 1e6).toFixed(1)} MB`;
  return { bytesSent, summary };
}
