/**
 * Reverse DNS of the client, when `disableReverseLookup: false` turns it on (it is
 * off by default here: a test server should never wait on DNS). Asks the `resolver`
 * option or `dns.promises.reverse`, and gives up after a short bound, so a slow or
 * dead DNS server costs at most that long before the greeting.
 */
import { promises as dns } from "node:dns";
import { clientHostnameOf, isPlausibleHostname } from "../protocol/trust.js";
import { clearTimeout, setTimeout } from "./real-timers.js";

/** smtp-server's `resolver`: `dns.Resolver` fits, and so does `dns.promises.Resolver`. */
export interface Resolver {
  reverse(ip: string, callback: (err: Error | null, hostnames?: string[]) => void): unknown;
}

/**
 * What a logger hears of a lookup, as smtp-server logs it: the error (a timeout is
 * `Error("Timeout")`), or a name that was found and discarded.
 */
export interface ReverseLookupReport {
  failed(err: Error): void;
  discarded(name: string): void;
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
  report?: ReverseLookupReport,
): Promise<string> {
  const fallback = `[${address}]`;
  return new Promise<string>((resolve) => {
    let done = false;
    const settle = (names: readonly unknown[] | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const first = names?.[0];
      if (typeof first === "string" && isPlausibleHostname(first)) {
        resolve(clientHostnameOf(first, address));
        return;
      }
      if (first !== undefined && first !== "") report?.discarded(String(first));
      resolve(fallback);
    };
    const failed = (err: unknown) => {
      if (done) return;
      report?.failed(err instanceof Error ? err : new Error(String(err)));
      settle(undefined);
    };
    const timer = setTimeout(() => failed(new Error("Timeout")), timeoutMs);
    timer.unref();
    try {
      const pending: unknown = resolver
        ? resolver.reverse(address, (err, names) => (err ? failed(err) : settle(names)))
        : dns.reverse(address);
      if (isThenable(pending)) pending.then(settle, failed);
    } catch (err) {
      // dns.reverse throws at once on something that is not an IP address.
      failed(err);
    }
  });
}

function isThenable(x: unknown): x is PromiseLike<readonly unknown[]> {
  return typeof (x as PromiseLike<unknown> | null)?.then === "function";
}
