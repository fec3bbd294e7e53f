/**
 * The proposer layer's extras in the simulator: which commands touch locks. The leader's own rules (its clock
 * stamped, lock-delay judged) and the broken leaders the tests use to prove the lock checks can fail are the
 * server's write path, src/fsm/leader-write.ts.
 */
import type { KvCommand } from "../fsm/index.js";

/** The commands that acquire, release or drop locks: the lock checker compares the state before and after them. */
const LOCK_OPS: ReadonlySet<KvCommand["op"]> = new Set([
  "acquire",
  "release",
  "session-destroy",
  "session-invalidate",
]);

export function touchesLocks(cmd: KvCommand): boolean {
  return LOCK_OPS.has(cmd.op);
}
