import type { Bugs } from "../raft/config.js";
import type { Rng } from "../util/rng.js";

/**
 * One run's parameters, drawn from its seed (swarm testing, as TigerBeetle's VOPR does): each seed gets its own
 * mix of cluster size, faults and workload, so the seeds together cover far more combinations than one mix.
 * Times are in microseconds of virtual time.
 */
export interface SimOptions {
  readonly seed: number;
  readonly steps: number;
  /** Virtual time of one step. */
  readonly stepUs: number;
  readonly voters: number;
  /** Extra server ids that membership changes may add. */
  readonly spares: number;
  readonly clients: number;
  readonly keys: number;
  readonly dropRate: number;
  readonly duplicateRate: number;
  readonly delayMinUs: number;
  readonly delayMaxUs: number;
  /** Per step: chance to start a partition, and to heal one. */
  readonly partitionRate: number;
  readonly healRate: number;
  readonly crashRate: number;
  readonly restartRate: number;
  /**
   * Per step: the chance to crash the leader while the newest entry of its log is on fewer than a quorum. Again
   * and again, that leaves entries of several terms on minorities for later leaders to find: Figure 8's schedule
   * (raft-notes 1.1), which random crashes almost never make.
   */
  readonly leaderCrashRate: number;
  /** Chance that a crash during an fsync leaves a torn prefix of its entries on disk. */
  readonly tornWriteRate: number;
  readonly tickUs: number;
  /** Each server's clock runs fast or slow by up to this fraction. */
  readonly tickSkew: number;
  readonly fsyncMinUs: number;
  readonly fsyncMaxUs: number;
  readonly snapshotEvery: number;
  readonly appendBytesMax: number;
  readonly inflightMsgsMax: number;
  readonly confChangeRate: number;
  readonly restoreRate: number;
  readonly transferRate: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly electionTicks: number;
  readonly clientTimeoutUs: number;
  /** Steps after healing within which the cluster must commit a write everywhere. */
  readonly livenessSteps: number;
  readonly bugs: Bugs;
  /** Deliberate faults in the simulator's driver (tests prove the lock checks can fail). */
  readonly proposerBugs: ProposerBugs;
  /** Lock keys (`lock/0`..) that clients acquire and release with their sessions; 0 turns sessions off. */
  readonly lockKeys: number;
  /**
   * Simulated wall-clock ms per virtual ms: sessions' TTLs (Consul's minimum is 10 s) and lock-delays are
   * wall-clock durations, and a run lasts 10–20 s of virtual time, so the servers' clocks run fast.
   */
  readonly clockScale: number;
  /** Each server's wall clock is off by up to this many ms (the leader's time in commands differs by leader). */
  readonly clockOffsetMs: number;
  /**
   * Per step and server: the chance to pause it (SIGSTOP) for up to pauseMaxUs, then resume it (SIGCONT).
   * run.ts draws them from a stream of their own (drawOptions leaves them off), so adding pauses moved no other
   * drawn option of any seed.
   */
  readonly pauseRate: number;
  readonly pauseMaxUs: number;
}

export interface ProposerBugs {
  /** Propose every acquire without judging lock-delay first. */
  readonly skipLockDelay?: boolean;
  /** Answer the renew of a session that is gone by creating it again under the same ID. */
  readonly resurrectSessions?: boolean;
  /** Install snapshots without the lock-delay state carried beside state.bin (lock-delays in memory only). */
  readonly dropLockDelays?: boolean;
  /**
   * The servers' monotonic clocks stop while their process is paused (as CLOCK_MONOTONIC across a VM's
   * suspend), so a leader resumed after a pause counts no missed ticks and still believes its lease.
   */
  readonly clockStopsWhenPaused?: boolean;
}

export function drawOptions(
  rng: Rng,
  seed: number,
  steps: number,
  bugs: Bugs,
  proposerBugs: ProposerBugs = {},
): SimOptions {
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(0, xs.length)]!;
  const faulty = rng.chance(0.85);
  const o: SimOptions = {
    seed,
    steps,
    stepUs: 10_000,
    voters: pick([3, 3, 5, 5, 7]),
    spares: rng.int(0, 3),
    clients: rng.int(2, 6),
    keys: rng.int(1, 5),
    dropRate: faulty ? pick([0, 0.01, 0.05, 0.15]) : 0,
    duplicateRate: faulty ? pick([0, 0.02, 0.1]) : 0,
    delayMinUs: pick([100, 500, 1000]),
    delayMaxUs: pick([2000, 10_000, 30_000]),
    partitionRate: faulty ? pick([0, 0.002, 0.01, 0.03]) : 0,
    healRate: pick([0.01, 0.05, 0.1]),
    crashRate: faulty ? pick([0, 0.001, 0.005, 0.01]) : 0,
    restartRate: pick([0.02, 0.1]),
    tornWriteRate: pick([0, 0.5, 1]),
    tickUs: 10_000,
    tickSkew: pick([0, 0.01, 0.03]),
    fsyncMinUs: 100,
    fsyncMaxUs: pick([500, 2000, 8000]),
    snapshotEvery: pick([5, 20, 100]),
    appendBytesMax: pick([1, 200, 64 * 1024]),
    inflightMsgsMax: pick([1, 4, 256]),
    confChangeRate: pick([0, 0, 0.005, 0.02]),
    restoreRate: pick([0, 0, 0.002, 0.01]),
    transferRate: pick([0, 0.002, 0.01]),
    preVote: rng.chance(0.8),
    checkQuorum: rng.chance(0.8),
    electionTicks: 10,
    clientTimeoutUs: 2_000_000,
    livenessSteps: 1500,
    bugs,
    proposerBugs,
    lockKeys: pick([0, 1, 2, 2, 3]),
    clockScale: pick([50, 100, 200]),
    clockOffsetMs: pick([0, 0, 500, 5000]),
    pauseRate: 0,
    pauseMaxUs: 0,
    // Drawn last, so that adding it left every other option of every seed as it was.
    leaderCrashRate: faulty ? pick([0, 0, 0, 0.2, 0.5]) : 0,
  };
  // Swarm weights for Figure 8: its window (an older term's entry on a quorum, the new term's not yet) opens only
  // when entries travel one per append, so most seeds that churn leaders replicate that way.
  if (o.leaderCrashRate === 0 || !rng.chance(0.75)) return o;
  return { ...o, appendBytesMax: 1, inflightMsgsMax: pick([1, 4]) };
}
