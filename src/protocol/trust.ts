/**
 * Trusted peers for XCLIENT, XFORWARD and the PROXY header (smtp-server's
 * `useXClient`, `useXForward`, `useProxy`): `true` trusts every peer, a list names
 * the trusted addresses (an entry `"*"` trusts every peer, as in smtp-server).
 * Addresses compare in one normal form, so `["10.0.0.5"]` also covers a peer that
 * a dual-stack listener reports as `::ffff:10.0.0.5`.
 */
import { isIP, isIPv4, SocketAddress } from "node:net";

/** Resolved once from the option: everyone, no one, or these normalised addresses. */
export type Trust = boolean | ReadonlySet<string>;

export function resolveTrust(option: unknown, name: string): Trust {
  if (option === undefined || option === false || option === null) return false;
  if (option === true) return true;
  if (!Array.isArray(option) || !option.every((a) => typeof a === "string")) {
    throw new TypeError(
      `SMTPServer: option ${name} must be true or a list of IP addresses, got ${JSON.stringify(option)}`,
    );
  }
  if (option.includes("*")) return true;
  return new Set(option.map(normalizeIp));
}

export function isTrusted(trust: Trust, address: string): boolean {
  if (typeof trust === "boolean") return trust;
  return trust.has(normalizeIp(address));
}

/**
 * One text form per address: an IPv4-mapped IPv6 address as plain IPv4, IPv6 in
 * RFC 5952 form (lower case, zeros compressed), a zone index kept. Anything that
 * is not an IP address is only trimmed and lower-cased.
 */
export function normalizeIp(raw: string): string {
  const address = raw.trim().toLowerCase();
  if (isIP(address) !== 6) return address;
  const zoneAt = address.indexOf("%");
  const zone = zoneAt === -1 ? "" : address.slice(zoneAt);
  const bare = zoneAt === -1 ? address : address.slice(0, zoneAt);
  const canonical = new SocketAddress({ address: bare, family: "ipv6" }).address;
  const mapped = canonical.startsWith("::ffff:") ? canonical.slice(7) : "";
  return isIPv4(mapped) ? mapped : canonical + zone;
}

/** RFC 1035 limits; the underscore is in real PTR records although RFC 1035 has none. */
const MAX_HOSTNAME = 253;
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/i;

/**
 * Whether a host name from an untrusted source (a PTR record, XCLIENT/XFORWARD NAME)
 * looks like one. It ends up in replies, logs and Received headers, so anything
 * else (a CR LF, spaces, a quote) is refused rather than passed on.
 */
export function isPlausibleHostname(name: string): boolean {
  if (!name || name.length > MAX_HOSTNAME) return false;
  return name
    .replace(/\.$/, "")
    .split(".")
    .every((label) => LABEL.test(label));
}

/** `session.clientHostname`: the name lower-cased without a root dot, or `[address]`. */
export function clientHostnameOf(name: string, address: string): string {
  return name.toLowerCase().replace(/\.$/, "") || `[${address}]`;
}
