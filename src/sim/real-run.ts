import { AssertionError } from "../util/assert.js";
import { SeededRng } from "../util/rng.js";
import { InvariantViolation } from "./checker.js";
import { checkLinearizable } from "./linearizability.js";
import { valueText } from "./machine.js";
import { drawOptions, type SimOptions } from "./options.js";
import { RealWorld } from "./real-world.js";
import {
  closeHistory,
  describeCheck,
  describeOptions,
  type RunConfig,
  type RunResult,
  runSeed,
} from "./run.js";

/** What the real driver's mode runs of a seed's drawn options: the drawn ones, and pauses drawn apart. */
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
    // the leader's 30 s probe of an unanswered send) run past the old mode's 15 s window after healing.
    livenessSteps: Math.max(o.livenessSteps, 6000),
  };
}

/** Runs one seed on the shipped driver (src/server's RaftServer): faults, heal, progress, linearizability. */
export async function runSeedReal(cfg: RunConfig): Promise<RunResult> {
  const drawn = drawOptions(
    new SeededRng(cfg.seed ^ 0x5eed),
    cfg.seed,
    cfg.steps,
    cfg.bugs ?? {},
    cfg.proposerBugs ?? {},
  );
  const opts = { ...realOptions(drawn), ...cfg.overrides };
  const world = new RealWorld(opts, cfg.trace === true);
  world.trace(`seed ${opts.seed} (real driver): ${describeOptions(opts)}`);
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
    for (let s = 0; s < opts.steps; s++) await world.step(s, true);
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
async function awaitProgress(world: RealWorld, firstStep: number): Promise<boolean> {
  let token = "";
  let proposedAt = -1;
  for (let s = firstStep; s < firstStep + world.opts.livenessSteps; s++) {
    await world.step(s, false);
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

/** Which server loop a run drives: the simulator's own copy (node.ts) or the shipped RaftServer. */
export type Driver = "sim" | "real";

export function runSeedOn(driver: Driver, cfg: RunConfig): Promise<RunResult> {
  return driver === "real" ? runSeedReal(cfg) : Promise.resolve(runSeed(cfg));
}
