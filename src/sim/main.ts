import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { Bugs } from "../raft/config.js";
import { type Coverage, noCoverage } from "./coverage.js";
import { type LockStats, noLockStats } from "./locks.js";
import type { ProposerBugs } from "./options.js";
import { type RunResult, runSeed } from "./run.js";

/**
 * `npm run sim -- --seeds 10000 --steps 2000 [--from SEED] [--workers N] [--bug NAME]`: many seeds on worker
 * threads, printing seeds/s and every failing seed.
 * `npm run sim -- --seed N [--steps S] --trace`: replays one seed and prints its trace.
 * Every seed runs the shipped driver (src/server's RaftServer); `--driver real` is still taken, as replay lines
 * printed before the simulator's own driver was removed name it.
 */
interface Args {
  seed: number | null;
  seeds: number;
  from: number;
  steps: number;
  trace: boolean;
  workers: number;
  bugs: Bugs;
  proposerBugs: ProposerBugs;
}

const BUGS: Record<string, { readonly bugs?: Bugs; readonly proposerBugs?: ProposerBugs }> = {
  "commit-previous-term": { bugs: { commitPreviousTerm: true } },
  "vote-without-log-check": { bugs: { voteWithoutLogCheck: true } },
  "read-without-quorum": { bugs: { readWithoutQuorum: true } },
  "truncate-without-conflict": { bugs: { truncateWithoutConflict: true } },
  "skip-lock-delay": { proposerBugs: { skipLockDelay: true } },
  "resurrect-sessions": { proposerBugs: { resurrectSessions: true } },
  "drop-lock-delays": { proposerBugs: { dropLockDelays: true } },
  // The lease outlives a pause: the clock stops with the process.
  "lease-clock-stops-on-pause": { proposerBugs: { clockStopsWhenPaused: true } },
};

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: sim [--seeds N] [--steps S] [--from SEED] [--workers W] [--bug ${Object.keys(BUGS).join("|")}]\n` +
      "       sim --seed N [--steps S] [--trace]\n",
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    seed: null,
    seeds: 100,
    from: 1,
    steps: 2000,
    trace: false,
    workers: availableParallelism(),
    bugs: {},
    proposerBugs: {},
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isSafeInteger(v) || v < 0) usage(`invalid value for ${flag}: "${argv[i] ?? ""}"`);
      return v;
    };
    if (flag === "--seed") a.seed = num();
    else if (flag === "--seeds") a.seeds = num();
    else if (flag === "--from") a.from = num();
    else if (flag === "--steps") a.steps = num();
    else if (flag === "--workers") a.workers = Math.max(1, num());
    else if (flag === "--trace") a.trace = true;
    else if (flag === "--driver") {
      const d = argv[++i];
      if (d === "sim")
        usage('the simulator\'s own driver ("--driver sim") was removed: every seed runs the shipped one');
      if (d !== "real")
        usage(`unknown driver "${d ?? ""}" (only "real", the shipped driver, which is the default)`);
    } else if (flag === "--bug") {
      const b = BUGS[argv[++i] ?? ""];
      if (b === undefined) usage(`unknown bug "${argv[i] ?? ""}"`);
      a.bugs = b.bugs ?? {};
      a.proposerBugs = b.proposerBugs ?? {};
    } else usage(`unknown flag "${flag}"`);
  }
  return a;
}

function report(r: RunResult): string {
  return `seed ${r.seed}: ${r.invariant}: ${r.message}\n  replay: npm run sim -- --seed ${r.seed} --trace`;
}

async function runMany(a: Args): Promise<number> {
  const started = performance.now();
  const workers = Math.min(a.workers, a.seeds);
  let next = a.from;
  const end = a.from + a.seeds;
  let done = 0;
  const failures: RunResult[] = [];
  const locks = noLockStats();
  const coverage = noCoverage();
  await Promise.all(
    Array.from(
      { length: workers },
      () =>
        new Promise<void>((resolve, reject) => {
          const w = new Worker(new URL("./worker.js", import.meta.url), {
            workerData: { steps: a.steps, bugs: a.bugs, proposerBugs: a.proposerBugs },
          });
          const feed = () => {
            if (next >= end) {
              void w.terminate().then(() => resolve());
              return;
            }
            w.postMessage(next++);
          };
          w.on("message", (r: RunResult) => {
            done++;
            for (const k of Object.keys(locks) as (keyof LockStats)[]) locks[k] += r.locks[k];
            for (const k of Object.keys(coverage) as (keyof Coverage)[]) coverage[k] += r.coverage[k];
            if (!r.ok) {
              failures.push(r);
              process.stdout.write(`${report(r)}\n`);
            }
            feed();
          });
          w.on("error", reject);
          feed();
        }),
    ),
  );
  const secs = (performance.now() - started) / 1000;
  process.stdout.write(
    `${done} seeds (${a.from}..${end - 1}), ${a.steps} steps each, ${failures.length} violations, ` +
      `${secs.toFixed(1)} s, ${(done / secs).toFixed(1)} seeds/s on ${workers} workers\n` +
      `locks: ${locks.granted} granted, ${locks.invalidatedHolding} sessions invalidated holding locks, ` +
      `acquires refused for lock-delay: ${locks.delayed} by the leader, ${locks.delayedAtApply} at apply (the ` +
      "leader did not know the delay); a grant within a lock-delay is a violation\n" +
      `schedules: ${coverage.leaderCrashes} leaders crashed with their log's tail on a minority, ` +
      `${coverage.electedOverConfChange} elected over an uncommitted membership change, ` +
      `${coverage.electedOverRestore} over an uncommitted restore, ${coverage.snapshotsInstalled} snapshots ` +
      `installed, ${coverage.snapshotSendsCompacted} snapshot sends that lost the race with compaction, ` +
      `${coverage.pauses} servers paused\n` +
      `admin: ${coverage.membershipChanges} membership changes committed, ${coverage.leadershipTransfers} ` +
      `leadership transfers completed, ${coverage.restoresApplied} restores applied\n`,
  );
  return failures.length === 0 ? 0 : 1;
}

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2));
  if (a.seed !== null) {
    const r = await runSeed({
      seed: a.seed,
      steps: a.steps,
      trace: a.trace,
      bugs: a.bugs,
      proposerBugs: a.proposerBugs,
    });
    if (a.trace) process.stdout.write(`${r.trace}\n`);
    process.stdout.write(
      r.ok
        ? `seed ${r.seed}: ok (${r.ops} ops, ${r.messages} messages, locks ${JSON.stringify(r.locks)})\n`
        : `${report(r)}\n`,
    );
    return r.ok ? 0 : 1;
  }
  return runMany(a);
}

process.exitCode = await main();
