/**
 * The leader's part of every write, before it is proposed: the leader's clock goes into timed commands (the FSM
 * reads none), and lock-delay is judged here, as Consul does. The deadlines live only in memory, so a replica
 * that installed a snapshot has none, and judging them on apply would let replicas disagree. The server, its
 * in-memory twin and the simulator's leader all write through this one rule.
 */
import { type KvCommand, passLockDelay, stampTime } from "./command.js";
import { TxnFailedError } from "./errors.js";
import type { KvStore } from "./kv-store.js";

/** The command to propose, or the answer a lock-delay gives without proposing (acquire: false; txn: Consul's per-op errors). */
export type LeaderWrite = { readonly propose: KvCommand } | { readonly refused: false | TxnFailedError };

export function leaderWrite(
  kv: KvStore,
  cmd: KvCommand,
  now: number,
  /** False only in the simulator's deliberately broken variant (skip-lock-delay), to show the checkers catch it. */
  judgeLockDelay = true,
): LeaderWrite {
  const stamped = stampTime(cmd, now);
  const delayed = (key: string): boolean => judgeLockDelay && (kv.lockDelays.get(key) ?? 0) > now;
  if (stamped.op === "acquire" && delayed(stamped.key)) return { refused: false };
  if (stamped.op === "txn") {
    const errors = stamped.ops.flatMap((op, i) =>
      op.verb === "lock" && op.key !== "" && delayed(op.key)
        ? [{ OpIndex: i, What: `failed to lock key "${op.key}" due to lock delay` }]
        : [],
    );
    if (errors.length > 0) return { refused: new TxnFailedError(errors) };
  }
  return { propose: passLockDelay(stamped) };
}
