/**
 * The proposer layer's extras in the simulator: which commands touch locks. The leader's own rules (its clock
 * stamped, lock-delay judged) and the broken leaders the tests use to prove the lock checks can fail are the
 * server's write path, src/fsm/leader-write.ts.
 */

/** Opcodes (src/fsm/command.ts) of the commands that acquire, release or drop locks: 6, 7, 10, 12, 14. */
const LOCK_OPCODES = new Set([6, 7, 10, 12, 14]);

export function touchesLocks(data: Uint8Array): boolean {
  return LOCK_OPCODES.has(data[1] ?? 0);
}
