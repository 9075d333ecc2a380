/**
 * User hooks come in two styles: smtp-server's callback (`(..., callback)`) and
 * async (return a promise, throw to reject). They are adapted here, once: the
 * first of the callback or the returned promise settles the hook; a second
 * callback is ignored.
 */

/** How a hook ended: `failed` with a reason, or with a value. */
export type HookSettle<T> = (failed: boolean, reason: unknown, value?: T) => void;

/**
 * Runs a hook and reports how it ended through `settle`, synchronously when the
 * hook calls back at once (no promise, no tick: this runs for every message).
 */
export function invokeHook<T>(
  invoke: (callback: (err?: unknown, value?: T) => void) => unknown,
  settle: HookSettle<T>,
): void {
  let settled = false;
  const once: HookSettle<T> = (failed, reason, value) => {
    if (settled) return;
    settled = true;
    settle(failed, reason, value);
  };
  // smtp-server's convention: a truthy first argument is the rejection.
  const callback = (err?: unknown, value?: T) => once(Boolean(err), err, value);
  let returned: unknown;
  try {
    returned = invoke(callback);
  } catch (err) {
    // A hook that throws synchronously is a crash, not a verdict: 451 (see errorToReply).
    // Whatever was thrown (even `undefined`) is a failure.
    once(true, isCrash(err) ? new HookCrash(err) : err);
    return;
  }
  // Anything but an object or a function is no thenable (and callback-style hooks
  // return undefined): nothing more to read, no tick.
  if (returned === null || (typeof returned !== "object" && typeof returned !== "function")) return;
  // Adopted as `await` would (Promise Resolve Functions, ECMA-262 27.2.1.3): a `then`
  // getter or a `then` that throws is a rejection with what it threw, never an
  // exception out of the caller (a socket's 'data' handler, for onData).
  try {
    const then: unknown = (returned as { then?: unknown }).then;
    if (typeof then !== "function") return;
    (then as PromiseLike<T>["then"]).call(
      returned,
      (value) => once(false, undefined, value),
      (err: unknown) => once(true, err),
    );
  } catch (err) {
    once(true, err);
  }
}

/** An Error thrown by a hook that is not an SMTP refusal (no `responseCode`). */
function isCrash(err: unknown): err is Error {
  try {
    return err instanceof Error && !("responseCode" in err);
  } catch {
    // A Proxy whose traps throw: errorToReply answers it as a local error (451) anyway.
    return false;
  }
}

/** `invokeHook` as a promise. */
export function callHook<T>(
  invoke: (callback: (err?: unknown, value?: T) => void) => unknown,
): Promise<T | undefined> {
  return new Promise<T | undefined>((resolve, reject) => {
    invokeHook<T>(invoke, (failed, reason, value) => {
      if (failed) reject(reason);
      else resolve(value);
    });
  });
}

/** Marks an exception thrown by a hook, so it maps to 451 rather than 550. */
export class HookCrash {
  readonly cause: Error;
  constructor(cause: Error) {
    this.cause = cause;
  }
}
