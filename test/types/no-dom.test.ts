/**
 * The package's types compile in a Node project whose `lib` has no DOM, with
 * skipLibCheck off (a stricter set-up than this repo's): the built declarations must
 * not pull in a dependency's types that need the DOM lib (postal-mime's do).
 */
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";
import { run } from "../helpers/clients.js";

test("a consumer with lib es2023, no DOM, skipLibCheck false type-checks against dist/", async () => {
  const tsc = fileURLToPath(new URL("../../node_modules/typescript/bin/tsc", import.meta.url));
  const project = fileURLToPath(new URL("./no-dom/tsconfig.json", import.meta.url));
  const result = await run(process.execPath, [tsc, "-p", project], { timeoutMs: 60_000 });
  expect(`${result.stdout}${result.stderr}`).toBe("");
  expect(result.code).toBe(0);
});
