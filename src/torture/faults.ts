/**
 * The torture's faults: a schedule drawn from the seed before the run (what, to whom, for how long, and the
 * quiet gap after), and the nemesis that plays it against the datacenter one fault at a time: inject, hold,
 * heal, wait. A fault aimed at "the leader" resolves to whichever server leads when it starts (the log says
 * which), so the schedule replays exactly while the victim follows the run.
 */
import { readFileSync, statSync } from "node:fs";
import type { Rng } from "../util/rng.js";
import type { Datacenter, Server } from "./servers.js";
import { type ClockWindow, LOCK_DELAY_MS, TTL_MS } from "./ttl-locks.js";

export const FAULT_KINDS = ["kill", "pause", "partition", "clock", "disk"] as const;
/**
 * `drift` is outside cairn's fault model and never in a normal schedule: only the deliberate bug `clock-drift`
 * plays it (driftSchedule), to show the linearizability check catches a lease trusted past its time.
 */
export type FaultKind = (typeof FAULT_KINDS)[number] | "drift";

/** How fast a drifting server's monotonic clock and timers run, against true time. */
export const DRIFT_RATE = 1 / 8;

/** How a partition fault cuts the network. */
export type PartitionShape =
  /** every link to and from the victim */
  | "isolate"
  /** every link from the victim to the others; what they send still arrives */
  | "isolate-outbound"
  /** one link, victim → another server */
  | "one-way"
  /** the victim's links delayed (ms each way) */
  | "delay"
  /** every connection of the victim reset, again and again while it lasts */
  | "flaky";

export interface Fault {
  readonly kind: FaultKind;
  /** "leader", or a server's index */
  readonly target: "leader" | number;
  readonly shape?: PartitionShape;
  /** for one-way: the other end, as an offset 1..n-1 from the victim */
  readonly peerOffset?: number;
  readonly delayMs?: number;
  /** clock: the wall-clock jump, ms (negative: back) */
  readonly clockMs?: number;
  /** disk: fsync errors until healed (then kill -9 and restart: a failed WAL is not reused), or a power cut */
  readonly disk?: "fsync-error" | "power-loss";
  readonly holdMs: number;
  readonly gapMs: number;
}

export function drawSchedule(rng: Rng, kinds: readonly FaultKind[], servers: number, count: number): Fault[] {
  const out: Fault[] = [];
  for (let i = 0; i < count && kinds.length > 0; i++) {
    const kind = kinds[rng.int(0, kinds.length)]!;
    const target = rng.chance(0.5) ? "leader" : rng.int(0, servers);
    const holdMs = rng.int(1_000, 8_000);
    const gapMs = rng.int(500, 3_000);
    if (kind === "clock") {
      const clockMs = rng.chance(0.6) ? rng.int(5_000, 120_000) : -rng.int(5_000, 60_000);
      out.push({ kind, target, clockMs, holdMs, gapMs });
      continue;
    }
    if (kind === "disk") {
      out.push({ kind, target, disk: rng.chance(0.5) ? "fsync-error" : "power-loss", holdMs, gapMs });
      continue;
    }
    if (kind !== "partition") {
      out.push({ kind, target, holdMs, gapMs });
      continue;
    }
    const shapes: PartitionShape[] = ["isolate", "isolate-outbound", "one-way", "delay", "flaky"];
    const shape = shapes[rng.int(0, shapes.length)]!;
    out.push({
      kind,
      target,
      shape,
      peerOffset: rng.int(1, servers),
      delayMs: rng.int(20, 400),
      holdMs,
      gapMs,
    });
  }
  return out;
}

/**
 * The schedule of the deliberate bug `clock-drift`: again and again, the leader's monotonic clock and timers slow
 * to DRIFT_RATE while it is cut off from the others. A lease is sound only while clocks drift within bounds
 * (docs/raft-notes.md §1.7); here its lease outlives the election the others hold meanwhile, so the default reads
 * it serves from that lease miss the new leader's writes, and the run must fail.
 */
export function driftSchedule(rng: Rng, count: number): Fault[] {
  return Array.from({ length: count }, () => ({
    kind: "drift" as const,
    target: "leader" as const,
    holdMs: rng.int(6_000, 9_000),
    gapMs: rng.int(2_000, 4_000),
  }));
}

export function describeFault(f: Fault): string {
  const who = f.target === "leader" ? "the leader" : `s${f.target}`;
  const how =
    f.kind === "partition"
      ? ` ${f.shape}${f.shape === "one-way" ? ` to +${f.peerOffset}` : ""}${f.shape === "delay" ? ` ${f.delayMs} ms` : ""}`
      : f.kind === "clock"
        ? ` ${(f.clockMs ?? 0) > 0 ? "+" : ""}${((f.clockMs ?? 0) / 1000).toFixed(1)} s`
        : f.kind === "disk"
          ? ` ${f.disk}`
          : "";
  return `${f.kind}${how} ${who} for ${f.holdMs} ms, then ${f.gapMs} ms quiet`;
}

export interface NemesisLog {
  readonly lines: string[];
  /** Told each line as it happens (progress output). */
  readonly tell: (line: string) => void;
  readonly injected: Record<string, number>;
  /** The spans in which a clock jump may move what servers stamp (ttl-locks.ts ClockWindow). */
  readonly clockWindows: ClockWindow[];
}

/** Plays the schedule until `until()` says stop; every fault is healed before the next begins and at the end. */
export async function runNemesis(
  dc: Datacenter,
  schedule: readonly Fault[],
  leaderOf: () => Promise<number | null>,
  until: () => boolean,
  log: NemesisLog,
  t0: number,
  /** Draws what a fault decides as it is played (how much of an unsynced write a power cut keeps). */
  rng: Rng,
): Promise<void> {
  const n = dc.servers.length;
  for (const f of schedule) {
    if (until()) break;
    const victimIndex = f.target === "leader" ? ((await leaderOf()) ?? 0) : f.target;
    const victim = dc.servers[victimIndex]!;
    const say = (what: string): void => {
      const line = `${((Date.now() - t0) / 1000).toFixed(1)}s ${what}`;
      log.lines.push(line);
      log.tell(line);
    };
    say(`${describeFault(f)} → ${victim.name}`);
    const key =
      f.kind === "partition" ? `partition ${f.shape}` : f.kind === "disk" ? `disk ${f.disk}` : f.kind;
    log.injected[key] = (log.injected[key] ?? 0) + 1;
    const bump = (what: string, by = 1): void => {
      log.injected[what] = (log.injected[what] ?? 0) + by;
    };
    const injectedAt = Date.now() - t0;
    const heal = inject(dc, f, victim, victimIndex, n, rng, say, bump);
    await sleepUnless(f.holdMs, until);
    await heal();
    say(`healed ${victim.name}`);
    if (f.kind === "clock") {
      // A jump forward is felt until true time passes it; a lock-delay stamped during a jump back, until it ends.
      const lasts = Math.abs(f.clockMs ?? 0) + LOCK_DELAY_MS + 2 * TTL_MS;
      log.clockWindows.push({ from: injectedAt, to: Date.now() - t0 + lasts });
    }
    await sleepUnless(f.gapMs, until);
  }
}

function inject(
  dc: Datacenter,
  f: Fault,
  victim: Server,
  v: number,
  n: number,
  rng: Rng,
  say: (what: string) => void,
  bump: (what: string, by?: number) => void,
): () => Promise<void> {
  const others = dc.servers.filter((s) => s !== victim).map((s) => s.name);
  if (f.kind === "kill") {
    dc.kill9(victim);
    return async () => dc.launch(victim);
  }
  if (f.kind === "pause") {
    dc.pause(victim);
    return async () => dc.resume(victim);
  }
  if (f.kind === "disk" && f.disk === "fsync-error") {
    const logFrom = statSync(victim.logFile).size;
    dc.failSyncs(victim, true);
    return async () => {
      // Did the server meet the failed fsync (and stop its raft), or was it idle through the fault?
      const log = readFileSync(victim.logFile, "utf8").slice(logFrom);
      const stopped = /raft server stopping: .*torture disk fault/.test(log);
      say(
        `${victim.name} ${stopped ? "stopped its raft on a failed fsync" : "met no fsync while its disk failed"}`,
      );
      if (stopped) bump("disk fsync-error: raft stopped");
      // A server whose fsync failed has stopped its raft; it comes back only through a restart.
      dc.kill9(victim);
      dc.failSyncs(victim, false);
      dc.launch(victim);
    };
  }
  if (f.kind === "disk") {
    const cut = dc.losePower(victim, rng);
    say(`power cut on ${victim.name}: ${cut} unsynced WAL bytes lost or torn`);
    if (cut > 0) bump("disk power-loss: unsynced bytes cut", cut);
    return async () => dc.launch(victim);
  }
  if (f.kind === "clock") {
    dc.jumpClock(victim, f.clockMs ?? 0);
    return async () => dc.jumpClock(victim, 0);
  }
  if (f.kind === "drift") {
    dc.driftClock(victim, DRIFT_RATE);
    isolate(dc, victim.name, others);
    return async () => {
      dc.driftClock(victim, 1);
      dc.net.healAll();
    };
  }
  const me = victim.name;
  switch (f.shape) {
    case "isolate":
      isolate(dc, me, others);
      break;
    case "isolate-outbound":
      for (const o of others) dc.net.set(me, o, { kind: "cut" });
      break;
    case "one-way":
      dc.net.set(me, dc.servers[(v + (f.peerOffset ?? 1)) % n]!.name, { kind: "cut" });
      break;
    case "delay":
      for (const o of others) {
        dc.net.set(me, o, { kind: "delay", ms: f.delayMs ?? 100 });
        dc.net.set(o, me, { kind: "delay", ms: f.delayMs ?? 100 });
      }
      break;
    case "flaky": {
      const timer = setInterval(() => {
        for (const o of others) dc.net.reset(me, o);
      }, 700);
      return async () => clearInterval(timer);
    }
    default:
      break;
  }
  return async () => dc.net.healAll();
}

/** Cuts every link to and from `me`. */
function isolate(dc: Datacenter, me: string, others: readonly string[]): void {
  for (const o of others) {
    dc.net.set(me, o, { kind: "cut" });
    dc.net.set(o, me, { kind: "cut" });
  }
}

async function sleepUnless(ms: number, until: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && !until())
    await new Promise((r) => setTimeout(r, Math.min(200, end - Date.now())));
}
