/**
 * The proposer layer's extras in the simulator: which commands touch locks, and the proposer-layer bugs the
 * tests use to prove the lock checks can fail. The leader's own rules (its clock stamped, lock-delay judged) are
 * the server's, src/fsm/leader-write.ts.
 */
import type { KvCommand } from "../fsm/index.js";

/** Opcodes (src/fsm/command.ts) of the commands that acquire, release or drop locks: 6, 7, 10, 12, 14. */
const LOCK_OPCODES = new Set([6, 7, 10, 12, 14]);

export function touchesLocks(data: Uint8Array): boolean {
  return LOCK_OPCODES.has(data[1] ?? 0);
}

/** The resurrectSessions bug: a renew of a session that is gone becomes a create with the same ID. */
export function resurrect(cmd: KvCommand, sessions: { has(id: string): boolean }): KvCommand {
  if (cmd.op !== "session-renew" || sessions.has(cmd.id)) return cmd;
  const session = {
    ID: cmd.id,
    Name: "",
    Node: "resurrected",
    LockDelay: 0,
    Behavior: "release",
    TTL: "",
    NodeChecks: [],
    ServiceChecks: null,
  };
  return { op: "session-create", session, time: cmd.time };
}
