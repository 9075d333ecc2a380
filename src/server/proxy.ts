/**
 * The HAProxy PROXY protocol, versions 1 (a text line) and 2 (binary), read before
 * the greeting from the peers `useProxy` names (haproxy.org, doc/proxy-protocol.txt).
 * `parseProxyHeader` is pure: given the bytes received so far it says whether they
 * hold a complete header (and how long it is), need more bytes, or are not a
 * header at all. `acceptProxy` is the socket side.
 */
import { isIPv4, isIPv6, type Socket } from "node:net";
import { isTrusted, normalizeIp, type Trust } from "../protocol/trust.js";
import type { SMTPSession } from "../protocol/types.js";

export interface ProxyEndpoint {
  readonly address: string;
  readonly port: number;
}

export interface ProxyHeader {
  readonly version: 1 | 2;
  /** Bytes the header takes; what follows is the client's. */
  readonly length: number;
  /**
   * The relayed connection. Absent when the proxy says nothing about it (v1
   * UNKNOWN, v2 LOCAL such as a health check, v2 UNSPEC/UNIX/DGRAM): the socket's
   * own addresses stand.
   */
  readonly source?: ProxyEndpoint;
  readonly destination?: ProxyEndpoint;
}

export type ProxyParse =
  | { readonly kind: "more" }
  | { readonly kind: "header"; readonly header: ProxyHeader }
  | { readonly kind: "invalid"; readonly reason: string };

const V1_PREFIX = Buffer.from("PROXY ", "latin1");
/** Spec 2.1: a v1 line is at most 107 bytes, CRLF included. */
const V1_MAX = 107;
const V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);
/** Signature, version/command, family/transport, 16-bit length. */
const V2_FIXED = 16;
/** Spec 2.2: the address block of TCP over IPv4 (4+4+2+2) and over IPv6 (16+16+2+2). */
const V2_INET = 12;
const V2_INET6 = 36;

type Invalid = Extract<ProxyParse, { kind: "invalid" }>;

const MORE: ProxyParse = { kind: "more" };
const invalid = (reason: string): Invalid => ({ kind: "invalid", reason });

/**
 * Looks for a PROXY header at the start of `buf`. The longest header it waits for
 * is bounded: 107 bytes for v1, 16 + 65535 for v2 (its own length field's limit).
 */
export function parseProxyHeader(buf: Uint8Array): ProxyParse {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length === 0) return MORE;
  if (b[0] === V1_PREFIX[0]) return parseV1(b);
  if (b[0] === V2_SIGNATURE[0]) return parseV2(b);
  return invalid("not a PROXY protocol header");
}

function startsWithPrefix(b: Buffer, prefix: Buffer): boolean | "partial" {
  const n = Math.min(b.length, prefix.length);
  if (!b.subarray(0, n).equals(prefix.subarray(0, n))) return false;
  return n < prefix.length ? "partial" : true;
}

function parseV1(b: Buffer): ProxyParse {
  const prefix = startsWithPrefix(b, V1_PREFIX);
  if (prefix === false) return invalid("not a PROXY protocol header");
  const lf = b.subarray(0, V1_MAX).indexOf(0x0a);
  if (lf === -1) return b.length >= V1_MAX ? invalid("v1 header longer than 107 bytes") : MORE;
  if (b[lf - 1] !== 0x0d) return invalid("v1 header must end with CRLF");
  const line = b.toString("latin1", 0, lf - 1);
  const parsed = parseV1Line(line);
  if (typeof parsed === "string") return invalid(parsed);
  return { kind: "header", header: { version: 1, length: lf + 1, ...parsed } };
}

type Endpoints = { source: ProxyEndpoint; destination: ProxyEndpoint } | Record<string, never>;

function parseV1Line(line: string): Endpoints | string {
  const fields = line.split(" ");
  const proto = fields[1];
  // Spec 2.1: after UNKNOWN the receiver ignores everything up to the CRLF.
  if (proto === "UNKNOWN") return {};
  if (proto !== "TCP4" && proto !== "TCP6") return `v1 protocol ${JSON.stringify(proto)}`;
  if (fields.length !== 6) return "v1 header needs 4 fields after the protocol";
  const [, , src = "", dst = "", srcPort = "", dstPort = ""] = fields;
  const isFamily = proto === "TCP4" ? isIPv4 : isIPv6;
  if (!isFamily(src) || !isFamily(dst)) return `v1 address not ${proto}`;
  const sp = port(srcPort);
  const dp = port(dstPort);
  if (sp === undefined || dp === undefined) return "v1 port not 0-65535";
  return {
    source: { address: normalizeIp(src), port: sp },
    destination: { address: normalizeIp(dst), port: dp },
  };
}

/** A decimal port without leading zeros. */
function port(text: string): number | undefined {
  if (!/^(?:0|[1-9]\d{0,4})$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function parseV2(b: Buffer): ProxyParse {
  const sig = startsWithPrefix(b, V2_SIGNATURE);
  if (sig === false) return invalid("not a PROXY protocol header");
  if (sig === "partial" || b.length < V2_FIXED) return MORE;
  const version = b[12]! >> 4;
  const command = b[12]! & 0x0f;
  const family = b[13]! >> 4;
  const transport = b[13]! & 0x0f;
  if (version !== 2) return invalid(`v2 version nibble ${version}`);
  if (command > 1) return invalid(`v2 command ${command}`);
  if (family > 3 || transport > 2) return invalid(`v2 family/transport 0x${b[13]!.toString(16)}`);
  const length = V2_FIXED + b.readUInt16BE(14);
  if (b.length < length) return MORE;
  // LOCAL (0): the proxy speaks for itself (a health check); the socket stands.
  if (command === 0) return { kind: "header", header: { version: 2, length } };
  const block = b.subarray(V2_FIXED, length);
  if (transport === 1 && family === 1) {
    if (block.length < V2_INET) return invalid("v2 IPv4 address block too short");
    return { kind: "header", header: { version: 2, length, ...inet(block, 4) } };
  }
  if (transport === 1 && family === 2) {
    if (block.length < V2_INET6) return invalid("v2 IPv6 address block too short");
    return { kind: "header", header: { version: 2, length, ...inet(block, 16) } };
  }
  // UNSPEC, UNIX sockets and datagrams carry no TCP endpoints for an SMTP session.
  return { kind: "header", header: { version: 2, length } };
}

function inet(block: Buffer, size: 4 | 16): { source: ProxyEndpoint; destination: ProxyEndpoint } {
  const at = 2 * size;
  return {
    source: { address: ipText(block.subarray(0, size)), port: block.readUInt16BE(at) },
    destination: { address: ipText(block.subarray(size, at)), port: block.readUInt16BE(at + 2) },
  };
}

function ipText(bytes: Buffer): string {
  if (bytes.length === 4) return bytes.join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return normalizeIp(groups.join(":"));
}

/** What smtp-server writes before closing on a header it cannot use. */
export const PROXY_REJECTION = "* BAD Invalid PROXY header\r\n";

/**
 * Before anything else on a connection: when `trust` expects a PROXY header from
 * this peer, reads it and puts the relayed addresses in `session`. Resolves
 * `"relayed"` (a header naming the client, applied), `"header"` (a header that
 * names no client: the socket's addresses stand) or `"none"` (no header expected:
 * the peer talks SMTP at once, as in smtp-server) to go on, `false` when the
 * connection is over:
 * the header was malformed (the client gets `* BAD Invalid PROXY header`) or the
 * socket ended first.
 */
export async function acceptProxy(
  socket: Socket,
  trust: Trust,
  session: SMTPSession,
): Promise<"relayed" | "header" | "none" | false> {
  if (trust === false || !isTrusted(trust, socket.remoteAddress ?? "")) return "none";
  const read = await readProxyHeader(socket);
  if (read.kind === "closed") return false;
  if (read.kind === "invalid") {
    socket.write(PROXY_REJECTION);
    return false;
  }
  const { source, destination } = read.header;
  if (source) {
    session.remoteAddress = source.address;
    session.remotePort = source.port;
    session.clientHostname = `[${source.address}]`;
  }
  if (destination) {
    session.localAddress = destination.address;
    session.localPort = destination.port;
  }
  return source ? "relayed" : "header";
}

type ProxyRead = Exclude<ProxyParse, { kind: "more" }> | { readonly kind: "closed" };

/** Reads until `parseProxyHeader` decides; the bytes after the header go back to the socket. */
export function readProxyHeader(socket: Socket): Promise<ProxyRead> {
  return new Promise<ProxyRead>((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    const finish = (result: ProxyRead) => {
      socket.removeListener("readable", onReadable);
      socket.removeListener("end", onEnd);
      socket.removeListener("close", onEnd);
      resolve(result);
    };
    const onEnd = () => finish({ kind: "closed" });
    const onReadable = () => {
      for (let chunk: Buffer | null = socket.read(); chunk !== null; chunk = socket.read()) {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        const r = parseProxyHeader(buf);
        if (r.kind === "more") continue;
        if (r.kind === "header" && r.header.length < buf.length) {
          socket.unshift(buf.subarray(r.header.length));
        }
        finish(r);
        return;
      }
    };
    socket.on("readable", onReadable);
    socket.once("end", onEnd);
    socket.once("close", onEnd);
  });
}
