export type MaybePromise<T> = T | Promise<T>;

/** Runs `next` on the value now if it is plain, or when it settles if it is a promise. */
export function andThen<T, R>(
  value: MaybePromise<T>,
  next: (v: T) => MaybePromise<R>,
): MaybePromise<R> {
  return value instanceof Promise ? value.then(next) : next(value);
}

export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return value instanceof Promise;
}
