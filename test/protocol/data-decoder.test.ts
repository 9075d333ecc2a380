import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { DataDecoder } from "../../src/protocol/data-decoder.js";

interface Decoded {
  body: string;
  end: number;
  rest: string;
  bareLf: number;
}

/** Feeds `input` cut at the given offsets; returns the body, and what followed the end. */
function decode(input: string, cuts: number[] = [], countBareLf = true): Decoded {
  const parts: Buffer[] = [];
  const decoder = new DataDecoder((chunk) => parts.push(Buffer.from(chunk)), countBareLf);
  const bytes = Buffer.from(input, "latin1");
  const bounds = [0, ...cuts, bytes.length];
  let end = -1;
  let rest = "";
  for (let k = 0; k + 1 < bounds.length; k++) {
    const piece = bytes.subarray(bounds[k], bounds[k + 1]);
    const at = decoder.push(piece);
    if (at !== -1) {
      end = bounds[k]! + at;
      rest = bytes.subarray(end).toString("latin1");
      break;
    }
  }
  const body = Buffer.concat(parts).toString("latin1");
  expect(decoder.bytes).toBe(body.length);
  return { body, end, rest, bareLf: decoder.bareLf };
}

/** The specification, written line by line: CRLF-only lines, stuffing, terminator. */
function reference(input: string): { body: string; end: number } {
  let body = "";
  let pos = 0;
  while (pos <= input.length) {
    const eol = input.indexOf("\r\n", pos);
    if (eol === -1) return { body: body + undecided(input.slice(pos)), end: -1 };
    const line = input.slice(pos, eol);
    if (line === ".") return { body, end: eol + 2 };
    body += `${unstuff(line)}\r\n`;
    pos = eol + 2;
  }
  return { body, end: -1 };
}

/** An unterminated last line: "." and ".\r" could still become the end marker. */
function undecided(partial: string): string {
  return partial === "." || partial === ".\r" ? "" : unstuff(partial);
}

function unstuff(line: string): string {
  return line.startsWith(".") ? line.slice(1) : line;
}

const samples = [
  "Subject: hi\r\n\r\nhello\r\n.\r\n",
  ".\r\n",
  "..leading dot\r\n...two\r\n.\r\nQUIT\r\n",
  "a\r\n.\rb\r\n.\r\n",
  "bare\nlf\n.\nnot the end\r\n.\r\n",
  "x\r\n.\n.\r\n",
  "\r\n\r\n.\r\n",
  "crcr\r\r\n.\r\r\n.\r\n",
  "no end yet\r\n..",
  ".",
  ".\r",
];

describe.each([
  ["counting bare LFs", true],
  ["jumping from CRLF-dot to CRLF-dot", false],
])("DataDecoder, %s", (_mode, counting) => {
  test.each(samples)("decodes %j the same at every single split point", (input) => {
    const expected = reference(input);
    for (let cut = 0; cut <= input.length; cut++) {
      const got = decode(input, [cut], counting);
      expect({ body: got.body, end: got.end }, `cut at ${cut}`).toEqual(expected);
    }
  });

  test.each(samples)("decodes %j the same when fed one byte at a time", (input) => {
    const cuts = Array.from({ length: input.length }, (_, k) => k + 1);
    const got = decode(input, cuts, counting);
    expect({ body: got.body, end: got.end }).toEqual(reference(input));
  });

  test("decodes the same at every pair of split points", () => {
    const input = "From: a\r\n\r\n..x\r\n.\ry\r\nz\r\n.\r\nNOOP\r\n";
    const expected = reference(input);
    for (let a = 0; a <= input.length; a++) {
      for (let b = a; b <= input.length; b++) {
        const got = decode(input, [a, b], counting);
        expect({ body: got.body, end: got.end }, `cuts ${a},${b}`).toEqual(expected);
      }
    }
  });

  test("decodes any mix of CR, LF, dots and text, cut anywhere, as the reference does", () => {
    const unit = fc.constantFrom("\r", "\n", ".", "a", "\r\n", "\r\n.", "\r\n.\r\n");
    fc.assert(
      fc.property(
        fc.string({ unit, maxLength: 24 }),
        fc.array(fc.nat(), { maxLength: 4 }),
        (input, rawCuts) => {
          const cuts = [...new Set(rawCuts.map((c) => c % (input.length + 1)))].sort(
            (x, y) => x - y,
          );
          const got = decode(input, cuts, counting);
          expect({ body: got.body, end: got.end }).toEqual(reference(input));
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 1000) },
    );
  });
});

describe("DataDecoder", () => {
  test("keeps the CRLF before the final dot as part of the message", () => {
    expect(decode("line\r\n.\r\n").body).toBe("line\r\n");
  });

  test("returns the offset just past the marker so pipelined commands are kept", () => {
    const got = decode("body\r\n.\r\nMAIL FROM:<a@b>\r\n");
    expect(got.rest).toBe("MAIL FROM:<a@b>\r\n");
  });

  test("accepts an empty message", () => {
    expect(decode(".\r\n")).toMatchObject({ body: "", end: 3 });
  });

  test.each([
    ["\\n.\\n", "a\n.\nb"],
    ["\\n.\\r\\n", "a\n.\r\nb"],
    ["\\r\\n.\\n", "a\r\n.\nb"],
    ["\\r.\\r", "a\r.\rb"],
    ["\\r.\\r\\n", "a\r.\r\nb"],
    ["\\n.\\r", "a\n.\rb"],
  ])("never treats %s as an end of data (SMTP smuggling)", (_name, smuggled) => {
    const got = decode(`${smuggled}\r\n.\r\n`);
    expect(got.end).toBe(smuggled.length + 5);
    expect(got.body.endsWith("b\r\n")).toBe(true);
  });

  test("counts bare LFs so the server can apply its policy", () => {
    expect(decode("a\nb\r\nc\n\n.\r\n").bareLf).toBe(3);
    expect(decode("a\r\nb\r\n.\r\n").bareLf).toBe(0);
  });

  test("counts a bare LF split from its line at a chunk boundary once", () => {
    const input = "a\r\nb\nc\r\n.\r\n";
    for (let cut = 0; cut <= input.length; cut++) {
      expect(decode(input, [cut]).bareLf, `cut at ${cut}`).toBe(1);
    }
  });

  test("passes large runs through as slices of the input, without copying", () => {
    const seen: Buffer[] = [];
    const decoder = new DataDecoder((chunk) => seen.push(chunk));
    const input = Buffer.from("x".repeat(1000).concat("\r\nmore\r\n"));
    expect(decoder.push(input)).toBe(-1);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.buffer).toBe(input.buffer);
  });
});
