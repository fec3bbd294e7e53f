/**
 * For the fuzz suites (src/http/fuzz.test.ts, src/cli/flags-fuzz.test.ts): fast-check's run with the runs and seed
 * taken from the environment (`FUZZ_RUNS`, `FUZZ_SEED` to replay a failure), and a failure that shows the seed
 * beside the failing assertion's own message (node:test prints only the first line of fast-check's report).
 */
import fc from "fast-check";

const RUN_MS_MAX = 60_000;

/** Runs `prop` `FUZZ_RUNS` times (else `numRuns`, for at most a minute), seeded by `FUZZ_SEED` when set; rejects with seed and cause. */
export async function checkFuzz<T>(prop: fc.IAsyncProperty<T>, numRuns: number): Promise<void> {
  const seed = process.env.FUZZ_SEED;
  const runs = process.env.FUZZ_RUNS;
  const details = await fc.check(prop, {
    numRuns: Number(runs ?? numRuns),
    // A bound on the suite's time on a slow machine: runs stop early (and pass) rather than drag on. A hunt
    // (FUZZ_RUNS given) runs them all.
    ...(runs === undefined ? { interruptAfterTimeLimit: RUN_MS_MAX } : {}),
    ...(seed === undefined ? {} : { seed: Number(seed) }),
  });
  if (!details.failed) return;
  const e = details.errorInstance;
  throw new Error(
    `seed ${details.seed}, path "${details.counterexamplePath}" (replay: FUZZ_SEED=${details.seed})\n` +
      (e instanceof Error ? e.message : String(e)),
  );
}
