/**
 * smtp-server's `logger` option: `true` prints the conversation to the console,
 * an object (bunyan, pino, or anything with the level methods) receives
 * `(entry, message, ...args)` calls with smtp-server's entries (`tnx`, `cid`,
 * `command`, `user`, ...) and `component` merged in. Off by default, and then
 * costs nothing: connections check one field.
 */
import { format } from "node:util";

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The fields of a log entry, as smtp-server names them. */
export interface LogEntry {
  component?: string;
  tnx?: string;
  cid?: string;
  [field: string]: unknown;
}

/** What `logger` may be given: any object with some of the level methods (bunyan's calling form). */
export type SMTPLogger = {
  [L in LogLevel]?: (entry: LogEntry, message: string, ...args: unknown[]) => unknown;
};

/** `server.logger`: every level present (no-ops when logging is off), entry optional as in bunyan. */
export type ServerLogger = {
  [L in LogLevel]: (...args: [LogEntry, string, ...unknown[]] | [string, ...unknown[]]) => void;
};

/** The logger as the server calls it: only when logging is on. */
export type Log = {
  [L in LogLevel]: (entry: LogEntry, message: string, ...args: unknown[]) => void;
};

/**
 * The `logger` option as the server calls it; `undefined` when logging is off.
 * Anything but a boolean or an object is a mistake in the caller's code.
 */
export function resolveLog(option: unknown, component = "smtp-server"): Log | undefined {
  if (option === undefined || option === null || option === false) return undefined;
  if (option !== true && typeof option !== "object") {
    throw new TypeError(
      `SMTPServer: logger must be true, false or an object with level methods (info, debug, error, ...), got ${typeof option}`,
    );
  }
  const target = option === true ? consoleLogger() : (option as SMTPLogger);
  const log = {} as Log;
  for (const level of LOG_LEVELS) {
    log[level] = (entry, message, ...args) => {
      const method = target[level];
      if (typeof method !== "function") return;
      try {
        method.call(target, { component, ...entry }, message, ...args);
      } catch {
        // A logger that throws must not take the conversation down with it: the
        // line is lost, the SMTP session goes on.
      }
    };
  }
  return log;
}

/** `server.logger`: the resolved log, or no-ops; takes a message without an entry too. */
export function serverLogger(log: Log | undefined): ServerLogger {
  const out = {} as ServerLogger;
  for (const level of LOG_LEVELS) {
    out[level] = (...args) => {
      if (!log) return;
      if (typeof args[0] === "string") log[level]({}, ...(args as [string, ...unknown[]]));
      else log[level](...(args as [LogEntry, string, ...unknown[]]));
    };
  }
  return out;
}

/**
 * `logger: true`: nodemailer's console format, one line per line of the message:
 * `[2026-01-02 03:04:05] DEBUG [#cid] S: 250 OK`.
 */
export function consoleLogger(print: (line: string) => void = console.log): Log {
  const width = Math.max(...LOG_LEVELS.map((l) => l.length));
  const log = {} as Log;
  for (const level of LOG_LEVELS) {
    const name = level.toUpperCase().padEnd(width);
    log[level] = (entry, message, ...args) => {
      const prefix = typeof entry.cid === "string" ? `[#${entry.cid}] ` : "";
      const time = new Date().toISOString().slice(0, 19).replace("T", " ");
      for (const line of format(message, ...args).split(/\r?\n/)) {
        print(`[${time}] ${name} ${prefix}${line}`);
      }
    };
  }
  return log;
}

/** The `user` field of a connection's entries: the user's name once authenticated. */
export function userField(user: unknown): unknown {
  if (user && typeof user === "object" && "username" in user) {
    return (user as { username: unknown }).username || user;
  }
  return user;
}

/** A serialized reply as smtp-server logs it: the last CRLF dropped. */
export function withoutCrlf(reply: string): string {
  return reply.endsWith("\r\n") ? reply.slice(0, -2) : reply;
}

/** smtp-server's message for each XCLIENT / XFORWARD attribute it logs (the others are not). */
const RELAYED: Record<string, Record<string, string>> = {
  XCLIENT: {
    ADDR: "XCLIENT from %s through %s",
    NAME: 'XCLIENT hostname resolved as "%s"',
    PORT: 'XCLIENT remote port resolved as "%s"',
  },
  XFORWARD: {
    ADDR: "XFORWARD from %s through %s",
    NAME: 'XFORWARD hostname resolved as "%s"',
    PORT: 'XFORWARD port resolved as "%s"',
    HELO: 'XFORWARD HELO name resolved as "%s"',
  },
};

/**
 * Logs an applied XCLIENT / XFORWARD attribute as smtp-server does (an unavailable
 * ADDR is not), and XCLIENT `LOGIN=` as its `deauth` entry.
 */
export function logRelayed(
  log: Log,
  cid: string,
  verb: "XCLIENT" | "XFORWARD",
  key: string,
  value: unknown,
  through: string,
  user: unknown,
): void {
  if (verb === "XCLIENT" && key === "LOGIN") {
    log.info({ tnx: "deauth", cid, user: userField(user) }, "User deauthenticated using %s", verb);
    return;
  }
  const message = RELAYED[verb]?.[key];
  if (message === undefined || (key === "ADDR" && !value)) return;
  const field = verb === "XCLIENT" ? "xclient" : "xforward";
  log.info(
    { tnx: field, cid, [`${field}Key`]: key, [field]: value, user: userField(user) },
    message,
    value,
    ...(key === "ADDR" ? [through] : []),
  );
}
