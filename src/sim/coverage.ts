import type { FaultNode } from "./faults.js";

/**
 * How often a run reached the rare schedules that random faults seldom make (issue 17 item 2), so that a swarm
 * that stops reaching one shows it in the report rather than passing quietly.
 */
export interface Coverage {
  /** Leaders crashed while the newest entry of their log was on a minority (Figure 8's step; faults.ts). */
  leaderCrashes: number;
  /** Leaders elected with a membership change in their log not yet committed (a leader change mid-change). */
  electedOverConfChange: number;
  /** Leaders elected with a user restore in their log not yet committed (a restore racing an election). */
  electedOverRestore: number;
  /** Snapshots sent to a follower whose data the leader had compacted away meanwhile (a send racing compaction). */
  snapshotSendsCompacted: number;
  /** Snapshots installed from the leader. */
  snapshotsInstalled: number;
  /** Servers paused (SIGSTOP) and resumed later (the world's pauses). */
  pauses: number;
  /** Membership changes committed: joins, promotions, removals (the admin, admin.ts). */
  membershipChanges: number;
  /** Leadership transfers that put their target in the lead (the admin). */
  leadershipTransfers: number;
  /** User restores applied on the leader that proposed them (the admin). */
  restoresApplied: number;
}

export function noCoverage(): Coverage {
  return {
    leaderCrashes: 0,
    electedOverConfChange: 0,
    electedOverRestore: 0,
    snapshotSendsCompacted: 0,
    snapshotsInstalled: 0,
    pauses: 0,
    membershipChanges: 0,
    leadershipTransfers: 0,
    restoresApplied: 0,
  };
}

/** Counts what a server that has just become leader inherited uncommitted: conf changes and restores. */
export function countElection(c: Coverage, leader: FaultNode): void {
  const log = leader.raw.raft.log;
  const tail = log.slice(log.committed + 1, log.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
  if (tail.some((e) => e.kind === "conf")) c.electedOverConfChange++;
  if (tail.some((e) => e.kind === "restore")) c.electedOverRestore++;
}
