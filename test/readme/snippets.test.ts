/**
 * Every ```ts block of README.md type-checks against the package's source, so the
 * documented API cannot drift from the real one. A block is a fragment of a test
 * file: what it uses without importing (the `smtp` of the section, an app's
 * `signup`, vitest's globals, nodemailer) is declared in front of it, and only
 * what the block does not import itself. Errors are reported at README lines.
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";
import { run } from "../helpers/clients.js";

const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const TSC = join(REPO, "node_modules/typescript/bin/tsc");

interface Block {
  /** README line of the first line of code. */
  line: number;
  code: string;
}

function tsBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== "```ts") continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end] !== "```") end++;
    blocks.push({ line: start + 1, code: lines.slice(start, end).join("\n") });
    i = end;
  }
  return blocks;
}

/** What a block may use without importing it, and where it comes from. */
const GIVEN: ReadonlyArray<[name: string, declaration: string]> = [
  ["afterAll", 'import { afterAll } from "vitest";'],
  ["afterEach", 'import { afterEach } from "vitest";'],
  ["beforeAll", 'import { beforeAll } from "vitest";'],
  ["expect", 'import { expect } from "vitest";'],
  ["test", 'import { test } from "vitest";'],
  ["nodemailer", 'import nodemailer from "nodemailer";'],
  ["startTestSmtp", 'import { startTestSmtp } from "smtp-fixture";'],
  ["TestSmtp", 'import type { TestSmtp } from "smtp-fixture";'],
  ["smtp", "declare const smtp: TestSmtp;"],
  [
    "signup",
    "declare function signup(to: string, options: { smtp: TestSmtp['transport'] }): Promise<void>;",
  ],
];

/** Names the block imports or declares itself. */
function ownNames(code: string): Set<string> {
  const names = new Set<string>();
  for (const m of code.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s+from/g)) {
    for (const part of m[1]!.split(",")) {
      const name = part
        .trim()
        .replace(/^type\s+/, "")
        .split(/\s+as\s+/)
        .pop()
        ?.trim();
      if (name) names.add(name);
    }
  }
  for (const m of code.matchAll(/import\s+(\w+)\s+from/g)) names.add(m[1]!);
  for (const m of code.matchAll(/\b(?:const|let|var|function|class)\s+(\w+)/g)) names.add(m[1]!);
  return names;
}

function prelude(code: string): string[] {
  const own = ownNames(code);
  const lines: string[] = [];
  for (const [name, declaration] of GIVEN) {
    if (own.has(name)) continue;
    // TestSmtp is needed by the declarations of smtp and signup even if unused.
    if (name === "TestSmtp" || new RegExp(`\\b${name}\\b`).test(code)) lines.push(declaration);
  }
  return lines;
}

test("every TypeScript block in README.md type-checks against the package", async () => {
  const blocks = tsBlocks(await readFile(join(REPO, "README.md"), "utf8"));
  expect(blocks.length).toBeGreaterThan(5);
  // Inside the repository, so "smtp-fixture" resolves through tsconfig's paths; a
  // dot-folder, so the project's own typecheck never includes it.
  const dir = join(REPO, "test", `.readme-snippets-${process.pid}`);
  await mkdir(dir, { recursive: true });
  try {
    const offsets = new Map<string, Block & { offset: number }>();
    for (const [i, block] of blocks.entries()) {
      const head = prelude(block.code);
      const file = `block-${i + 1}.ts`;
      // `export {}`: a module, so top-level await and the blocks' own names are local.
      await writeFile(join(dir, file), `${[...head, "export {};", block.code].join("\n")}\n`);
      offsets.set(file, { ...block, offset: head.length + 1 });
    }
    await writeFile(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        extends: "../../tsconfig.json",
        compilerOptions: { noEmit: true, rootDir: "../.." },
        include: ["*.ts"],
      }),
    );
    const result = await run(process.execPath, [TSC, "-p", dir, "--pretty", "false"], {
      timeoutMs: 60_000,
    });
    // "block-3.ts(2,5): error TS2304: ..." -> "README.md:112: error TS2304: ..."
    const errors = `${result.stdout}${result.stderr}`
      .split("\n")
      .filter((l) => l.includes("error TS"))
      .map((l) => {
        const m = /(block-\d+\.ts)\((\d+),\d+\): (.*)$/.exec(l);
        const b = m ? offsets.get(m[1]!) : undefined;
        return m && b ? `README.md:${b.line + Number(m[2]) - 1 - b.offset}: ${m[3]}` : l;
      });
    expect(errors).toEqual([]);
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 90_000);
