/**
 * Shared tools for the hardening suites: a byte-level dialog runner that reports
 * everything the server sent and how the connection ended, the RFC 5321 reply
 * grammar, a process-level crash watch, and resource probes (fds, heap).
 *
 * Nothing here sleeps to synchronise: every wait is on a socket or server event,
 * and every wait is bounded by a timer that fails with what did happen.
 */
import { readdirSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { SMTPServer } from "../../src/index.js";

/** RFC 5321 4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF */
export const REPLY_LINE = /^[2-5][0-9]{2}([ -].*)?$/;

/** Env-scaled counts: `scaled(100, "FUZZ_RUNS")` is 100 unless FUZZ_RUNS is set. */
export function envCount(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`${name} must be a positive number, got ${raw}`);
  return n;
}

export { portOf } from "../helpers/port.js";

export interface Reply {
  code: number;
  /** Every line as received, without CRLF ("250-PIPELINING", "250 OK"). */
  lines: string[];
}

export interface DialogResult {
  /** Everything the server sent, as latin1 (one char per byte). */
  text: string;
  replies: Reply[];
  /** Lines that break the reply grammar (must be empty). */
  badLines: string[];
  /** Bytes after the last CRLF (a reply cut off; must be empty). */
  tail: string;
  /** Who ended it: the server closed ("server"), the client destroyed ("client"), or the bound ran out ("timeout"). */
  end: "server" | "client" | "timeout";
  /** ms from the client's half-close (or last write) to the socket closing. */
  closeMs: number;
}

/** Splits server output into grammar-checked lines and multi-line replies. */
export function parseReplies(text: string): Pick<DialogResult, "replies" | "badLines" | "tail"> {
  const parts = text.split("\r\n");
  const tail = parts.pop() ?? "";
  const replies: Reply[] = [];
  const badLines: string[] = [];
  let open: Reply | undefined;
  for (const line of parts) {
    if (!REPLY_LINE.test(line)) {
      badLines.push(line);
      continue;
    }
    const code = Number(line.slice(0, 3));
    if (open && open.code !== code) badLines.push(`(code changed inside a reply) ${line}`);
    open ??= { code, lines: [] };
    open.lines.push(line);
    if (line[3] !== "-") {
      replies.push(open);
      open = undefined;
    }
  }
  if (open) badLines.push(`(unterminated multi-line reply) ${open.lines.join(" | ")}`);
  return { replies, badLines, tail };
}

export interface DialogOptions {
  /**
   * After the last chunk: "end" half-closes (default), "destroy" drops the socket at
   * once (nothing more is read), "wait" waits for the server to close.
   */
  finish?: "end" | "destroy" | "wait";
  /** Bound on the whole exchange after the last write, in ms (default 5000). */
  closeWithinMs?: number;
  /**
   * Between chunks, yield one event-loop turn (setImmediate) so each chunk reaches
   * the server as its own read: the server and client share this process's loop.
   */
  separateReads?: boolean;
}

/** Connects, writes `chunks`, and collects everything until the server closes (bounded). */
export async function dialog(
  port: number,
  chunks: readonly (Buffer | string)[],
  options: DialogOptions = {},
): Promise<DialogResult> {
  const { finish = "end", closeWithinMs = 5000, separateReads = false } = options;
  const socket = await open(port);
  const received: Buffer[] = [];
  socket.on("data", (d: Buffer) => received.push(d));
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("error", () => {});
  for (const chunk of chunks) {
    if (socket.destroyed) break;
    await new Promise<void>((resolve) => socket.write(chunk, () => resolve()));
    if (separateReads) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const t0 = performance.now();
  let end: DialogResult["end"];
  if (finish === "destroy") {
    socket.destroy();
    await closed;
    end = "client";
  } else {
    if (finish === "end" && !socket.destroyed) socket.end();
    end = await bounded(closed, closeWithinMs);
  }
  const closeMs = performance.now() - t0;
  if (end === "timeout") socket.destroy();
  const text = Buffer.concat(received).toString("latin1");
  return { text, ...parseReplies(text), end, closeMs };
}

export function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1" }, () => {
      socket.removeListener("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/** Resolves "server" when `p` settles, or "timeout" after `ms` (the timer is cleared). */
export async function bounded(p: Promise<unknown>, ms: number): Promise<"server" | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    return await Promise.race([p.then(() => "server" as const), limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Rejects with `what` when `p` has not settled within `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Counts process-level 'uncaughtException' and 'unhandledRejection' while active.
 * (vitest reports them too; counting makes the invariant an assertion of its own.)
 */
export class CrashWatch {
  readonly errors: unknown[] = [];
  private readonly onError = (err: unknown) => {
    this.errors.push(err);
  };

  start(): this {
    process.on("uncaughtException", this.onError);
    process.on("unhandledRejection", this.onError);
    return this;
  }

  stop(): void {
    process.removeListener("uncaughtException", this.onError);
    process.removeListener("unhandledRejection", this.onError);
  }

  /**
   * Stops once every rejection that has already happened has been reported. Node
   * reports a rejection left without a handler when the macrotask it happened in
   * ends, after the microtask queue has drained ("within a turn of the event loop",
   * the docs of 'unhandledRejection'); an uncaught exception is reported at once.
   * Code after an `await` runs inside that queue, so the macrotask it runs in has
   * not ended yet: a setImmediate callback is a later macrotask, reached only after
   * that report. This waits for that boundary, not for a guessed time; a rejection
   * that has not happened yet is the test's to provoke and await.
   */
  async stopAfterReports(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.stop();
  }

  describe(): string {
    return this.errors
      .map((e) => (e instanceof Error ? (e.stack ?? e.message) : String(e)))
      .join("\n");
  }
}

/**
 * Resolves when the server has no connection left (each one's onClose ran). Uses
 * the server's own close bookkeeping: `connections` shrinks in connectionClosed().
 */
export class ClosedCounter {
  opened = 0;
  closed = 0;
  private waiters: Array<() => void> = [];

  readonly onClose = (): void => {
    this.closed++;
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  };

  /** Counts the server's accepted connections ('connect' events). */
  watch(server: SMTPServer): this {
    server.on("connect", () => {
      this.opened++;
    });
    return this;
  }

  /** Waits until every connection accepted so far has closed. */
  allClosed(ms: number): Promise<void> {
    return this.until(this.opened, ms);
  }

  /** Waits until `n` connections in total have closed. */
  async until(n: number, ms: number): Promise<void> {
    const done = new Promise<void>((resolve) => {
      const check = () => {
        if (this.closed >= n) resolve();
        else this.waiters.push(check);
      };
      check();
    });
    await within(done, ms, `waiting for ${n} closed connections (saw ${this.closed})`);
  }
}

/** Open file descriptors of this process (Linux /proc). */
export function openFds(): number | undefined {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return undefined;
  }
}

/**
 * A full garbage collection, if one can be had: `global.gc` under --expose-gc, else
 * V8's flag turned on at run time (a fresh context then exposes `gc`).
 */
export function gcFunction(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === "function") return g;
  try {
    setFlagsFromString("--expose-gc");
    const fn: unknown = runInNewContext("gc");
    return typeof fn === "function" ? (fn as () => void) : undefined;
  } catch {
    return undefined;
  }
}

/** Heap used after full collections (several passes: finalizers free more). */
export async function settledHeap(gc: () => void): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}

/** A small deterministic PRNG (the faults' mulberry32) for reproducible soak traffic. */
export { mulberry32 as prng } from "../../src/fixture/faults/random.js";

/** RFC 5321 4.5.2: a line starting with "." gets another "." (the text must use CRLF). */
export function dotStuff(text: string): string {
  return text.replace(/(^|\r\n)\./g, "$1..");
}
