/**
 * TLS for a connection: STARTTLS (RFC 3207) and implicit TLS (RFC 8314) both wrap
 * the plain socket in a server-side TLSSocket. The secure context is built on the
 * first handshake, not at construction.
 */
import { type SecureContext, TLSSocket } from "node:tls";
import type { Connection } from "./connection.js";
import type { ConnectionOwner } from "./types.js";

type SniCallback = (
  servername: string,
  cb: (err: Error | null, ctx?: SecureContext) => void,
) => void;

export function upgradeToTls(owner: ConnectionOwner, conn: Connection): Promise<TLSSocket> {
  const plain = conn.socket;
  const o = owner.options.tls;
  // smtp-server passes a user's own SNICallback to Node as is; otherwise sniOptions decide.
  const userSni = (o as { SNICallback?: unknown }).SNICallback;
  return new Promise<TLSSocket>((resolve, reject) => {
    const socket = new TLSSocket(plain, {
      isServer: true,
      secureContext: owner.secureContext(),
      SNICallback:
        typeof userSni === "function"
          ? (userSni as SniCallback)
          : (name, cb) => {
              try {
                cb(null, owner.secureContext(name));
              } catch (err) {
                cb(err as Error);
              }
            },
      requestCert: Boolean(o.requestCert),
      rejectUnauthorized: Boolean(o.rejectUnauthorized && o.requestCert),
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
    socket.once("close", () => fail(new Error("connection closed during the TLS handshake")));
    socket.once("secure", () => {
      socket.removeListener("error", fail);
      socket.on("error", (err) => owner.socketError(conn, err));
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
