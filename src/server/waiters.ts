import type { Clock, Timer } from "../util/clock.js";
import { UnavailableError } from "../util/errors.js";

/** A caller waiting on the Ready loop: settled once, by the loop (after take()) or by its timer. */
export interface Waiter<T> {
  /** The term the caller asked in. */
  readonly term: number;
  readonly resolve: (v: T) => void;
  readonly reject: (e: Error) => void;
  readonly timer: Timer;
}

/**
 * Callers waiting on the Ready loop by key (a proposal's index, a read's request id). Each wait is bounded:
 * its timer fails it with UnavailableError, so a client is never left hanging on a raft that makes no
 * progress.
 */
export class Waiters<K, T> {
  private readonly waiting = new Map<K, Waiter<T>>();

  constructor(private readonly clock: Clock) {}

  wait(key: K, term: number, timeoutMs: number, timeoutMessage: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.waiting.delete(key);
        reject(new UnavailableError(timeoutMessage));
      }, timeoutMs);
      this.waiting.set(key, { term, resolve, reject, timer });
    });
  }

  /** Removes the waiter for `key` and stops its timer, for the caller to settle (undefined: none waits). */
  take(key: K): Waiter<T> | undefined {
    const w = this.waiting.get(key);
    if (w === undefined) return undefined;
    this.waiting.delete(key);
    w.timer.cancel();
    return w;
  }

  rejectAll(e: Error): void {
    for (const w of this.waiting.values()) {
      w.timer.cancel();
      w.reject(e);
    }
    this.waiting.clear();
  }
}

/** Sleepers that an event wakes early (a leader became known): each sleeps until woken or for its bound. */
export class Wakeups {
  private readonly sleepers = new Set<() => void>();

  constructor(private readonly clock: Clock) {}

  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        t.cancel();
        this.sleepers.delete(done);
        resolve();
      };
      const t = this.clock.setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  wakeAll(): void {
    for (const w of [...this.sleepers]) w();
  }
}
