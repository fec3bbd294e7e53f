import type { Clock, Timer } from "../util/clock.js";

/** The simulator's event queue as a clock sees it: virtual time in µs, and callbacks at a time. */
export interface Scheduler {
  /** Virtual time, µs. */
  nowUs(): number;
  /** Runs `fn` at virtual time `atUs` (after every event already queued for that time). */
  at(atUs: number, fn: () => void): void;
}

/**
 * One life of a simulated process, from start to crash. A crash ends it: its timers never fire again and its
 * disk and network drop whatever it still does (its promise chains may run on, but reach nothing).
 */
export interface Life {
  alive: boolean;
}

/** The servers' wall clocks start here (2026-01-01T00:00:00Z), so command times look like real ones. */
export const WALL_EPOCH_MS = 1_767_225_600_000;

/** How one server's clock relates to virtual time. */
export interface ClockShape {
  /** Monotonic clock rate against virtual time (1 ± skew): the server's ticks and timers run at this rate. */
  readonly rate: number;
  /** Wall-clock ms per virtual ms (sessions' TTLs are wall-clock durations; the sim's runs are short). */
  readonly wallScale: number;
  /** This server's wall clock is ahead by this many ms. */
  readonly wallOffsetMs: number;
}

/**
 * A server's Clock in the simulator: every timer and deferred call is an event in the sim's queue, so the
 * shipped driver's macrotasks all come from one deterministic queue. A timer of a life that ended is dropped.
 */
export class SimClock implements Clock {
  constructor(
    private readonly sched: Scheduler,
    private readonly life: Life,
    private readonly shape: ClockShape,
  ) {}

  now(): number {
    const s = this.shape;
    return WALL_EPOCH_MS + Math.floor((this.sched.nowUs() * s.wallScale) / 1000 + s.wallOffsetMs);
  }

  monotonicMs(): number {
    return (this.sched.nowUs() * this.shape.rate) / 1000;
  }

  /**
   * Virtual µs after which `ms` of this server's clock have passed. As Node's timers do, a delay under 1 ms (or
   * past 2^31 − 1) counts as 1 ms: a loop that sleeps for what is left of a deadline then always moves time on.
   */
  private delayUs(ms: number): number {
    const nodeMs = ms >= 1 && ms <= 2 ** 31 - 1 ? ms : 1;
    return Math.round((nodeMs * 1000) / this.shape.rate);
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const t = { cancelled: false };
    this.sched.at(this.sched.nowUs() + this.delayUs(ms), () => {
      if (!t.cancelled && this.life.alive) fn();
    });
    return {
      cancel: () => {
        t.cancelled = true;
      },
    };
  }

  setInterval(fn: () => void, ms: number): Timer {
    const t = { cancelled: false };
    const step = this.delayUs(ms);
    const fire = (): void => {
      if (t.cancelled || !this.life.alive) return;
      // Rescheduled before running, as Node's interval is: a callback that throws does not stop it.
      this.sched.at(this.sched.nowUs() + step, fire);
      fn();
    };
    this.sched.at(this.sched.nowUs() + step, fire);
    return {
      cancel: () => {
        t.cancelled = true;
      },
    };
  }

  defer(fn: () => void): void {
    this.sched.at(this.sched.nowUs(), () => {
      if (this.life.alive) fn();
    });
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }
}
