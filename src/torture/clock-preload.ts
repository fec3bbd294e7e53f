/**
 * Clock jumps for the torture, loaded into an agent with `node --import <this file>` (servers.ts does, for every
 * agent of a torture run with the `clock` fault; nothing else loads it, so no normal start can jump its clock).
 *
 * What it fakes is what an NTP step does to a machine: the wall clock (`Date.now()`, `new Date()`) jumps, while
 * the monotonic clock (`performance.now()`, `process.hrtime`, timers) goes on undisturbed. On SIGUSR2 the process
 * reads its offset in milliseconds from the file named by CAIRN_TORTURE_CLOCK_FILE and applies it from then on
 * (and at start, so a restarted server keeps its jumped clock).
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
  const load = (): void => {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      return; // no jump yet
    }
    const v = Number(text.trim());
    if (Number.isFinite(v)) offsetMs = v;
  };
  load();
  process.on("SIGUSR2", load);
}
