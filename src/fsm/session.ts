/**
 * Sessions in the state store: the table (by ID, Consul's "sessions" table), its reads with Consul's index
 * rules, the validation Consul's session endpoint does before a create reaches Raft (repeated in apply, so a
 * bad command is refused identically on every replica), and lock-delays.
 *
 * Time: the FSM reads no clock. Every session command carries the leader's wall clock (ms) as `time`; a
 * session expires only when the leader's TTL timer commits a session-invalidate. Renew changes no state:
 * Consul keeps TTL timers on the leader, outside the FSM, and resets them on leadership changes; cairn keeps
 * no "last renewed" stamp either, so a renew writes nothing, moves no index and snapshots stay Consul's shape.
 *
 * Lock-delay: when a session is destroyed or invalidated, each key it held refuses acquires until
 * `time + min(LockDelay, 60s)` (Consul's MaxLockDelay), judged at apply by the acquiring command's `time`, both
 * read in the FSM's time; the deadlines are replicated state, kept beside state.bin (Consul has no record for
 * them): see lock-delay.ts.
 */
import type { ServiceCheck, Session } from "../snapshot/index.js";
import { OrderedMap } from "./btree.js";
import { DurationSyntaxError, parseGoDuration } from "./duration.js";
import { InvalidBehaviorError, SessionTtlError } from "./errors.js";
import { sameName } from "./names.js";

/** What a session-create carries: the session as the proposer filled it in (defaults already applied). */
export interface SessionSpec {
  /** A uuid chosen by the proposer (the FSM draws no randomness). */
  readonly ID: string;
  readonly Name: string;
  readonly Node: string;
  /** Nanoseconds (Go time.Duration). */
  readonly LockDelay: number;
  /** "release" or "delete"; "" means "release", as Consul's endpoint fills it in. */
  readonly Behavior: string;
  /** A Go duration string as given ("" = no TTL). */
  readonly TTL: string;
  readonly NodeChecks: readonly string[] | null;
  readonly ServiceChecks: readonly ServiceCheck[] | null;
}

/** A session as stored and as Consul's API and snapshots show it. */
export type SessionEntry = Session;

export const SESSION_TTL_MIN_NS = 10_000_000_000n;
export const SESSION_TTL_MAX_NS = 86_400_000_000_000n;
/** Consul's structs.MaxLockDelay: a longer LockDelay is stored as given but applied as 60s. */
export const MAX_LOCK_DELAY_NS = 60_000_000_000;
const NS_PER_MS = 1_000_000;

/**
 * Consul's TTL check (agent/consul/session_endpoint.go Apply): "" is no TTL; otherwise Go's ParseDuration must
 * accept it, and a non-zero TTL must lie in [10s, 24h]. Returns the error to answer with, or null.
 */
export function validateSessionTtl(ttl: string): SessionTtlError | null {
  if (ttl === "") return null;
  let ns: bigint;
  try {
    ns = parseGoDuration(ttl);
  } catch (err) {
    if (!(err instanceof DurationSyntaxError)) throw err;
    return new SessionTtlError(`Session TTL '${ttl}' invalid: ${err.message}`);
  }
  if (ns !== 0n && (ns < SESSION_TTL_MIN_NS || ns > SESSION_TTL_MAX_NS)) {
    // Consul formats the TTL with %d (nanoseconds) and the bounds with Go's Duration.String.
    return new SessionTtlError(`Invalid Session TTL '${ns}', must be between [10s=24h0m0s]`);
  }
  return null;
}

/** Consul's Behavior check: "" becomes "release"; anything but release/delete is refused. */
export function normalizeBehavior(behavior: string): string | InvalidBehaviorError {
  if (behavior === "") return "release";
  if (behavior === "release" || behavior === "delete") return behavior;
  return new InvalidBehaviorError(`Invalid Behavior setting '${behavior}'`);
}

/** The stored session for a validated spec created at raft index `idx`. */
export function sessionEntry(spec: SessionSpec, behavior: string, idx: number): SessionEntry {
  return {
    ID: spec.ID,
    Name: spec.Name,
    Node: spec.Node,
    LockDelay: spec.LockDelay,
    Behavior: behavior,
    TTL: spec.TTL,
    NodeChecks: spec.NodeChecks === null ? null : [...spec.NodeChecks],
    ServiceChecks: spec.ServiceChecks === null ? null : spec.ServiceChecks.map((c) => ({ ...c })),
    CreateIndex: idx,
    ModifyIndex: idx,
  };
}

/** Until when (ms) a key invalidated at `time` by a session with `lockDelayNs` refuses acquires, or null. */
export function lockDelayUntil(time: number, lockDelayNs: number): number | null {
  const ns = Math.min(lockDelayNs, MAX_LOCK_DELAY_NS);
  if (ns <= 0) return null;
  return time + Math.ceil(ns / NS_PER_MS);
}

export interface SessionGetResult {
  readonly index: number;
  readonly session: SessionEntry | null;
}

export interface SessionListResult {
  readonly index: number;
  /** In ID order, as Consul's memdb id index. */
  readonly sessions: SessionEntry[];
}

/** Read access to a sessions table and its index row, shared by the store and its snapshots. */
export interface SessionTables {
  readonly sessions: OrderedMap<SessionEntry>;
  /** Index-table value of "sessions" (0 when absent). */
  readonly sessionsIndex: number;
}

/** Consul answers every session read with the "sessions" table index, never below 1. */
function tableIndex(t: SessionTables): number {
  return t.sessionsIndex === 0 ? 1 : t.sessionsIndex;
}

export function sessionGet(t: SessionTables, id: string): SessionGetResult {
  return { index: tableIndex(t), session: t.sessions.get(id) ?? null };
}

export function sessionList(t: SessionTables): SessionListResult {
  return { index: tableIndex(t), sessions: [...t.sessions.entries()].map(([, s]) => s) };
}

export function nodeSessions(t: SessionTables, node: string): SessionListResult {
  const sessions: SessionEntry[] = [];
  // Consul's sessions "node" index folds case (indexNodeFromSession).
  for (const [, s] of t.sessions.entries()) if (sameName(s.Node, node)) sessions.push(s);
  return { index: tableIndex(t), sessions };
}

export function emptySessions(): OrderedMap<SessionEntry> {
  return new OrderedMap<SessionEntry>();
}
