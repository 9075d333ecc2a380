/**
 * Clients refused over `maxClients` get `421 ... Too many connected clients` and
 * their socket is ended, but they are no connection of the server's: nothing else
 * tracks them. These tests hold the server to releasing them anyway: a refused
 * client that closes its side is released at once, one that never does is dropped
 * after a short linger, and `close()` (an `afterAll`) never waits for them.
 *
 * Server-side sockets are observed through the net.Server's own 'connection'
 * event; every wait is on an event, bounded by a timer.
 */
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import {
  SMTPServer,
  type SMTPServerOptions,
  startTestSmtp,
  type TestSmtp,
} from "../../src/index.js";
import { RawClient } from "../helpers/raw-client.js";
import { CrashWatch, portOf, within } from "./support.js";

const TOO_MANY = /^421 \S+ Too many connected clients, try again in a moment\r\n$/;
/** Generous bound on a wait that must succeed. */
const BOUND_MS = 5000;
/**
 * Under the 2 s a server gives a client that never closes its side (Connection's
 * and the refused sockets' linger), well over a loopback close.
 */
const PROMPT_MS = 1000;

let server: SMTPServer | undefined;
let smtp: TestSmtp | undefined;
let watch: CrashWatch | undefined;
const sockets: Socket[] = [];
const clients: RawClient[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  await smtp?.close();
  server = undefined;
  smtp = undefined;
  if (watch) {
    await watch.stopAfterReports();
    expect(watch.errors, watch.describe()).toEqual([]);
    watch = undefined;
  }
});

/** The server-side sockets of `srv`, in the order it accepted them. */
function serverSockets(srv: SMTPServer): Socket[] {
  const accepted: Socket[] = [];
  srv.server.on("connection", (s: Socket) => accepted.push(s));
  return accepted;
}

async function startServer(options: SMTPServerOptions): Promise<number> {
  watch = new CrashWatch().start();
  server = new SMTPServer({ disabledCommands: ["STARTTLS", "AUTH"], ...options });
  await server.listen(0, "127.0.0.1");
  return portOf(server);
}

/** A client that takes the only slot: connected, greeted. */
async function holdSlot(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  expect((await within(c.read(), BOUND_MS, "greeting")).code).toBe(220);
  return c;
}

interface Refused {
  socket: Socket;
  /** What the server sent, once its line is complete and its FIN has arrived. */
  text: string;
}

/**
 * Connects, writes `say` if given, and waits for the server's line and its end.
 * `halfOpen`: the client never closes its side (allowHalfOpen: true); otherwise it
 * answers the server's FIN with its own, as any net client does.
 */
async function refusedClient(port: number, halfOpen: boolean, say?: string): Promise<Refused> {
  const socket = connect({ port, host: "127.0.0.1", allowHalfOpen: halfOpen });
  sockets.push(socket);
  socket.on("error", () => {});
  if (say !== undefined) socket.write(say);
  let text = "";
  socket.setEncoding("latin1");
  socket.on("data", (d: string) => {
    text += d;
  });
  await within(
    new Promise<void>((resolve) => socket.once("end", () => resolve())),
    BOUND_MS,
    "the refusal and the server's FIN",
  );
  return { socket, text };
}

function closedPromise(s: Socket): Promise<void> {
  return new Promise<void>((resolve) => {
    if (s.closed) return resolve();
    s.once("close", () => resolve());
  });
}

describe("clients refused over maxClients", () => {
  test("a refused client that never closes its side does not hold close() (the fixture's afterAll)", async () => {
    watch = new CrashWatch().start();
    // The fixture's closeTimeout is 2 s: close() must not even need it.
    smtp = await startTestSmtp({ maxClients: 1 });
    const accepted = serverSockets(smtp.server);
    await holdSlot(smtp.port);
    const refused: Refused[] = [];
    for (let i = 0; i < 20; i++) refused.push(await refusedClient(smtp.port, true));
    for (const r of refused) expect(r.text).toMatch(TOO_MANY);
    expect(accepted).toHaveLength(21);
    expect(smtp.server.connections.size).toBe(1);

    const t0 = performance.now();
    await within(smtp.close(), PROMPT_MS, "close() with refused clients still open");
    expect(performance.now() - t0).toBeLessThan(PROMPT_MS);
    // Every server-side socket is gone, the refused ones included.
    for (const s of accepted) expect(s.destroyed).toBe(true);
    smtp = undefined;
  });

  test("SMTPServer.close() resolves long before a large closeTimeout", async () => {
    const port = await startServer({ maxClients: 1, closeTimeout: 30_000 });
    const accepted = serverSockets(server!);
    await holdSlot(port);
    const r = await refusedClient(port, true);
    expect(r.text).toMatch(TOO_MANY);
    await within(server!.close(), PROMPT_MS, "close() with a refused client still open");
    await within(closedPromise(accepted[1]!), BOUND_MS, "the refused socket closes");
    server = undefined;
  });

  test("a refused client that never closes its side is dropped after a short linger", async () => {
    const port = await startServer({ maxClients: 1, socketTimeout: 60_000 });
    const accepted = serverSockets(server!);
    const holder = await holdSlot(port);
    const r = await refusedClient(port, true);
    expect(r.text).toMatch(TOO_MANY);
    const refusedSide = accepted[1]!;
    // Without close(): the server's own timer ends it, well before socketTimeout.
    await within(closedPromise(refusedSide), BOUND_MS, "the refused socket is destroyed");
    expect(await connectionsOf(server!)).toBe(1);
    // The client in the slot is untouched.
    expect((await within(holder.command("NOOP"), BOUND_MS, "NOOP")).code).toBe(250);
  });

  test("a refused client that talked, then closes its side, is released at once (its FIN is read)", async () => {
    const port = await startServer({ maxClients: 1 });
    const accepted = serverSockets(server!);
    await holdSlot(port);
    // An early talker: bytes the server never answers sit before the client's FIN.
    const r = await refusedClient(port, false, "EHLO early.talker\r\n");
    expect(r.text).toMatch(TOO_MANY);
    const t0 = performance.now();
    await within(closedPromise(accepted[1]!), PROMPT_MS, "the refused socket closes");
    expect(performance.now() - t0).toBeLessThan(PROMPT_MS);
  });

  test("a refused client that talks and never reads is dropped too", async () => {
    const port = await startServer({ maxClients: 1 });
    const accepted = serverSockets(server!);
    await holdSlot(port);
    const socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    sockets.push(socket);
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    // Paused: nothing is read, the 421 and the FIN stay in the client's buffers.
    socket.pause();
    socket.write("EHLO early.talker\r\nMAIL FROM:<a@x.test>\r\n");
    const refusedSide = await within(
      accepted.length > 1
        ? Promise.resolve(accepted[1]!)
        : new Promise<Socket>((resolve) => server!.server.once("connection", resolve)),
      BOUND_MS,
      "the server accepts the second client",
    );
    await within(closedPromise(refusedSide), BOUND_MS, "the refused socket is destroyed");
  });
});

function connectionsOf(srv: SMTPServer): Promise<number> {
  return new Promise((resolve, reject) =>
    srv.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
  );
}
