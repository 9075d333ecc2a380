/**
 * What a consumer of smtp-server 3.21 sees, text included, for hook errors, LMTP,
 * STARTTLS over implicit TLS, connection ids and a failed listen(): the same code runs
 * against both servers and the client must see the same (README: "identical").
 */
import { readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { SMTPServer as Reference } from "smtp-server";
import { describe, expect, test } from "vitest";
import { SMTPServer } from "../../src/server/smtp-server.js";
import { run } from "../helpers/clients.js";

const KEY = readFileSync(new URL("../../fixtures/tls/localhost-key.pem", import.meta.url));
const CERT = readFileSync(new URL("../../fixtures/tls/localhost.pem", import.meta.url));

type Options = Record<string, unknown>;
type ServerClass = new (
  options: Options,
) => {
  listen(port: number, host: string, cb: () => void): unknown;
  close(cb: () => void): unknown;
  server: net.Server;
};
const SERVERS: [string, ServerClass][] = [
  ["smtp-server", Reference as unknown as ServerClass],
  ["ours", SMTPServer as unknown as ServerClass],
];

/** Writes `wire` at the greeting and returns every reply line until the server closes. */
async function dialog(Server: ServerClass, options: Options, wire: string, secure = false) {
  const server = new Server({
    logger: false,
    disableReverseLookup: true,
    authOptional: true,
    ...options,
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.server.address() as net.AddressInfo;
  try {
    const socket = secure
      ? tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false })
      : net.connect(port, "127.0.0.1");
    let text = "";
    socket.setEncoding("utf8");
    socket.once("data", () => socket.write(wire));
    socket.on("data", (d: string) => {
      text += d;
    });
    await new Promise((resolve) => socket.on("close", resolve));
    // After the greeting and the EHLO/LHLO reply (their texts are each server's own).
    const lines = text.split("\r\n").filter((l) => l !== "");
    const ehloEnd = lines.findIndex((l) => l.startsWith("250 "));
    return lines.slice(ehloEnd + 1);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** The replies to `wire`, after the greeting and EHLO lines, from both servers. */
async function both(options: Options, wire: string, secure = false) {
  const out: Record<string, string[]> = {};
  for (const [name, Server] of SERVERS) out[name] = await dialog(Server, options, wire, secure);
  return out;
}

const hookError = (message: string, responseCode: number) =>
  Object.assign(new Error(message), { responseCode });

describe("hook errors", () => {
  test.each([
    [
      "onMailFrom",
      {
        onMailFrom: (_a: unknown, _s: unknown, cb: (e: Error) => void) =>
          cb(hookError("Go away", 421)),
      },
    ],
    [
      "onRcptTo",
      {
        onRcptTo: (_a: unknown, _s: unknown, cb: (e: Error) => void) =>
          cb(hookError("Go away", 421)),
      },
    ],
    [
      "onData",
      {
        onData: (stream: NodeJS.ReadableStream, _s: unknown, cb: (e: Error) => void) => {
          stream.resume();
          stream.on("end", () => cb(hookError("Go away", 421)));
        },
      },
    ],
  ])(
    "a 421 from %s closes the connection: the commands after it are not answered",
    async (_hook, hooks) => {
      const wire =
        "EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nhi\r\n.\r\nNOOP\r\nQUIT\r\n";
      const seen = await both(hooks, wire);
      expect(seen.ours).toEqual(seen["smtp-server"]);
      expect(seen.ours!.at(-1)).toBe("421 Go away");
    },
  );

  test("an enhanced code written at the start of the message is sent as written", async () => {
    const onRcptTo = (_a: unknown, _s: unknown, cb: (e: Error) => void) =>
      cb(hookError("5.1.1 User unknown", 550));
    const wire = "EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nQUIT\r\n";
    const seen = await both({ onRcptTo }, wire);
    expect(seen.ours).toEqual(seen["smtp-server"]);
    expect(seen.ours).toContain("550 5.1.1 User unknown");
    // With enhanced codes on, the code is the reply's own, once.
    const shown = await dialog(
      SMTPServer as unknown as ServerClass,
      { onRcptTo, hideENHANCEDSTATUSCODES: false },
      wire,
    );
    expect(shown).toContain("550 5.1.1 User unknown");
  });
});

test("LMTP: a hook's 421 for any recipient closes the connection, not only for the first", async () => {
  const onData = (
    stream: NodeJS.ReadableStream,
    _s: unknown,
    cb: (e: null, r: unknown[]) => void,
  ) => {
    stream.resume();
    stream.on("end", () => cb(null, ["ok", hookError("try later", 421)]));
  };
  const wire =
    "LHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\nhi\r\n.\r\nNOOP\r\nQUIT\r\n";
  const seen = await both({ lmtp: true, onData }, wire);
  expect(seen.ours).toEqual(seen["smtp-server"]);
  expect(seen.ours!.slice(-2)).toEqual(["250 ok", "421 try later"]);
});

test("onAuth answering { responseCode: 421 } closes the connection, as a thrown 421 does", async () => {
  const onAuth = (_a: unknown, _s: unknown, cb: (e: null, r: object) => void) =>
    cb(null, { responseCode: 421, message: "later" });
  const seen = await both(
    { allowInsecureAuth: true, onAuth },
    "EHLO x\r\nAUTH PLAIN AHUAcA==\r\nNOOP\r\nQUIT\r\n",
  );
  expect(seen.ours).toEqual(seen["smtp-server"]);
  expect(seen.ours!.at(-1)).toBe("421 later");
});

test("a hook's 421 while the server closes is the command's one reply", async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let called!: () => void;
  const inHook = new Promise<void>((resolve) => {
    called = resolve;
  });
  const server = new SMTPServer({
    authOptional: true,
    onMailFrom: async () => {
      called();
      await released;
      throw hookError("Go away", 421);
    },
  });
  await server.listen(0, "127.0.0.1");
  const { port } = server.server.address() as net.AddressInfo;
  const socket = net.connect(port, "127.0.0.1");
  let text = "";
  socket.setEncoding("utf8");
  socket.on("data", (d: string) => {
    text += d;
  });
  socket.once("data", () => socket.write("EHLO x\r\nMAIL FROM:<a@example.com>\r\n"));
  const gone = new Promise((resolve) => socket.on("close", resolve));
  await inHook;
  const closing = server.close();
  release();
  await gone;
  await closing;
  const lines = text.split("\r\n").filter((l) => l !== "");
  expect(lines.slice(lines.findIndex((l) => l.startsWith("250 ")) + 1)).toEqual(["421 Go away"]);
});

test("LMTP: each recipient's success reads 'OK: message accepted', as smtp-server's", async () => {
  const onData = (stream: NodeJS.ReadableStream, _s: unknown, cb: () => void) => {
    stream.resume();
    stream.on("end", () => cb());
  };
  const wire =
    "LHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n";
  const seen = await both({ lmtp: true, onData }, wire);
  expect(seen.ours).toEqual(seen["smtp-server"]);
  expect(seen.ours!.filter((l) => l === "250 OK: message accepted")).toHaveLength(2);
});

test("STARTTLS over implicit TLS is 503 'TLS already active', as smtp-server's", async () => {
  const seen = await both(
    { secure: true, key: KEY, cert: CERT },
    "EHLO x\r\nSTARTTLS\r\nQUIT\r\n",
    true,
  );
  expect(seen.ours).toEqual(seen["smtp-server"]);
  expect(seen.ours).toContain("503 Error: TLS already active");
});

test("session.id has smtp-server's form: 16 lowercase base32 characters, unique", async () => {
  const ids: string[] = [];
  const server = new SMTPServer({
    onConnect: (session, cb) => {
      ids.push(session.id);
      cb();
    },
  });
  await server.listen(0, "127.0.0.1");
  const { port } = server.server.address() as net.AddressInfo;
  for (let i = 0; i < 3; i++) {
    const s = net.connect(port, "127.0.0.1");
    await new Promise((resolve) => s.once("data", resolve));
    s.destroy();
  }
  await server.close();
  expect(ids).toHaveLength(3);
  for (const id of ids) expect(id).toMatch(/^[0-9a-v]{16}$/);
  expect(new Set(ids).size).toBe(3);
});

test("listen() on a port in use, with an 'error' listener and not awaited (smtp-server's pattern), does not end the process", async () => {
  const index = fileURLToPath(new URL("../../dist/index.js", import.meta.url));
  const script = `
    import net from "node:net";
    import { SMTPServer } from ${JSON.stringify(index)};
    const blocker = net.createServer().listen(0, "127.0.0.1");
    await new Promise((r) => blocker.on("listening", r));
    const { port } = blocker.address();
    const server = new SMTPServer({ logger: false });
    server.on("error", (err) => console.log("error event: " + err.code));
    server.listen(port, "127.0.0.1");
    // An await still gets the error.
    const other = new SMTPServer({ logger: false });
    await other.listen(port, "127.0.0.1").catch((err) => console.log("awaited: " + err.code));
    // Thrown by net at once (already listening): the listener gets it too.
    const third = new SMTPServer({ logger: false });
    third.on("error", (err) => console.log("error event: " + err.code));
    await third.listen(0, "127.0.0.1");
    third.listen(0, "127.0.0.1");
    setTimeout(() => { console.log("still alive"); blocker.close(); third.close(); }, 50);
  `;
  const result = await run(process.execPath, ["--input-type=module", "-e", script]);
  expect(result.stdout, result.stderr).toBe(
    "error event: EADDRINUSE\nawaited: EADDRINUSE\nerror event: ERR_SERVER_ALREADY_LISTEN\nstill alive\n",
  );
  expect(result.code).toBe(0);
});

test("a login with no onAuth to decide it gets smtp-server's '535 Authentication not implemented'", async () => {
  const seen = await both({ allowInsecureAuth: true }, "EHLO x\r\nAUTH PLAIN AHUAcA==\r\nQUIT\r\n");
  expect(seen.ours).toEqual(seen["smtp-server"]);
  expect(seen.ours).toContain("535 Authentication not implemented");
});

test("a client gone mid-message errors onData's stream as smtp-server's does", async () => {
  const seen: Record<string, unknown> = {};
  for (const [name, Server] of SERVERS) {
    let done!: (e: unknown) => void;
    const failed = new Promise<unknown>((resolve) => {
      done = resolve;
    });
    let started!: () => void;
    const inData = new Promise<void>((resolve) => {
      started = resolve;
    });
    const server = new Server({
      logger: false,
      disableReverseLookup: true,
      authOptional: true,
      onData: async (stream: NodeJS.ReadableStream) => {
        started();
        try {
          for await (const _chunk of stream) {
            // reading
          }
          done(undefined);
        } catch (error) {
          done(error);
        }
      },
    });
    // smtp-server emits a client's socket errors even with no listener.
    (server as unknown as { on(e: string, f: () => void): void }).on("error", () => {});
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.server.address() as net.AddressInfo;
    const socket = net.connect(port, "127.0.0.1");
    socket.resume();
    socket.once("data", () =>
      socket.write(
        "EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nSubject: cut\r\n\r\nhalf a messa",
      ),
    );
    await inData;
    socket.end();
    const error = (await failed) as { message?: string; code?: string } | undefined;
    seen[name] = { message: error?.message, code: error?.code };
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  expect(seen.ours).toEqual(seen["smtp-server"]);
  expect(seen.ours).toEqual({
    message: "Connection closed before the message was received in full",
    code: "ECONNECTION",
  });
});
