/**
 * The four servers under test, each behind the same handle: `{ kind, port,
 * stats(expect?), close() }`. `stats()` reports what the server received
 * (messages, bytes, connections) so every scenario can check it against what the
 * client sent.
 *
 * - "SMTPServer":  this project's SMTPServer, onData consuming the stream.
 * - "fixture":     startTestSmtp() with its defaults (recording + transcripts).
 * - "smtp-server": nodemailer's smtp-server with the equivalent onData
 *                  (it waits 100 ms before each greeting: part of its figures).
 * - "null":        bench/null-server.mjs, the floor.
 */
import { SMTPServer as NodemailerServer } from "smtp-server";
import { SMTPServer, startTestSmtp } from "../dist/index.js";
import { createNullServer } from "./null-server.mjs";

export const KINDS = ["SMTPServer", "fixture", "smtp-server", "null"];

const HOST = "127.0.0.1";
/** How long stats() waits for the fixture to publish the expected messages. */
const SETTLE_MS = 30_000;

/** An onData that consumes the stream and counts what it read. */
function countingOnData(counts) {
  return (stream, _session, callback) => {
    let bytes = 0;
    stream.on("data", (chunk) => {
      bytes += chunk.length;
    });
    stream.on("end", () => {
      counts.messages++;
      counts.bytes += bytes;
      callback();
    });
  };
}

/** The same options for both SMTPServer implementations. */
function serverOptions(counts) {
  return {
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData: countingOnData(counts),
  };
}

function countConnections(netServer, counts) {
  netServer.on("connection", () => {
    counts.connections++;
  });
}

/** Listens on an OS-assigned port; `net` is the underlying net.Server (for its address). */
function listenNet(server, net = server) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, HOST, () => {
      server.removeListener("error", reject);
      resolve(net.address().port);
    });
  });
}

function closeNet(server) {
  return new Promise((resolve) => server.close(() => resolve()));
}

const newCounts = () => ({ messages: 0, bytes: 0, connections: 0 });

function zero(counts) {
  counts.messages = 0;
  counts.bytes = 0;
  counts.connections = 0;
}

/**
 * This package's SMTPServer with the benchmark's options and the `onData` that
 * `makeOnData(counts)` returns (undefined: none, the engine alone; it counts nothing).
 */
export async function startSMTPServer(makeOnData = countingOnData) {
  const counts = newCounts();
  const options = { ...serverOptions(counts), onData: makeOnData(counts) };
  const server = new SMTPServer(options);
  countConnections(server.server, counts);
  await server.listen(0, HOST);
  return {
    kind: "SMTPServer",
    port: server.address().port,
    stats: async () => ({ ...counts }),
    reset: () => zero(counts),
    close: () => server.close(),
  };
}

const starters = {
  SMTPServer: () => startSMTPServer(),

  async fixture() {
    const counts = newCounts();
    const smtp = await startTestSmtp();
    countConnections(smtp.server.server, counts);
    return {
      port: smtp.port,
      inbox: smtp.inbox,
      /** Waits (without polling) until `expect` messages are published, then counts. */
      async stats(expect = 0) {
        if (expect > smtp.inbox.messages.length) {
          await smtp.inbox
            .waitFor(() => true, { count: expect, timeout: SETTLE_MS })
            .catch(() => undefined);
        }
        let bytes = 0;
        for (const m of smtp.inbox.messages) bytes += m.size;
        return { messages: smtp.inbox.messages.length, bytes, connections: counts.connections };
      },
      /** What a test suite does between tests: inbox, attempts and transcripts emptied. */
      reset: () => {
        smtp.reset();
        counts.connections = 0;
      },
      close: () => smtp.close(),
    };
  },

  async "smtp-server"() {
    const counts = newCounts();
    const server = new NodemailerServer(serverOptions(counts));
    server.on("error", () => {}); // client resets are reported as errors; never fatal here
    countConnections(server.server, counts);
    const port = await listenNet(server, server.server);
    return {
      port,
      stats: async () => ({ ...counts }),
      reset: () => zero(counts),
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  },

  async null() {
    const { server, stats } = createNullServer();
    const port = await listenNet(server);
    return {
      port,
      stats: async () => ({ ...stats }),
      reset: () => zero(stats),
      close: () => closeNet(server),
    };
  },
};

/** Starts a fresh server of `kind` on 127.0.0.1 at an OS-assigned port. */
export async function startServer(kind) {
  const start = starters[kind];
  if (!start) throw new Error(`unknown server kind ${JSON.stringify(kind)}; use ${KINDS}`);
  return { kind, ...(await start()) };
}

/**
 * One start-up cycle: create + listen + close, the way a test suite does it.
 * Returns the port it listened on (checked by the caller).
 */
export const cycles = {
  async SMTPServer() {
    const server = new SMTPServer(serverOptions(newCounts()));
    await server.listen(0, HOST);
    const port = server.address().port;
    await server.close();
    return port;
  },
  async fixture() {
    const smtp = await startTestSmtp();
    const port = smtp.port;
    await smtp.close();
    return port;
  },
  async "smtp-server"() {
    const server = new NodemailerServer(serverOptions(newCounts()));
    const port = await listenNet(server, server.server);
    await new Promise((resolve) => server.close(() => resolve()));
    return port;
  },
  async null() {
    const { server } = createNullServer();
    const port = await listenNet(server);
    await closeNet(server);
    return port;
  },
};
