/**
 * The leader's part of every write, before it is proposed: the leader's clock goes into timed commands (the FSM
 * reads none), and an acquire (or a txn's lock op) that its applied state already shows in lock-delay is refused
 * without a proposal, as Consul's leader does. That check only saves a round: the rule is judged again when the
 * command applies (lock-delay.ts), from replicated deadlines, so a leader that does not know a delay yet (it has
 * not applied the invalidation, or it is new) cannot grant inside it. Both judge by the same rule; the check may
 * refuse an acquire that apply would have granted (the delay ends, or a user restore drops it, before the entry
 * applies), and a refusal is a plain `false`, as Consul's leader answers by its own clock. The server, its
 * in-memory twin and the simulator's leader all write through this.
 */
import { type KvCommand, passLockDelay, stampTime } from "./command.js";
import { TxnFailedError } from "./errors.js";
import type { KvStore } from "./kv-store.js";

/** The command to propose, or the answer a lock-delay gives without proposing (acquire: false; txn: Consul's per-op errors). */
export type LeaderWrite = { readonly propose: KvCommand } | { readonly refused: false | TxnFailedError };

/**
 * Deliberately broken leaders, for the simulator only (as raftBugs): its tests prove the lock checks catch each.
 * The service never passes any.
 */
export interface LeaderWriteBugs {
  /** Propose acquires as leaders did before lock-delay was judged at apply: unjudged, stamped to pass it. */
  readonly skipLockDelay?: boolean;
  /** Answer the renew of a session that is gone by creating it again under the same ID. */
  readonly resurrectSessions?: boolean;
}

export function leaderWrite(kv: KvStore, cmd: KvCommand, now: number, bugs?: LeaderWriteBugs): LeaderWrite {
  const input = bugs?.resurrectSessions === true ? resurrect(cmd, kv) : cmd;
  if (bugs?.skipLockDelay === true) return { propose: passLockDelay(stampTime(input, now)) };
  const stamped = stampTime(input, now);
  const delayed = (key: string): boolean => kv.isLockDelayed(key, now);
  if (stamped.op === "acquire" && delayed(stamped.key)) return { refused: false };
  if (stamped.op === "txn") {
    const errors = stamped.ops.flatMap((op, i) =>
      op.verb === "lock" && op.key !== "" && delayed(op.key)
        ? [{ OpIndex: i, What: `failed to lock key "${op.key}" due to lock delay` }]
        : [],
    );
    if (errors.length > 0) return { refused: new TxnFailedError(errors) };
  }
  return { propose: stamped };
}

/** The resurrectSessions bug: a renew of a session that is gone becomes a create with the same ID. */
function resurrect(cmd: KvCommand, kv: KvStore): KvCommand {
  if (cmd.op !== "session-renew" || kv.sessions.has(cmd.id)) return cmd;
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
