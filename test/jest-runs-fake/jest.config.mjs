// Config of a child Jest run started by test/jest/jest-run.test.ts: Jest fakes the
// timers (and the clock) before any test file, this package included, is imported.
export default {
  testEnvironment: "node",
  testMatch: ["**/*.test.mjs"],
  transform: {},
  testTimeout: 20_000,
  fakeTimers: { enableGlobally: true },
};
