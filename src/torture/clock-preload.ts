/**
 * Clock jumps for the torture, loaded into an agent with `node --import <this file>` (servers.ts does, for every
 * agent of a torture run with the `clock` fault; nothing else loads it, so no normal start can jump its clock).
 *
 * What it fakes is what an NTP step does to a machine: the wall clock (`Date.now()`, `new Date()`) jumps, while
 * the monotonic clock (`performance.now()`, `process.hrtime`, timers) goes on undisturbed. On SIGUSR2 the process
 * reads its offset in milliseconds from the file named by CAIRN_TORTURE_CLOCK_FILE and applies it from then on
 * (and at start, so a restarted server keeps its jumped clock).
 *
 * With CAIRN_TORTURE_DRIFT=1 (only the deliberate bug `clock-drift`), the file may also give a rate, as
 * `<offset> <rate>`: from then on `performance.now()` and every timer run at that fraction of true speed, which
 * no NTP step does. That is a fault outside cairn's model, played only to show the checks catch what it breaks.
 */
import { readFileSync } from "node:fs";

const file = process.env.CAIRN_TORTURE_CLOCK_FILE;
if (file !== undefined && file !== "") {
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  let offsetMs = 0;
  const now = (): number => realNow() + offsetMs;
  // A Date subclass whose argument-less construction and now() read the shifted clock; every other form is Date's.
  class ShiftedDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(now());
      // biome-ignore lint/suspicious/noExplicitAny: forwards Date's overloaded constructor arguments unchanged
      else super(...(args as [any]));
    }
    static override now(): number {
      return now();
    }
  }
  globalThis.Date = ShiftedDate as DateConstructor;
  // A restarted server keeps its jumped clock, as a machine's does across a process restart.
  const drift = process.env.CAIRN_TORTURE_DRIFT === "1" ? installDrift() : null;
  const load = (): void => {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      return; // no jump yet
    }
    const [offset, rate] = text.trim().split(/\s+/).map(Number);
    if (offset !== undefined && Number.isFinite(offset)) offsetMs = offset;
    if (drift !== null) drift(rate !== undefined && Number.isFinite(rate) && rate > 0 ? rate : 1);
  };
  load();
  process.on("SIGUSR2", load);
}

/**
 * Puts the monotonic clock and the timers under a rate (returned: the setter). An interval re-arms one timeout
 * per period, each at the rate of its time, so an interval set at start (raft's ticker) slows down too.
 */
function installDrift(): (rate: number) => void {
  const realPerfNow = performance.now.bind(performance);
  const realSetTimeout = globalThis.setTimeout;
  const realClearTimeout = globalThis.clearTimeout;
  const realClearInterval = globalThis.clearInterval;
  let rate = 1;
  let anchorReal = realPerfNow();
  let anchorDrifted = anchorReal;
  const driftedNow = (): number => anchorDrifted + (realPerfNow() - anchorReal) * rate;
  Object.defineProperty(performance, "now", { value: driftedNow, configurable: true, writable: true });
  const scaled = (ms: unknown): number => {
    const n = Number(ms);
    return (Number.isFinite(n) && n >= 1 ? n : 1) / rate;
  };

  class DriftInterval {
    current: ReturnType<typeof realSetTimeout> | undefined;
    stopped = false;
    referenced = true;
    ref(): this {
      this.referenced = true;
      this.current?.ref();
      return this;
    }
    unref(): this {
      this.referenced = false;
      this.current?.unref();
      return this;
    }
    hasRef(): boolean {
      return this.referenced;
    }
    stop(): void {
      this.stopped = true;
      if (this.current !== undefined) realClearTimeout(this.current);
    }
  }

  // biome-ignore lint/suspicious/noExplicitAny: forwards Node's overloaded timer signatures unchanged
  const g = globalThis as any;
  g.setTimeout = (fn: (...a: unknown[]) => void, ms?: unknown, ...args: unknown[]) =>
    realSetTimeout(fn, scaled(ms), ...args);
  g.setInterval = (fn: (...a: unknown[]) => void, ms?: unknown, ...args: unknown[]) => {
    const h = new DriftInterval();
    const arm = (): void => {
      h.current = realSetTimeout(() => {
        if (h.stopped) return;
        arm();
        fn(...args);
      }, scaled(ms));
      if (!h.referenced) h.current.unref();
    };
    arm();
    return h;
  };
  const clear = (real: (t: unknown) => void) => (t: unknown) => {
    if (t instanceof DriftInterval) t.stop();
    else real(t);
  };
  g.clearTimeout = clear(realClearTimeout as (t: unknown) => void);
  g.clearInterval = clear(realClearInterval as (t: unknown) => void);
  return (next: number): void => {
    anchorDrifted = driftedNow();
    anchorReal = realPerfNow();
    rate = next;
  };
}
