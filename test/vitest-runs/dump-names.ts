// Test names whose dump folders would collide, and each test's recipient: shared by
// dump-cases.test.ts (the failing tests) and test/vitest/dump-runs.test.ts (the checks).
const LONG = `fails with ${"a long name ".repeat(12)}`;

export const COLLIDING: readonly (readonly [name: string, to: string])[] = [
  ["rejects user/admin", "slash@example.com"],
  ["rejects user:admin", "colon@example.com"],
  [`${LONG}first`, "first@example.com"],
  [`${LONG}second`, "second@example.com"],
];
