/**
 * User hooks come in two styles: smtp-server's callback (`(..., callback)`) and
 * async (return a promise, throw to reject). They are adapted here, once, to a
 * promise that settles on whichever comes first; a second callback is ignored.
 */
export function callHook<T>(
  invoke: (callback: (err?: unknown, value?: T) => void) => unknown,
): Promise<T | undefined> {
  return new Promise<T | undefined>((resolve, reject) => {
    let settled = false;
    const settle = (failed: boolean, reason: unknown, value?: T) => {
      if (settled) return;
      settled = true;
      if (failed) reject(reason);
      else resolve(value);
    };
    // smtp-server's convention: a truthy first argument is the rejection.
    const callback = (err?: unknown, value?: T) => settle(Boolean(err), err, value);
    let returned: unknown;
    try {
      returned = invoke(callback);
    } catch (err) {
      // A hook that throws synchronously is a crash, not a verdict: 451 (see errorToReply).
      // Whatever was thrown (even `undefined`) is a failure.
      settle(true, err instanceof Error && !("responseCode" in err) ? new HookCrash(err) : err);
      return;
    }
    if (returned && typeof (returned as PromiseLike<T>).then === "function") {
      // A rejected promise is a rejection whatever its reason (0, "", undefined...).
      (returned as PromiseLike<T>).then(
        (value) => settle(false, undefined, value),
        (err: unknown) => settle(true, err),
      );
    }
  });
}

/** Marks an exception thrown by a hook, so it maps to 451 rather than 550. */
export class HookCrash {
  readonly cause: Error;
  constructor(cause: Error) {
    this.cause = cause;
  }
}
