/**
 * The server's own JavaScript per message, without sockets or syscalls: a fake
 * socket is handed to the server's accept path and fed the pipelined client's
 * bytes (the body, then MAIL/RCPT/DATA of the next message) each time the server
 * writes its 354. Stable enough to compare one change with the next, and a clean
 * profile (no kernel time smeared over JS frames):
 *
 *   node bench/socketless.mjs SMTPServer 200000
 *   node --cpu-prof --cpu-prof-dir=bench/results bench/socketless.mjs fixture 200000
 *
 * Servers: SMTPServer (onData reading the stream), bare (SMTPServer without
 * onData: the engine alone), fixture (startTestSmtp() defaults).
 */
import { EventEmitter } from "node:events";
import { SMTPServer, startTestSmtp } from "../dist/index.js";
import { EHLO, makeMessage, wire } from "./messages.mjs";

class FakeSocket extends EventEmitter {
  remoteAddress = "127.0.0.1";
  remotePort = 40000;
  localAddress = "127.0.0.1";
  localPort = 25;
  readableLength = 0;
  writableLength = 0;
  destroyed = false;
  onWrite = () => {};
  setNoDelay() {}
  setTimeout() {}
  setKeepAlive() {}
  unref() {}
  ref() {}
  pause() {}
  resume() {}
  write(data, cb) {
    this.onWrite(String(data));
    if (typeof cb === "function") cb();
    return true;
  }
  end() {
    this.destroyed = true;
    queueMicrotask(() => this.emit("close"));
  }
  destroy() {
    this.end();
  }
}

const KINDS = ["SMTPServer", "bare", "fixture"];
const [kind = "SMTPServer", countArg = "100000"] = process.argv.slice(2);
if (!KINDS.includes(kind)) throw new Error(`unknown server ${kind}; use ${KINDS}`);
const count = Number(countArg);

let server;
let fixture;
if (kind === "fixture") {
  fixture = await startTestSmtp();
  server = fixture.server;
} else {
  const options = { authOptional: true, disabledCommands: ["STARTTLS"] };
  if (kind === "SMTPServer") {
    options.onData = (stream, _session, callback) => {
      stream.on("data", () => {});
      stream.on("end", () => callback());
    };
  }
  server = new SMTPServer(options);
}

const w = wire(makeMessage(1024));
const socket = new FakeSocket();
const feed = (bytes) => process.nextTick(() => socket.emit("data", bytes));
let sent = 0;
let startedAt = 0;
await new Promise((resolve) => {
  let stage = "greeting";
  socket.onWrite = (text) => {
    if (stage === "greeting") {
      stage = "ehlo";
      feed(EHLO);
    } else if (stage === "ehlo") {
      stage = "messages";
      startedAt = performance.now();
      feed(w.envelope);
    } else if (text.includes("354")) {
      sent++;
      feed(sent < count ? w.bodyThenEnvelope : w.body);
    } else if (sent === count && text.startsWith("250")) {
      resolve();
    }
  };
  server.accept(socket);
});
const ms = performance.now() - startedAt;
console.log(
  `${kind}: ${count} messages in ${ms.toFixed(0)} ms, ${((ms * 1000) / count).toFixed(2)} µs each`,
);
if (fixture) {
  if (fixture.inbox.messages.length !== count) throw new Error("not every message was recorded");
  await fixture.close();
}
