/**
 * Reverse DNS of the client, when `disableReverseLookup: false` turns it on (it is
 * off by default here: a test server should never wait on DNS). Asks the `resolver`
 * option or `dns.promises.reverse`, and gives up after a short bound, so a slow or
 * dead DNS server costs at most that long before the greeting.
 */
import { promises as dns } from "node:dns";
import { clientHostnameOf, isPlausibleHostname } from "../protocol/trust.js";

/** smtp-server's `resolver`: `dns.Resolver` fits, and so does `dns.promises.Resolver`. */
export interface Resolver {
  reverse(ip: string, callback: (err: Error | null, hostnames?: string[]) => void): unknown;
}

/** smtp-server gives up after 1.5 s as well. */
export const REVERSE_LOOKUP_TIMEOUT_MS = 1500;

/**
 * The client's host name (lower-cased, without a root dot), or `[address]` when the
 * lookup fails, times out, finds nothing, or finds something that is not a host
 * name (a PTR record is the client's to write: CR LF in it would reach replies and
 * Received headers). Never rejects.
 */
export function reverseLookup(
  address: string,
  resolver?: Resolver,
  timeoutMs = REVERSE_LOOKUP_TIMEOUT_MS,
): Promise<string> {
  const fallback = `[${address}]`;
  return new Promise<string>((resolve) => {
    let done = false;
    const settle = (names: readonly unknown[] | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const first = names?.[0];
      resolve(
        typeof first === "string" && isPlausibleHostname(first)
          ? clientHostnameOf(first, address)
          : fallback,
      );
    };
    const timer = setTimeout(() => settle(undefined), timeoutMs);
    timer.unref();
    const failed = () => settle(undefined);
    try {
      const pending: unknown = resolver
        ? resolver.reverse(address, (err, names) => settle(err ? undefined : names))
        : dns.reverse(address);
      if (isThenable(pending)) pending.then(settle, failed);
    } catch {
      // dns.reverse throws at once on something that is not an IP address.
      failed();
    }
  });
}

function isThenable(x: unknown): x is PromiseLike<readonly unknown[]> {
  return typeof (x as PromiseLike<unknown> | null)?.then === "function";
}
