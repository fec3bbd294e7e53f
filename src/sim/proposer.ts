/**
 * The leader's handling of a command before it is proposed, as src/server/service.ts writeHere does it (the
 * simulator may not import src/server, so these few lines are mirrored here; keep them in step): stamp the
 * leader's clock, and after lock-delay was judged, let the acquire pass every replica's lock-delays alike.
 * Also the proposer-layer bugs the tests use to prove the lock checks can fail.
 */
import type { KvCommand } from "../fsm/index.js";

/** Opcodes (src/fsm/command.ts) of the commands that acquire, release or drop locks: 6, 7, 10, 12, 14. */
const LOCK_OPCODES = new Set([6, 7, 10, 12, 14]);

export function touchesLocks(data: Uint8Array): boolean {
  return LOCK_OPCODES.has(data[1] ?? 0);
}

/** The leader's clock goes into every command that carries one (src/server/service.ts stampTime). */
export function stampTime(cmd: KvCommand, now: number): KvCommand {
  switch (cmd.op) {
    case "acquire":
    case "session-create":
    case "session-destroy":
    case "session-renew":
    case "session-invalidate":
    case "txn":
      return { ...cmd, time: now };
    default:
      return cmd;
  }
}

/**
 * After the leader judged lock-delay, the acquire carries a time no replica's deadline can exceed, so every
 * replica applies it alike whatever lock-delays it remembers (src/server/service.ts passLockDelay).
 */
export function passLockDelay(cmd: KvCommand): KvCommand {
  return cmd.op === "acquire" || cmd.op === "txn" ? { ...cmd, time: Number.MAX_SAFE_INTEGER } : cmd;
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
