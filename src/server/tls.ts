/**
 * TLS for a connection: STARTTLS (RFC 3207) and implicit TLS (RFC 8314) both wrap
 * the plain socket in a server-side TLSSocket. The secure context is built on the
 * first handshake, not at construction.
 */
import { type SecureContext, TLSSocket } from "node:tls";
import { domainToUnicode } from "node:url";
import type { Connection } from "./connection.js";
import type { ConnectionOwner } from "./types.js";

type SniCallback = (
  servername: string,
  cb: (err: Error | null, ctx?: SecureContext) => void,
) => void;

/**
 * A requested server name as smtp-server looks it up: trimmed, punycode decoded,
 * lower-cased (so `OTHER.test` finds the `other.test` certificate).
 */
export function normalizeServername(name: string): string {
  const trimmed = name.trim();
  return (domainToUnicode(trimmed) || trimmed).toLowerCase();
}

/** The handshake's error when the connection closed before it was done. */
export const TLS_HANDSHAKE_CLOSED = "connection closed during the TLS handshake";

/** The errors with which the server refused a client's certificate (requestCert). */
const certificateRefusals = new WeakSet<object>();

/** Whether the handshake failed because the server refused the client's certificate. */
export function isClientCertificateRefusal(err: unknown): boolean {
  return typeof err === "object" && err !== null && certificateRefusals.has(err);
}

export function upgradeToTls(owner: ConnectionOwner, conn: Connection): Promise<TLSSocket> {
  const plain = conn.socket;
  // The options as updateSecureContext() last left them.
  const o = owner.currentTlsOptions();
  const userSni = o.SNICallback;
  const requestCert = Boolean(o.requestCert);
  const rejectUnauthorized = Boolean(o.rejectUnauthorized && requestCert);
  return new Promise<TLSSocket>((resolve, reject) => {
    const socket = new TLSSocket(plain, {
      isServer: true,
      secureContext: owner.secureContext(),
      // As smtp-server: the name is normalised, then the user's SNICallback (an error
      // from it is reported, and the default certificate serves) or sniOptions decide.
      SNICallback: (requested, cb) => {
        const name = normalizeServername(requested);
        if (typeof userSni !== "function") {
          try {
            cb(null, owner.secureContext(name));
          } catch (err) {
            cb(err as Error);
          }
          return;
        }
        (userSni as SniCallback)(name, (err, ctx) => {
          if (err) owner.socketError(conn, err);
          cb(null, ctx ?? owner.secureContext());
        });
      },
      requestCert,
      rejectUnauthorized,
    });
    let done = false;
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      socket.destroy();
      plain.destroy();
      reject(err);
    };
    socket.once("error", fail);
    socket.once("close", () => fail(new Error(TLS_HANDSHAKE_CLOSED)));
    socket.once("secure", () => {
      const refused = requestCert ? judgeClientCertificate(socket, rejectUnauthorized) : undefined;
      if (refused) {
        certificateRefusals.add(refused);
        return fail(refused);
      }
      socket.removeListener("error", fail);
      // A TLS error once the session is up (a bad record): a server TLSSocket that no
      // tls.Server owns reports it only as '_tlsError', and stays open (smtp-server
      // listens for it too). Either way the connection is over.
      const broken = (err: Error) => {
        conn.tlsBroken();
        owner.socketError(conn, err);
        socket.destroy();
      };
      socket.on("error", broken);
      socket.on("_tlsError", broken);
      socket.on("close", () => plain.destroy());
      const s = conn.session;
      s.secure = true;
      s.servername =
        (socket as TLSSocket & { servername?: string | false }).servername || undefined;
      const c = socket.getCipher();
      s.tlsOptions = { name: c.name, standardName: c.standardName, version: c.version };
      done = true;
      resolve(socket);
    });
  });
}

/**
 * The client certificate, judged as tls.Server judges it for the sockets it accepts
 * (and smtp-server's verifyPeerCertificate): OpenSSL fails the handshake only for a
 * missing certificate, so an untrusted one is ours to refuse. Sets `authorized`, or
 * `authorizationError` (the code, a string, as Node sets it); returns the error that
 * refuses the connection (with `rejectUnauthorized`). A runtime without the verify
 * result on the handle (Bun) keeps what it set itself.
 */
function judgeClientCertificate(socket: TLSSocket, rejectUnauthorized: boolean): Error | undefined {
  const handle = (socket as TLSSocket & { _handle?: { verifyError?: () => Error | null } })._handle;
  if (typeof handle?.verifyError !== "function") return undefined;
  const err = handle.verifyError() as (Error & { code?: string }) | null;
  if (!err) {
    socket.authorized = true;
    return undefined;
  }
  (socket as { authorizationError: unknown }).authorizationError = err.code;
  return rejectUnauthorized ? err : undefined;
}
