/**
 * The idle timeout and a stall of the process: Node runs due timers before it reads
 * sockets, so after the process was busy for longer than `socketTimeout` (a long
 * synchronous task, a GC pause, a loaded CI machine), a command the client sent in
 * time is still unread when the idle timer fires. The server reads it first.
 */
import { performance } from "node:perf_hooks";
import { afterEach, expect, test } from "vitest";
import { SMTPServer } from "../../src/index.js";
import { RawClient } from "../helpers/raw-client.js";

const servers: SMTPServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(socketTimeout: number): Promise<number> {
  const server = new SMTPServer({
    socketTimeout,
    authOptional: true,
    disabledCommands: ["STARTTLS"],
  });
  servers.push(server);
  await server.listen(0, "127.0.0.1");
  return (server.server.address() as { port: number }).port;
}

/** Keeps this process busy (client and server alike) for `ms`: a stall, not a wait. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

test("a command that arrived while the process stalled past socketTimeout is answered, not timed out", async () => {
  const port = await start(100);
  const c = await RawClient.connect(port);
  expect((await c.read()).code).toBe(220);
  c.write("EHLO stalled.test\r\n");
  stall(250);
  expect((await c.read()).code).toBe(250);
  expect((await c.command("NOOP")).code).toBe(250);
  c.close();
});

test("a client that said nothing still times out after such a stall", async () => {
  const port = await start(100);
  const c = await RawClient.connect(port);
  expect((await c.read()).code).toBe(220);
  stall(250);
  expect((await c.read()).code).toBe(421);
  await c.waitClose();
});
