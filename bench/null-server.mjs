/**
 * The floor: a bare node:net server that answers each command line without
 * parsing SMTP beyond what it must. It looks at the first byte of a line (D for
 * DATA, E/H for EHLO/HELO, Q for QUIT, anything else gets 250) and, in DATA, finds
 * the CRLF.CRLF terminator with Buffer indexOf, counting message bytes (the CRLF
 * before the dot belongs to the message). No dot-unstuffing, no limits, no hooks.
 * Replies to one socket chunk are written in one write.
 */
import { createServer } from "node:net";

const LF = 0x0a;
const LOWER = 0x20;
const D = 0x64;
const E = 0x65;
const H = 0x68;
const Q = 0x71;
const END = Buffer.from("\r\n.\r\n");
/** The bytes before the first data byte: the CRLF that ended the DATA line. */
const DATA_START = Buffer.from("\r\n");
/** The part of END after the message: ".CRLF". */
const TERMINATOR_TAIL = 3;

const GREETING = "220 null.bench.test ESMTP null server\r\n";
const EHLO_REPLY = "250-null.bench.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
const OK = "250 OK\r\n";
const GO_AHEAD = "354 End data with <CR><LF>.<CR><LF>\r\n";
const BYE = "221 Bye\r\n";

export function createNullServer() {
  const stats = { messages: 0, bytes: 0, connections: 0 };
  const server = createServer((socket) => {
    stats.connections++;
    socket.setNoDelay(true);
    socket.on("error", () => {});
    let partial; // an unfinished command line
    let inData = false;
    let tail = DATA_START; // up to 4 data bytes before the current position
    let consumed = 0; // data bytes consumed in this transaction, terminator included

    /** In DATA from `pos`: returns the offset after the terminator, or -1. */
    const findEnd = (buf, pos) => {
      // A terminator that straddles the previous chunk and this one.
      const joined = Buffer.concat([tail, buf.subarray(pos, pos + 4)]);
      const k = joined.indexOf(END);
      if (k !== -1) return pos + k + END.length - tail.length;
      const at = buf.indexOf(END, pos);
      return at === -1 ? -1 : at + END.length;
    };

    socket.on("data", (chunk) => {
      let buf = chunk;
      if (partial !== undefined) {
        buf = Buffer.concat([partial, chunk]);
        partial = undefined;
      }
      const n = buf.length;
      let out = "";
      let quit = false;
      let pos = 0;
      while (pos < n) {
        if (inData) {
          const end = findEnd(buf, pos);
          if (end === -1) {
            consumed += n - pos;
            tail =
              n - pos >= 4
                ? Buffer.from(buf.subarray(n - 4))
                : Buffer.concat([tail, buf.subarray(pos)]).subarray(-4);
            break;
          }
          consumed += end - pos;
          stats.messages++;
          stats.bytes += consumed - TERMINATOR_TAIL;
          inData = false;
          out += OK;
          pos = end;
          continue;
        }
        const lf = buf.indexOf(LF, pos);
        if (lf === -1) {
          partial = Buffer.from(buf.subarray(pos));
          break;
        }
        const c = buf[pos] | LOWER;
        if (c === D && (buf[pos + 1] | LOWER) === 0x61) {
          out += GO_AHEAD;
          inData = true;
          tail = DATA_START;
          consumed = 0;
        } else if (c === E || c === H) {
          out += EHLO_REPLY;
        } else if (c === Q) {
          out += BYE;
          quit = true;
        } else {
          out += OK;
        }
        pos = lf + 1;
        if (quit) break;
      }
      if (out !== "") socket.write(out);
      if (quit) socket.end();
    });
    socket.write(GREETING);
  });
  return { server, stats };
}
