/**
 * The SMTPServer the hook suites test (hooks.test.ts, hook-misuse.test.ts): a server
 * with one user hook at one point, raw clients to it, and a crash watch. After each
 * test the clients and the server are closed, and the test fails if the process saw
 * an uncaught exception or an unhandled rejection.
 */
import { readFileSync } from "node:fs";
import { afterEach, beforeEach, expect } from "vitest";
import { SMTPServer, type SMTPServerOptions } from "../../src/index.js";
import { RawClient } from "../helpers/raw-client.js";
import { CrashWatch, portOf } from "./support.js";

export type HookPoint = "onConnect" | "onSecure" | "onAuth" | "onMailFrom" | "onRcptTo" | "onData";
export type AnyHook = (...args: unknown[]) => unknown;

const ca = readFileSync(new URL("../../fixtures/tls/ca.pem", import.meta.url));

export interface HookHarness {
  /** The server of the running test; a test may set its own (it is closed after the test). */
  server: SMTPServer | undefined;
  /** A server with `hook` at `point` (onSecure: implicit TLS), listening on 127.0.0.1; its port. */
  start(point: HookPoint, hook: AnyHook, extra?: SMTPServerOptions): Promise<number>;
  /** A raw client (over TLS with the test CA when `tls`), closed after the test. */
  connect(port: number, tls?: boolean): Promise<RawClient>;
}

/** Registers the per-test set-up and clean-up; `defaults` are every server's options. */
export function hookHarness(defaults: SMTPServerOptions): HookHarness {
  let watch: CrashWatch;
  const clients: RawClient[] = [];
  const harness: HookHarness = {
    server: undefined,
    async start(point, hook, extra = {}) {
      const server = new SMTPServer({
        authMethods: ["PLAIN"],
        authOptional: true,
        allowInsecureAuth: true,
        ...defaults,
        // onSecure is reached through implicit TLS (the shipped localhost certificate).
        ...(point === "onSecure" ? { secure: true } : {}),
        ...extra,
        [point]: hook,
      } as SMTPServerOptions);
      harness.server = server;
      await server.listen(0, "127.0.0.1");
      return portOf(server);
    },
    async connect(port, tls = false) {
      const c = await (tls ? RawClient.connectTls(port, ca) : RawClient.connect(port));
      clients.push(c);
      return c;
    },
  };
  beforeEach(() => {
    watch = new CrashWatch().start();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await harness.server?.close();
    harness.server = undefined;
    // Counted once Node has reported every rejection made so far (see stopAfterReports).
    await watch.stopAfterReports();
    expect(watch.errors, watch.describe()).toEqual([]);
  });
  return harness;
}
