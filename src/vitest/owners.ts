/**
 * Which test a per-test `smtp` fixture belongs to, so `dumpOnFailure` writes a failed
 * test's own server and never another test's (concurrent tests each have one open).
 */
import type { TestContext } from "vitest";
import type { InboxScope, TestSmtp } from "../index.js";

type Task = TestContext["task"];

const serverOfTask = new WeakMap<Task, TestSmtp>();
const taskOfServer = new WeakMap<TestSmtp, Task>();

/** Records `smtp` as the server of `task` (called by the test-scoped fixture). */
export function claim(task: Task, smtp: TestSmtp): void {
  serverOfTask.set(task, smtp);
  taskOfServer.set(smtp, task);
}

/** The server a test-scoped `smtp` fixture started for `task`, if any. */
export function serverOf(task: Task): TestSmtp | undefined {
  return serverOfTask.get(task);
}

/** The test that `smtp` was started for by a test-scoped fixture, if any. */
export function ownerOf(smtp: TestSmtp): Task | undefined {
  return taskOfServer.get(smtp);
}

const scopeOfTask = new WeakMap<Task, InboxScope>();

/** Records the `scope` fixture's view as `task`'s own (what dumpOnFailure writes for it). */
export function claimScope(task: Task, scope: InboxScope): void {
  scopeOfTask.set(task, scope);
}

/** The view the `scope` fixture made for `task`, if the test asked for one. */
export function scopeOf(task: Task): InboxScope | undefined {
  return scopeOfTask.get(task);
}
