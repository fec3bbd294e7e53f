import type { Entry, NodeId, Ready } from "../raft/types.js";
import { fnv1aBytes } from "../util/hash.js";
import type { SimNode } from "./node.js";

export class InvariantViolation extends Error {
  override name = "InvariantViolation";
  readonly invariant: string;
  readonly detail: string;
  constructor(invariant: string, detail: string) {
    super(`${invariant}: ${detail}`);
    this.invariant = invariant;
    this.detail = detail;
  }
}

interface EntryFact {
  readonly hash: number;
  readonly kind: string;
  readonly prevTerm: number | undefined;
}

function fingerprint(e: Entry): number {
  return fnv1aBytes(e.data, e.kind === "normal" ? 1 : e.kind === "conf" ? 2 : 3);
}

/**
 * Raft's safety properties, checked as the run goes (TigerBeetle's state checker idea): one leader per term,
 * log matching over durable logs, leader completeness at each election, state machine safety (one entry per
 * index applied everywhere), identical state machine fingerprints at each index, and commit indexes that never
 * move backwards.
 */
export class Checker {
  private readonly leaders = new Map<number, NodeId>();
  private readonly entries = new Map<string, EntryFact>();
  /** The canonical applied history: index → (term, fingerprint). */
  private readonly applied = new Map<number, { term: number; hash: number }>();
  private readonly stateHash = new Map<number, number>();
  private readonly snapshotHash = new Map<number, number>();
  private readonly commits = new Map<string, number>();
  private readonly durableCommits = new Map<NodeId, number>();
  maxApplied = 0;

  onReady(node: SimNode, rd: Ready): void {
    if (rd.softState?.role === "leader") this.checkNewLeader(node, node.raw.raft.term);
    if (rd.hardState !== null) {
      const key = `${node.id}/${node.gen}`;
      const prev = this.commits.get(key) ?? 0;
      if (rd.hardState.commit < prev) {
        throw new InvariantViolation(
          "commit monotonic",
          `n${node.id} commit went ${prev} → ${rd.hardState.commit}`,
        );
      }
      this.commits.set(key, rd.hardState.commit);
    }
  }

  private checkNewLeader(node: SimNode, term: number): void {
    const other = this.leaders.get(term);
    if (other !== undefined && other !== node.id) {
      throw new InvariantViolation("election safety", `n${other} and n${node.id} both lead term ${term}`);
    }
    this.leaders.set(term, node.id);
    // Leader completeness: every entry applied anywhere is in the new leader's log, with the same term.
    const log = node.raw.raft.log;
    if (log.lastIndex() < this.maxApplied) {
      throw new InvariantViolation(
        "leader completeness",
        `n${node.id} leads term ${term} with last index ${log.lastIndex()} < applied ${this.maxApplied}`,
      );
    }
    for (let i = log.firstIndex(); i <= this.maxApplied; i++) {
      const canon = this.applied.get(i);
      const t = log.term(i);
      if (canon !== undefined && t !== canon.term) {
        throw new InvariantViolation(
          "leader completeness",
          `n${node.id} leads term ${term} with term ${t} at index ${i}, applied elsewhere with term ${canon.term}`,
        );
      }
    }
  }

  /** Log matching: an (index, term) pair names one entry, with one predecessor term. */
  onDurable(node: SimNode, ents: readonly Entry[]): void {
    const storage = node.disk.storage;
    const first = storage.firstIndex();
    for (const e of ents) {
      if (e.index < first) continue;
      const prevTerm = e.index - 1 >= first - 1 ? storage.term(e.index - 1) : undefined;
      const key = `${e.index}/${e.term}`;
      const fact: EntryFact = { hash: fingerprint(e), kind: e.kind, prevTerm };
      const seen = this.entries.get(key);
      if (seen === undefined) {
        this.entries.set(key, fact);
        continue;
      }
      const samePrev = seen.prevTerm === undefined || prevTerm === undefined || seen.prevTerm === prevTerm;
      if (seen.hash !== fact.hash || seen.kind !== fact.kind || !samePrev) {
        throw new InvariantViolation("log matching", `n${node.id} holds a different entry at ${key}`);
      }
    }
    const commit = storage.initialState().hardState.commit;
    const prev = this.durableCommits.get(node.id) ?? 0;
    if (commit < prev) {
      throw new InvariantViolation("commit monotonic", `n${node.id} durable commit went ${prev} → ${commit}`);
    }
    this.durableCommits.set(node.id, commit);
  }

  /** State machine safety: every server applies the same entry at each index, reaching the same state. */
  onApplied(node: SimNode, e: Entry): void {
    const canon = this.applied.get(e.index);
    const hash = fingerprint(e);
    if (canon === undefined) {
      this.applied.set(e.index, { term: e.term, hash });
      if (e.index > this.maxApplied) this.maxApplied = e.index;
    } else if (canon.term !== e.term || canon.hash !== hash) {
      throw new InvariantViolation(
        "state machine safety",
        `n${node.id} applied term ${e.term} at index ${e.index}, another server applied term ${canon.term}`,
      );
    }
    this.checkStateHash(node, e.index);
  }

  /**
   * Two replicas' snapshots taken at the same index must be byte-identical (docs/snapshot-format.md §8.2,
   * docs/raft-notes.md §3.4).
   */
  onSnapshotSaved(node: SimNode, index: number, data: Uint8Array): void {
    const h = fnv1aBytes(data);
    const seen = this.snapshotHash.get(index);
    if (seen === undefined) this.snapshotHash.set(index, h);
    else if (seen !== h) {
      throw new InvariantViolation(
        "snapshot identity",
        `n${node.id} snapshot at index ${index} differs from another replica's`,
      );
    }
  }

  onSnapshotInstalled(node: SimNode, index: number): void {
    this.checkStateHash(node, index);
  }

  /** Replicas at the same index hold byte-identical state (so their snapshots are byte-identical too). */
  private checkStateHash(node: SimNode, index: number): void {
    const h = node.kv.digest();
    const seen = this.stateHash.get(index);
    if (seen === undefined) this.stateHash.set(index, h);
    else if (seen !== h) {
      throw new InvariantViolation(
        "replica state",
        `n${node.id} state at index ${index} differs from another replica`,
      );
    }
  }
}
