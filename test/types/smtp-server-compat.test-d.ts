/**
 * Code typed with smtp-server 3.21's own declarations compiles against this package's
 * SMTPServer: handlers whose parameters use smtp-server's types, and an options object
 * typed as smtp-server's SMTPServerOptions (checked by `tsc`, as every file here).
 */
import type {
  SMTPServerAddress,
  SMTPServerAuthentication,
  SMTPServerAuthenticationResponse,
  SMTPServerDataStream,
  SMTPServerOptions,
  SMTPServerSession,
} from "smtp-server";
import { SMTPServer } from "../../src/index.js";

function onConnect(session: SMTPServerSession, callback: (err?: Error | null) => void): void {
  if (session.remoteAddress === "") callback(new Error("no address"));
  else callback();
}

function onAuth(
  auth: SMTPServerAuthentication,
  _session: SMTPServerSession,
  callback: (err: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void,
): void {
  if (auth.method === "CRAM-MD5" && !auth.validatePassword("secret")) {
    callback(new Error("Invalid username or password"));
    return;
  }
  callback(null, { user: auth.username });
}

function onMailFrom(
  address: SMTPServerAddress,
  _session: SMTPServerSession,
  callback: (err?: Error | null) => void,
): void {
  callback(address.address.endsWith("@spam.test") ? new Error("Refused") : null);
}

function onRcptTo(
  address: SMTPServerAddress,
  session: SMTPServerSession,
  callback: (err?: Error | null) => void,
): void {
  callback(session.envelope.rcptTo.length > 10 || address.address === "" ? new Error("No") : null);
}

function onData(
  stream: SMTPServerDataStream,
  _session: SMTPServerSession,
  callback: (err?: Error | null) => void,
): void {
  stream.on("end", () => callback(stream.sizeExceeded ? new Error("Too big") : null));
  stream.resume();
}

function onClose(session: SMTPServerSession): void {
  void session.id;
}

new SMTPServer({ onConnect, onAuth, onMailFrom, onRcptTo, onData, onClose, authOptional: true });

const options: SMTPServerOptions = { size: 1024, authOptional: true, onAuth, onData };
new SMTPServer(options);
