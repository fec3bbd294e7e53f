import type { Bugs } from "../raft/config.js";
import { AssertionError } from "../util/assert.js";
import { SeededRng } from "../util/rng.js";
import { InvariantViolation } from "./checker.js";
import type { Coverage } from "./coverage.js";
import { type CheckResult, checkLinearizable, type Operation } from "./linearizability.js";
import type { LockStats } from "./locks.js";
import { valueText } from "./machine.js";
import { drawOptions, type ProposerBugs, type SimOptions } from "./options.js";
import { type Client, unknownOperation } from "./workload.js";
import { World } from "./world.js";

export interface RunResult {
  readonly seed: number;
  readonly ok: boolean;
  /** The invariant that failed ("linearizability" and "liveness" included), or null. */
  readonly invariant: string | null;
  readonly message: string;
  readonly ops: number;
  readonly messages: number;
  readonly locks: LockStats;
  readonly coverage: Coverage;
  readonly trace: string;
}

export interface RunConfig {
  readonly seed: number;
  readonly steps: number;
  readonly trace?: boolean;
  readonly bugs?: Bugs;
  readonly proposerBugs?: ProposerBugs;
  /** Overrides of the options drawn from the seed (tests pin some). */
  readonly overrides?: Partial<SimOptions>;
}

/**
 * Raft messages a run may send per step on average, counted from its start: over 15× the most seen (seeds 1..30 ×
 * 2000 steps: at most 254,365 messages, ~120 a step). It bounds what a replication livelock costs (a follower
 * that erases what the leader keeps sending: the truncate-without-conflict variant, whose seed 2 sends 1.9 M
 * messages before it heals) to ~16 M messages in a 2000-step run, where the per-step event bound (world.ts)
 * alone lets the liveness phase run 300 M events: a verdict ("bounded work") within minutes, not hours.
 */
const MESSAGES_PER_STEP_MAX = 2_000;

/** Throws "bounded work" once the run has sent more messages than `steps` steps may. */
function checkWork(world: World, steps: number): void {
  if (world.messagesSent > MESSAGES_PER_STEP_MAX * steps) {
    throw new InvariantViolation(
      "bounded work",
      `${world.messagesSent} messages in ${steps} steps, over ${MESSAGES_PER_STEP_MAX} a step (a livelock)`,
    );
  }
}

/** What a seed runs of its drawn options: the drawn ones, and pauses drawn apart. */
function realOptions(o: SimOptions): SimOptions {
  // Pauses are drawn from a stream of their own, so the drawn options of every seed stay as they were.
  const rng = new SeededRng(o.seed ^ 0x5a05e);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(0, xs.length)]!;
  return {
    ...o,
    pauseRate: pick([0, 0, 0.005, 0.02]),
    // Past an election timeout (100–200 ms) and within a client's timeout (2 s), so a paused leader's clients
    // are still waiting for their reads when it resumes.
    pauseMaxUs: pick([400_000, 1_000_000, 1_500_000]),
    // The driver's own bounds on recovering a follower that needs a snapshot (a blob chunk's 30 s RPC timeout,
    // the leader's 30 s probe of an unanswered send) run past a 15 s window after healing.
    livenessSteps: Math.max(o.livenessSteps, 6000),
  };
}

/**
 * Runs one seed on the shipped driver (src/server's RaftServer): faults for `steps` steps, then heal and require
 * progress, then check the history.
 */
export async function runSeed(cfg: RunConfig): Promise<RunResult> {
  const drawn = drawOptions(
    new SeededRng(cfg.seed ^ 0x5eed),
    cfg.seed,
    cfg.steps,
    cfg.bugs ?? {},
    cfg.proposerBugs ?? {},
  );
  const opts = { ...realOptions(drawn), ...cfg.overrides };
  const world = new World(opts, cfg.trace === true);
  world.trace(`seed ${opts.seed}: ${describeOptions(opts)}`);
  const done = (invariant: string | null, message: string): RunResult => {
    world.trace(invariant === null ? "ok" : `VIOLATION ${invariant}: ${message}`);
    return {
      seed: cfg.seed,
      ok: invariant === null,
      invariant,
      message,
      ops: world.history.length,
      messages: world.messagesSent,
      locks: { ...world.locks.checker.stats },
      coverage: { ...world.coverage },
      trace: world.traceText(),
    };
  };
  try {
    for (let s = 0; s < opts.steps; s++) {
      await world.step(s, true);
      checkWork(world, s + 1);
    }
    world.trace("faults end; healing");
    world.healAll();
    if (!(await awaitProgress(world, opts.steps)))
      return done(
        "liveness",
        `no write committed on every voter within ${opts.livenessSteps} steps of healing`,
      );
    world.admin.finish();
    const result = checkLinearizable(closeHistory(world), { stepsMax: 2_000_000 });
    if (result.outcome !== "ok") return done("linearizability", describeCheck(result));
  } catch (e) {
    if (e instanceof InvariantViolation) return done(e.invariant, e.detail);
    if (e instanceof AssertionError) return done("assertion", e.message);
    throw e;
  }
  return done(null, "");
}

/** After healing: a write must commit and be applied by every voter of the leader's configuration. */
async function awaitProgress(world: World, firstStep: number): Promise<boolean> {
  let token = "";
  let proposedAt = -1;
  for (let s = firstStep; s < firstStep + world.opts.livenessSteps; s++) {
    await world.step(s, false);
    checkWork(world, s + 1);
    const leader = world.live(world.leaderHint());
    if (leader === undefined) continue;
    const holds = (v: number) => valueText(world.live(v)?.server.kv.get("__live").entry ?? null);
    if (token !== "" && leader.raw.raft.voters.every((v) => holds(v) === token)) return true;
    if (proposedAt < 0 || s - proposedAt > 100) {
      token = `live-${s}`;
      proposedAt = s;
      world.proposeLive(leader, token);
    }
  }
  return false;
}

/** Operations still in flight at the end have unknown outcomes: writes may or may not have happened. */
export function closeHistory(world: {
  readonly history: readonly Operation[];
  readonly clients: readonly Client[];
}): Operation[] {
  const ops = [...world.history];
  for (const c of world.clients) {
    const op = c.current === null ? null : unknownOperation(c.current);
    if (op !== null) ops.push(op);
  }
  return ops;
}

export function describeCheck(r: CheckResult): string {
  if (r.outcome === "ok") return "ok";
  return `key ${r.key}: ${r.message}`;
}

export function describeOptions(o: SimOptions): string {
  return [
    `voters=${o.voters}+${o.spares}`,
    `clients=${o.clients}`,
    `keys=${o.keys}`,
    `drop=${o.dropRate}`,
    `dup=${o.duplicateRate}`,
    `delay=${o.delayMinUs}-${o.delayMaxUs}us`,
    `partition=${o.partitionRate}`,
    `crash=${o.crashRate}`,
    `leaderCrash=${o.leaderCrashRate}`,
    `torn=${o.tornWriteRate}`,
    `skew=${o.tickSkew}`,
    `snapEvery=${o.snapshotEvery}`,
    `appendBytes=${o.appendBytesMax}`,
    `inflight=${o.inflightMsgsMax}`,
    `conf=${o.confChangeRate}`,
    `restore=${o.restoreRate}`,
    `transfer=${o.transferRate}`,
    `lockKeys=${o.lockKeys}`,
    `clock=x${o.clockScale}+${o.clockOffsetMs}ms`,
    `preVote=${o.preVote}`,
    `checkQuorum=${o.checkQuorum}`,
    `bugs=${JSON.stringify(o.bugs)}`,
    `proposerBugs=${JSON.stringify(o.proposerBugs)}`,
  ].join(" ");
}
