/**
 * Why a STARTTLS handshake did not give a session, told from what the server saw:
 * whether a ClientHello came, whether the server answered it (its certificate),
 * and the TLS error. A client that does not trust the server's certificate either
 * sends an alert (OpenSSL's clients: curl, Python, ...: "unknown ca") or, as Node's
 * TLS does (nodemailer), closes the connection once it has the certificate, with
 * no alert (over TLS 1.2, only after the server's side of the handshake is done).
 */
import { isClientCertificateRefusal, TLS_HANDSHAKE_CLOSED } from "./tls.js";

/** What the client's certificate check has to do with it: it failed, or it likely did. */
export type CertificateVerdict = "refused" | "likely refused";

export interface StartTlsFailure {
  /** The transcript note. */
  note: string;
  /** The attempt's reason. */
  reason: string;
  certificate: CertificateVerdict | undefined;
}

/** The server cut the handshake short: its idle timeout, or its close. */
export type HandshakeCut = "timeout" | "server closed";

/** Alerts a client sends when it does not trust the server's certificate (a missing CA). */
const UNTRUSTED = new Set(["unknown ca", "bad certificate", "certificate unknown"]);

/**
 * How the handshake failed; undefined when the server closed mid-handshake: its own
 * doing, and no transaction was open (the transcripts go with the server).
 */
export function startTlsFailure(
  cut: HandshakeCut | undefined,
  helloRead: boolean,
  answered: boolean,
  err: unknown,
): StartTlsFailure | undefined {
  if (cut === "server closed") return undefined;
  if (cut === "timeout") {
    const where = helloRead ? "the client stopped mid-handshake" : "the client sent no ClientHello";
    return {
      note: `TLS handshake timed out (STARTTLS): ${where}`,
      reason: "timeout",
      certificate: undefined,
    };
  }
  if (!helloRead) {
    return {
      note: "no TLS handshake: the client closed the connection after 220 without sending a ClientHello (STARTTLS)",
      reason: "no tls handshake",
      certificate: undefined,
    };
  }
  const e = err as { reason?: unknown; code?: unknown; message?: unknown } | undefined;
  const closed =
    e?.message === TLS_HANDSHAKE_CLOSED || e?.code === "ECONNRESET" || e?.code === "EPIPE";
  const failed = "TLS handshake failed (STARTTLS)";
  const reason = "tls handshake failed";
  if (closed) {
    return answered
      ? {
          note: `${failed}: the client closed the connection after the server's certificate, with no alert`,
          reason,
          certificate: "likely refused",
        }
      : {
          note: `${failed}: the client closed the connection after its ClientHello`,
          reason,
          certificate: undefined,
        };
  }
  if (isClientCertificateRefusal(err)) {
    return {
      note: `${failed}: the client's certificate was refused: ${String(e?.message)}`,
      reason,
      certificate: undefined,
    };
  }
  // "tlsv1 alert unknown ca" for an alert the client sent, "wrong version number"
  // (plaintext after the 220), ...
  const text = tlsErrorReason(err);
  const alert = /^(?:sslv3|tlsv1\d*) alert (.+)$/.exec(text)?.[1];
  if (alert === undefined) return { note: `${failed}: ${text}`, reason, certificate: undefined };
  const untrusted = UNTRUSTED.has(alert);
  return {
    note: `${failed}: the client sent the TLS alert "${alert}"${untrusted ? ": it did not accept the server's certificate" : ""}`,
    reason,
    certificate: untrusted ? "refused" : undefined,
  };
}

/** The client closed the connection right after a STARTTLS handshake, before any command. */
export const LEFT_AFTER_HANDSHAKE: StartTlsFailure = {
  note: "the client closed the connection right after the TLS handshake, before any command (STARTTLS)",
  reason: "client disconnected after tls handshake",
  certificate: "likely refused",
};

/** What a TLS error says in short: OpenSSL's errors carry a `reason` ("wrong version number"). */
export function tlsErrorReason(err: unknown): string {
  const e = err as { reason?: unknown; code?: unknown; message?: unknown } | undefined;
  const why = [e?.reason, e?.code, e?.message, err].find((x) => typeof x === "string" && x);
  return typeof why === "string" ? why : String(err);
}
