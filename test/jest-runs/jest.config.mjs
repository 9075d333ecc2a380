// Config of the child Jest run started by test/jest/jest-run.test.ts: native ESM
// (node --experimental-vm-modules), no transform, plain .mjs test files that import
// the built package as a user's project would.
export default {
  testEnvironment: "node",
  testMatch: ["**/*.test.mjs"],
  transform: {},
  testTimeout: 20_000,
};
