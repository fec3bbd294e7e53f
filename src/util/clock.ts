/**
 * The Clock seam: how the server driver reads time and schedules work. The agent passes `realClock` (Node's
 * clocks and timers); the simulator passes a clock driven by its event queue, so the shipped driver runs in
 * virtual time and a seed replays exactly.
 */

/** A scheduled callback; cancel() is a no-op once it ran or was cancelled. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Wall-clock ms since the epoch (Date.now): times written into commands, X-Consul-LastContact. */
  now(): number;
  /** Monotonic ms (performance.now): durations and the tick count, which must not jump with the wall clock. */
  monotonicMs(): number;
  /** Runs `fn` once after `ms`. A `background` timer does not keep the process alive (Node's unref). */
  setTimeout(fn: () => void, ms: number, background?: boolean): Timer;
  /** Runs `fn` every `ms` until cancelled. */
  setInterval(fn: () => void, ms: number): Timer;
  /** Runs `fn` after the current macrotask and its microtasks, before any timer of later time (setImmediate). */
  defer(fn: () => void): void;
  /** A promise resolved after `ms` (a sleep on this clock). */
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  monotonicMs: () => performance.now(),
  setTimeout(fn, ms, background = false) {
    const t = setTimeout(fn, ms);
    if (background) t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    return { cancel: () => clearInterval(t) };
  },
  defer(fn) {
    setImmediate(fn);
  },
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};
