/** Starts bench/server-child.mjs with child_process.fork and talks to it over IPC. */
import { fork } from "node:child_process";

const CHILD = new URL("./server-child.mjs", import.meta.url);
const REQUEST_TIMEOUT_MS = 120_000;

/** A server of `kind` in a child process: `{ port, request(cmd, args), close() }`. */
export function forkServer(kind) {
  const child = fork(CHILD, [kind], {
    // BENCH_SERVER_ARGS: extra node flags for the server process, e.g. to profile it:
    // BENCH_SERVER_ARGS="--cpu-prof --cpu-prof-dir=bench/results" node bench/run.mjs --only conns50
    execArgv: ["--expose-gc", ...(process.env.BENCH_SERVER_ARGS?.split(" ").filter(Boolean) ?? [])],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const pending = new Map();
  let nextId = 1;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const failAll = (err) => {
    for (const { reject } of pending.values()) reject(err);
    pending.clear();
  };
  child.on("exit", (code, signal) => {
    failAll(new Error(`server child (${kind}) exited: code ${code}, signal ${signal}`));
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`server child (${kind}) exited early: ${code}`)));
    child.on("message", (msg) => {
      if (msg.ready) {
        resolve({
          port: msg.port,
          pid: child.pid,
          request(cmd, args = {}) {
            const id = nextId++;
            return new Promise((res, rej) => {
              const timer = setTimeout(() => {
                pending.delete(id);
                rej(new Error(`server child (${kind}): ${cmd} timed out`));
              }, REQUEST_TIMEOUT_MS);
              pending.set(id, {
                resolve: (v) => {
                  clearTimeout(timer);
                  res(v);
                },
                reject: (e) => {
                  clearTimeout(timer);
                  rej(e);
                },
              });
              child.send({ ...args, cmd, id });
            });
          },
          async close() {
            if (child.exitCode === null && child.signalCode === null) {
              await this.request("close").catch(() => child.kill("SIGKILL"));
              if (child.connected) child.disconnect();
            }
            await exited;
          },
        });
        return;
      }
      const waiter = pending.get(msg.id);
      if (!waiter) return;
      pending.delete(msg.id);
      if (msg.ok) waiter.resolve(msg.result);
      else waiter.reject(new Error(msg.error));
    });
  });
}
