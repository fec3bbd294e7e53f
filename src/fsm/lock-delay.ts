/**
 * Lock-delay as replicated state (docs/raft-notes.md §3.5): when a session holding locks ends, every replica
 * computes each released key's deadline at apply, from the time the ending command carries; an acquire, and a
 * txn's lock op, is judged at apply against the time its own command carries. Nothing depends on what a leader
 * remembers, so a new leader, or a replica that installed a snapshot, judges exactly as the others.
 *
 * Time: commands carry their leader's wall clock, and leaders' clocks disagree. The FSM keeps `clock`, the
 * largest time it has applied, and reads every command's time as max(its time, clock), so the FSM's time never
 * goes back: a leader whose clock is behind cannot set a deadline that has already passed for the commands applied
 * before it, nor make a key delayed again once its delay has ended. A leader whose clock is ahead of the one that
 * set a deadline ends the delay early by its lead: lock-delay is as exact as the servers' clocks agree, as any
 * wall-clock rule is (Consul's own is one server's clock, and a new leader there knows no delays at all).
 *
 * The deadlines and the clock are not in state.bin (Consul has no record for them, and its restore refuses an
 * unknown record type): snapshots carry them beside it (LockDelayJson, in the data-dir snapshot's sidecar and
 * the InstallSnapshot metadata); a user restore starts with none, as a restored Consul does.
 */

/**
 * The time leaders stamped on acquires and txns before lock-delay was judged at apply (the leader judged it in
 * memory, then let the entry pass every replica's deadlines alike). Entries still in a log apply as they did: not
 * judged, and their time does not move the clock. Real clocks stay far below it (ms since 1970).
 */
export const LOCK_DELAY_PASSED = Number.MAX_SAFE_INTEGER;

/** The lock-delay state every replica holds alike. Invariant: replaced whole by restores, never shared. */
export interface LockDelayState {
  /** The largest command time applied (ms), 0 before any; only a snapshot install sets it otherwise. */
  clock: number;
  /** key → ms (in the FSM's time) until which acquires of the key are refused. */
  readonly until: Map<string, number>;
}

export function emptyLockDelays(): LockDelayState {
  return { clock: 0, until: new Map() };
}

/**
 * A command's time as the FSM reads it, moving the clock: max(time, clock). Null for a command that is not
 * judged: an acquire from before times (undefined) or stamped LOCK_DELAY_PASSED.
 */
export function advanceClock(s: LockDelayState, time: number | undefined): number | null {
  if (time === undefined || time === LOCK_DELAY_PASSED) return null;
  if (time > s.clock) s.clock = time;
  return s.clock;
}

/** The FSM's time for a command stamped `time`, without moving the clock (the leader's pre-check). */
export function readClock(s: LockDelayState, time: number | undefined): number | null {
  if (time === undefined || time === LOCK_DELAY_PASSED) return null;
  return Math.max(time, s.clock);
}

/** Whether `key` refuses acquires at FSM time `now` (null: not judged). */
export function isDelayedAt(s: LockDelayState, key: string, now: number | null): boolean {
  if (now === null) return false;
  const until = s.until.get(key);
  return until !== undefined && now < until;
}

/** A copy for a point-in-time view (the map is small: keys released within the last 60 s). */
export function copyLockDelays(s: LockDelayState): LockDelayState {
  return { clock: s.clock, until: new Map(s.until) };
}

/** The JSON form snapshots carry beside state.bin. Keys in sorted order, so equal states give equal text. */
export interface LockDelayJson {
  readonly clock: number;
  readonly delays: readonly { readonly key: string; readonly until: number }[];
}

export function lockDelayJson(s: LockDelayState): LockDelayJson {
  const keys = [...s.until.keys()].sort();
  return { clock: s.clock, delays: keys.map((key) => ({ key, until: s.until.get(key) as number })) };
}

/** The state of a checked LockDelayJson (the caller checks its shape: it comes from disk or from a peer). */
export function lockDelaysFromJson(j: LockDelayJson): LockDelayState {
  return { clock: j.clock, until: new Map(j.delays.map((d) => [d.key, d.until])) };
}
