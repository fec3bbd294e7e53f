/**
 * The clock and timers of the agent's local state (check runners, TTLs, anti-entropy, the reaper). Injected, so
 * unit tests drive time with ManualTimers instead of sleeping; the agent uses realTimers.
 *
 * Contract: `setTimeout` calls `fn` once, no earlier than `ms` later, unless the returned cancel ran first.
 * Real timers are unref'd: a pending check or sync never keeps the process alive.
 */
export interface Timers {
  /** Wall-clock milliseconds since the Unix epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): () => void;
}

export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return () => clearTimeout(t);
  },
};

/** Bound on timers fired by one `advance`, so a timer that re-arms itself at 0 ms cannot spin forever. */
const FIRES_PER_ADVANCE_MAX = 100_000;

/** A deterministic clock: time moves only through `advance`, which fires due timers in time order. */
export class ManualTimers implements Timers {
  private time: number;
  private seq = 0;
  private readonly pending = new Map<number, { readonly at: number; readonly fn: () => void }>();

  constructor(startMs = 1_700_000_000_000) {
    this.time = startMs;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): () => void {
    const id = ++this.seq;
    this.pending.set(id, { at: this.time + Math.max(0, ms), fn });
    return () => this.pending.delete(id);
  }

  /** Timers armed now. */
  get size(): number {
    return this.pending.size;
  }

  /** Moves the clock forward by `ms`, firing every timer that falls due (ties in the order they were set). */
  advance(ms: number): void {
    const end = this.time + ms;
    for (let fired = 0; ; fired++) {
      if (fired >= FIRES_PER_ADVANCE_MAX)
        throw new Error(`ManualTimers: more than ${fired} timers in one advance`);
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.pending)
        if (e[1].at <= end && (next === undefined || e[1].at < next[1].at)) next = e;
      if (next === undefined) break;
      this.pending.delete(next[0]);
      this.time = next[1].at;
      next[1].fn();
    }
    this.time = end;
  }
}
