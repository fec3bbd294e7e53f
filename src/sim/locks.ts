import { type KvCommand, type KvEntry, type KvSnapshot, MAX_LOCK_DELAY_NS } from "../fsm/index.js";
import type { Entry } from "../raft/types.js";
import { InvariantViolation } from "./checker.js";
import type { Operation } from "./linearizability.js";
import type { SimMachine } from "./machine.js";
import { valueText } from "./machine.js";
import type { Applied, Proposal } from "./node.js";
import { lockValue } from "./workload.js";

/** Counts for the run's report. */
export interface LockStats {
  /** Acquires that took a lock (true), on the canonical history. */
  granted: number;
  /** Sessions destroyed or invalidated while holding at least one lock. */
  invalidatedHolding: number;
  /** Acquires the leader refused for lock-delay before proposing them. */
  delayed: number;
  /**
   * Acquires refused for lock-delay when they applied, on the canonical history: the leader that proposed them
   * did not know the delay (it had not applied the invalidation, or had installed a snapshot, or was new).
   * Before lock-delay was judged at apply, these were granted inside the delay.
   */
  delayedAtApply: number;
}

export function noLockStats(): LockStats {
  return { granted: 0, invalidatedHolding: 0, delayed: 0, delayedAtApply: 0 };
}

interface Delay {
  /** Ms in the FSM's time (the invalidation's time + the lock-delay) until which acquires are refused. */
  readonly until: number;
  /** The raft index of the invalidation. */
  readonly index: number;
}

const NS_PER_MS = 1_000_000;

/**
 * Sessions and locks, checked after every apply on every replica (docs/raft-notes.md §3.4):
 * - every held key's Session names a live session (so a key has exactly its one holder, and invalidation
 *   released or deleted everything the session held);
 * - an acquire is granted only to a session created before and not destroyed, invalidated or wiped by a user
 *   restore before its index;
 * - an acquire granted by a new holder moves LockIndex by one (a re-acquire keeps it), a release keeps it;
 * - lock-delay, strict: no acquire is granted within a key's lock-delay, and none is refused for lock-delay
 *   outside one. The checker keeps its own FSM time from the proposers' clocks, as lock-delay.ts defines it:
 *   each timed command's time is max(its proposer's clock, the largest such time before it in the log); a key
 *   released by an invalidation at time T is delayed until T + min(LockDelay, 60 s); a user restore ends every
 *   delay. It reads nothing of the store's lock-delay state, so a replica that lost or invented a deadline (a
 *   snapshot without them, a new leader) is caught by what it grants.
 * The canonical history (each index's first apply) also yields the history entries of what an invalidation
 * did to the keys it held, so the per-key linearizability check sees locks released and deleted.
 */
export class LockChecker {
  readonly stats: LockStats = noLockStats();
  private readonly proposals = new Map<string, Proposal & { readonly atUs: number }>();
  private readonly createdAt = new Map<string, number>();
  private readonly deadAt = new Map<string, number>();
  private readonly restores: number[] = [];
  private readonly delays = new Map<string, Delay>();
  /** The FSM's time as the checker derives it: the largest proposer's clock of a timed command so far. */
  private clock = 0;
  private canonical = 0;

  constructor(private readonly history: Operation[]) {}

  onProposed(index: number, term: number, p: Proposal, atUs: number): void {
    this.proposals.set(`${index}/${term}`, { ...p, atUs });
  }

  /** After `node` applied entry `e` (its machine is now past it); `nowUs` is the virtual time. */
  onApplied(machine: SimMachine, e: Entry, applied: Applied | null, nowUs: number): void {
    const first = e.index > this.canonical;
    if (first) this.canonical = e.index;
    if (e.kind === "restore") {
      if (first) this.onRestore(e.index);
      return;
    }
    if (applied === null) return;
    this.checkReplica(machine, e, applied);
    if (first) this.onCanonical(e, applied, nowUs);
  }

  private onRestore(index: number): void {
    // A user restore replaces the state: every session so far is gone, and lock-delays with them.
    this.restores.push(index);
    this.delays.clear();
  }

  /** The checks every replica's apply must pass. */
  private checkReplica(machine: SimMachine, e: Entry, a: Applied): void {
    const { cmd, result, before } = a;
    if (before === null) return;
    for (const [key, entry] of machine.kv.kv.entries()) {
      if (entry.Session !== "" && !machine.kv.sessions.has(entry.Session)) {
        throw new InvariantViolation(
          "lock holder",
          `after index ${e.index} key ${key} is held by session ${entry.Session}, which does not exist`,
        );
      }
    }
    if (cmd.op === "acquire" && result === true) {
      this.checkGrant(e.index, cmd.session);
      const after = machine.get(cmd.key);
      const prev = before.kv.get(cmd.key);
      const want =
        prev === undefined ? 1 : prev.Session === cmd.session ? prev.LockIndex : prev.LockIndex + 1;
      if (after?.Session !== cmd.session || after.LockIndex !== want) {
        throw new InvariantViolation(
          "lock index",
          `acquire of ${cmd.key} by ${cmd.session} at ${e.index} left ${describe(after)}, ` +
            `want LockIndex ${want} (before: ${describe(prev ?? null)})`,
        );
      }
    }
    if (cmd.op === "release" && result === true) {
      const after = machine.get(cmd.key);
      const prev = before.kv.get(cmd.key);
      if (after?.Session !== "" || after.LockIndex !== prev?.LockIndex) {
        throw new InvariantViolation(
          "lock index",
          `release of ${cmd.key} at ${e.index} left ${describe(after)}`,
        );
      }
    }
  }

  private checkGrant(index: number, session: string): void {
    const created = this.createdAt.get(session);
    const dead = this.deadAt.get(session);
    const wiped = created !== undefined && this.restores.some((r) => r > created && r < index);
    if (created === undefined || created >= index || (dead !== undefined && dead < index) || wiped) {
      throw new InvariantViolation(
        "lock grant",
        `index ${index} grants a lock to session ${session} (created at ${created ?? "never"}, ` +
          `ended at ${dead ?? (wiped ? "a restore" : "never")})`,
      );
    }
  }

  /** The canonical history, once per index, in index order. */
  private onCanonical(e: Entry, a: Applied, nowUs: number): void {
    const { cmd, result, before } = a;
    // Every timed command moves the FSM's time; the time is its proposer's clock, whatever the entry carries.
    if ("time" in cmd && cmd.time !== undefined) this.clock = Math.max(this.clock, this.proposal(e).timeMs);
    if (cmd.op === "session-create" && result === true) this.createdAt.set(cmd.session.ID, e.index);
    if (cmd.op === "acquire" && result === true) {
      this.stats.granted++;
      this.checkDelayedGrant(e, cmd.key);
    }
    if (cmd.op === "acquire" && result === false && before !== null) this.checkRefusal(e, cmd, before);
    if ((cmd.op === "session-destroy" || cmd.op === "session-invalidate") && before !== null) {
      const s = before.sessions.get(cmd.id);
      if (s === undefined) return;
      this.deadAt.set(cmd.id, e.index);
      const held = heldBy(before, cmd.id);
      if (held.length > 0) this.stats.invalidatedHolding++;
      const ns = Math.min(s.LockDelay, MAX_LOCK_DELAY_NS);
      const call = this.proposal(e).atUs;
      for (const h of held) {
        if (ns > 0) this.delays.set(h.Key, { until: this.clock + Math.ceil(ns / NS_PER_MS), index: e.index });
        const input =
          s.Behavior === "delete"
            ? { kind: "delete" as const, key: h.Key }
            : { kind: "put" as const, key: h.Key, value: lockValue(valueText(h)!, "") };
        this.history.push({ clientId: 0, input, call, ret: nowUs, output: { kind: "ok" } });
      }
    }
  }

  /** The delay in force on `key` at the checker's current time, if any (a passed one is forgotten). */
  private delayOn(key: string): Delay | null {
    const d = this.delays.get(key);
    if (d === undefined) return null;
    if (this.clock < d.until) return d;
    this.delays.delete(key);
    return null;
  }

  private checkDelayedGrant(e: Entry, key: string): void {
    const d = this.delayOn(key);
    if (d === null) return;
    const p = this.proposal(e);
    throw new InvariantViolation(
      "lock-delay",
      `index ${e.index} grants the acquire of ${key} (proposed by n${p.node} at ${p.timeMs} ms) at FSM time ` +
        `${this.clock} ms, within the lock-delay until ${d.until} ms set at index ${d.index}`,
    );
  }

  /**
   * An acquire answered false although no other session held the key was refused for lock-delay at apply
   * (acquire's only other false): there must be a delay in force.
   */
  private checkRefusal(e: Entry, cmd: Extract<KvCommand, { op: "acquire" }>, before: KvSnapshot): void {
    const holder = before.kv.get(cmd.key)?.Session ?? "";
    if (holder !== "" && holder !== cmd.session) return;
    if (this.delayOn(cmd.key) !== null) {
      this.stats.delayedAtApply++;
      return;
    }
    throw new InvariantViolation(
      "lock-delay",
      `index ${e.index} refuses the acquire of ${cmd.key} by ${cmd.session}, free of other holders, at FSM ` +
        `time ${this.clock} ms outside any lock-delay`,
    );
  }

  private proposal(e: Entry): Proposal & { readonly atUs: number } {
    const p = this.proposals.get(`${e.index}/${e.term}`);
    if (p === undefined)
      throw new InvariantViolation("proposal", `entry ${e.index}/${e.term} was never proposed`);
    return p;
  }
}

function heldBy(view: KvSnapshot, session: string): KvEntry[] {
  const out: KvEntry[] = [];
  for (const [, e] of view.kv.entries()) if (e.Session === session) out.push(e);
  return out;
}

function describe(e: KvEntry | null): string {
  return e === null ? "no entry" : `Session "${e.Session}" LockIndex ${e.LockIndex}`;
}
