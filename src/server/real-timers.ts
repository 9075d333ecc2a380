/**
 * The timers and clock the server and the fixture run on: the real ones, taken when
 * this module is loaded, never the fakes a test installs later (`vi.useFakeTimers()`,
 * `jest.useFakeTimers()`, Bun's). A test that fakes time for its own code still gets
 * waits that time out with their report, delays and slow drips that end, and a
 * `close()` that finishes after `closeTimeout`.
 */
import perfHooks from "node:perf_hooks";
import timers from "node:timers";

// From Node's modules, not the globals: Jest's `fakeTimers.enableGlobally` fakes the
// globals before any test file (this package included) is imported, not node:timers.
const realSetTimeout = timers.setTimeout;
const realClearTimeout = timers.clearTimeout;
const realSetImmediate = timers.setImmediate;
const realNow = perfHooks.performance.now.bind(perfHooks.performance);

/** When `now()` was 0, in milliseconds since 1970 (the real `performance.timeOrigin`). */
export const timeOrigin = perfHooks.performance.timeOrigin;

export function setTimeout(fn: () => void, ms: number): NodeJS.Timeout {
  return realSetTimeout(fn, ms);
}

export function clearTimeout(timer: NodeJS.Timeout | undefined): void {
  realClearTimeout(timer);
}

export function setImmediate(fn: () => void): void {
  realSetImmediate(fn);
}

/** Milliseconds on the real monotonic clock (`performance.now()` before any fake). */
export function now(): number {
  return realNow();
}

/**
 * Resolves after `ms` real milliseconds, or as soon as `signal` (the connection's
 * `ended`) aborts. The timer does not keep the process alive: what it delays (a
 * fault's reply, the greeting) is for a client whose socket does that while it is
 * connected, and once the client has gone or the server is closed the rest of a 20 s
 * delay must not hold a test run open (Jest's "did not exit"), nor keep the closed
 * server in memory until it runs out.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      realClearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = realSetTimeout(done, ms);
    timer.unref();
    signal?.addEventListener("abort", done, { once: true });
  });
}
