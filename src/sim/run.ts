import type { Bugs } from "../raft/config.js";
import { AssertionError } from "../util/assert.js";
import { SeededRng } from "../util/rng.js";
import { InvariantViolation } from "./checker.js";
import type { Coverage } from "./coverage.js";
import { type CheckResult, checkLinearizable, type Operation } from "./linearizability.js";
import type { LockStats } from "./locks.js";
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

/** Runs one seed: faults for `steps` steps, then heal and require progress, then check the history. */
export function runSeed(cfg: RunConfig): RunResult {
  const base = drawOptions(
    new SeededRng(cfg.seed ^ 0x5eed),
    cfg.seed,
    cfg.steps,
    cfg.bugs ?? {},
    cfg.proposerBugs ?? {},
  );
  const opts: SimOptions = { ...base, ...cfg.overrides };
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
      locks: { ...world.locks.stats },
      coverage: { ...world.coverage },
      trace: world.traceText(),
    };
  };
  try {
    for (let s = 0; s < opts.steps; s++) world.step(s, true);
    world.trace("faults end; healing");
    world.faults.healAll();
    const live = awaitProgress(world, opts.steps);
    if (!live)
      return done(
        "liveness",
        `no write committed on every voter within ${opts.livenessSteps} steps of healing`,
      );
    world.admin.finish();
    const result = checkLinearizable(closeHistory(world), { stepsMax: 2_000_000 });
    if (result.outcome !== "ok") return done("linearizability", describeCheck(result));
  } catch (e) {
    if (e instanceof InvariantViolation) return done(e.invariant, e.detail);
    // An always-on assertion inside the core or the driver caught a broken invariant first.
    if (e instanceof AssertionError) return done("assertion", e.message);
    throw e;
  }
  return done(null, "");
}

/** After healing: a write must commit and be applied by every voter of the leader's configuration. */
function awaitProgress(world: World, firstStep: number): boolean {
  let token = "";
  let proposedAt = -1;
  for (let s = firstStep; s < firstStep + world.opts.livenessSteps; s++) {
    world.step(s, false);
    const leader = world.live(world.leaderHint());
    if (leader === undefined) continue;
    if (token !== "" && leader.raw.raft.voters.every((v) => world.live(v)?.kv.text("__live") === token))
      return true;
    if (proposedAt < 0 || s - proposedAt > 100) {
      token = `live-${s}`;
      proposedAt = s;
      const value = new TextEncoder().encode(token);
      leader.propose(-1, { op: "set", key: "__live", value, flags: 0n });
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
