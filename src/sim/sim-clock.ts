import type { Clock, Timer } from "../util/clock.js";
import type { Rng } from "../util/rng.js";

/** The simulator's event queue as a clock sees it: virtual time in µs, and callbacks at a time. */
export interface Scheduler {
  /** Virtual time, µs. */
  nowUs(): number;
  /**
   * Runs `fn` at virtual time `atUs` (after every event already queued for that time). `void`, when given, says
   * at that time whether `fn` would do nothing (a cancelled timer, a dead life's): the world then skips it.
   */
  at(atUs: number, fn: () => void, void_?: () => boolean): void;
}

/**
 * One life of a simulated process, from start to crash. A crash ends it: its timers never fire again and its
 * disk and network drop whatever it still does (its promise chains may run on, but reach nothing). A pause
 * (SIGSTOP) holds it: nothing of it runs, and its timers and what reaches it over the network wait. Its
 * monotonic clock goes on counting meanwhile, as CLOCK_MONOTONIC does. On resume (SIGCONT) everything held runs
 * late, as Node's event loop would take it: the due timers first (the timers phase), then what waits on its
 * connections, in order on each connection but interleaved between them in an order the seed draws (the poll
 * phase reads ready sockets in no order the process controls).
 */
export class Life {
  alive = true;
  /** The callbacks held while paused, by channel ("" for timers and deferred work); null while running. */
  private held: Map<string, (() => void)[]> | null = null;
  private pausedAtUs = 0;
  /** Virtual µs this life spent paused (for the broken variant whose clock stops with the process). */
  pausedUs = 0;

  get paused(): boolean {
    return this.held !== null;
  }

  /** Runs `fn` now, or on resume while paused; never once the life ended. `channel` names its connection. */
  run(fn: () => void, channel = ""): void {
    if (!this.alive) return;
    if (this.held === null) {
      fn();
      return;
    }
    const queue = this.held.get(channel);
    if (queue === undefined) this.held.set(channel, [fn]);
    else queue.push(fn);
  }

  pause(sched: Scheduler): void {
    if (this.held !== null || !this.alive) return;
    this.held = new Map();
    this.pausedAtUs = sched.nowUs();
  }

  /** Everything held runs now, each as an event of its own: timers first, then the connections interleaved. */
  resume(sched: Scheduler, rng: Rng): void {
    const held = this.held;
    if (held === null) return;
    this.held = null;
    this.pausedUs += sched.nowUs() - this.pausedAtUs;
    const at = (fn: () => void) => sched.at(sched.nowUs(), () => this.run(fn));
    for (const fn of held.get("") ?? []) at(fn);
    held.delete("");
    const queues = [...held.values()];
    while (queues.length > 0) {
      const k = rng.int(0, queues.length);
      const q = queues[k]!;
      at(q.shift()!);
      if (q.length === 0) queues.splice(k, 1);
    }
  }
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
  /**
   * `stopsWhenPaused`: a broken clock for the simulator's variant (--bug lease-clock-stops-on-pause) that does not
   * count a pause, as CLOCK_MONOTONIC does not count a suspended VM's sleep: a leader resumed after a pause then
   * still believes its lease, which the linearizability check must catch.
   */
  constructor(
    private readonly sched: Scheduler,
    private readonly life: Life,
    private readonly shape: ClockShape,
    private readonly stopsWhenPaused = false,
  ) {}

  now(): number {
    const s = this.shape;
    return WALL_EPOCH_MS + Math.floor((this.sched.nowUs() * s.wallScale) / 1000 + s.wallOffsetMs);
  }

  monotonicMs(): number {
    const lost = this.stopsWhenPaused ? this.life.pausedUs : 0;
    return ((this.sched.nowUs() - lost) * this.shape.rate) / 1000;
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
    const t = new SimTimer(this.life, fn);
    this.sched.at(this.sched.nowUs() + this.delayUs(ms), t.run, t.idle);
    return t;
  }

  setInterval(fn: () => void, ms: number): Timer {
    const t = { cancelled: false };
    const step = this.delayUs(ms);
    const fire = (): void => {
      if (t.cancelled) return;
      // Rescheduled before running, as Node's interval is: a callback that throws does not stop it.
      this.sched.at(this.sched.nowUs() + step, () => this.life.run(fire), idle);
      fn();
    };
    const idle = (): boolean => t.cancelled || !this.life.alive;
    this.sched.at(this.sched.nowUs() + step, () => this.life.run(fire), idle);
    return {
      cancel: () => {
        t.cancelled = true;
      },
    };
  }

  defer(fn: () => void): void {
    this.sched.at(this.sched.nowUs(), () => this.life.run(fn));
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }
}

/**
 * A one-shot timer: one object per timer, its event's callbacks bound once (a server sets and cancels timers
 * for every request and wait, so the simulator's per-event allocation counts).
 */
class SimTimer implements Timer {
  private cancelled = false;

  constructor(
    private readonly life: Life,
    private readonly fn: () => void,
  ) {}

  /** The event: fires unless cancelled by then (a paused life fires it on resume, if still not cancelled). */
  readonly run = (): void => {
    this.life.run(this.fire);
  };

  /** Whether the event would do nothing now (Scheduler.at's `void`). */
  readonly idle = (): boolean => this.cancelled || !this.life.alive;

  private readonly fire = (): void => {
    if (!this.cancelled) this.fn();
  };

  cancel(): void {
    this.cancelled = true;
  }
}
