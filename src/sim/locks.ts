import {
  type CommandResult,
  type KvCommand,
  type KvEntry,
  type KvSnapshot,
  type KvStore,
  MAX_LOCK_DELAY_NS,
} from "../fsm/index.js";
import type { Entry, NodeId } from "../raft/types.js";
import { InvariantViolation } from "./checker.js";
import type { Operation } from "./linearizability.js";
import { valueText } from "./machine.js";
import { lockValue } from "./workload.js";

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

/** What the proposer knew when it proposed an entry, for the checkers (the entry itself carries no time). */
export interface Proposal {
  readonly node: NodeId;
  /** The proposer's wall clock (ms): the leader's command time. */
  readonly timeMs: number;
}

/** A proposal and the virtual time it was made at (the call time of what an invalidation did to its keys). */
export type ProposalAt = Proposal & { readonly atUs: number };

/** What one applied command did, for the checkers: the state before (lock-related commands only) and after. */
export interface Applied {
  readonly cmd: KvCommand;
  readonly result: CommandResult;
  readonly before: KvSnapshot | null;
}

/**
 * An acquire the store answered false while no other session held the key: refused for lock-delay at apply.
 * The server answers it false as any other; the client's history must leave it out, as a refusal by the
 * leader's own check (it changes nothing and says nothing of the holder).
 */
export function delayedAtApply(a: Applied | null): boolean {
  if (a === null || a.cmd.op !== "acquire" || a.result !== false || a.before === null) return false;
  const holder = a.before.kv.get(a.cmd.key)?.Session ?? "";
  return holder === "" || holder === a.cmd.session;
}

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
  private readonly proposals = new Map<string, ProposalAt>();
  private readonly createdAt = new Map<string, number>();
  private readonly deadAt = new Map<string, number>();
  private readonly restores: number[] = [];
  private readonly delays = new Map<string, Delay>();
  /** The FSM's time as the checker derives it: the largest proposer's clock of a timed command so far. */
  private clock = 0;
  private canonical = 0;

  /**
   * `proposalOf`: how the proposal of an applied entry is found, for a world that cannot tell an entry's index
   * when it proposes it (the shipped driver's); by default, what onProposed registered for its index and term.
   */
  constructor(
    private readonly history: Operation[],
    private readonly proposalOf: (e: Entry) => ProposalAt | undefined = (e) =>
      this.proposals.get(`${e.index}/${e.term}`),
  ) {}

  onProposed(index: number, term: number, p: Proposal, atUs: number): void {
    this.proposals.set(`${index}/${term}`, { ...p, atUs });
  }

  /** After a replica applied entry `e` (its store `kv` is now past it); `nowUs` is the virtual time. */
  onApplied(kv: KvStore, e: Entry, applied: Applied | null, nowUs: number): void {
    const first = e.index > this.canonical;
    if (first) this.canonical = e.index;
    if (e.kind === "restore") {
      if (first) this.onRestore(e.index);
      return;
    }
    if (applied === null) return;
    this.checkReplica(kv, e, applied);
    if (first) this.onCanonical(e, applied, nowUs);
  }

  private onRestore(index: number): void {
    // A user restore replaces the state: every session so far is gone, and lock-delays with them.
    this.restores.push(index);
    this.delays.clear();
  }

  /** The checks every replica's apply must pass. */
  private checkReplica(kv: KvStore, e: Entry, a: Applied): void {
    const { cmd, result, before } = a;
    if (before === null) return;
    for (const [key, entry] of kv.kv.entries()) {
      if (entry.Session !== "" && !kv.sessions.has(entry.Session)) {
        throw new InvariantViolation(
          "lock holder",
          `after index ${e.index} key ${key} is held by session ${entry.Session}, which does not exist`,
        );
      }
    }
    if (cmd.op === "acquire" && result === true) {
      this.checkGrant(e.index, cmd.session);
      const after = kv.get(cmd.key).entry;
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
      const after = kv.get(cmd.key).entry;
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

  private proposal(e: Entry): ProposalAt {
    const p = this.proposalOf(e);
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
