/**
 * The matchers' declarations (`declare module "vitest"` in dist/vitest/matchers.d.ts)
 * type-check with `skipLibCheck: false` under vitest 3, 4 and 5: vitest 5 declares
 * `Matchers<R, T>` and `Assertion<R, T>` where 3 and 4 declare `<T>`, and an
 * augmentation naming other type parameters is TS2428. A consumer project is laid out
 * next to each vitest (so the built package's `import "vitest"` finds that one) with a
 * copy of package.json and dist/, so `npm run build` must have run first. What counts
 * is the errors the package adds: vitest 3.2 with the @types/chai its install gets
 * has errors of its own under `skipLibCheck: false` (a duplicate `containSubset`), seen
 * in a baseline file that imports vitest alone.
 */
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { run } from "../helpers/clients.js";
import { REPO, runnerDir, vitestVersion } from "../vitest/child-vitest.js";

const CONSUMER = `import { startTestSmtp } from "smtp-fixture";
import "smtp-fixture/vitest";
import { expect } from "vitest";

const smtp = await startTestSmtp();
const mail = await smtp.inbox.waitFor("bob@example.com");
expect(smtp).toHaveReceived({ subject: "Hi" }, { count: 1 });
expect(smtp.inbox).not.toHaveReceived("nobody@example.com");
expect(mail).toHaveHeader("X-Campaign", /spring/);
expect(mail).toHaveAttachment({ filename: expect.stringContaining(".pdf"), size: 3 });
expect(mail).toContainLink(/confirm/);
await expect.poll(() => smtp).toHaveReceived("bob@example.com");
// @ts-expect-error a header name is a string
expect(mail).toHaveHeader(42);
// @ts-expect-error not a MessageMatch
expect(smtp).toHaveReceived(42);
await smtp.close();
`;

/** The same project without the package: vitest's own errors, if any. */
const BASELINE = `import { expect } from "vitest";

expect(1).toBe(1);
`;

const tsconfig = (file: string) => ({
  compilerOptions: {
    target: "ES2022",
    module: "nodenext",
    moduleResolution: "nodenext",
    lib: ["es2023", "esnext.disposable", "dom"],
    types: ["node"],
    strict: true,
    skipLibCheck: false,
    noEmit: true,
  },
  files: [file],
});

/** A consumer project in `parent`, whose node_modules has the built package and @types/node. */
async function consumerIn(parent: string): Promise<string> {
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, "types-"));
  const pkg = join(dir, "node_modules/smtp-fixture");
  await mkdir(join(dir, "node_modules/@types"), { recursive: true });
  await cp(join(REPO, "dist"), join(pkg, "dist"), { recursive: true });
  await cp(join(REPO, "package.json"), join(pkg, "package.json"));
  await symlink(join(REPO, "node_modules/@types/node"), join(dir, "node_modules/@types/node"));
  await writeFile(join(dir, "package.json"), '{ "type": "module" }\n');
  for (const [name, text] of [
    ["consumer", CONSUMER],
    ["baseline", BASELINE],
  ] as const) {
    await writeFile(join(dir, `${name}.ts`), text);
    await writeFile(join(dir, `${name}.json`), JSON.stringify(tsconfig(`${name}.ts`), null, 2));
  }
  return dir;
}

/** tsc's error lines for one of the projects. */
async function errors(dir: string, project: string): Promise<string[]> {
  const tsc = join(REPO, "node_modules/typescript/bin/tsc");
  const result = await run(process.execPath, [tsc, "-p", join(dir, project)], {
    timeoutMs: 60_000,
  });
  const lines = `${result.stdout}${result.stderr}`.split("\n").filter((l) => l.trim() !== "");
  if (result.code !== 0 && lines.length === 0) lines.push(`tsc exited ${result.code}`);
  return lines;
}

describe.each(["vitest3", "vitest", "vitest5"] as const)("types under %s", (pkg) => {
  const version = vitestVersion(pkg);

  test.skipIf(version.skip)(
    `a consumer with skipLibCheck false type-checks the matchers (${version.skip ?? pkg})`,
    async () => {
      // Next to that vitest: for the repo's own, in the ignored test/.tmp.
      const parent = pkg === "vitest" ? join(REPO, "test/.tmp") : runnerDir(pkg);
      const dir = await consumerIn(parent);
      try {
        const [own, baseline] = await Promise.all([
          errors(dir, "consumer.json"),
          errors(dir, "baseline.json"),
        ]);
        expect(own.filter((line) => !baseline.includes(line))).toEqual([]);
        if (pkg !== "vitest3") expect(own).toEqual([]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
